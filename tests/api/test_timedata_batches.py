from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.app import create_app
from services.core.config import Settings
from services.core.timedata.validator import NICENESS, BatchValidator
from tests.conftest import make_client
from tests.factories import create_key, employment, personnel_cost, seed_tree, time_record
from tests.harness import PSEUDONYM_KEY
from tests.problems import assert_problem

BATCH = "/v1/time-records:batch"


@pytest.fixture(params=["thread", "process"])
def via(request: pytest.FixtureRequest, app: FastAPI, settings: Settings) -> Iterator[str]:
    """`process` makes the API validate every batch in its validator process, as it does
    large ones."""
    if request.param == "process":
        app.state.batch_validator.close()
        app.state.batch_validator = BatchValidator(
            settings.model_copy(update={"batch_process_min_records": 1})
        )
    yield str(request.param)


async def dirty_cells(session: AsyncSession) -> set[tuple[str, str]]:
    rows = await session.execute(
        sa.text(
            "SELECT o.code, to_char(d.month, 'YYYY-MM') FROM kpi_dirty_cells d "
            "JOIN org_units o ON o.id = d.org_unit_id"
        )
    )
    return {(code, month) for code, month in rows.all()}


async def test_upsert_resend_update_delete(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    records = [
        time_record("T1"),
        time_record("T2", time_type="sick", work_date="2024-03-05"),
        time_record(
            "T3",
            staff_kind="agency",
            profession="doctor",
            employee_ref="HYR-9",
            org_unit_code="PV-MALMO",
            work_date="2024-04-01",
            agency="Läkarbolaget AB",
            cost_sek="12500.00",
            start="2024-04-01T07:00:00+02:00",
            end="2024-04-01T16:00:00+02:00",
            hours="8.50",
        ),
    ]
    first = await client.post(BATCH, json={"records": records})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "inserted": 3,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
    assert await dirty_cells(session) == {("SUS-AKUT", "2024-03"), ("PV-MALMO", "2024-04")}

    again = await client.post(BATCH, json={"records": records})
    assert again.json()["unchanged"] == 3 and again.json()["updated"] == 0

    moved = await client.post(
        BATCH,
        json={
            "records": [
                time_record("T1", hours="7.50", org_unit_code="SUS-MED"),
                {"source": "heroma", "external_id": "T2", "deleted": True},
                {"source": "heroma", "external_id": "NEVER-SENT", "deleted": True},
            ]
        },
    )
    body = moved.json()
    assert (body["updated"], body["deleted"], body["unchanged"]) == (1, 1, 1)
    assert ("SUS-MED", "2024-03") in await dirty_cells(session)

    listed = (await client.get("/v1/time-records", params={"org_unit": "RS"})).json()["items"]
    assert {r["external_id"]: r["hours"] for r in listed} == {"T1": "7.50", "T3": "8.50"}
    t3 = next(r for r in listed if r["external_id"] == "T3")
    assert t3["start"] == "2024-04-01T05:00:00Z" and t3["cost_sek"] == "12500.00"


async def test_employee_refs_are_stored_only_as_hmac(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await client.post(BATCH, json={"records": [time_record("T1")]})
    expected = hmac.new(PSEUDONYM_KEY.encode(), b"19790312-1234", hashlib.sha256).hexdigest()
    stored = (await session.execute(sa.text("SELECT employee FROM time_records"))).scalar()
    assert stored == expected
    dump = (
        await session.execute(sa.text("SELECT string_agg(t::text, ' ') FROM time_records t"))
    ).scalar()
    assert dump is not None and "19790312" not in dump
    listed = (await client.get("/v1/time-records")).json()["items"]
    # Not even the stored value is shown: each key sees its own pseudonym of it.
    assert listed[0]["employee"] not in (expected, "19790312-1234")
    assert "19790312" not in str(listed) and expected not in str(listed)


async def test_each_bad_record_is_reported_by_index_and_good_ones_stored(
    client: httpx.AsyncClient, via: str
) -> None:
    await seed_tree(client)
    records = [
        time_record("OK1"),
        time_record("B1", org_unit_code="NOWHERE"),
        time_record("B2", profession="astronaut"),
        time_record("B3", time_type="napping"),
        time_record("B4", hours="0"),
        time_record("B5", hours="24.5"),
        time_record("B6", start="2024-03-04T15:00:00Z", end="2024-03-04T07:00:00Z"),
        time_record("B7", work_date="1999-12-31"),
        time_record("B8", cost_sek=12.5),
        time_record("B9", cost_sek="12,50"),
        time_record("OK1", hours="6.00"),
        {"source": "heroma"},
        time_record("B10", nickname="x"),
        time_record("OK2", work_date="2024-03-06"),
        time_record("B11", start="2024-03-01T00:00:00Z", end="2024-03-02T01:00:00Z"),
    ]
    response = await client.post(BATCH, json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inserted"], body["rejected"]) == (2, 13)
    codes = {e["index"]: {x["code"] for x in e["errors"]} for e in body["errors"]}
    assert codes[1] == {"unknown_org_unit"}
    assert codes[2] == {"unknown_profession"}
    assert codes[3] == {"literal_error"}
    assert codes[4] == {"greater_than"}
    assert codes[5] == {"less_than_equal"}
    assert codes[6] == {"value_error"}
    assert codes[7] == {"date_out_of_window"}
    assert codes[8] == {"value_error"} and codes[9] == {"value_error"}
    assert codes[10] == {"duplicate_key"}
    assert "missing" in codes[11]
    assert codes[12] == {"extra_forbidden"}
    assert codes[14] == {"value_error"}
    first = body["errors"][0]
    assert first["external_id"] == "B1"
    assert first["errors"][0]["loc"] == ["org_unit_code"]
    assert "unknown org unit 'NOWHERE'" in first["errors"][0]["msg"]


async def test_a_cost_period_outside_the_window_is_reported_by_index(
    client: httpx.AsyncClient, via: str
) -> None:
    """Year 0000 fits the contract's `YYYY-MM` and no date: found by the contract fuzzing as a
    500. It is outside the accepted window like any month before it."""
    await seed_tree(client)
    records = [
        personnel_cost("C1"),
        personnel_cost("C2", period="0000-01"),
        personnel_cost("C3", period="1999-12"),
    ]
    sent = await client.post("/v1/personnel-costs:batch", json={"records": records})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["inserted"], body["rejected"]) == (1, 2)
    assert {e["index"]: [(x["loc"], x["code"]) for x in e["errors"]] for e in body["errors"]} == {
        1: [(["period"], "date_out_of_window")],
        2: [(["period"], "date_out_of_window")],
    }
    atomic = await client.post(
        "/v1/personnel-costs:batch",
        params={"atomic": "true"},
        json={"records": [personnel_cost("C4"), personnel_cost("C5", period="0000-12")]},
    )
    assert assert_problem(atomic, 422)["errors"][0]["code"] == "date_out_of_window"


async def test_org_unit_is_the_other_name_of_org_unit_code(
    client: httpx.AsyncClient, via: str
) -> None:
    """Records are read back with `org_unit`: a sender may use that name too, never both."""
    await seed_tree(client)
    by_read_name = {k: v for k, v in time_record("A1").items() if k != "org_unit_code"}
    records = [
        {**by_read_name, "org_unit": "SUS-AKUT"},
        time_record("A2", org_unit="SUS-AKUT"),
        {k: v for k, v in time_record("A3").items() if k != "org_unit_code"},
        {**by_read_name, "external_id": "A4", "org_unit": "NOWHERE"},
        {**by_read_name, "external_id": "A5", "org_unit": None},
    ]
    body = (await client.post(BATCH, json={"records": records})).json()
    assert (body["inserted"], body["rejected"]) == (1, 4), body
    errors = {e["external_id"]: e["errors"] for e in body["errors"]}
    assert [(x["loc"], x["code"]) for x in errors["A2"]] == [(["org_unit"], "org_unit_conflict")]
    assert [(x["loc"], x["code"]) for x in errors["A3"]] == [(["org_unit_code"], "missing")]
    assert [(x["loc"], x["code"]) for x in errors["A4"]] == [(["org_unit"], "unknown_org_unit")]
    assert [x["loc"] for x in errors["A5"]] == [["org_unit"]]
    stored = (await client.get("/v1/time-records", params={"org_unit": "SUS-AKUT"})).json()
    assert [(r["id"], r["org_unit"], r["org_unit_code"]) for r in stored["items"]] == [
        ("heroma:A1", "SUS-AKUT", "SUS-AKUT")
    ]
    # The other kinds take it too; `atomic` refuses a batch with both names in one record.
    assert (
        await client.post(
            "/v1/employments:batch",
            json={"records": [{**employment("E1"), "org_unit": "SUS-AKUT"}]},
        )
    ).json()["rejected"] == 1
    cost = {k: v for k, v in personnel_cost("C1").items() if k != "org_unit_code"}
    sent = await client.post(
        "/v1/personnel-costs:batch", json={"records": [{**cost, "org_unit": "SUS-AKUT"}]}
    )
    assert sent.json()["inserted"] == 1, sent.text
    refused = await client.post(
        BATCH, params={"atomic": "true"}, json={"records": [time_record("A6", org_unit="X")]}
    )
    assert assert_problem(refused, 422)["errors"][0]["code"] == "org_unit_conflict"


async def test_money_as_a_whole_number_is_stored_with_a_warning(
    client: httpx.AsyncClient, via: str
) -> None:
    """In the batch's validator process too: what it notes comes back with the batch."""
    await seed_tree(client)
    whole = await client.post(BATCH, json={"records": [time_record("M1", cost_sek=1250)]})
    assert whole.json()["inserted"] == 1, whole.text
    assert whole.headers["warning"].startswith('299 - "money as a JSON number is deprecated')
    strings = await client.post(BATCH, json={"records": [time_record("M2", cost_sek="1250")]})
    assert strings.json()["inserted"] == 1 and "warning" not in strings.headers
    floats = await client.post(BATCH, json={"records": [time_record("M3", cost_sek=1250.0)]})
    assert floats.json()["rejected"] == 1 and "warning" not in floats.headers
    costs = (await client.get("/v1/time-records")).json()["items"]
    assert sorted(r["cost_sek"] for r in costs) == ["1250.00", "1250.00"]


async def test_atomic_stores_nothing_when_any_record_is_bad(
    client: httpx.AsyncClient, via: str
) -> None:
    await seed_tree(client)
    response = await client.post(
        BATCH,
        params={"atomic": "true"},
        json={"records": [time_record("OK"), time_record("BAD", hours="99")]},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "batch_rejected"
    assert problem["errors"][0]["loc"] == ["body", "records", 1, "hours"]
    assert (await client.get("/v1/time-records")).json()["items"] == []


async def test_batch_limits(client: httpx.AsyncClient, settings: Settings) -> None:
    # The contract says how many records a batch may hold; the schema refuses more unread.
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("TimeRecordsBatch", "EmploymentsBatch", "PersonnelCostsBatch"):
        records = schemas[name]["properties"]["records"]
        assert records["maxItems"] == settings.max_batch_records
    response = await client.post(BATCH, json={"records": [{}] * 10_001})
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [
        {"loc": ["body", "records"], "msg": problem["errors"][0]["msg"], "code": "too_long"}
    ]
    not_a_list = await client.post(BATCH, json={"records": {"a": 1}})
    assert not_a_list.status_code == 422
    assert (await client.get("/v1/time-records")).json()["items"] == []


async def test_a_lower_batch_limit_is_413(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_batch_records": 2}))
    async with app.router.lifespan_context(app), make_client(app) as client:
        await seed_tree(client)
        records = [time_record(f"R{n}") for n in range(3)]
        assert_problem(await client.post(BATCH, json={"records": records}), 413, "batch_too_large")
        assert (await client.post(BATCH, json={"records": records[:2]})).status_code == 200


async def test_scope_and_subtree(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as c:
        assert (await c.post(BATCH, json={"records": []})).status_code == 403
    feed = await create_key(client, ["timedata:write", "persondata:read"], org_unit="SUS")
    async with make_client(app, feed) as c:
        response = await c.post(
            BATCH,
            json={
                "records": [
                    time_record("IN", org_unit_code="SUS-MED"),
                    time_record("OUT", org_unit_code="PV-MALMO"),
                ]
            },
        )
        body = response.json()
        assert body["inserted"] == 1
        assert body["errors"][0]["errors"][0]["code"] == "unknown_org_unit"
        assert (await c.get("/v1/time-records", params={"org_unit": "PV"})).status_code == 404
    # A record of another unit cannot be taken over by a confined key.
    await client.post(BATCH, json={"records": [time_record("PV1", org_unit_code="PV-MALMO")]})
    async with make_client(app, feed) as c:
        hijack = (await c.post(BATCH, json={"records": [time_record("PV1")]})).json()
        (error,) = hijack["errors"][0]["errors"]
        assert error["code"] == "unknown_record"
        # The refusal does not tell that the record exists, nor where.
        assert "subtree" not in error["msg"] and "belongs" not in error["msg"]
        assert "PV-MALMO" not in str(hijack)
        # A delete of it answers exactly like the delete of a key never sent.
        deletes = [
            (await c.post(BATCH, json={"records": [gone]})).json()
            for gone in (
                {"source": "heroma", "external_id": "PV1", "deleted": True},
                {"source": "heroma", "external_id": "NEVER-SENT", "deleted": True},
            )
        ]
        assert deletes[0] == deletes[1]
        assert deletes[0]["unchanged"] == 1 and deletes[0]["errors"] == []
    stored = (await client.get("/v1/time-records", params={"org_unit": "PV"})).json()["items"]
    assert [r["external_id"] for r in stored] == ["PV1"]


async def test_idempotency_key_replays_the_first_answer(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    headers = {"Idempotency-Key": "night-2024-03-05-part-1"}
    first = await client.post(BATCH, json={"records": [time_record("T1")]}, headers=headers)
    again = await client.post(BATCH, json={"records": [time_record("T1")]}, headers=headers)
    assert again.json() == first.json() == {**first.json(), "inserted": 1}
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_committed_batch_wakes_the_kpi_engine(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await seed_tree(client)
    await client.post(BATCH, json={"records": [time_record("T1"), time_record("T2")]})
    await client.post(BATCH, json={"records": [time_record("T3")]})
    queued = await app.state.arq.zrange(settings.queue_name, 0, -1)
    # One deduplicated recalculation for both batches, whatever else the events woke.
    assert [job for job in queued if job.startswith(b"recalculate")] == [b"recalculate"]


async def test_employments_and_costs(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await seed_tree(client)
    response = await client.post(
        "/v1/employments:batch",
        json={
            "records": [
                employment(
                    "E1",
                    start_date="2024-01-15",
                    end_date="2024-03-31",
                    end_reason="resignation",
                    gender="female",
                    birth_year=1979,
                ),
                employment("E2", fte="1.5"),
            ]
        },
    )
    body = response.json()
    assert body["inserted"] == 1 and body["errors"][0]["index"] == 1
    cells = await dirty_cells(session)
    assert {("SUS-AKUT", m) for m in ("2024-01", "2024-02", "2024-03")} <= cells
    costs = await client.post(
        "/v1/personnel-costs:batch",
        json={
            "records": [
                personnel_cost("C1"),
                personnel_cost("C2", period="2024-13"),
                personnel_cost("C3", category="agency", amount_sek=1e6),
            ]
        },
    )
    assert costs.json()["inserted"] == 1 and costs.json()["rejected"] == 2
    listed = (await client.get("/v1/personnel-costs")).json()["items"]
    assert listed[0]["period"] == "2024-03" and listed[0]["amount_sek"] == "125000.00"
    employments = (await client.get("/v1/employments")).json()["items"]
    assert employments[0]["end_reason"] == "resignation"


async def test_person_level_reads_are_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await client.get("/v1/time-records", params={"org_unit": "SUS", "from": "2024-01-01"})
    await client.get("/v1/employments")
    await client.get("/v1/personnel-costs")
    actions = (
        (
            await session.execute(
                sa.text("SELECT action FROM audit_log WHERE action LIKE '%.read' ORDER BY id")
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["time-records.read", "employments.read"]


async def test_the_same_batch_from_ten_clients_at_once_equals_one_send(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    records = [time_record(f"C{i}", hours=str(1 + i % 8)) for i in range(300)]
    batches = [records if n % 2 else list(reversed(records)) for n in range(10)]
    answers = await asyncio.gather(
        *(client.post(BATCH, json={"records": batch}) for batch in batches)
    )
    # Opposite orders may deadlock in PostgreSQL; the loser gets a retryable problem, never a 500.
    assert all(a.status_code in (200, 503) for a in answers), [a.text for a in answers]
    winners = [a.json() for a in answers if a.status_code == 200]
    assert sum(w["inserted"] for w in winners) == 300
    assert all(w["rejected"] == 0 for w in winners)
    stored = await session.execute(sa.text("SELECT count(*), sum(hours) FROM time_records"))
    assert tuple(stored.one()) == (300, sum(Decimal(1 + i % 8) for i in range(300)))


async def test_large_batches_are_validated_in_a_lower_priority_process_that_can_die(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await seed_tree(client)
    app.state.batch_validator.close()
    validator = app.state.batch_validator = BatchValidator(
        settings.model_copy(update={"batch_process_min_records": 2})
    )
    small = await client.post(BATCH, json={"records": [time_record("ALONE")]})
    assert small.status_code == 200 and small.json()["inserted"] == 1
    assert validator._pool is None  # one record: validated in a thread, no process started

    batch = [time_record(f"P{n}", work_date=f"2024-03-{n:02d}") for n in range(1, 11)]
    response = await client.post(BATCH, json={"records": [*batch, time_record("X", hours="0")]})
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (10, 1)
    assert response.json()["errors"][0]["index"] == 10
    assert validator._pool is not None
    (child,) = validator._pool._processes.values()
    assert os.getpriority(os.PRIO_PROCESS, child.pid) >= NICENESS

    os.kill(child.pid, signal.SIGKILL)  # killed (out of memory, say) between two batches
    child.join(10)
    changed = [time_record("P1", work_date="2024-03-01", hours="7.00"), *batch[1:]]
    again = await client.post(BATCH, json={"records": changed})
    assert again.status_code == 200, again.text
    assert (again.json()["updated"], again.json()["unchanged"]) == (1, 9)
    after = await client.post(BATCH, json={"records": batch})
    assert after.status_code == 200 and after.json()["updated"] == 1  # in a new process
    assert validator._pool is not None and validator._pool._processes
