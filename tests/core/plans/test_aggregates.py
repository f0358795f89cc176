"""The plans' aggregate services called directly on a session: plan status moves, a package
in use, the spreadsheet sync's all-or-nothing answer, follow-ups, and scoping (another unit's
id is the same 404 as an unknown one)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window
from services.core.errors import PreconditionFailed
from services.core.http import etag
from services.core.plans import (
    action_service,
    action_sync,
    follow_up_service,
    package_service,
    plan_service,
    summary_service,
)
from services.core.plans.errors import (
    ActionNotFound,
    FollowUpNotFound,
    InvalidTransition,
    PackageInUse,
    PackageNotFound,
    PlanInvalid,
    PlanNotFound,
)
from services.core.plans.schemas import (
    ActionCreate,
    ActionRead,
    FollowUpCreate,
    FollowUpUpdate,
    PackageCreate,
    PackageRead,
    PlanStatus,
    PlanUpdate,
    Rag,
)
from services.core.principal import Principal
from tests.core.plans.conftest import MakePlan
from tests.factories import ADMIN

WINDOW = Window(limit=100)


def _locs(error: PlanInvalid | InvalidTransition) -> list[tuple[list[Any], str]]:
    assert error.errors is not None
    return [(e["loc"], e["code"]) for e in error.errors]


async def _package(session: AsyncSession, plan_id: uuid.UUID, name: str = "P") -> PackageRead:
    data = PackageCreate.model_validate({"name": name})
    return await package_service.create_package(session, ADMIN, plan_id, data)


async def _action(session: AsyncSession, plan_id: uuid.UUID, **fields: Any) -> ActionRead:
    data = ActionCreate.model_validate({"code": "1", "title": "Åtgärd", **fields})
    return await action_service.create_action(session, ADMIN, plan_id, data)


async def _history(session: AsyncSession, plan_id: uuid.UUID, entity_id: uuid.UUID) -> list[Any]:
    page = await summary_service.history(
        session, ADMIN, plan_id, entity_id=entity_id, window=Window(limit=100)
    )
    return [(h.operation, h.before, h.after) for h in page.items]


async def test_a_plan_moves_along_its_status_transitions_and_other_moves_are_refused(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan()
    assert plan.status == PlanStatus.draft and plan.decided_at is None

    decided = await plan_service.update_plan(
        session, ADMIN, plan.id, PlanUpdate(status=PlanStatus.decided), if_match=etag(plan.version)
    )
    assert decided.status == PlanStatus.decided
    assert decided.decided_at is not None, "deciding stamps the decision time"
    assert decided.version == plan.version + 1

    with pytest.raises(InvalidTransition) as refused:
        await plan_service.update_plan(
            session, ADMIN, plan.id, PlanUpdate(status=PlanStatus.completed), if_match=None
        )
    assert _locs(refused.value) == [(["body", "status"], "invalid_status_transition")]
    assert refused.value.errors is not None
    assert "allowed: active, cancelled, draft" in refused.value.errors[0]["msg"]

    # A closed plan is reopened explicitly: cancelled → draft, not cancelled → active.
    await plan_service.update_plan(
        session, ADMIN, plan.id, PlanUpdate(status=PlanStatus.cancelled), if_match=None
    )
    with pytest.raises(InvalidTransition):
        await plan_service.update_plan(
            session, ADMIN, plan.id, PlanUpdate(status=PlanStatus.active), if_match=None
        )
    reopened = await plan_service.update_plan(
        session, ADMIN, plan.id, PlanUpdate(status=PlanStatus.draft), if_match=None
    )
    assert reopened.status == PlanStatus.draft
    assert (await plan_service.read_plan(session, ADMIN, plan.id)).version == plan.version + 3

    operations = [op for op, _, _ in await _history(session, plan.id, plan.id)]
    assert operations == ["create", "update", "update", "update"], "refused moves leave none"


async def test_a_package_that_still_holds_live_actions_cannot_be_deleted(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan()
    package = await _package(session, plan.id)
    action = await _action(session, plan.id, package_id=str(package.id))
    assert action.package_id == package.id

    with pytest.raises(PackageInUse):
        await package_service.delete_package(session, ADMIN, package.id, if_match=None)
    assert (await package_service.read_package(session, ADMIN, package.id)).id == package.id

    await action_service.delete_action(session, ADMIN, action.id, if_match=None)
    with pytest.raises(PreconditionFailed):
        await package_service.delete_package(session, ADMIN, package.id, if_match='"999"')
    await package_service.delete_package(session, ADMIN, package.id, if_match=None)
    with pytest.raises(PackageNotFound):
        await package_service.read_package(session, ADMIN, package.id)
    assert [op for op, _, _ in await _history(session, plan.id, package.id)] == [
        "create",
        "delete",
    ]


async def test_the_sync_names_every_bad_row_by_index_and_stores_nothing_of_a_bad_list(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan()
    other_plan = await make_plan(title="Another plan")
    foreign_package = await _package(session, other_plan.id)
    rows: list[dict[str, Any]] = [
        {"code": "1", "title": "Good"},
        {"code": "2", "title": "Unknown area", "area": "no_such_area"},
        {"code": "3", "title": "Good too", "status": "in_progress", "progress": 40},
        {"code": "1", "title": "Same code again"},
        {"code": "5", "title": "Ends first", "start_date": "2026-05-01", "due_date": "2026-04-01"},
        {"code": "6", "title": "Other plan's package", "package_id": str(foreign_package.id)},
    ]
    items = [ActionCreate.model_validate(r) for r in rows]

    with pytest.raises(PlanInvalid) as refused:
        await action_sync.bulk_upsert_actions(session, ADMIN, plan.id, items, if_match=None)
    assert _locs(refused.value) == [
        (["body", 1, "area"], "unknown_area"),
        (["body", 3, "code"], "duplicate_code"),
        (["body", 4, "due_date"], "due_before_start"),
        (["body", 5, "package_id"], "package_of_other_plan"),
    ]
    page, version = await action_service.list_actions(session, ADMIN, plan.id, {}, window=WINDOW)
    assert page.items == [] and version == 1, "all or nothing: the good rows are not stored"

    good = [items[0], items[2]]
    first = await action_sync.bulk_upsert_actions(
        session, ADMIN, plan.id, good, if_match=etag(version)
    )
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    changed = [items[0], ActionCreate.model_validate({**rows[2], "progress": 60})]
    second = await action_sync.bulk_upsert_actions(
        session, ADMIN, plan.id, changed, if_match=etag(first.actions_version)
    )
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 1)
    page, version = await action_service.list_actions(session, ADMIN, plan.id, {}, window=WINDOW)
    assert sorted((a.code, a.progress) for a in page.items if isinstance(a, ActionRead)) == [
        ("1", 0),
        ("3", 60),
    ]
    assert version == second.actions_version
    with pytest.raises(PreconditionFailed):
        await action_sync.bulk_upsert_actions(session, ADMIN, plan.id, good, if_match=etag(1))


async def test_a_follow_up_is_reported_and_changed_with_its_history(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan()
    action = await _action(session, plan.id)
    report = FollowUpCreate.model_validate(
        {
            "action_id": str(action.id),
            "reported_on": "2026-06-30",
            "rag": "amber",
            "result": "-52 %",
        }
    )
    created = await follow_up_service.create_follow_up(session, ADMIN, plan.id, report)
    assert (created.plan_id, created.action_id, created.rag) == (plan.id, action.id, Rag.amber)

    changed = await follow_up_service.update_follow_up(
        session, ADMIN, created.id, FollowUpUpdate(rag=Rag.green), if_match=etag(created.version)
    )
    assert changed.rag == Rag.green and changed.result == "-52 %"
    assert changed.version == created.version + 1
    read = await follow_up_service.read_follow_up(session, ADMIN, created.id)
    assert read == changed

    with pytest.raises(PreconditionFailed):
        await follow_up_service.update_follow_up(
            session, ADMIN, created.id, FollowUpUpdate(result="x"), if_match=etag(created.version)
        )
    # The colour may be cleared (seed 004's reports have none); the date may not.
    cleared = await follow_up_service.update_follow_up(
        session, ADMIN, created.id, FollowUpUpdate(rag=None), if_match=None
    )
    assert cleared.rag is None and cleared.result == "-52 %"
    with pytest.raises(PlanInvalid) as nulled:
        await follow_up_service.update_follow_up(
            session, ADMIN, created.id, FollowUpUpdate(reported_on=None), if_match=None
        )
    assert _locs(nulled.value) == [(["body", "reported_on"], "null")]

    other_plan = await make_plan(title="Another plan")
    with pytest.raises(PlanInvalid) as foreign:
        await follow_up_service.create_follow_up(session, ADMIN, other_plan.id, report)
    assert _locs(foreign.value) == [(["body", "action_id"], "unknown_action")]

    assert await _history(session, plan.id, created.id) == [
        (
            "create",
            None,
            {
                "action_id": str(action.id),
                "reported_on": "2026-06-30",
                "ongoing_work": None,
                "result": "-52 %",
                "rag": "amber",
                "meeting_id": None,
            },
        ),
        ("update", {"rag": "amber"}, {"rag": "green"}),
        ("update", {"rag": "green"}, {"rag": None}),
    ]


async def test_another_units_ids_are_the_same_404_as_unknown_ones(
    session: AsyncSession, make_plan: MakePlan, pv_writer: Principal
) -> None:
    plan = await make_plan()  # in SUS, outside Primärvården
    package = await _package(session, plan.id)
    action = await _action(session, plan.id)
    report = FollowUpCreate.model_validate({"reported_on": "2026-06-30", "rag": "red"})
    follow_up = await follow_up_service.create_follow_up(session, ADMIN, plan.id, report)
    own = await make_plan(pv_writer, org_unit="PV-MALMO", title="Primärvårdens plan")

    for plan_id in (plan.id, uuid.uuid4()):
        with pytest.raises(PlanNotFound):
            await plan_service.read_plan(session, pv_writer, plan_id)
        with pytest.raises(PlanNotFound):
            await package_service.create_package(
                session, pv_writer, plan_id, PackageCreate(name="Mine")
            )
        with pytest.raises(PlanNotFound):
            await plan_service.delete_plan(session, pv_writer, plan_id, if_match=None)
    with pytest.raises(PackageNotFound):
        await package_service.read_package(session, pv_writer, package.id)
    with pytest.raises(PackageNotFound):
        await package_service.delete_package(session, pv_writer, package.id, if_match=None)
    with pytest.raises(ActionNotFound):
        await action_service.read_action(session, pv_writer, action.id)
    with pytest.raises(ActionNotFound):
        await action_service.delete_action(session, pv_writer, action.id, if_match=None)
    with pytest.raises(FollowUpNotFound):
        await follow_up_service.read_follow_up(session, pv_writer, follow_up.id)

    plans = await plan_service.list_plans(
        session, pv_writer, org_unit=None, status=None, owner_id=None, window=WINDOW
    )
    assert [p.id for p in plans.items] == [own.id]
    everything = await plan_service.list_plans(
        session, ADMIN, org_unit="PV", status=None, owner_id=None, window=WINDOW
    )
    assert [p.id for p in everything.items] == [own.id], "narrowed to PV's subtree"
    actions = await action_service.list_actions_across_plans(
        session, pv_writer, org_unit=None, filters={}, window=WINDOW
    )
    assert actions.items == []

    with pytest.raises(PlanInvalid) as outside:
        await make_plan(pv_writer, org_unit="SUS")
    assert _locs(outside.value) == [(["body", "org_unit"], "unknown_org_unit")]
    # Nothing of the SUS plan changed through the refused calls.
    assert (await plan_service.read_plan(session, ADMIN, plan.id)).version == plan.version
    assert (await action_service.read_action(session, ADMIN, action.id)).version == action.version
