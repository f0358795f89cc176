"""The audit trail is append-only in the database itself: an UPDATE or DELETE of `audit_log`
is refused whatever connection sends it, and the rows stay as they were."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET details = NULL WHERE false",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'org_unit.create'",
    ],
)
async def test_audit_rows_cannot_be_changed_or_deleted(
    client: httpx.AsyncClient, session: AsyncSession, statement: str
) -> None:
    created = await client.post(
        "/v1/org-units", json={"code": "AUD", "name": "Revision", "kind": "region"}
    )
    assert created.status_code == 201, created.text
    count = sa.text("SELECT count(*), min(actor) FROM audit_log")
    before = (await session.execute(count)).one()
    assert before[0] >= 1
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        await session.execute(sa.text(statement))
    await session.rollback()
    assert (await session.execute(count)).one() == before
