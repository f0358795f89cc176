from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_claim(
    session: AsyncSession, *, owner: str, key: str, method: str, path: str, fingerprint: str
) -> int | None:
    """The new claim's id, or None when the key is taken already."""
    inserted = await session.execute(
        sa.text(
            "INSERT INTO idempotency_keys (owner, key, method, path, request_hash, state) "
            "VALUES (:owner, :key, :method, :path, :hash, 'in_flight') "
            "ON CONFLICT (owner, key) DO NOTHING RETURNING id"
        ),
        {"owner": owner, "key": key, "method": method, "path": path, "hash": fingerprint},
    )
    new_id = inserted.scalar()
    return None if new_id is None else int(new_id)


async def existing_for_update(
    session: AsyncSession, *, owner: str, key: str, in_flight_seconds: int
) -> Any:
    """The key's row, locked, with `stale` telling whether an in-flight claim was abandoned."""
    rows = await session.execute(
        sa.text(
            "SELECT id, request_hash, state, response_status, response_body, "
            "response_headers, created_at < now() - make_interval(secs => :secs) AS stale "
            "FROM idempotency_keys WHERE owner = :owner AND key = :key FOR UPDATE"
        ),
        {"owner": owner, "key": key, "secs": in_flight_seconds},
    )
    return rows.one()


async def renew_claim(session: AsyncSession, claim_id: int) -> None:
    await session.execute(
        sa.text("UPDATE idempotency_keys SET created_at = now() WHERE id = :id"), {"id": claim_id}
    )


async def store_response(
    session: AsyncSession, claim_id: int, status: int, body: bytes, headers: dict[str, Any]
) -> None:
    await session.execute(
        sa.text(
            "UPDATE idempotency_keys SET state = 'completed', response_status = :status, "
            "response_body = :body, response_headers = CAST(:headers AS jsonb), "
            "completed_at = now() WHERE id = :id"
        ),
        {"id": claim_id, "status": status, "body": body, "headers": json.dumps(headers)},
    )


async def delete_in_flight(session: AsyncSession, claim_id: int) -> None:
    await session.execute(
        sa.text("DELETE FROM idempotency_keys WHERE id = :id AND state = 'in_flight'"),
        {"id": claim_id},
    )


async def delete_older_than(session: AsyncSession, hours: int) -> int:
    result = await session.execute(
        sa.text(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => :h)"
        ),
        {"h": hours},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
