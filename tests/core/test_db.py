"""The engine every process builds keeps bound values out of its errors (they reach logs and
tracebacks, and may be person-level data), and runs its statements without JIT."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError


async def test_a_failed_statement_does_not_show_its_bound_values(app: FastAPI) -> None:
    employee_ref = "19790312-1234"
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError) as caught:
            # Division by zero: the database's own message does not repeat the value.
            await session.execute(
                sa.text("SELECT length(CAST(:ref AS text)) / 0"), {"ref": employee_ref}
            )
    assert employee_ref not in str(caught.value)
    assert "SQL parameters hidden" in str(caught.value)


async def test_statements_are_not_jit_compiled(app: FastAPI) -> None:
    """Statements over the partitioned time records are estimated far above their cost, and
    PostgreSQL compiled them (a file sent again spent 230 ms a chunk compiling for 20 ms of
    work): the engine turns JIT off for its connections."""
    async with app.state.sessionmaker() as session:
        assert (await session.execute(sa.text("SHOW jit"))).scalar_one() == "off"
