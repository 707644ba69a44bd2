#!/usr/bin/env python
"""Scale-out: one indexer, read-only replicas (docs/scaling.md).

    python bench/bench_scale.py [--corpus NAME==VERSION] [--replicas 3] [--edits 5]
                                [--no-embed] [--no-stack] [--duration S] [--json]

1. Snapshots (bench/_snapshot_lag.py; processes on 127.0.0.1): the seconds a publish takes,
   the disk each new snapshot adds, and the time from a saved edit to every one of
   ``--replicas`` replicas serving it.
2. Through nginx (bench/_scale_stack.py; the production stack, Docker): throughput and p99
   of a symbol lookup and of a hybrid search with 1, 2 and 3 replicas, in the same run.
   The query cache is off there (no Redis, no local entries), so every request reaches a
   replica.

The corpus is a pinned PyPI sdist (bench/_corpus.py), flask 3.0.3 by default.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from _corpus import KNOWN_SHA256, fetch_sdist  # noqa: E402
from _snapshot_lag import measure  # noqa: E402

EDIT_FILES = {"flask": "src/flask/helpers.py", "django": "django/utils/text.py"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    name, _, version = args.corpus.partition("==")
    if (name, version) not in KNOWN_SHA256:
        raise SystemExit(f"--corpus {args.corpus}: not pinned in bench/_corpus.py")
    tree = fetch_sdist(name, version)
    out: dict[str, Any] = {"corpus": args.corpus}
    with tempfile.TemporaryDirectory(prefix="cg-scale-") as work:
        out["snapshots"] = measure(tree, Path(work) / "lag", replicas=args.replicas,
                                   edits=args.edits, embed=args.embed,
                                   edit_file=EDIT_FILES[name])
        if args.stack:
            from _scale_stack import through_nginx

            out["nginx"] = through_nginx(tree, Path(work) / "stack", embed=args.embed,
                                         duration=args.duration, counts=(1, 2, 3))
    return out


def report(r: dict[str, Any]) -> None:
    s = r["snapshots"]
    mb = 1 / 1e6
    embed = "on" if s["embed"] else "off"
    print(f"CodeGraph scale-out benchmark: {r['corpus']} (embeddings {embed})")
    print(f"  first complete snapshot   {s['first_snapshot_seconds']} s after the indexer started")
    print(f"  publish                   median {s['publish_seconds_median']} s, "
          f"max {s['publish_seconds_max']} s")
    print(f"  store / one snapshot      {s['store_bytes'] * mb:.1f} MB / "
          f"{s['first_snapshot_bytes'] * mb:.1f} MB (apparent)")
    parts = ", ".join(f"{k} {v * mb:.2f}" for k, v in s["bytes_per_edit_parts"].items())
    print(f"  disk per edit             {s['bytes_per_edit'] * mb:.2f} MB in "
          f"{s['snapshots_per_edit']} snapshots ({parts} MB)")
    print(f"  {s['snapshots']} snapshots kept      {s['snapshots_shared_bytes'] * mb:.1f} MB on "
          f"disk, {s['snapshots_apparent_bytes'] * mb:.1f} MB as whole copies")
    lag = s["edit_to_every_replica_seconds"]
    f = s["figures"]
    print(f"  index                     {f.get('files')} files, {f.get('nodes')} nodes, "
          f"{f.get('edges')} edges, {f.get('chunks')} chunks ({f.get('embedded')} embedded)")
    print(f"  memory (RSS)              replica median {s['replica_rss_bytes_median'] * mb:.0f} "
          f"MB, indexer {s['indexer_rss_bytes'] * mb:.0f} MB")
    print(f"  edit -> indexer           median {s['edit_to_indexer_seconds_median']} s")
    print(f"  edit -> all {s['replicas']} replicas    median {lag['median']} s, max {lag['max']} s")
    if "nginx" in r:
        from _scale_stack import speedup

        n = r["nginx"]
        print(f"\nthrough nginx (HTTPS), wrk {n['connections']} connections, "
              f"{n['duration_s']} s x 2 per row (medians), query cache off")
        for row in n["rows"]:
            ratio = speedup(n["rows"], row["path"])[row["replicas"]]
            print(f"  {row['path']:<7} {row['replicas']} replica(s): {row['rps']:8.1f} req/s "
                  f"(x{ratio:.2f})  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                  f"errors {row['errors'] + row['non_2xx']}  CPU ms/request: replicas "
                  f"{row['cpu_ms_per_request']['codegraph-api']}, nginx "
                  f"{row['cpu_ms_per_request']['nginx']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--corpus", default="flask==3.0.3")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--edits", type=int, default=5)
    p.add_argument("--no-embed", dest="embed", action="store_false")
    p.add_argument("--no-stack", dest="stack", action="store_false",
                   help="skip the Docker part (nginx, 1-3 replicas)")
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk per run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
