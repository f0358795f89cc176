"""Sign-in with an OIDC issuer: the development issuer over real HTTP on 127.0.0.1, its tokens
mapped to people, roles to scopes and a unit claim to a subtree; every kind of bad token
refused with a 401 naming the reason, and key rotation picked up within the refetch budget."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.app import create_app
from services.core.config import Settings
from services.devissuer.app import DEV_ROLE_SCOPES, PEOPLE, DevIssuer
from tests.api_process import free_port
from tests.conftest import make_client
from tests.dev_issuer import running_issuer, token_from
from tests.factories import create_key, create_person, created_body, seed_tree
from tests.problems import assert_problem

JH = PEOPLE["JH"]


def plan_body(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Bemanningsprojektet 2016–2018",
        "period_start": "2016-12-01",
        "period_end": "2018-12-31",
        **overrides,
    }


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    with running_issuer() as running:
        yield running


def oidc_settings(settings: Settings, issuer: DevIssuer, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": issuer.issuer,
            "oidc_audience": "puls",
            "oidc_role_scopes": DEV_ROLE_SCOPES,
            "oidc_unit_claim": "puls_unit",
            "oidc_jwks_min_refetch_seconds": 0.0,
            **overrides,
        }
    )


@pytest.fixture
async def oidc_app(settings: Settings, issuer: DevIssuer) -> AsyncIterator[FastAPI]:
    application = create_app(oidc_settings(settings, issuer))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def admin(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(oidc_app) as c:
        yield c


async def link(admin: httpx.AsyncClient, initials: str = "JH", **extra: Any) -> str:
    person = PEOPLE[initials]
    return await create_person(
        admin, person.name, initials=initials, subject=person.subject, **extra
    )


def as_bearer(app: FastAPI, token: str) -> httpx.AsyncClient:
    return make_client(app, token)


async def test_a_signed_in_person_is_who_puls_says(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer, session: AsyncSession
) -> None:
    person_id = await link(admin)
    async with as_bearer(oidc_app, token_from(issuer, "JH")) as jh:
        me = (await jh.get("/v1/me")).json()
        assert me["auth_method"] == "oidc"
        assert me["person"]["id"] == person_id and me["person"]["subject"] == JH.subject
        assert me["scopes"] == ["admin"] and me["subtree"] is None and me["key_id"] is None
        # Audit rows and history name the person, not a key.
        created = await jh.post("/v1/people", json={"name": "Eva Berg", "initials": "EB"})
        assert created.status_code == 201, created.text
        await seed_tree(admin)
        plan = created_body(await jh.post("/v1/action-plans", json=plan_body(org_unit="RS")))
        history = (await jh.get(f"/v1/action-plans/{plan['id']}/history")).json()["items"]
        assert [h["actor"] for h in history] == [f"person:{person_id}"]
    actor = (
        await session.execute(
            sa.text("SELECT actor FROM audit_log WHERE resource_id = :id"),
            {"id": created.json()["id"]},
        )
    ).scalar_one()
    assert actor == f"person:{person_id}"


async def test_api_keys_still_work_beside_tokens(admin: httpx.AsyncClient) -> None:
    me = (await admin.get("/v1/me")).json()
    assert me == {
        "auth_method": "bootstrap_key",
        "person": None,
        "key_id": None,
        "key_name": None,
        "scopes": ["admin"],
        "subtree": None,
    }
    await seed_tree(admin)
    token = await create_key(admin, ["read"], org_unit="SUS", name="SUS dashboard")
    async with make_client(admin._transport.app, token) as keyed:  # type: ignore[attr-defined]
        keyed_me = (await keyed.get("/v1/me")).json()
    assert keyed_me["auth_method"] == "api_key" and keyed_me["key_name"] == "SUS dashboard"
    assert keyed_me["subtree"] == "SUS" and keyed_me["scopes"] == ["read"]


async def test_roles_give_scopes_and_the_unit_claim_a_subtree(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    await seed_tree(admin)
    await link(admin, "EB", org_unit="PV")
    # Without a unit claim the person's own unit confines them.
    async with as_bearer(oidc_app, token_from(issuer, "EB")) as eb:
        me = (await eb.get("/v1/me")).json()
        assert me["scopes"] == ["read"] and me["subtree"] == "PV"
        assert_problem(await eb.get("/v1/org-units/SUS"), 404, "org_unit_not_found")
        refused = await eb.post("/v1/people", json={"name": "Ny Person"})
        assert_problem(refused, 403, "missing_scope")
    token = token_from(issuer, "EB", roles="puls-planner", unit="SUS-AKUT")
    async with as_bearer(oidc_app, token) as eb:
        me = (await eb.get("/v1/me")).json()
        assert me["scopes"] == ["meetings:write", "plans:write", "read"]
        assert me["subtree"] == "SUS-AKUT"
    async with as_bearer(oidc_app, token_from(issuer, "EB", roles="unmapped-role")) as eb:
        assert (await eb.get("/v1/me")).json()["scopes"] == []
        assert_problem(await eb.get("/v1/org-units"), 403, "missing_scope")
    async with as_bearer(oidc_app, token_from(issuer, "EB", unit="NOPE")) as eb:
        assert_problem(await eb.get("/v1/me"), 403, "token_unit_unknown")


async def test_a_subject_no_person_has_is_refused(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    async with as_bearer(oidc_app, token_from(issuer, "JH")) as jh:
        assert_problem(await jh.get("/v1/me"), 403, "person_not_linked")
    # A person without a subject but with the token's e-mail is not linked by default …
    person_id = await create_person(admin, JH.name, email=JH.email.upper())
    async with as_bearer(oidc_app, token_from(issuer, "JH")) as jh:
        assert_problem(await jh.get("/v1/me"), 403, "person_not_linked")
    # … but is with PULS_OIDC_LINK_BY_EMAIL, when the issuer has verified the address.
    application = create_app(oidc_settings(admin_settings(admin), issuer, oidc_link_by_email=True))
    async with application.router.lifespan_context(application):
        async with as_bearer(application, token_from(issuer, "JH")) as jh:
            assert (await jh.get("/v1/me")).json()["person"]["id"] == person_id
        # Two people with that address: neither is chosen.
        await create_person(admin, "Namne", email=JH.email)
        async with as_bearer(application, token_from(issuer, "JH")) as jh:
            assert_problem(await jh.get("/v1/me"), 403, "person_not_linked")


def admin_settings(client: httpx.AsyncClient) -> Settings:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    settings: Settings = app.state.settings
    return settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def valid_claims(issuer: DevIssuer) -> dict[str, Any]:
    return jwt.decode(token_from(issuer, "JH"), options={"verify_signature": False})


async def test_bad_tokens_are_refused_with_the_reason(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    await link(admin)
    claims = valid_claims(issuer)
    # The HS256 confusion attack: the issuer's public key used as an HMAC secret.
    hs256 = jwt.encode(
        claims,
        base64.b64encode(issuer.current.public_pem()),
        algorithm="HS256",
        headers={"kid": issuer.current.kid},
    )
    good = token_from(issuer, "JH")
    head, body, signature = good.split(".")
    other_claims = {**claims, "sub": "dev-eb"}
    forged_body = _b64(json.dumps(other_claims).encode())
    cases = {
        "token_expired": token_from(issuer, "JH", expires_in="-120"),
        "token_not_yet_valid": token_from(issuer, "JH", not_before_in="600"),
        "token_audience": token_from(issuer, "JH", audience="another-app"),
        "token_issuer": token_from(issuer, "JH", issuer="https://login.example.org/other"),
        "token_algorithm": unsigned(claims),
        "token_signature": f"{head}.{forged_body}.{signature}",
        "token_malformed": "eyJhbGciOi.not-base64!.x",
    }
    for code, token in {**cases, "token_algorithm": hs256}.items():
        async with as_bearer(oidc_app, token) as caller:
            body_ = assert_problem(await caller.get("/v1/me"), 401, code)
            # The refusal helps no forger: no expected audience, issuer or key in it.
            assert "puls" not in body_["detail"].lower() or code == "token_audience"
            assert issuer.issuer not in json.dumps(body_)
    async with as_bearer(oidc_app, unsigned(claims)) as caller:
        assert_problem(await caller.get("/v1/me"), 401, "token_algorithm")
    # An expired token is refused before the body of a write is read.
    async with as_bearer(oidc_app, cases["token_expired"]) as caller:
        response = await caller.post(
            "/v1/people", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(response, 401, "token_expired")


async def test_a_rotated_key_is_fetched_once_and_a_made_up_kid_is_not(
    settings: Settings, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    await link(admin)
    application = create_app(oidc_settings(settings, issuer, oidc_jwks_min_refetch_seconds=3600))
    async with application.router.lifespan_context(application):
        async with as_bearer(application, token_from(issuer, "JH")) as jh:
            assert (await jh.get("/v1/me")).status_code == 200
        assert issuer.jwks_requests == 1
        # Within the budget nothing is refetched: a made-up kid costs the issuer nothing.
        issuer.rotate()
        async with as_bearer(application, token_from(issuer, "JH")) as jh:
            for _ in range(5):
                assert_problem(await jh.get("/v1/me"), 401, "token_key_unknown")
        assert issuer.jwks_requests == 1
        # Once the budget allows, the new key is fetched and accepted.
        application.state.oidc.refetched_at = None
        application.state.oidc.fetched_at -= 3600
        async with as_bearer(application, token_from(issuer, "JH")) as jh:
            assert (await jh.get("/v1/me")).status_code == 200
            assert (await jh.get("/v1/me")).status_code == 200
        assert issuer.jwks_requests == 2


async def test_rotation_with_the_old_key_retired(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    await link(admin)
    old = token_from(issuer, "JH")
    async with as_bearer(oidc_app, old) as jh:
        assert (await jh.get("/v1/me")).status_code == 200
    issuer.rotate(retire_old=True)
    async with as_bearer(oidc_app, token_from(issuer, "JH")) as jh:
        assert (await jh.get("/v1/me")).status_code == 200
    assert issuer.jwks_requests == 2
    # The old key is gone from the JWKS: its tokens no longer verify.
    async with as_bearer(oidc_app, old) as jh:
        assert_problem(await jh.get("/v1/me"), 401, "token_key_unknown")


async def test_an_unreachable_issuer_is_503_not_401(settings: Settings) -> None:
    down = settings.model_copy(
        update={
            "oidc_issuer": f"http://127.0.0.1:{free_port()}",
            "oidc_audience": "puls",
            "oidc_http_timeout_seconds": 1.0,
        }
    )
    application = create_app(down)
    async with application.router.lifespan_context(application):
        token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
        async with as_bearer(application, token) as caller:
            assert_problem(await caller.get("/v1/me"), 401, "token_algorithm")
        header = _b64(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
        async with as_bearer(application, f"{header}.{_b64(b'{}')}.{_b64(b'x')}") as caller:
            first = await caller.get("/v1/me")
            assert_problem(first, 503, "identity_provider_unavailable")
            failed_at = application.state.oidc.failed_at
            # Within the refetch budget the next request does not knock again.
            again = await caller.get("/v1/me")
            assert_problem(again, 503, "identity_provider_unavailable")
            assert again.headers["retry-after"] == "10"
            assert application.state.oidc.failed_at == failed_at


async def test_linking_a_subject_needs_admin_and_is_unique(
    admin: httpx.AsyncClient, oidc_app: FastAPI
) -> None:
    await seed_tree(admin)
    person_id = await link(admin)
    taken = await admin.post("/v1/people", json={"name": "Någon", "subject": JH.subject})
    assert_problem(taken, 409, "subject_taken")
    planner = await create_key(admin, ["plans:write"])
    async with make_client(oidc_app, planner) as keyed:
        refused = await keyed.post("/v1/people", json={"name": "Ny", "subject": "someone"})
        assert_problem(refused, 403, "missing_scope")
        refused = await keyed.patch(f"/v1/people/{person_id}", json={"subject": "mine"})
        assert_problem(refused, 403, "missing_scope")
    bad = await admin.post("/v1/people", json={"name": "Ny", "subject": "has space"})
    assert_problem(bad, 422)


async def test_no_token_ends_up_in_the_logs(
    oidc_app: FastAPI,
    admin: httpx.AsyncClient,
    issuer: DevIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await link(admin)
    good = token_from(issuer, "JH")
    expired = token_from(issuer, "JH", expires_in="-120")
    with caplog.at_level(logging.DEBUG):
        for token in (good, expired, unsigned(valid_claims(issuer))):
            async with as_bearer(oidc_app, token) as caller:
                await caller.get("/v1/me")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in (good, expired):
        assert token not in logged and token.split(".")[2] not in logged


async def test_forged_tokens_are_throttled_expired_ones_are_not(
    settings: Settings, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    await link(admin)
    application = create_app(oidc_settings(settings, issuer, auth_failure_limit_per_minute=3))
    expired = token_from(issuer, "JH", expires_in="-120")
    forged = unsigned(valid_claims(issuer))

    def from_address(address: str, token: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(address, 1))
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://puls.test",
            headers={"Authorization": f"Bearer {token}"},
        )

    async with application.router.lifespan_context(application):
        async with from_address("10.9.0.1", expired) as late:
            for _ in range(5):
                assert_problem(await late.get("/v1/me"), 401, "token_expired")
        async with from_address("10.9.0.2", forged) as forger:
            for _ in range(3):
                assert_problem(await forger.get("/v1/me"), 401, "token_algorithm")
            assert_problem(await forger.get("/v1/me"), 429, "auth_failures_throttled")


async def test_a_bootstrap_key_with_dots_stays_a_key(settings: Settings, issuer: DevIssuer) -> None:
    dotted = "first.second.third-bootstrap-key-of-the-operator"
    application = create_app(oidc_settings(settings, issuer, bootstrap_api_key=SecretStr(dotted)))
    async with application.router.lifespan_context(application):
        async with as_bearer(application, dotted) as operator:
            assert (await operator.get("/v1/me")).json()["auth_method"] == "bootstrap_key"
        async with as_bearer(application, dotted + "x") as guesser:
            assert_problem(await guesser.get("/v1/me"), 401, "token_malformed")
