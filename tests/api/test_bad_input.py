"""Hostile and odd input: random bytes as an import file, JSON nested 100 000 deep, and Unicode
edge cases (NUL, bidirectional marks and overrides, lone surrogates, 10 000 characters,
combining marks and astral characters) in the codes, names and texts of every create
endpoint. Each is a clear 4xx (or a failed import with its reason), or accepted and stored
exactly as sent; nothing is stored half, and the process keeps answering."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.core.config import Settings
from tests.factories import IMPORT_HEADER, seed_tree, time_record, upload
from tests.jobs import run_worker
from tests.problems import assert_problem

LONG = "x" * 10_000
NUL, OVERRIDE, LONE_SURROGATE = "Enhet\x00X", "Enhet \u202etxt.exe", "Enhet \ud800"
# Valid text a region may really write: Hebrew with a right-to-left mark, decomposed Å,
# a profession emoji (a ZWJ sequence) and a mathematical letter outside the BMP.
RTL = "שלום\u200f עולם"
ASTRAL = "A\u030a 👩\u200d⚕️ 𝔘"
REFUSED_NAMES = [NUL, OVERRIDE, LONE_SURROGATE, LONG]
ACCEPTED_NAMES = [RTL, ASTRAL]


async def post_raw(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    """json.dumps escapes what UTF-8 cannot carry (a lone surrogate becomes \\ud800)."""
    return await client.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


async def healthy(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    created = await client.post(
        "/v1/org-units", json={"code": "STILL-OK", "name": "Fortfarande", "kind": "unit"}
    )
    assert created.status_code == 201, created.text


# ---- random bytes as an import -------------------------------------------------------------


def _good_rows(n: int) -> str:
    return "".join(
        f"heroma;G{i};SUS-AKUT;EMP-{i % 9};nurse;own;worked;2024-03-{1 + i % 28:02d};7,5;\n"
        for i in range(n)
    )


@pytest.mark.parametrize(
    ("name", "media", "body", "reason"),
    [
        ("random bytes", "text/csv", random.Random(1).randbytes(200_000), "codec can't decode"),
        ("random ndjson", "application/x-ndjson", random.Random(2).randbytes(50_000), "decode"),
        (
            # 6 000 good rows (more than one chunk is stored) and then garbage.
            "good rows, then bytes",
            "text/csv",
            (IMPORT_HEADER + _good_rows(6_000)).encode() + random.Random(3).randbytes(5_000),
            "codec can't decode",
        ),
        ("text, no header", "text/csv", b"lorem ipsum dolor\nsit amet\n", "columns"),
    ],
)
async def test_a_garbage_import_fails_with_its_reason_and_stores_nothing(
    client: httpx.AsyncClient,
    settings: Settings,
    app: FastAPI,
    name: str,
    media: str,
    body: bytes,
    reason: str,
) -> None:
    await seed_tree(client)
    response = await upload(client, body, media)
    assert response.status_code == 202, response.text
    await run_worker(settings)
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "failed", status
    assert reason in status["failure"], status["failure"]
    async with app.state.sessionmaker() as session:
        for table in ("time_records", "kpi_dirty_cells"):
            count = await session.execute(sa.text(f"SELECT count(*) FROM {table}"))
            assert count.scalar_one() == 0, table
    await healthy(client)


async def test_nul_bytes_in_a_csv_are_line_errors_and_the_good_rows_are_stored(
    client: httpx.AsyncClient, settings: Settings, app: FastAPI
) -> None:
    await seed_tree(client)
    nul_field = "heroma;N1;SUS-AKUT;EMP\x00-1;nurse;own;worked;2024-03-02;7,5;\n"
    nul_line = "heroma;\x00;x\n"
    body = IMPORT_HEADER + _good_rows(3) + nul_field + nul_line
    response = await upload(client, body.encode())
    await run_worker(settings)
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "succeeded", status
    assert status["counts"]["inserted"] == 3 and status["error_count"] == 2
    assert sorted(e["index"] for e in status["errors"]) == [5, 6]  # file lines; header is 1
    assert await _count(app, "time_records") == 3
    await healthy(client)


# ---- deep nesting --------------------------------------------------------------------------

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
DEEP_INSIDE = b'{"records": ' + DEEP_ARRAY + b"}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/time-records:batch"),
        ("POST", "/v1/org-units"),
        ("PUT", "/v1/org-units"),
        ("POST", "/v1/action-plans"),
        ("POST", "/v1/kpi-targets"),
        ("POST", "/v1/bodies"),
        ("POST", "/v1/webhooks"),
        ("PUT", "/v1/sources/heroma/code-mappings"),
    ],
)
async def test_json_nested_100_000_deep_is_refused_quickly(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for payload in (DEEP_ARRAY, DEEP_OBJECT, DEEP_INSIDE):
        started = time.monotonic()
        response = await client.request(
            method, path, content=payload, headers={"content-type": "application/json"}
        )
        assert time.monotonic() - started < 2
        assert "nesting too deep" in assert_problem(response, 400, "malformed_json")["detail"]


async def test_nesting_the_parser_takes_is_a_rejected_record_not_an_error(
    client: httpx.AsyncClient,
) -> None:
    await seed_tree(client)
    nested: Any = "x"
    for _ in range(500):
        nested = [nested]
    response = await client.post(
        "/v1/time-records:batch",
        json={"records": [time_record("OK-1"), time_record("DEEP", hours=nested)]},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (1, 1)
    assert response.json()["errors"][0]["index"] == 1


# ---- Unicode edge cases across the create endpoints ----------------------------------------


@dataclass(frozen=True)
class Create:
    """One create endpoint: where to post, the body with `value` in one field, and how to read
    that field back."""

    name: str
    table: str
    path: Callable[[dict[str, str]], str]
    body: Callable[[str, int], dict[str, Any]]
    field: str


def _plan(title: str, purpose: str | None = None) -> dict[str, Any]:
    return {
        "title": title,
        "purpose": purpose,
        "org_unit": "RS",
        "period_start": "2024-01-01",
        "period_end": "2024-12-31",
    }


def _target(description: str) -> dict[str, Any]:
    return {
        "kpi": "sick_leave_pct",
        "org_unit": "RS",
        "comparator": "lte",
        "bound": "absolute",
        "value": "5.5",
        "valid_from": "2024-01",
        "description": description,
    }


CREATES = [
    Create(
        "org unit name",
        "org_units",
        lambda _: "/v1/org-units",
        lambda v, n: {"code": f"U{n}", "name": v, "kind": "unit"},
        "name",
    ),
    Create(
        "org unit code",
        "org_units",
        lambda _: "/v1/org-units",
        lambda v, n: {"code": v, "name": "Enhet", "kind": "unit"},
        "code",
    ),
    Create("person name", "people", lambda _: "/v1/people", lambda v, n: {"name": v}, "name"),
    Create(
        "plan title", "action_plans", lambda _: "/v1/action-plans", lambda v, n: _plan(v), "title"
    ),
    Create(
        "plan purpose",
        "action_plans",
        lambda _: "/v1/action-plans",
        lambda v, n: _plan("Plan", v),
        "purpose",
    ),
    Create(
        "action title",
        "actions",
        lambda ids: f"/v1/action-plans/{ids['plan']}/actions",
        lambda v, n: {"code": f"1.{n}", "title": v},
        "title",
    ),
    Create(
        "action code",
        "actions",
        lambda ids: f"/v1/action-plans/{ids['plan']}/actions",
        lambda v, n: {"code": v, "title": "Åtgärd"},
        "code",
    ),
    Create(
        "body name",
        "meeting_bodies",
        lambda _: "/v1/bodies",
        lambda v, n: {"name": v, "org_unit": "RS"},
        "name",
    ),
    Create(
        "meeting place",
        "meetings",
        lambda ids: f"/v1/bodies/{ids['body']}/meetings",
        lambda v, n: {
            "starts_at": f"2024-05-{1 + n:02d}T08:00:00Z",
            "ends_at": f"2024-05-{1 + n:02d}T09:00:00Z",
            "place": v,
        },
        "place",
    ),
    Create(
        "agenda item title",
        "agenda_items",
        lambda ids: f"/v1/meetings/{ids['meeting']}/items",
        lambda v, n: {"number": 1 + n, "title": v},
        "title",
    ),
    Create(
        "agenda item notes",
        "agenda_items",
        lambda ids: f"/v1/meetings/{ids['meeting']}/items",
        lambda v, n: {"number": 100 + n, "title": "Punkt", "notes": v},
        "notes",
    ),
    Create(
        "KPI target description",
        "kpi_targets",
        lambda _: "/v1/kpi-targets",
        lambda v, n: _target(v),
        "description",
    ),
]
# Texts (purpose, notes, description) are multi-line and up to 20 000 characters.
TEXTS = {"plan purpose", "agenda item notes", "KPI target description"}
CODES = {"org unit code", "action code"}


async def _parents(client: httpx.AsyncClient) -> dict[str, str]:
    await seed_tree(client)
    plan = await client.post("/v1/action-plans", json=_plan("Förälder"))
    body = await client.post("/v1/bodies", json={"name": "KL", "org_unit": "RS"})
    assert plan.status_code == 201 and body.status_code == 201, (plan.text, body.text)
    meeting = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2024-04-01T08:00:00Z", "ends_at": "2024-04-01T09:00:00Z"},
    )
    assert meeting.status_code == 201, meeting.text
    return {"plan": plan.json()["id"], "body": body.json()["id"], "meeting": meeting.json()["id"]}


async def _count(app: FastAPI, table: str) -> int:
    async with app.state.sessionmaker() as session:
        return int((await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


@pytest.mark.parametrize("create", CREATES, ids=[c.name for c in CREATES])
async def test_unicode_edge_cases_are_refused_or_stored_intact(
    client: httpx.AsyncClient, app: FastAPI, create: Create
) -> None:
    ids = await _parents(client)
    before = await _count(app, create.table)
    if create.name in CODES:
        refused = [*REFUSED_NAMES, RTL, ASTRAL, "A\u200fB", "A B"]
        accepted: list[str] = []
    elif create.name in TEXTS:
        refused = [NUL, OVERRIDE, LONE_SURROGATE, "x" * 20_001]
        accepted = [*ACCEPTED_NAMES, LONG, "rad 1\r\nrad 2\n\ttabb"]
    else:
        refused = REFUSED_NAMES
        accepted = ACCEPTED_NAMES
    for n, value in enumerate(refused):
        response = await post_raw(client, create.path(ids), create.body(value, n))
        locs = [e["loc"] for e in assert_problem(response, 422)["errors"]]
        assert ["body", create.field] in locs, locs
    assert await _count(app, create.table) == before, "a refused request stored nothing"
    for n, value in enumerate(accepted, start=len(refused)):
        response = await post_raw(client, create.path(ids), create.body(value, n))
        assert response.status_code == 201, (value[:20], response.text)
        assert response.json()[create.field] == value, "stored and returned exactly as sent"
    assert await _count(app, create.table) == before + len(accepted)
    await healthy(client)


async def test_a_bad_string_in_one_record_of_a_batch_rejects_that_record_only(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await seed_tree(client)
    bad = [
        time_record("A\x00B"),
        time_record("REF", employee_ref="19790312\x00-1234"),
        time_record("LONG", time_code=LONG),
        time_record("BIDI", agency="Bemanning \u202eAB", staff_kind="agency"),
        time_record("SURR", assignment_ref="\ud800"),
    ]
    records = [time_record("GOOD-1"), *bad, time_record("GOOD-2")]
    atomic = await client.post(
        "/v1/time-records:batch",
        content=json.dumps({"records": records}).encode(),
        params={"atomic": "true"},
        headers={"content-type": "application/json"},
    )
    assert atomic.status_code == 422, atomic.text
    assert await _count(app, "time_records") == 0
    response = await post_raw(client, "/v1/time-records:batch", {"records": records})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["inserted"], result["rejected"]) == (2, len(bad)), result
    assert [e["index"] for e in result["errors"]] == list(range(1, 1 + len(bad)))
    assert await _count(app, "time_records") == 2


async def test_a_spreadsheet_sync_with_one_bad_row_stores_none(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    ids = await _parents(client)
    rows = [{"code": f"2.{n}", "title": f"Åtgärd {n}"} for n in range(50)]
    rows[30]["title"] = NUL
    response = await client.put(f"/v1/action-plans/{ids['plan']}/actions", json=rows)
    assert response.status_code == 422, response.text
    assert await _count(app, "actions") == 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/org-units/%00",
        "/v1/org-units/RS%E2%80%AE/scorecard?period=2024",
        "/v1/time-records?time_type=%00",
        "/v1/time-records?org_unit=" + "x" * 10_000,
        "/v1/kpis/sick_leave_pct/series?org_unit=RS%00&from=2024-01&to=2024-12",
        "/v1/action-plans?status=%00",
        "/v1/meetings?org_unit=%ED%A0%80",
        "/v1/sources/%00/code-mappings",
    ],
)
async def test_odd_strings_in_paths_and_queries_are_4xx(
    client: httpx.AsyncClient, path: str
) -> None:
    await seed_tree(client)
    response = await client.get(path)
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("seen", ["0.5", "1700000000", "2026-12-06"])
async def test_a_seen_facts_time_that_is_not_rfc_3339_is_422(
    client: httpx.AsyncClient, seen: str
) -> None:
    # pydantic alone took a number for a Unix time; the contract says date-time. Found by the
    # contract fuzzing once its cases kept the org units earlier cases made.
    await seed_tree(client)
    response = await client.get(
        "/v1/org-units/RS/scorecard?period=2024", headers={"Puls-Seen-Facts-Changed-At": seen}
    )
    assert_problem(response, 422)
