from __future__ import annotations

import uuid

from fastapi import Response

from services.api.deps import (
    Admin,
    IdempotencyDep,
    PageDep,
    SessionDep,
    UpdatedSince,
    api_router,
    secret_shown_once,
)
from services.api.operations import deletes, lists, operation, reads
from services.api.responses import no_content
from services.core.auth import service as auth_service
from services.core.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from services.core.pagination import Page

router = api_router(prefix="/api-keys", tags=["api-keys"])


@router.post(
    "",
    **operation(
        "Create an API key",
        ApiKeyCreated,
        problems=(400, 401, 403, 404, 415, 422),
        status=201,
        responses=secret_shown_once(201, "token"),
    ),
)
async def create_api_key(
    data: ApiKeyCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Response:
    """Returns the token once; Puls stores only its SHA-256 hash (a replay of the same
    `Idempotency-Key` answers with `token: null` and `Secret-Redacted: token`). Give the key the
    fewest scopes that work and, for a unit's own systems, confine it with `org_unit`."""
    if (replay := await idem.replay()) is not None:
        return replay
    created = await auth_service.create_key(session, principal, data)
    return await idem.respond(session, 201, created, {"Location": f"/v1/api-keys/{created.id}"})


@router.get("", **lists("List API keys", Page[ApiKeyRead]))
async def list_api_keys(
    session: SessionDep, principal: Admin, page: PageDep, updated_since: UpdatedSince = None
) -> Page[ApiKeyRead]:
    """By id; with `updated_since`, the keys created or revoked since (a revoked key stays
    listed with `revoked_at`: no tombstones)."""
    return await auth_service.list_keys(session, principal, window=page.window(updated_since))


@router.get("/{key_id}", **reads("Get an API key", ApiKeyRead))
async def get_api_key(key_id: uuid.UUID, session: SessionDep, principal: Admin) -> ApiKeyRead:
    return await auth_service.get_key(session, principal, key_id)


@router.delete("/{key_id}", **deletes("Revoke an API key"))
async def revoke_api_key(key_id: uuid.UUID, session: SessionDep, principal: Admin) -> Response:
    """Revocation takes effect on the next request made with the key."""
    await auth_service.revoke_key(session, principal, key_id)
    return no_content()
