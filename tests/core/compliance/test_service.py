"""Compliance at the service level: another unit's rules, policies and exemptions are not
found (the same 404 as an unknown id), an exemption lifts its policy's violations, and the
violation detection is registered with the KPI recalculation and runs in it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.service import bootstrap_principal
from services.core.compliance import detection
from services.core.compliance import service as compliance_service
from services.core.compliance.errors import ExemptionNotFound, PolicyNotFound, RuleNotFound
from services.core.compliance.schemas import (
    ExemptionCreate,
    PolicyCreate,
    PolicyUpdate,
    RuleCreate,
    RuleUpdate,
)
from services.core.crud import Window
from services.core.errors import ValidationFailed
from services.core.kpis import facts, recalculation_service
from services.core.principal import Scope
from tests.factories import confined_to, feed, seed_tree, shift
from tests.jobs import recalculate

ADMIN = bootstrap_principal()
AGENCY_NURSE = {"staff": "agency", "profession": "nurse"}


def _policy(unit: str) -> PolicyCreate:
    return PolicyCreate.model_validate(
        {
            "name": "Ingen hyrpersonal",
            "professions": ["nurse"],
            "org_unit": unit,
            "valid_from": "2023-10-01",
        }  # fmt: skip
    )


def _exemption(unit: str) -> ExemptionCreate:
    return ExemptionCreate.model_validate(
        {
            "org_unit": unit,
            "valid_from": "2023-11-01",
            "valid_to": "2023-11-30",
            "decided_by": "Koncernledningen",
            "reason": "Influensasäsong",
        }  # fmt: skip
    )


async def test_another_units_rules_policies_and_exemptions_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    rule = await compliance_service.create_rule(
        session,
        ADMIN,
        RuleCreate.model_validate(
            {
                "kind": "daily_rest",
                "name": "Dygnsvila SUS",
                "min_rest_hours": "12",
                "period_start_hour": 0,
                "org_unit": "SUS",
                "valid_from": "2024-01-01",
            }  # fmt: skip
        ),
    )
    policy = await compliance_service.create_policy(session, ADMIN, _policy("SUS"))
    exemption = await compliance_service.create_exemption(
        session, ADMIN, uuid.UUID(policy.id), _exemption("SUS-AKUT")
    )
    pv = await confined_to(session, "PV", Scope.admin)
    policy_id, rule_id = uuid.UUID(policy.id), uuid.UUID(rule.id)
    with pytest.raises(PolicyNotFound):
        await compliance_service.read_policy(session, pv, policy_id)
    with pytest.raises(PolicyNotFound):
        await compliance_service.update_policy(
            session, pv, policy_id, PolicyUpdate(name="Kapad"), if_match=None
        )
    with pytest.raises(PolicyNotFound):
        await compliance_service.delete_policy(session, pv, policy_id, if_match=None)
    with pytest.raises(PolicyNotFound):
        await compliance_service.list_exemptions(session, pv, policy_id, window=Window(limit=10))
    with pytest.raises(ExemptionNotFound):
        await compliance_service.delete_exemption(session, pv, uuid.UUID(exemption.id))
    with pytest.raises(RuleNotFound):
        await compliance_service.update_rule(
            session, pv, rule_id, RuleUpdate(enabled=False), if_match=None
        )
    with pytest.raises(PolicyNotFound):  # the same answer as for an id that does not exist
        await compliance_service.read_policy(session, ADMIN, uuid.uuid4())

    window = Window(limit=100)
    assert (await compliance_service.list_policies(session, pv, window)).items == []
    pv_rules = (await compliance_service.list_rules(session, pv, window)).items
    assert rule.id not in {r.id for r in pv_rules}
    assert pv_rules, "region-wide rules bind every subtree, so PV sees them"
    sus = await confined_to(session, "SUS", Scope.admin)
    assert (await compliance_service.read_policy(session, sus, policy_id)).org_unit == "SUS"
    assert rule.id in {
        r.id for r in (await compliance_service.list_rules(session, sus, window)).items
    }


async def test_an_exemption_lifts_its_policys_violations(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await feed(client, "time-records", [shift("A1", datetime(2023, 11, 8, 15), 6, **AGENCY_NURSE)])
    policy = await compliance_service.create_policy(session, ADMIN, _policy("RS"))
    await session.commit()
    await recalculate(app)
    found = await compliance_service.summary(
        session, app.state.settings, ADMIN, org_unit="RS", first=None, last=None
    )
    assert [(r.kind, r.violations, r.hours) for r in found.rows] == [
        ("agency_policy", 1, Decimal(6))
    ]
    sus_policy = await compliance_service.create_policy(session, ADMIN, _policy("SUS"))
    with pytest.raises(ValidationFailed):  # PV is outside the SUS policy's subtree
        await compliance_service.create_exemption(
            session, ADMIN, uuid.UUID(sus_policy.id), _exemption("PV")
        )
    await session.rollback()
    await compliance_service.create_exemption(
        session, ADMIN, uuid.UUID(policy.id), _exemption("SUS")
    )
    await session.commit()
    await recalculate(app)
    lifted = await compliance_service.summary(
        session, app.state.settings, ADMIN, org_unit="RS", first=None, last=None
    )
    assert lifted.rows == []


async def test_detection_is_registered_and_runs_in_a_recalculation(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert detection.FACTS in facts.FACT_SOURCES
    assert detection.FACTS == facts.FACT_SOURCES[-1], "after the facts it reads"
    assert [hook.__name__ for hook in facts.CELL_HOOKS] == ["_detect_claimed"]
    await seed_tree(client)
    await compliance_service.create_policy(session, ADMIN, _policy("SUS"))
    await session.commit()
    await feed(client, "time-records", [shift("A1", datetime(2024, 3, 5, 9), 8, **AGENCY_NURSE)])

    # Without compliance's sources the recalculation refuses to run (nothing is claimed).
    monkeypatch.setattr(facts, "_SOURCED_KINDS", {"time", "worked", "staff", "cost"})
    with pytest.raises(RuntimeError, match="agency_policy, rest"):
        await recalculation_service.recalculate(session, app.state.settings)
    await session.rollback()
    monkeypatch.undo()

    assert await recalculate(app) == 1
    violations = await session.execute(
        sa.text("SELECT kind, work_date FROM compliance_violations ORDER BY id")
    )
    assert violations.all() == [("agency_policy", date(2024, 3, 5))]
    fact = await session.execute(
        sa.text("SELECT violation_hours FROM kpi_facts WHERE kind = 'agency_policy'")
    )
    assert [float(v) for v in fact.scalars()] == [8.0]


async def test_a_confined_keys_rule_change_marks_only_its_subtree(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # Marking every cell of the region dirty is a region-wide write too: a unit manager's rule
    # change must not make the worker recompute everybody else's figures.
    await seed_tree(client)
    await feed(
        client,
        "time-records",
        [
            shift("A1", datetime(2024, 3, 4, 7), 8),
            shift("B1", datetime(2024, 3, 4, 7), 8, unit="PV-MALMO"),
        ],
    )
    rule = await compliance_service.create_rule(
        session,
        ADMIN,
        RuleCreate.model_validate(
            {
                "kind": "daily_rest",
                "name": "Dygnsvila akuten",
                "min_rest_hours": "11",
                "period_start_hour": 0,
                "org_unit": "SUS-AKUT",
                "valid_from": "2024-01-01",
            }  # fmt: skip
        ),
    )
    await session.execute(sa.text("DELETE FROM kpi_dirty_cells"))
    sus = await confined_to(session, "SUS", Scope.admin)
    await compliance_service.update_rule(
        session, sus, uuid.UUID(rule.id), RuleUpdate(org_unit="SUS-MED"), if_match=None
    )
    marked = await session.execute(
        sa.text(
            "SELECT DISTINCT o.code FROM kpi_dirty_cells d JOIN org_units o ON o.id = d.org_unit_id"
        )
    )
    assert set(marked.scalars()) == {"SUS-AKUT"}
    await session.rollback()
