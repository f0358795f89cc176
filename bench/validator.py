"""The Python half of ingest, per record: CPU microseconds each step of a time record takes
on its way from a file line (or a JSON batch) to a line of COPY text, on the generator's
records (~100 000 with the defaults). No database: this is what `bench/ingest.py`'s paths (b)
and (c) spend besides PostgreSQL's work, step by step, so a change can be measured alone and on
a busy machine (CPU time of this process, best of five, not the wall clock).

    uv run python bench/validator.py [--employees 120]
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import print_table
from services.cli import demo
from services.core.config import Settings
from services.core.timedata import fastpath, files, ingest
from services.core.validation import loads_strict

BATCH = 5_000  # `puls feed`'s batch


def per_record(step: Callable[[], Any], records: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best * 1e6 / records


def main(employees: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="puls-bench-validator-"))
    demo.generate(demo.Spec(employees=employees), work)
    path = work / demo.FILES["time-records"]
    kind = ingest.TIME_RECORDS
    settings = Settings(DATABASE_URL="postgresql://bench/none", pseudonym_key="bench")
    chunks = list(files.chunks(path, "csv", kind, "heroma"))
    rows = [row for chunk in chunks for row in chunk.rows]
    n = len(rows)
    lookups = ingest.Lookups(
        {code: i for i, code in enumerate(sorted({r["org_unit_code"] for r in rows}), 1)},
        {r["profession"] for r in rows},
        {},
    )
    fast = fastpath.build(kind.model)
    prepared = [ingest.prepare(settings, kind, c.rows, lookups, hashes=c.hashes) for c in chunks]
    batches = [rows[i : i + BATCH] for i in range(0, n, BATCH)]
    bodies = [json.dumps({"records": b}, separators=(",", ":")).encode() for b in batches]

    def encode() -> None:
        for p in prepared:
            [ingest._copy_line(row) for row in p.rows]

    steps = {
        "read a CSV line into a record, with its content hash": lambda: list(
            files.chunks(path, "csv", kind, "heroma")
        ),
        "the same without the hash (`puls feed`)": lambda: list(
            files.chunks(path, "csv", kind, "heroma", hashed=False)
        ),
        "fast-path validation": lambda: [fast(r) for r in rows],
        "prepare: validation, codes, pseudonyms, rows": lambda: [
            ingest.prepare(settings, kind, c.rows, lookups, hashes=c.hashes) for c in chunks
        ],
        "rows to COPY text": encode,
        "JSON batch encoded (the client)": lambda: [
            json.dumps({"records": b}, separators=(",", ":")) for b in batches
        ],
        "JSON batch parsed strictly (the API)": lambda: [loads_strict(b) for b in bodies],
        "records pickled to the validator process and back": lambda: [
            pickle.loads(pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)) for b in batches
        ],
    }
    results = []
    for label, step in steps.items():
        try:
            results.append([label, f"{per_record(step, n):.2f}"])
        except TypeError:  # an older checkout without that step
            results.append([label, "n/a"])
    print_table(
        f"CPU per time record ({n:,} records; process time, best of 5)",
        ["step", "µs/record"],
        results,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employees", type=int, default=120, help="120 → ~100 000 records")
    main(parser.parse_args().employees)
