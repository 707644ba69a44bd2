"""Spooled puts written as SST files and ingested: what a bulk load relies on."""

from __future__ import annotations

import os
import random
from pathlib import Path

from codegraph.store.rocks import Store
from codegraph.store.sst import Spool, ingest


def test_spilled_files_ingest_to_the_puts_last_one_winning(tmp_path: Path) -> None:
    rnd = random.Random(7)
    spool = Spool(str(tmp_path), "t", spill_bytes=20_000)  # spills several times
    expected: dict[str, dict[bytes, bytes]] = {"nodes": {}, "in": {}}
    for round_ in range(40):
        batch = []
        for _ in range(50):
            cf = rnd.choice(("nodes", "in"))
            key = rnd.randbytes(2)  # few enough keys to repeat, within and across spills
            value = f"{round_}-{rnd.random()}".encode()
            batch.append((cf, key, value))
            expected[cf][key] = value
        spool.add(batch)
    files = spool.finish()
    assert len(files) > 4 and {cf for cf, _ in files} == {"nodes", "in"}
    # Keys repeated across spills are in several files: a later file must win. The same
    # spool's files are ingested in the order written.
    with Store.open(str(tmp_path / "db")) as store:
        ingest(store, files, first=("nodes",))
        for cf, want in expected.items():
            assert dict(store._scan(cf, b"")) == want
    assert not any(os.path.exists(path) for _, path in files)  # moved, not copied
