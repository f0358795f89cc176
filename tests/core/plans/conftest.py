"""Service-level fixtures for plans: a seeded org tree, callers by scope, and plans built
through the aggregate services on one session (nothing is committed; the test's state is
reset after it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.plans import plan_service
from services.core.plans.schemas import PlanCreate, PlanRead
from services.core.principal import Principal, Scope
from tests.factories import ADMIN, confined_to, seed_tree

MakePlan = Callable[..., Awaitable[PlanRead]]


@pytest.fixture
async def tree(client: httpx.AsyncClient) -> None:
    """Region Skåne's top: RS → SUS (→ SUS-AKUT, SUS-MED) and PV (→ PV-MALMO)."""
    await seed_tree(client)


@pytest.fixture
async def pv_writer(tree: None, session: AsyncSession) -> Principal:
    """A plans writer confined to Primärvården's subtree."""
    return await confined_to(session, "PV", Scope.read, Scope.plans_write)


@pytest.fixture
def make_plan(tree: None, session: AsyncSession) -> MakePlan:
    async def make(principal: Principal = ADMIN, **overrides: Any) -> PlanRead:
        body = {
            "title": "Bemanningsprojektet",
            "org_unit": "SUS",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            # Seed 000: a plan is decided only with an economic calculation.
            "cost_estimate_sek": "250000.00",
            **overrides,
        }
        return await plan_service.create_plan(session, principal, PlanCreate.model_validate(body))

    return make
