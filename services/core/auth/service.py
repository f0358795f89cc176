"""API keys: random tokens, stored only as SHA-256 hashes (a token has 256 bits of entropy, so a
fast hash is enough; no salt or KDF is needed for non-guessable secrets)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.auth import repository
from services.core.auth.errors import (
    InvalidApiKey,
    MissingScope,
    PersonNotLinked,
    TokenUnitUnknown,
)
from services.core.auth.models import ApiKey
from services.core.auth.oidc import OidcVerifier, claim
from services.core.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
)
from services.core.clock import utcnow
from services.core.crud import Window, page_from, read_as, visible_or_404
from services.core.errors import NotFound, ValidationFailed, field_error
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.pagination import Page
from services.core.people import service as people_service
from services.core.principal import Principal, Scope

TOKEN_PREFIX = "puls_"


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bootstrap_principal() -> Principal:
    return Principal(key_id=None, name="bootstrap", scopes=frozenset({Scope.admin.value}))


async def authenticate(
    session: AsyncSession, token: str, *, bootstrap_token: str | None
) -> Principal:
    if bootstrap_token and hmac.compare_digest(token.encode(), bootstrap_token.encode()):
        return bootstrap_principal()
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise InvalidApiKey("The API key is not valid")
    digest = hash_token(token)
    row = await repository.find_active_by_hash(session, digest)
    if row is None:
        raise InvalidApiKey("The API key is not valid")
    key, org_path, org_code = row
    # The index lookup already matched; compare again in constant time as defence in depth.
    if not hmac.compare_digest(key.token_hash, digest):
        raise InvalidApiKey("The API key is not valid")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise InvalidApiKey("The API key has expired")
    return Principal(
        key_id=key.id,
        name=key.name,
        scopes=frozenset(key.scopes),
        org_path=org_path,
        org_unit_code=org_code,
    )


async def authenticate_token(
    session: AsyncSession, verifier: OidcVerifier, token: str
) -> Principal:
    """A person signed in at the identity provider: the token verified, its subject mapped to
    a person, its roles to scopes (`PULS_OIDC_ROLE_SCOPES`) and its subtree taken from the
    unit claim (`PULS_OIDC_UNIT_CLAIM`) or else the person's own unit."""
    settings = verifier.settings
    claims = await verifier.verify(token)
    email = claim(claims, "email")
    linkable = (
        settings.oidc_link_by_email
        and isinstance(email, str)
        and claim(claims, "email_verified") is True
    )
    person = await people_service.for_sign_in(
        session, claims["sub"], email=email if linkable else None
    )
    if person is None:
        raise PersonNotLinked(
            "No person in Puls has this sign-in's subject; an administrator sets it "
            "(`subject` on /v1/people)"
        )
    org_path, org_code = person.org_unit_path, person.org_unit_code
    unit_code = claim(claims, settings.oidc_unit_claim) if settings.oidc_unit_claim else None
    if isinstance(unit_code, str):
        try:
            unit = await orgs_service.get_visible(session, bootstrap_principal(), unit_code)
        except OrgUnitNotFound:
            raise TokenUnitUnknown("The token's org unit is not known to Puls") from None
        org_path, org_code = unit.path, unit.code
    return Principal(
        key_id=None,
        name=person.name,
        scopes=_scopes_of_roles(claim(claims, settings.oidc_role_claim), settings.oidc_role_scopes),
        org_path=org_path,
        org_unit_code=org_code,
        person_id=person.id,
    )


def _scopes_of_roles(roles: Any, mapping: dict[str, list[str]]) -> frozenset[str]:
    """The scopes of the token's roles: a list of role names, or one name."""
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(
        scope for role in roles if isinstance(role, str) for scope in mapping.get(role, ())
    )


def require_scope(principal: Principal, scope: Scope) -> None:
    if not principal.has_scope(scope):
        raise MissingScope(f"This operation needs the {scope.value!r} scope")


def _to_read(key: ApiKey, org_code: str | None) -> ApiKeyRead:
    return read_as(ApiKeyRead, key, org_unit=org_code)


async def create_key(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> ApiKeyCreated:
    org_unit_id = None
    if data.org_unit is not None:
        org_unit_id = (await orgs_service.get_visible(session, principal, data.org_unit)).id
    elif principal.org_path is not None:
        raise ValidationFailed(
            "A key confined to a subtree can only create keys inside it",
            errors=[
                field_error(["body", "org_unit"], "required for this key", "org_unit_required")
            ],
        )
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise ValidationFailed(
            "expires_at must be in the future",
            errors=[field_error(["body", "expires_at"], "in the past", "in_past")],
        )
    token = generate_token()
    key = ApiKey(
        name=data.name,
        token_prefix=token[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_token(token),
        scopes=sorted({s.value for s in data.scopes}),
        org_unit_id=org_unit_id,
        expires_at=data.expires_at,
        created_by=principal.actor,
    )
    await audit_service.add_audited(
        session,
        principal,
        key,
        "api_key",
        org_unit_id=org_unit_id,
        details={"name": key.name, "scopes": key.scopes},
    )
    read = _to_read(key, data.org_unit)
    return ApiKeyCreated(**read.model_dump(), token=token)


async def list_keys(
    session: AsyncSession, principal: Principal, *, window: Window
) -> Page[ApiKeyRead]:
    """By id; with `updated_since`, keys created or revoked since. A revoked key stays
    listed (with `revoked_at`), so there are no tombstones."""
    rows = await repository.list_keys(session, principal.org_path, window)
    return page_from(
        rows,
        window,
        lambda r: _to_read(r[0], r[1]),
        key=lambda r: r[0].id,
        changed=lambda r: r[0].updated_at,
        name="api_keys",
    )


async def _visible_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> Any:
    # A key without a unit is a region-wide one: only unscoped admins see it.
    return visible_or_404(
        await repository.get_with_org(session, key_id),
        lambda row: principal.sees_path(row[2] or ""),
        NotFound(f"No API key with id {key_id}"),
    )


async def get_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKeyRead:
    row = await _visible_key(session, principal, key_id)
    return _to_read(row[0], row[1])


async def revoke_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    key: ApiKey = (await _visible_key(session, principal, key_id))[0]
    if key.revoked_at is None:
        key.revoked_at = sa.func.now()  # type: ignore[assignment]
        key.updated_at = sa.func.now()  # type: ignore[assignment]
        await session.flush()
        await audit_service.record(session, principal, "api_key.revoke", "api_key", str(key.id))
