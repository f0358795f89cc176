"""The due/overdue scan called directly: which actions it flags, the events it publishes (once),
what a later write takes back, and the overdue actions meetings propose from."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.events.models import Event
from services.core.orgs import service as orgs_service
from services.core.plans import action_service, due_scan
from services.core.plans.schemas import ActionCreate, ActionRead, ActionUpdate
from tests.core.plans.conftest import MakePlan
from tests.factories import ADMIN

TODAY = date(2026, 3, 15)


async def _events(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """The action events published so far (seeding the org tree publishes others)."""
    stmt = sa.select(Event).where(col(Event.type).startswith("action.")).order_by(col(Event.id))
    rows = await session.execute(stmt)
    return [(e.type, e.data) for e in rows.scalars()]


async def _actions(session: AsyncSession, plan_id: Any, *rows: dict[str, Any]) -> list[ActionRead]:
    return [
        await action_service.create_action(
            session, ADMIN, plan_id, ActionCreate.model_validate({"title": "Åtgärd", **row})
        )
        for row in rows
    ]


async def test_the_scan_flags_past_due_open_actions_of_live_plans_once_and_announces_them(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan(status="decided")
    late, soon, finished, far = await _actions(
        session,
        plan.id,
        {"code": "1", "due_date": "2026-03-01", "status": "in_progress"},
        {"code": "2", "due_date": "2026-03-20"},
        {"code": "3", "due_date": "2026-03-01", "status": "done", "progress": 100},
        {"code": "4", "due_date": "2026-06-01"},
    )
    draft = await make_plan(title="Not decided yet")
    await _actions(session, draft.id, {"code": "1", "due_date": "2026-03-01"})

    result = await due_scan.scan_due_actions(session, today=TODAY, due_soon_days=7)
    assert result == {"overdue": 1, "due_soon": 1, "cleared": 0}
    events = await _events(session)
    assert [(kind, data["action_id"]) for kind, data in events] == [
        ("action.overdue", str(late.id)),
        ("action.due_soon", str(soon.id)),
    ]
    assert events[0][1]["overdue_since"] == "2026-03-02"
    assert events[1][1]["days_left"] == 5
    flagged = await action_service.read_action(session, ADMIN, late.id)
    assert flagged.overdue and flagged.overdue_since == date(2026, 3, 2)
    assert flagged.version == late.version + 1
    for untouched in (soon, finished, far):
        assert not (await action_service.read_action(session, ADMIN, untouched.id)).overdue

    again = await due_scan.scan_due_actions(session, today=TODAY, due_soon_days=7)
    assert again == {"overdue": 0, "due_soon": 0, "cleared": 0}, "idempotent"
    assert len(await _events(session)) == 2

    region = await orgs_service.get_visible(session, ADMIN, "RS")
    assert region.id is not None
    proposals = await due_scan.overdue_actions_in_subtree(session, region.id, TODAY)
    assert [(a.id, a.plan_title) for a in proposals] == [(late.id, plan.title)]

    # Moving the due date past today takes the mark off at once, without waiting for a scan.
    moved = await action_service.update_action(
        session, ADMIN, late.id, ActionUpdate(due_date=date(2099, 1, 1)), if_match=None
    )
    assert not moved.overdue and moved.overdue_since is None
    assert await due_scan.overdue_actions_in_subtree(session, region.id, TODAY) == []


async def test_the_scan_without_a_due_soon_horizon_only_flags_overdue_actions(
    session: AsyncSession, make_plan: MakePlan
) -> None:
    plan = await make_plan(status="decided")
    await _actions(
        session,
        plan.id,
        {"code": "1", "due_date": "2026-03-01"},
        {"code": "2", "due_date": "2026-03-16"},
    )
    result = await due_scan.scan_due_actions(session, today=TODAY, due_soon_days=0)
    assert result == {"overdue": 1, "due_soon": 0, "cleared": 0}
    assert [kind for kind, _ in await _events(session)] == ["action.overdue"]
