"""The table bench_search.py prints (the JSON holds the same figures, and more)."""

from __future__ import annotations

from typing import Any

from _search_stats import LIMIT, fmt

MRR = f"mrr@{LIMIT}"
RECALL = f"recall@{LIMIT}"


def _row(name: str, row: dict[str, Any], *, signed: bool = False, extra: str = "") -> str:
    return (f"  {name:<34} {row.get('queries', 0):>6,}  {fmt(row, 'recall@1', signed):>22}  "
            f"{fmt(row, RECALL, signed):>22}  {fmt(row, MRR, signed):>22}{extra}")


def _header(first: str) -> str:
    return (f"  {first:<34} {'n':>6}  {'recall@1 [95% CI]':>22}  {'recall@10 [95% CI]':>22}  "
            f"{'MRR@10 [95% CI]':>22}")


def _protocol(title: str, p: dict[str, Any]) -> None:
    print(title)
    print(_header("mode"))
    for name, row in p["rows"].items():
        speed = f"  p50 {row['p50_ms']:.1f} ms" if "p50_ms" in row else ""
        print(_row(name, row, extra=speed))
    for name, d in p["deltas"].items():
        print(_row(name, d, signed=True, extra=f"  wins {d['wins']}, losses {d['losses']}"))
    print(f"  targets with trivial bodies: {p['trivial']:,} of {p['queries']:,}"
          + (f"; class targets: {p['classes']:,}" if p.get("classes") else ""))
    for name, row in p["split"].items():
        print(_row(name, row))
    for mode, table in p.get("variants", {}).items():
        print(f"  ranking variants, {mode} (delta: paired, against rrf (before)):")
        for name, row in table.items():
            d = row["vs_before"]
            kinds = "".join(f"; {k} {v[MRR]:.3f}" for k, v in row.get("by_kind", {}).items())
            print(_row(name, row, extra=f"  delta {fmt(d, MRR, True)} "
                                        f"(+{d['wins']}/-{d['losses']}){kinds}"))
    print()


def print_table(r: dict[str, Any]) -> None:
    m, rt, ix = r["machine"], r["retrieval"], r["index"]
    print(f"CodeGraph search benchmark: {r['corpus']}")
    print(f"Python {m['python']}, {m['cpus']} CPUs, load average {m['load_average']}, "
          f"{m['platform']}")
    print(f"command: {r['command']}")
    print(f"index: {ix['chunks']:,} chunks (cache {r['cache']}; this run embedded "
          f"{ix['embed']['embedded']:,}, {ix['embed']['provider']}/{ix['embed']['model']})")
    print(f"queries: {rt['candidates']:,} docstrings with a unique first paragraph of >= "
          f"{rt['min_words']} words ({rt['duplicates']} duplicates dropped, "
          f"{rt['docstrings_stripped']:,} docstrings stripped in all); {rt['functions']:,} of "
          f"functions and methods; {rt['names_itself']:,} excluded (the query names its "
          f"definition); {rt['eligible']:,} eligible, and {rt['classes']:,} classes' "
          f"docstrings; {rt['unmatched']} without a node, "
          f"{rt['leaks']} with the query still in their chunks")
    print()
    pool = r["pool"]
    _protocol(f"POOL: {pool['functions']:,} functions ({pool['chunks']:,} chunks), "
              f"{pool['queries']:,} of them queried; only the pool competes", pool)
    repo = r["repo"]
    _protocol(f"WHOLE REPOSITORY: {repo['chunks']:,} chunks compete, {repo['queries']:,} "
              "queries (functions' and classes' docstrings)", repo)
    if (t := r.get("with_tests")) is not None:
        print(f"WITH DJANGO'S TESTS INDEXED ({t['chunks']:,} chunks), lexical:")
        print(_header("ranking"))
        for name, row in t["rows"].items():
            print(_row(name, row))
        print(_row("test x0.5 - no test prior", t["delta"], signed=True,
                   extra=f"  wins {t['delta']['wins']}, losses {t['delta']['losses']}"))
        print()
    big = r["large"]
    if big is not None:
        v = big["vectors"]
        added = ", ".join(f"{a['repo']} {a['chunks']:,}" for a in big["added"])
        print(f"LATENCY at {big['chunks']:,} chunks (+ {added}; {v['real']:,} real vectors + "
              f"{v['perturbed']:,} perturbed copies), {big['queries']} queries per mode")
        for row in big["rows"]:
            print(f"  {row['mode']:<10} {row['vector_index']:>6}  p50 {row['p50_ms']:6.1f} ms  "
                  f"p99 {row['p99_ms']:6.1f} ms  mean {row['mean_ms']:6.1f} ms")
    else:
        print("100k chunks: skipped (--skip-100k)")
    print()
    for t in r["targets"]:
        op = ">=" if t["at_least"] else "<="
        print(f"{t['name']:<38} {t['value']:>9.3f} {op} {t['limit']:<6g} "
              f"{'PASS' if t['pass'] else 'FAIL':<5} {t['checked']}")
    print("overall: " + ("PASS" if r["pass"] else "FAIL"))
