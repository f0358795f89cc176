"""The due/overdue scan with a fixed clock: `action.due_soon` N days before, `action.overdue`
once per action from the local day after its due date, nothing twice, and the mark taken off
when an action is finished or its due date moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.core import clock
from services.core.config import Settings
from services.core.queue import DeferredJob, enqueue_jobs
from services.worker.tasks.plans import scan_due_actions
from tests.factories import REMAINING, build_seed_003_plan
from tests.jobs import run_worker

SetClock = Callable[[str], None]


@pytest.fixture
def set_clock(monkeypatch: pytest.MonkeyPatch) -> SetClock:
    def set_to(when: str) -> None:
        fixed = datetime.fromisoformat(when).astimezone(UTC)
        monkeypatch.setattr(clock, "utcnow", lambda: fixed)

    return set_to


def _ctx(app: FastAPI, settings: Settings) -> dict[str, Any]:
    return {"settings": settings, "sessionmaker": app.state.sessionmaker, "arq": app.state.arq}


async def _events(client: httpx.AsyncClient, type_: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"types": type_, "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_due_soon_then_overdue_once_per_action(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    ctx = _ctx(app, settings)
    assert settings.plans_due_soon_days == 7

    set_clock("2018-12-20T10:00:00+00:00")  # 11 days left: nothing yet
    assert await scan_due_actions(ctx) == {"overdue": 0, "due_soon": 0, "cleared": 0}

    set_clock("2018-12-24T10:00:00+00:00")  # 7 days left
    assert (await scan_due_actions(ctx))["due_soon"] == 4
    assert (await scan_due_actions(ctx))["due_soon"] == 0
    due_soon = await _events(client, "action.due_soon")
    assert sorted(e["data"]["code"] for e in due_soon) == sorted(REMAINING)
    assert {e["data"]["days_left"] for e in due_soon} == {7}
    assert {e["org_unit"] for e in due_soon} == {"RJH-PV", "RJH-OSS"}

    set_clock("2018-12-31T22:30:00+00:00")  # 23:30 in Östersund: still due today
    assert (await scan_due_actions(ctx))["overdue"] == 0

    set_clock("2018-12-31T23:30:00+00:00")  # 00:30 on New Year's Day locally
    assert (await scan_due_actions(ctx))["overdue"] == 4
    assert (await scan_due_actions(ctx))["overdue"] == 0
    set_clock("2019-01-15T08:00:00+00:00")
    assert (await scan_due_actions(ctx))["overdue"] == 0
    overdue = await _events(client, "action.overdue")
    assert len(overdue) == 4
    assert {e["data"]["overdue_since"] for e in overdue} == {"2019-01-01"}
    assert {e["data"]["plan_id"] for e in overdue} == {plan_id}

    marked = (
        await client.get(f"/v1/action-plans/{plan_id}/actions", params={"overdue": "true"})
    ).json()["items"]
    assert sorted(a["code"] for a in marked) == sorted(REMAINING)
    assert all(a["overdue"] and a["overdue_since"] == "2019-01-01" for a in marked)
    history = (
        await client.get(
            f"/v1/action-plans/{plan_id}/history", params={"entity_id": marked[0]["id"]}
        )
    ).json()["items"]
    assert history[-1]["actor"] == "system"
    assert (history[-1]["before"], history[-1]["after"]) == ({"overdue": False}, {"overdue": True})

    # Finishing one and moving another's due date take the mark off.
    by_code = {a["code"]: a for a in marked}
    done = await client.patch(
        f"/v1/actions/{by_code['65']['id']}",
        json={"status": "done", "progress": 100},
        headers={"If-Match": f'"{by_code["65"]["version"]}"'},
    )
    assert done.status_code == 200, done.text
    assert done.json()["overdue"] is False
    moved = await client.patch(
        f"/v1/actions/{by_code['64']['id']}", json={"due_date": "2019-06-30"}
    )
    assert moved.json()["overdue"] is False
    assert (await scan_due_actions(ctx))["overdue"] == 0

    # Missing the new due date is a new spell: one more event for that action only.
    set_clock("2019-07-01T08:00:00+00:00")
    result = await scan_due_actions(ctx)
    assert result["overdue"] == 1
    overdue = await _events(client, "action.overdue")
    assert [e["data"]["code"] for e in overdue[4:]] == ["64"]
    assert overdue[4]["data"]["overdue_since"] == "2019-07-01"

    summary = (await client.get(f"/v1/action-plans/{plan_id}/summary")).json()
    assert (summary["done"], summary["overdue"]) == (62, 3)


async def test_only_decided_or_active_plans_are_watched(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    completed = await client.patch(f"/v1/action-plans/{plan_id}", json={"status": "completed"})
    assert completed.status_code == 200, completed.text
    set_clock("2019-01-15T08:00:00+00:00")
    assert await scan_due_actions(_ctx(app, settings)) == {
        "overdue": 0,
        "due_soon": 0,
        "cleared": 0,
    }


async def test_the_worker_runs_the_registered_scan(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    await build_seed_003_plan(client)
    set_clock("2019-01-15T08:00:00+00:00")
    assert await enqueue_jobs(app.state.arq, [DeferredJob("scan_due_actions")]) == []
    worker = await run_worker(settings)
    assert len(await _events(client, "action.overdue")) == 4
    flagged = worker.ctx["metrics"].plan_actions_flagged.labels("overdue")._value.get()
    assert flagged == 4
