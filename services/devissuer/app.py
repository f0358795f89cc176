"""A development OIDC issuer: discovery, JWKS and a token endpoint for named test people.

`puls run` starts it beside the API so a frontend can sign people in without the region's
identity provider, and the tests verify tokens against it over real HTTP. It is a plain ASGI
app (no framework: it has three routes) that signs RS256 tokens with a key kept under the data
directory. It refuses to start when PULS_ENV=production and serves 127.0.0.1 only: anyone who
can reach it can get a token for anybody."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_AUDIENCE = "puls"
DEFAULT_LIFETIME_SECONDS = 3600
# The roles `puls run` maps to scopes (PULS_OIDC_ROLE_SCOPES) for the development issuer.
DEV_ROLE_SCOPES: dict[str, list[str]] = {
    "puls-admin": ["admin"],
    "puls-planner": ["read", "plans:write", "meetings:write"],
    "puls-reader": ["read"],
}


@dataclass(frozen=True)
class TestPerson:
    initials: str
    name: str
    email: str
    roles: tuple[str, ...]

    @property
    def subject(self) -> str:
        return f"dev-{self.initials.lower()}"


# The named test people (seed 000's officials by their initials).
PEOPLE: dict[str, TestPerson] = {
    p.initials: p
    for p in (
        TestPerson("JH", "Jonas Hansson", "jonas.hansson@example.org", ("puls-admin",)),
        TestPerson("AL", "Anna Lindqvist", "anna.lindqvist@example.org", ("puls-planner",)),
        TestPerson("EB", "Eva Berg", "eva.berg@example.org", ("puls-reader",)),
    )
}


def refuse_outside_development(env: str, host: str) -> None:
    if env == "production":
        raise RuntimeError("the development issuer never runs with PULS_ENV=production")
    if host not in LOOPBACK:
        raise RuntimeError("the development issuer binds 127.0.0.1 only")


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(uuid.uuid4().hex[:16], rsa.generate_private_key(65537, 2048))

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class DevIssuer:
    """The issuer's state: its URL (known once bound), its current key and the keys it still
    publishes. `rotate()` starts signing with a new key; `retire_old=True` stops publishing
    the old ones, as a real issuer eventually does."""

    issuer: str = ""
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    jwks_requests: int = 0

    @classmethod
    def persistent(cls, key_file: Path) -> DevIssuer:
        """The key kept in `key_file` across restarts (tokens stay valid), made once."""
        if key_file.exists():
            data = json.loads(key_file.read_text())
            private = serialization.load_pem_private_key(data["pem"].encode(), password=None)
            assert isinstance(private, rsa.RSAPrivateKey)
            return cls(keys=[SigningKey(data["kid"], private)])
        issuer = cls()
        key = issuer.keys[0]
        pem = key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(json.dumps({"kid": key.kid, "pem": pem.decode()}))
        key_file.chmod(0o600)
        return issuer

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self, *, retire_old: bool = False) -> SigningKey:
        key = SigningKey.generate()
        self.keys = [key] if retire_old else [*self.keys, key]
        return key

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "token_endpoint": f"{self.issuer}/token",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["urn:puls:dev-person"],
        }

    def token(
        self,
        person: TestPerson,
        *,
        audience: str = DEFAULT_AUDIENCE,
        issuer: str | None = None,
        lifetime: int = DEFAULT_LIFETIME_SECONDS,
        not_before_in: int = 0,
        roles: list[str] | None = None,
        unit: str | None = None,
        subject: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject or person.subject,
            "aud": audience,
            "iat": now,
            "nbf": now + not_before_in,
            "exp": now + lifetime,
            "name": person.name,
            "email": person.email,
            "email_verified": True,
            "roles": list(person.roles) if roles is None else roles,
        }
        if unit is not None:
            claims["puls_unit"] = unit
        key = self.current
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/.well-known/openid-configuration":
            await _json(send, 200, self.discovery())
        elif method == "GET" and path == "/jwks":
            self.jwks_requests += 1
            await _json(send, 200, {"keys": [key.jwk() for key in self.keys]})
        elif method == "POST" and path == "/token":
            await self._token_endpoint(await _body(receive), send)
        else:
            await _json(send, 404, {"error": "not_found"})

    async def _token_endpoint(self, body: bytes, send: Send) -> None:
        """`person=<initials>` (form-encoded), and for tests `audience`, `issuer`,
        `expires_in` (negative: already expired), `not_before_in`, `roles` (comma-separated),
        `unit` and `subject`."""
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        person = PEOPLE.get(form.get("person", "").upper())
        if person is None:
            known = ", ".join(sorted(PEOPLE))
            await _json(send, 400, {"error": "invalid_request", "error_description": known})
            return
        try:
            lifetime = int(form.get("expires_in", DEFAULT_LIFETIME_SECONDS))
            not_before_in = int(form.get("not_before_in", 0))
        except ValueError:
            await _json(send, 400, {"error": "invalid_request"})
            return
        roles = form.get("roles")
        token = self.token(
            person,
            audience=form.get("audience", DEFAULT_AUDIENCE),
            issuer=form.get("issuer"),
            lifetime=lifetime,
            not_before_in=not_before_in,
            roles=[r for r in roles.split(",") if r] if roles is not None else None,
            unit=form.get("unit"),
            subject=form.get("subject"),
        )
        await _json(
            send,
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive, limit: int = 64 * 1024) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit or not message.get("more_body"):
            return body[:limit]


async def _json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
