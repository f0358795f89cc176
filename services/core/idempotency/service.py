"""Idempotency-Key for POSTs that create (DESIGN.md: same key + same body → the first response
again; same key + other body → 422; still in flight → 409).

The claim is committed on its own connection first, so a concurrent duplicate sees it at once.
The stored response is written in the request's own transaction: if the process dies after the
commit but before answering, the client's retry gets the stored answer, never a second write.
A claim whose request died before committing is taken over after `in_flight_seconds`.

An answer that carries a secret (a new API key's token, a webhook signing secret) is stored
without it: a replay gives the resource with the secret null and `Secret-Redacted` naming the
field, since a secret is shown once and the store must not keep what Puls itself only hashes
or encrypts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.idempotency import repository
from services.core.idempotency.errors import IdempotencyKeyInFlight, IdempotencyKeyReused

SECRET_REDACTED_HEADER = "Secret-Redacted"


def redacted(
    content: dict[str, Any], headers: dict[str, Any], secret_fields: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer as the store keeps it: the secret fields null, and the header naming them."""
    if not secret_fields:
        return content, headers
    return (
        {**content, **dict.fromkeys(secret_fields)},
        {**headers, SECRET_REDACTED_HEADER: ", ".join(secret_fields)},
    )


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
        new_id = await repository.insert_claim(
            session, owner=owner, key=key, method=method, path=path, fingerprint=fingerprint
        )
        if new_id is not None:
            return Claim(new_id)
        row = await repository.existing_for_update(
            session, owner=owner, key=key, in_flight_seconds=in_flight_seconds
        )
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
        await repository.renew_claim(session, row.id)
        return Claim(int(row.id))


async def complete(
    session: AsyncSession, claim_: Claim, status: int, body: bytes, headers: dict[str, Any]
) -> None:
    await repository.store_response(session, claim_.id, status, body, headers)


async def release(sessionmaker: async_sessionmaker[AsyncSession], claim_: Claim) -> None:
    """Drops an unfinished claim after a failed request, so the client may retry at once."""
    async with sessionmaker() as session, session.begin():
        await repository.delete_in_flight(session, claim_.id)


async def purge_expired(session: AsyncSession, *, older_than_hours: int = 24) -> int:
    return await repository.delete_older_than(session, older_than_hours)
