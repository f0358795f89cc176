from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import seed_tree, time_record

MAPPINGS = "/v1/sources/heroma/code-mappings"


def heroma_record(external_id: str, **overrides: object) -> dict[str, object]:
    record = time_record(external_id, **overrides)
    record.pop("time_type")
    record.pop("profession")
    record.setdefault("time_code", "SJK")
    record.setdefault("profession_code", "SSK")
    return record


async def test_sender_codes_are_mapped_and_kept(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    put = await client.put(
        MAPPINGS,
        json={"time_codes": {"SJK": "sick", "ARB": "worked"}, "profession_codes": {"SSK": "nurse"}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["remapped_records"] == 0
    assert (await client.get(MAPPINGS)).json() == {
        "time_codes": {"ARB": "worked", "SJK": "sick"},
        "profession_codes": {"SSK": "nurse"},
        "pay_form_codes": {},
    }
    response = await client.post(
        "/v1/time-records:batch",
        json={
            "records": [
                heroma_record("H1"),
                heroma_record("H2", time_code="XYZ"),
                heroma_record("H3", profession_code="KUR"),
                {**heroma_record("H4"), "time_type": "sick"},
            ]
        },
    )
    body = response.json()
    assert body["inserted"] == 1
    errors = {e["index"]: e["errors"][0] for e in body["errors"]}
    assert errors[1]["code"] == "unmapped_code" and "'XYZ'" in errors[1]["msg"]
    assert "source 'heroma'" in errors[1]["msg"]
    assert errors[2]["loc"] == ["profession_code"]
    assert errors[3]["code"] == "value_error"  # both time_type and time_code
    stored = (await client.get("/v1/time-records")).json()["items"][0]
    assert (stored["time_type"], stored["time_code"]) == ("sick", "SJK")
    assert (stored["profession"], stored["profession_code"]) == ("nurse", "SSK")


async def test_changing_a_mapping_remaps_stored_records_and_marks_cells(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await client.put(
        MAPPINGS, json={"time_codes": {"SJK": "sick"}, "profession_codes": {"SSK": "nurse"}}
    )
    await client.post(
        "/v1/time-records:batch",
        json={
            "records": [
                heroma_record("H1"),
                heroma_record("H2", work_date="2024-05-02"),
            ]
        },
    )
    await session.execute(sa.text("DELETE FROM kpi_dirty_cells"))
    await session.commit()
    changed = await client.put(
        MAPPINGS, json={"time_codes": {"SJK": "child_care"}, "profession_codes": {"SSK": "nurse"}}
    )
    assert changed.json()["remapped_records"] == 2
    types = {r["time_type"] for r in (await client.get("/v1/time-records")).json()["items"]}
    assert types == {"child_care"}
    months = (
        (
            await session.execute(
                sa.text("SELECT to_char(month, 'YYYY-MM') FROM kpi_dirty_cells ORDER BY month")
            )
        )
        .scalars()
        .all()
    )
    assert months == ["2024-03", "2024-05"]


async def test_mapping_to_an_unknown_profession_or_time_type_is_refused(
    client: httpx.AsyncClient,
) -> None:
    bad_profession = await client.put(MAPPINGS, json={"profession_codes": {"X": "wizard"}})
    assert bad_profession.status_code == 422
    assert bad_profession.json()["errors"][0]["loc"] == ["body", "profession_codes", "X"]
    bad_type = await client.put(MAPPINGS, json={"time_codes": {"X": "napping"}})
    assert bad_type.status_code == 422


async def test_profession_catalogue_is_seeded_and_extendable(client: httpx.AsyncClient) -> None:
    codes = [
        p["code"]
        for p in (await client.get("/v1/professions", params={"limit": 500})).json()["items"]
    ]
    assert codes == [
        "administrator",
        "assistant_nurse",
        "doctor",
        "nurse",
        "other",
        "resident_doctor",
    ]
    await seed_tree(client)
    rejected = await client.post(
        "/v1/time-records:batch", json={"records": [time_record("M1", profession="midwife")]}
    )
    assert rejected.json()["rejected"] == 1
    added = await client.put(
        "/v1/professions/midwife", json={"name_en": "Midwife", "name_sv": "Barnmorska"}
    )
    assert added.status_code == 200
    accepted = await client.post(
        "/v1/time-records:batch", json={"records": [time_record("M1", profession="midwife")]}
    )
    assert accepted.json()["inserted"] == 1


async def test_on_call_and_standby_codes_map_to_their_time_types(
    client: httpx.AsyncClient,
) -> None:
    """Heroma-like codes for jour (on call at the workplace) and beredskap (standby)."""
    await seed_tree(client)
    put = await client.put(
        MAPPINGS,
        json={
            "time_codes": {"JOUR": "on_call", "BER": "standby"},
            "profession_codes": {"LK": "doctor"},
        },
    )
    assert put.status_code == 200, put.text
    response = await client.post(
        "/v1/time-records:batch",
        json={
            "records": [
                heroma_record("J1", time_code="JOUR", profession_code="LK"),
                heroma_record("B1", time_code="BER", profession_code="LK"),
            ]
        },
    )
    assert response.json()["inserted"] == 2, response.text
    stored = (await client.get("/v1/time-records")).json()["items"]
    assert sorted(r["time_type"] for r in stored) == ["on_call", "standby"]
