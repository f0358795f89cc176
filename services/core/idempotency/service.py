"""Idempotency-Key for POSTs that create (DESIGN.md: same key + same body → the first response
again; same key + other body → 422; still in flight → 409).

The claim is committed on its own connection first, so a concurrent duplicate sees it at once.
The stored response is written in the request's own transaction: if the process dies after the
commit but before answering, the client's retry gets the stored answer, never a second write.
A claim whose request died before committing is taken over after `in_flight_seconds`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.idempotency.errors import IdempotencyKeyInFlight, IdempotencyKeyReused


@dataclass(frozen=True)
class Claim:
    id: int


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    owner: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    in_flight_seconds: int,
) -> Claim | StoredResponse:
    async with sessionmaker() as session, session.begin():
        inserted = await session.execute(
            sa.text(
                "INSERT INTO idempotency_keys (owner, key, method, path, request_hash, state) "
                "VALUES (:owner, :key, :method, :path, :hash, 'in_flight') "
                "ON CONFLICT (owner, key) DO NOTHING RETURNING id"
            ),
            {"owner": owner, "key": key, "method": method, "path": path, "hash": fingerprint},
        )
        new_id = inserted.scalar()
        if new_id is not None:
            return Claim(int(new_id))
        row = (
            await session.execute(
                sa.text(
                    "SELECT id, request_hash, state, response_status, response_body, "
                    "response_headers, created_at < now() - make_interval(secs => :secs) AS stale "
                    "FROM idempotency_keys WHERE owner = :owner AND key = :key FOR UPDATE"
                ),
                {"owner": owner, "key": key, "secs": in_flight_seconds},
            )
        ).one()
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request; "
                "use a new key for a new request"
            )
        if row.state == "completed":
            return StoredResponse(
                status=row.response_status,
                body=bytes(row.response_body or b""),
                headers=dict(row.response_headers or {}),
            )
        if not row.stale:
            raise IdempotencyKeyInFlight(
                "A request with this Idempotency-Key is in progress; retry later",
                headers={"Retry-After": "1"},
            )
        await session.execute(
            sa.text("UPDATE idempotency_keys SET created_at = now() WHERE id = :id"),
            {"id": row.id},
        )
        return Claim(int(row.id))


async def complete(
    session: AsyncSession, claim_: Claim, status: int, body: bytes, headers: dict[str, Any]
) -> None:
    await session.execute(
        sa.text(
            "UPDATE idempotency_keys SET state = 'completed', response_status = :status, "
            "response_body = :body, response_headers = CAST(:headers AS jsonb), "
            "completed_at = now() WHERE id = :id"
        ),
        {"id": claim_.id, "status": status, "body": body, "headers": json.dumps(headers)},
    )


async def release(sessionmaker: async_sessionmaker[AsyncSession], claim_: Claim) -> None:
    """Drops an unfinished claim after a failed request, so the client may retry at once."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            sa.text("DELETE FROM idempotency_keys WHERE id = :id AND state = 'in_flight'"),
            {"id": claim_.id},
        )


async def purge_expired(session: AsyncSession, *, older_than_hours: int = 24) -> int:
    result = await session.execute(
        sa.text(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => :h)"
        ),
        {"h": older_than_hours},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
