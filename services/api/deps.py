"""Request dependencies: the session with its commit boundary, the caller, idempotency."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from arq.connections import ArqRedis
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.auth_throttle import AuthFailureThrottle, count_this_minute
from services.core.auth import service as auth_service
from services.core.auth.errors import InvalidApiKey, TokenExpired
from services.core.auth.oidc import OidcVerifier, looks_like_jwt
from services.core.config import Settings
from services.core.crud import Window
from services.core.errors import RateLimited, Unauthorized, ValidationFailed, field_error
from services.core.idempotency import service as idempotency_service
from services.core.me import service as me_service
from services.core.metrics import ApiMetrics
from services.core.principal import Principal, Scope
from services.core.queue import unit_of_work
from services.core.replica import Replica, facts_changed_at
from services.core.timedata.validator import BatchValidator
from services.core.validation import IsoDate, Rfc3339Time, loads_strict

log = logging.getLogger(__name__)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """Every route parses JSON bodies strictly (duplicate keys and deep nesting are refused) and
    refuses query parameters it does not know: a misspelt filter (`update_since`) must not
    quietly return everything.

    FastAPI reads and parses a route's body before it solves the route's dependencies, so the
    key would be checked only after the server had read and parsed whatever an anonymous
    client sent (up to `PULS_MAX_BODY_BYTES`). A route with a body, or a request the route
    refuses for its query, is therefore authorised here first: the key, the failed-key
    throttle, the per-key limit and the route's scopes; `get_principal` then takes the
    principal found instead of looking the key up again."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        original = super().get_route_handler()
        known = _query_names(self.dependant)
        needs_key = depends_on(self.dependant, get_principal)
        reads_body = self.body_field is not None
        scope_groups = _scope_groups(self.dependant)

        async def handler(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if needs_key and (reads_body or unknown):
                await _authorize_first(request, scope_groups)
            if unknown:
                raise ValidationFailed(
                    f"Unknown query parameter {', '.join(map(repr, unknown))}; "
                    f"this operation takes {', '.join(sorted(known)) or 'none'}",
                    errors=[
                        {"loc": ["query", name], "msg": "unknown parameter", "code": "unknown"}
                        for name in unknown
                    ],
                )
            strict = StrictJsonRequest(request.scope, request.receive)
            return await original(strict)

        return handler


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)


def _scope_groups(dependant: Dependant) -> list[tuple[str, ...]]:
    """The scopes each of the route's scope dependencies asks for (any one of a group
    suffices, `admin` always does), as `require` and `require_any` check them."""
    groups: list[tuple[str, ...]] = []
    for sub in dependant.dependencies:
        scopes = tuple(getattr(sub.call, "required_scopes", None) or ())
        if scopes and scopes not in groups:
            groups.append(scopes)
        groups += [group for group in _scope_groups(sub) if group not in groups]
    return groups


async def _authorize_first(request: Request, scope_groups: list[tuple[str, ...]]) -> None:
    """Authenticates on a short session of its own (the request's session is opened later,
    by the route's dependencies), before a byte of the body is read."""
    settings: Settings = request.app.state.settings
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        principal = await _authenticate(
            request, settings, session, request.headers.get("authorization")
        )
    for group in scope_groups:
        if not any(principal.has_scope(scope) for scope in group):
            auth_service.require_scope(principal, Scope(group[0]))


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_batch_validator(request: Request) -> BatchValidator:
    validator: BatchValidator = request.app.state.batch_validator
    return validator


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The commit boundary of a request: commit when the route returns, roll back on error,
    then hand the jobs the transaction asked for to arq (only once they can see the data)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with unit_of_work(sessionmaker, request.app.state.arq) as (session, failed):
        yield session
    for function in failed:
        get_metrics(request).enqueue_failures.labels(function).inc()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

READ_SOURCE = "Puls-Read-Source"
FACTS_CHANGED_AT = "Puls-Facts-Changed-At"


SeenFactsHeader = Annotated[
    Rfc3339Time | None,
    Header(
        alias="Puls-Seen-Facts-Changed-At",
        description="The `Puls-Facts-Changed-At` of an answer this client has seen: "
        "a read replica behind it is not read from.",
    ),
]


async def get_read_session(
    request: Request,
    response: Response,
    primary: SessionDep,
    seen: SeenFactsHeader = None,
) -> AsyncIterator[AsyncSession]:
    """A read-only session for the heavy reads: the replica's when DATABASE_READ_URL is set
    and the replica is close enough, else the primary's. `Puls-Read-Source` says which
    (`primary; reason=lag|behind|unavailable` on a fallback) and `Puls-Facts-Changed-At`
    which recalculation the answer holds. On the primary it is the request's session, the
    one an API key was looked up on: a second would check out a second connection (with its
    ping, BEGIN and COMMIT, about a millisecond of every read)."""
    replica: Replica | None = request.app.state.replica
    if replica is not None:
        choice = await replica.choose(seen)
        if choice.session is not None:
            response.headers[READ_SOURCE] = "replica"
            if choice.facts_changed_at is not None:
                response.headers[FACTS_CHANGED_AT] = choice.facts_changed_at.isoformat()
            try:
                yield choice.session
            finally:
                await choice.session.close()
            return
        response.headers[READ_SOURCE] = f"primary; reason={choice.reason}"
        changed_at = await facts_changed_at(primary)
        if changed_at is not None:
            response.headers[FACTS_CHANGED_AT] = changed_at.isoformat()
    yield primary


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_replica_session(
    request: Request,
    response: Response,
    seen: SeenFactsHeader = None,
) -> AsyncIterator[AsyncSession | None]:
    """The replica's session for a read whose route also writes to the primary (a mirror
    list's audit row), or None: then the route reads on its primary session."""
    replica: Replica | None = request.app.state.replica
    if replica is None:
        yield None
        return
    choice = await replica.choose(seen)
    if choice.session is None:
        response.headers[READ_SOURCE] = f"primary; reason={choice.reason}"
        yield None
        return
    response.headers[READ_SOURCE] = "replica"
    try:
        yield choice.session
    finally:
        await choice.session.close()


ReplicaSessionDep = Annotated[AsyncSession | None, Depends(get_replica_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def _rate_limit(
    request: Request,
    principal: Principal,
    settings: Settings,
    *,
    bucket: str = "rl",
    limit: int | None = None,
    what: str = "requests",
    cost: int = 1,
) -> None:
    """Fixed one-minute window per key in Redis; a request adds `cost` units. Fails open: Redis
    being down must not stop feeds (DESIGN.md: losing Redis loses no data and blocks no
    writes)."""
    arq: ArqRedis | None = request.app.state.arq
    if arq is None:
        return
    limit = settings.rate_limit_per_minute if limit is None else limit
    counted = await count_this_minute(
        arq, f"{settings.redis_prefix}:{bucket}:{_limited_as(principal)}", cost
    )
    if counted is not None and counted[0] > limit:
        retry_after = 60 - int(time.time() % 60)
        raise RateLimited(
            f"Rate limit of {limit} {what} per minute exceeded",
            headers={"Retry-After": str(max(retry_after, 1))},
        )


def _limited_as(principal: Principal) -> str:
    # A person is limited as a person, whichever of their tokens they send.
    return str(principal.person_id or principal.key_id or principal.name)


async def charge_expensive_read(request: Request, principal: Principal, settings: Settings) -> None:
    """An expensive read (`children=true` series, the scorecard) counts `expensive_read_cost`
    units of the key's per-minute limit instead of one (OWASP API4): authentication already
    counted one, this adds the rest, before any work is done."""
    extra = settings.expensive_read_cost - 1
    if extra > 0:
        await _rate_limit(request, principal, settings, cost=extra)


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known  # authorised by StrictJsonRoute before the body was read
    return await _authenticate(request, settings, session, authorization)


def _client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's --forwarded-allow-ips makes this the client's own address.
    return request.client.host if request.client else "unknown"


async def _authenticate(
    request: Request, settings: Settings, session: AsyncSession, authorization: str | None
) -> Principal:
    """The caller, with the failed-key throttle around the lookup and the per-key limit."""
    throttle: AuthFailureThrottle = request.app.state.auth_throttle
    address = _client_address(request)
    throttle.check(address)
    try:
        principal = await _principal_of(session, settings, authorization, request.app.state.oidc)
    except TokenExpired:
        raise  # signed by the issuer: a client that did not refresh, not a guesser
    except Unauthorized:
        await throttle.failed(request.app.state.arq, address)
        raise
    request.state.principal = principal
    await _rate_limit(request, principal, settings)
    return principal


async def _principal_of(
    session: AsyncSession,
    settings: Settings,
    authorization: str | None,
    oidc: OidcVerifier | None,
) -> Principal:
    if not authorization:
        raise InvalidApiKey(
            "Send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="puls"'},
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidApiKey(
            "Use the Bearer scheme: 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="puls"'},
        )
    bootstrap = (
        settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else None
    )
    token = token.strip()
    # A bootstrap key chosen by hand may hold dots; it stays a key.
    is_bootstrap = bootstrap is not None and hmac.compare_digest(token.encode(), bootstrap.encode())
    if oidc is not None and looks_like_jwt(token) and not is_bootstrap:
        return await auth_service.authenticate_token(session, oidc, token)
    return await auth_service.authenticate(session, token, bootstrap_token=bootstrap)


def require(scope: Scope) -> Callable[..., Any]:
    async def dependency(
        principal: Annotated[Principal, Depends(get_principal)],
    ) -> Principal:
        auth_service.require_scope(principal, scope)
        return principal

    dependency.__name__ = f"require_{scope.value.replace(':', '_')}"
    dependency.required_scopes = [scope.value]  # type: ignore[attr-defined]
    return dependency


def require_any(*scopes: Scope) -> Callable[..., Any]:
    async def dependency(
        principal: Annotated[Principal, Depends(get_principal)],
    ) -> Principal:
        if not any(principal.has_scope(s) for s in scopes):
            auth_service.require_scope(principal, scopes[0])
        return principal

    dependency.__name__ = "require_" + "_or_".join(s.value.replace(":", "_") for s in scopes)
    dependency.required_scopes = [s.value for s in scopes]  # type: ignore[attr-defined]
    return dependency


Reader = Annotated[Principal, Depends(require(Scope.read))]


async def require_person_data_read(
    request: Request,
    principal: Annotated[Principal, Depends(require(Scope.persondata_read))],
    settings: SettingsDep,
) -> Principal:
    """`persondata:read` (`read` does not imply it: sick leave is health data, GDPR art. 9),
    and a stricter per-key limit of its own (OWASP API6): a key that pages through
    pseudonymous person-level records is slowed down long before the general limit would, and
    every page is audited."""
    await _rate_limit(
        request,
        principal,
        settings,
        bucket="rl-person",
        limit=settings.person_data_rate_limit_per_minute,
        what="person-level reads",
    )
    return principal


PersonDataReader = Annotated[Principal, Depends(require_person_data_read)]
Admin = Annotated[Principal, Depends(require(Scope.admin))]
TimedataWriter = Annotated[Principal, Depends(require(Scope.timedata_write))]
PlansWriter = Annotated[Principal, Depends(require(Scope.plans_write))]
MeetingsWriter = Annotated[Principal, Depends(require(Scope.meetings_write))]
KpisWriter = Annotated[Principal, Depends(require(Scope.kpis_write))]
WebhooksAdmin = Annotated[Principal, Depends(require(Scope.webhooks_admin))]
PeopleWriter = Annotated[Principal, Depends(require_any(Scope.plans_write, Scope.meetings_write))]

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag you last read; a stale one gets 412 and changes nothing.",
    ),
]


@dataclass
class Idempotency:
    """Handle for one request's Idempotency-Key (or none). Usage in a route:

    if (replay := await idem.replay()) is not None:
        return replay
    ... do the work ...
    return await idem.respond(session, 201, body_model, headers)
    """

    request: Request
    key: str | None
    owner: str
    claim: idempotency_service.Claim | None = None

    async def replay(self, *, body_digest: str | None = None) -> Response | None:
        """Claims the key, or returns the stored response of its first use. A streamed upload
        passes the digest it computed instead of the body, which is never held in memory."""
        if self.key is None:
            return None
        body = body_digest.encode() if body_digest is not None else await self.request.body()
        settings: Settings = self.request.app.state.settings
        outcome = await idempotency_service.claim(
            self.request.app.state.sessionmaker,
            owner=self.owner,
            key=self.key,
            method=self.request.method,
            path=self.request.url.path,
            fingerprint=idempotency_service.request_fingerprint(
                self.request.method, self.request.url.path, self.request.url.query, body
            ),
            in_flight_seconds=settings.idempotency_in_flight_seconds,
        )
        if isinstance(outcome, idempotency_service.StoredResponse):
            headers = {**outcome.headers, "Idempotent-Replayed": "true"}
            return Response(
                outcome.body,
                status_code=outcome.status,
                headers=headers,
                media_type=headers.pop("content-type", "application/json"),
            )
        self.claim = outcome
        return None

    async def respond(
        self,
        session: AsyncSession,
        status: int,
        content: Any,
        headers: dict[str, str] | None = None,
    ) -> Response:
        # What jsonable_encoder makes of a model, without its second walk over the result.
        encoded = (
            content.model_dump(mode="json", by_alias=True)
            if isinstance(content, BaseModel)
            else jsonable_encoder(content)
        )
        response = JSONResponse(encoded, status_code=status, headers=headers)
        if self.claim is not None:
            # A secret in the answer (`secret_fields` of its model) is shown now and never kept.
            stored_content, stored = idempotency_service.redacted(
                encoded,
                {**(headers or {}), "content-type": "application/json"},
                getattr(content, "secret_fields", ()),
            )
            body = response.body if stored_content is encoded else JSONResponse(stored_content).body
            await idempotency_service.complete(session, self.claim, status, bytes(body), stored)
            self.claim = None
        return response

    async def release(self) -> None:
        if self.claim is not None:
            claim, self.claim = self.claim, None
            await idempotency_service.release(self.request.app.state.sessionmaker, claim)


async def get_idempotency(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (a UUID). Resending the same key and body returns "
            "the first response again instead of creating twice.",
            max_length=200,
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    if idempotency_key is not None and not idempotency_key.strip():
        raise ValidationFailed(
            "Idempotency-Key must not be empty",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "empty", "code": "empty"}],
        )
    idem = Idempotency(request=request, key=idempotency_key, owner=principal.actor)
    try:
        yield idem
    finally:
        await idem.release()


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency, scope="function")]


def secret_shown_once(status: int, field: str) -> dict[int | str, dict[str, Any]]:
    """The contract's note on an answer whose `field` holds a secret: the idempotency store
    keeps it without the secret, so a replay says so (give it as the route's `responses`)."""
    return {
        status: {
            "headers": {
                idempotency_service.SECRET_REDACTED_HEADER: {
                    "description": f"Only in a replay of the same `Idempotency-Key`: `{field}`, "
                    f"whose value is then null. The {field} is shown once, in the first answer; "
                    "Puls does not keep it (rotate or create anew if it was lost).",
                    "schema": {"type": "string", "enum": [field]},
                },
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer of an earlier request "
                    "with the same `Idempotency-Key`.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            }
        }
    }


def api_router(*, prefix: str = "", **kwargs: Any) -> APIRouter:
    """A /v1 domain router. The full path lives on each route (not on the include), so metrics
    and logs can label requests by their route template; JSON bodies are parsed strictly."""
    return APIRouter(prefix=f"/v1{prefix}", route_class=StrictJsonRoute, **kwargs)


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None

    def window(self, updated_since: datetime | None = None) -> Window:
        """The page as services take it. `updated_since` stays a parameter of each route (not
        of this dependency) so its place among the route's parameters in the contract holds."""
        return Window(limit=self.limit, cursor=self.cursor, updated_since=updated_since)


def get_page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size, at most 500.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(get_page_params)]
UpdatedSince = Annotated[
    Rfc3339Time | None,
    Query(
        description="Only resources changed after this time (RFC 3339), deletions included "
        "as tombstones, ordered by change time."
    ),
]
# A date range over records (time data, violations): `from` and `to`, both inclusive.
FromDate = Annotated[IsoDate | None, Query(alias="from", description="On or after this date.")]
ToDate = Annotated[IsoDate | None, Query(alias="to", description="On or before this date.")]


MeFilter = Annotated[
    Literal["me"] | None,
    Query(description="`me`: the signed-in person (an OIDC sign-in; an API key is no person)."),
]


def me_or(
    principal: Principal, me: str | None, person_id: uuid.UUID | None, name: str
) -> uuid.UUID | None:
    """A person filter given as `<name>=me` or as `<name>_id`: the signed-in person's id for
    `me` (403 `not_a_person` for an API key, 422 when both are given)."""
    if me is None:
        return person_id
    if person_id is not None:
        raise ValidationFailed(
            f"Give {name} or {name}_id, not both",
            errors=[field_error(["query", name], f"{name}_id given too", "conflicting_filters")],
        )
    return me_service.person_of(principal, ["query", name])
