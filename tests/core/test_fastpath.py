"""The ingest fast path must never disagree with the models: whatever it accepts validates to the
same values through pydantic, and whatever the model refuses it refuses too (returns None)."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.cli import demo
from services.core.timedata import fastpath, files, ingest

KINDS = list(ingest.KINDS.values())

VALID: dict[str, dict[str, Any]] = {
    "time-records": {
        "source": "heroma",
        "external_id": "TR-1",
        "org_unit_code": "SUS-AKUT",
        "employee_ref": "19790312-XXXX",
        "profession": "nurse",
        "staff_kind": "own",
        "time_type": "worked",
        "work_date": "2024-03-04",
        "hours": "8.00",
        "start": "2024-03-04T07:00:00+01:00",
        "end": "2024-03-04T15:00:00+01:00",
        "cost_sek": "1250.50",
        "agency": "Bemanning AB",
    },
    "employments": {
        "source": "heroma",
        "external_id": "EMP-1",
        "employee_ref": "19790312-XXXX",
        "org_unit_code": "SUS-AKUT",
        "profession_code": "SSK",
        "contract": "permanent",
        "fte": "0.75",
        "is_manager": False,
        "start_date": "2019-08-19",
        "end_date": "2024-01-31",
        "end_reason": "resignation",
        "gender": "female",
        "birth_year": 1979,
    },
    "personnel-costs": {
        "source": "raindance",
        "external_id": "2018-12/HELAR/agency/doctor",
        "period": "2018-12",
        "org_unit_code": "HELAR",
        "profession": "doctor",
        "category": "agency",
        "amount_sek": "9058333.33",
    },
    "budgets": {
        "source": "raindance",
        "external_id": "2023/KK/personnel",
        "org_unit_code": "KK",
        "period": "2023",
        "category": "personnel",
        "amount_sek": "777700000.00",
    },
}

# Values that are odd, borderline or wrong for some field: each replaces every field in turn.
ODD: list[Any] = [
    None,
    "",
    " ",
    "x",
    "8",
    "24",
    "24.00",
    "24.01",
    "0",
    "0.00",
    "-1",
    "7.500",
    "7.5",
    "07.50",
    "1e1",
    "8.",
    "+8",
    " 8",
    "١٢",
    "½",
    "1.001",
    "0.999",
    "1",
    "1.0000",
    8,
    7.5,
    True,
    False,
    0,
    1979,
    "1979",
    "1899",
    "2101",
    "2024-02-30",
    "2024-02-29",
    "2023-02-29",
    "2024-13-01",
    "20240304",
    "1700000000",
    "2024-03-04T07:00:00Z",
    "2024-03-04T07:00:00z",
    "2024-03-04 07:00:00+01:00",
    "2024-03-04T07:00:00",
    "2024-03-04T07:00:00.123456+01:00",
    "2024-03-04T07:00:00.1234567+01:00",
    "2024-03-04T24:00:00+01:00",
    "2024-03-04T07:00:00+25:00",
    "2024-03-05T07:00:00+01:00",
    "2024-03-04T06:00:00+01:00",
    "abc\n",
    "abc\x00",
    "\ud800",
    "a\udfffb",
    "Bemanning \u202eAB",
    "Vård AB",
    "a" * 64,
    "a" * 65,
    "a" * 200,
    "a" * 201,
    "ÅÄÖ",
    "Å-1",
    "_x",
    "-x",
    "a b",
    "nurse",
    "worked",
    "own",
    "agency",
    "female",
    "resignation",
    "permanent",
    "2018-12",
    "2018-13",
    "99999999999999.99",
    "999999999999999.99",
    "-5.00",
    "1250.5",
    "1250.505",
    [],
    {},
    ["x"],
]


def _model_values(model: type[BaseModel], raw: Any) -> dict[str, Any] | None:
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError:
        return None


# One fast path per model for the whole test, as in a running process: what one record's
# values taught it (the spellings it remembers) must not change the verdict on the next.
_built = functools.cache(fastpath.build)


def _fast_values(model: type[BaseModel], raw: Any) -> dict[str, Any] | None:
    record = _built(model)(raw)
    return None if record is None else vars(record)


def _variants(base: dict[str, Any]) -> list[dict[str, Any]]:
    fields = list(base)
    variants = [dict(base)]
    for name in fields:
        variants.append({k: v for k, v in base.items() if k != name})
        for odd in ODD:
            variants.append({**base, name: odd})
    variants.append({**base, "unknown": "x"})
    variants.append({**base, "deleted": False})
    variants.append({**base, "deleted": "false"})
    return variants


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_fast_path_agrees_with_the_model(kind: ingest.FeedKind) -> None:
    accepted = 0
    for raw in _variants(VALID[kind.name]):
        expected = _model_values(kind.model, raw)
        got = _fast_values(kind.model, raw)
        if expected is None:
            assert got is None, f"fast path accepted what the model refuses: {raw!r}"
        elif got is not None:
            assert got == expected, raw
            accepted += 1
    # A fast path that gives up on everything would pass the loop above: it must also work.
    assert accepted > 50


def test_fast_path_takes_the_generators_files(tmp_path: Path) -> None:
    demo.generate(demo.Spec(units=4, employees=30, months=2), tmp_path)
    for kind in KINDS:
        if kind.name not in demo.FILES:  # the demo region has no budgets
            continue
        path = tmp_path / demo.FILES[kind.name]
        with path.open(encoding="utf-8") as handle:
            assert next(csv.reader(handle))  # a header
        rows = [row for chunk in files.chunks(path, "csv", kind, "heroma") for row in chunk.rows]
        assert rows
        for raw in rows:
            expected = _model_values(kind.model, raw)
            assert expected is not None
            assert _fast_values(kind.model, raw) == expected, raw


def test_remembered_spellings_give_way_to_new_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # A long-running process sees next year's dates and times: a full memory starts over,
    # and every value is still the model's, whether remembered, forgotten or new.
    monkeypatch.setattr(fastpath, "_REMEMBERED", 3)
    fast = fastpath.build(ingest.TIME_RECORDS.model)
    base = VALID["time-records"]
    for _ in range(2):
        for day in range(1, 11):
            raw = {
                **base,
                "external_id": f"TR-{day}",
                "work_date": f"2024-03-{day:02d}",
                "hours": f"{day}.00",
                "start": f"2024-03-{day:02d}T07:00:00+01:00",
                "end": f"2024-03-{day:02d}T{7 + day:02d}:00:00+01:00",
            }
            record = fast(raw)
            assert record is not None
            assert vars(record) == _model_values(ingest.TIME_RECORDS.model, raw)


def test_shift_times_share_one_offset_object() -> None:
    # The start/end rule compares and subtracts the two times for every shift: with one
    # tzinfo object per offset that needs no offset lookups (and the values stay the model's).
    fast = fastpath.build(ingest.TIME_RECORDS.model)
    record = fast(VALID["time-records"])
    assert record is not None
    assert record.start.tzinfo is record.end.tzinfo
    other = fast({**VALID["time-records"], "start": "2024-03-04T06:00:00Z"})
    assert other is not None and other.start.utcoffset().total_seconds() == 0
    assert vars(other) == _model_values(
        ingest.TIME_RECORDS.model, {**VALID["time-records"], "start": "2024-03-04T06:00:00Z"}
    )


def test_a_feed_reads_the_same_rows_without_hashes(tmp_path: Path) -> None:
    # `puls feed` sends JSON batches, which carry no content hash: it skips hashing its lines.
    demo.generate(demo.Spec(units=4, employees=30, months=2), tmp_path)
    path = tmp_path / demo.FILES["time-records"]
    kind = ingest.TIME_RECORDS
    hashed = list(files.chunks(path, "csv", kind, "heroma", size=100))
    plain = list(files.chunks(path, "csv", kind, "heroma", size=100, hashed=False))
    assert [c.rows for c in plain] == [c.rows for c in hashed]
    assert [c.lines for c in plain] == [c.lines for c in hashed]
    assert all(h is None for c in plain for h in c.hashes)
    assert all(isinstance(h, int) for c in hashed for h in c.hashes)
