"""The time-data services called directly with a session: code mappings, the profession
catalogue, and what mirrored reads show to a key confined to a subtree."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.crud import Window
from services.core.errors import ValidationFailed
from services.core.orgs.errors import OrgUnitNotFound
from services.core.pagination import Tombstone
from services.core.principal import Principal, Scope
from services.core.timedata import imports
from services.core.timedata import service as timedata_service
from services.core.timedata.errors import ImportNotFound
from services.core.timedata.schemas import CodeMappings, ProfessionIn, TimeRecordRead
from tests.factories import ADMIN, confined_to, seed_tree, time_record
from tests.harness import PSEUDONYM_KEY

BATCH = "/v1/time-records:batch"


async def time_records(
    session: AsyncSession,
    principal: Principal,
    *,
    org_unit: str | None = None,
    window: Window | None = None,
) -> list[Any]:
    page = await timedata_service.list_records(
        session,
        Settings(pseudonym_key=PSEUDONYM_KEY),
        principal,
        "time-records",
        org_unit=org_unit,
        date_from=None,
        date_to=None,
        filters={},
        window=window or Window(limit=100),
    )
    return page.items


async def test_code_mappings_are_replaced_whole_and_remap_stored_records(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    first = CodeMappings.model_validate(
        {"time_codes": {"ARB": "worked", "SJK": "sick"}, "profession_codes": {"SSK": "nurse"}}
    )
    result = await timedata_service.put_mappings(session, ADMIN, "heroma", first)
    assert result.remapped_records == 0
    await session.commit()
    assert await timedata_service.get_mappings(session, "heroma") == first
    assert await timedata_service.get_mappings(session, "other") == CodeMappings()

    sent = time_record("A1", time_code="ARB")
    del sent["time_type"]
    response = await client.post(BATCH, json={"records": [sent]})
    assert response.json()["inserted"] == 1, response.text

    # ARB now means sick leave: the stored record follows, keeping the sender's code.
    second = CodeMappings.model_validate({"time_codes": {"ARB": "sick"}})
    result = await timedata_service.put_mappings(session, ADMIN, "heroma", second)
    assert result.remapped_records == 1
    assert await timedata_service.get_mappings(session, "heroma") == second
    [record] = await time_records(session, ADMIN)
    assert isinstance(record, TimeRecordRead)
    assert (record.id, record.time_type, record.time_code) == ("heroma:A1", "sick", "ARB")


async def test_a_profession_mapping_must_name_a_profession_of_the_catalogue(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data = CodeMappings.model_validate(
        {"profession_codes": {"SSK": "nurse", "XYZ": "wizard", "ABC": "alchemist"}}
    )
    with pytest.raises(ValidationFailed) as raised:
        await timedata_service.put_mappings(session, ADMIN, "heroma", data)
    assert raised.value.errors == [
        {
            "loc": ["body", "profession_codes", "ABC"],
            "msg": "unknown profession 'alchemist'",
            "code": "unknown_profession",
        },
        {
            "loc": ["body", "profession_codes", "XYZ"],
            "msg": "unknown profession 'wizard'",
            "code": "unknown_profession",
        },
    ]
    assert await timedata_service.get_mappings(session, "heroma") == CodeMappings()


async def test_the_profession_catalogue_is_extended_and_renamed_by_code(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    seeded = {
        p.code: p
        for p in (await timedata_service.list_professions(session, window=Window(limit=500))).items
    }
    assert seeded["nurse"].name_sv == "Sjuksköterska"
    assert "midwife_assistant" not in seeded

    added = await timedata_service.put_profession(
        session,
        ADMIN,
        "midwife_assistant",
        ProfessionIn(name_en="Midwife assistant", name_sv="Barnmorskebiträde"),
    )
    await timedata_service.put_profession(
        session,
        ADMIN,
        "midwife_assistant",
        ProfessionIn(name_en="Assistant midwife", name_sv="Barnmorskebiträde"),
    )
    listed = (await timedata_service.list_professions(session, window=Window(limit=500))).items
    codes = [p.code for p in listed]
    assert codes == sorted(codes) and len(codes) == len(seeded) + 1
    [renamed] = [p for p in listed if p.code == "midwife_assistant"]
    assert added.name_en == "Midwife assistant" and renamed.name_en == "Assistant midwife"

    # A mapping may now point at it.
    data = CodeMappings.model_validate({"profession_codes": {"BMB": "midwife_assistant"}})
    await timedata_service.put_mappings(session, ADMIN, "heroma", data)


async def test_a_confined_key_lists_only_its_subtree_and_other_units_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    records = [
        time_record("AKUT-1"),
        time_record("MED-1", org_unit_code="SUS-MED"),
        time_record("PV-1", org_unit_code="PV-MALMO"),
    ]
    assert (await client.post(BATCH, json={"records": records})).json()["inserted"] == 3
    sus = await confined_to(session, "SUS", Scope.read, Scope.timedata_write)

    assert {r.id for r in await time_records(session, ADMIN)} == {
        "heroma:AKUT-1",
        "heroma:MED-1",
        "heroma:PV-1",
    }
    assert {r.id for r in await time_records(session, sus)} == {"heroma:AKUT-1", "heroma:MED-1"}
    assert [r.id for r in await time_records(session, sus, org_unit="SUS-MED")] == ["heroma:MED-1"]
    # Another subtree's unit is not found, exactly like one that does not exist.
    for code in ("PV-MALMO", "NO-SUCH-UNIT"):
        with pytest.raises(OrgUnitNotFound):
            await time_records(session, sus, org_unit=code)


async def test_a_confined_mirror_sees_its_own_tombstones_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    records = [time_record("AKUT-1"), time_record("PV-1", org_unit_code="PV-MALMO")]
    assert (await client.post(BATCH, json={"records": records})).json()["inserted"] == 2
    [akut, pv] = await time_records(session, ADMIN)
    since = min(akut.updated_at, pv.updated_at)
    gone = [{"source": "heroma", "external_id": key, "deleted": True} for key in ("AKUT-1", "PV-1")]
    assert (await client.post(BATCH, json={"records": gone})).json()["deleted"] == 2

    sus = await confined_to(session, "SUS", Scope.read, Scope.timedata_write)
    assert await time_records(session, sus) == []
    changes = await time_records(session, sus, window=Window(limit=100, updated_since=since))
    assert [(type(c), c.id) for c in changes] == [(Tombstone, "heroma:AKUT-1")]
    everything = await time_records(session, ADMIN, window=Window(limit=1, updated_since=since))
    assert len(everything) == 1  # the page size holds for tombstones too


async def test_an_import_is_not_found_outside_the_subtree_that_sent_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await seed_tree(client)
    sus, pv = (
        await confined_to(session, "SUS", Scope.read, Scope.timedata_write),
        await confined_to(session, "PV", Scope.read, Scope.timedata_write),
    )
    created = await imports.create(
        session,
        settings,
        sus,
        kind="time-records",
        source="heroma",
        path=tmp_path / "upload.csv",
        size=10,
        fmt="csv",
    )
    import_id = uuid.UUID(created.id)
    assert (await imports.read(session, sus, import_id)).status == "queued"
    assert (await imports.read(session, ADMIN, import_id)).id == created.id
    with pytest.raises(ImportNotFound):
        await imports.read(session, pv, import_id)

    # An import a region-wide key sent is not a subtree's to see.
    region_wide = await imports.create(
        session,
        settings,
        ADMIN,
        kind="time-records",
        source="heroma",
        path=tmp_path / "upload2.csv",
        size=10,
        fmt="csv",
    )
    with pytest.raises(ImportNotFound):
        await imports.read(session, sus, uuid.UUID(region_wide.id))
