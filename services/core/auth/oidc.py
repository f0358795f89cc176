"""Bearer JWT access tokens from the region's identity provider (OIDC), verified with PyJWT.

The issuer's discovery document names its JWKS; both are fetched with httpx and the keys are
cached (`PULS_OIDC_JWKS_CACHE_SECONDS`). A token signed with a key id the cache does not hold
makes the verifier fetch the JWKS again (the issuer rotated its keys), at most once per
`PULS_OIDC_JWKS_MIN_REFETCH_SECONDS` per process: a flood of made-up key ids must not turn
into a flood of requests to the identity provider. Only the asymmetric algorithms of
`PULS_OIDC_ALGORITHMS` are accepted, so `alg: none` and an HS256 token "signed" with the
issuer's public key are refused before any key is touched. Tokens are never logged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from services.core.auth.errors import (
    IdentityProviderUnavailable,
    TokenAlgorithm,
    TokenAudience,
    TokenClaims,
    TokenExpired,
    TokenIssuer,
    TokenKeyUnknown,
    TokenMalformed,
    TokenNotYetValid,
    TokenSignature,
)
from services.core.config import Settings

log = logging.getLogger(__name__)

# A discovery document or JWKS larger than this is not one (and is not read into memory whole).
_MAX_DOCUMENT_BYTES = 512 * 1024
# Longer "tokens" are refused unread; real access tokens are a few kilobytes.
MAX_TOKEN_LENGTH = 16 * 1024


def looks_like_jwt(token: str) -> bool:
    """A compact JWS: three base64url parts. API keys (`puls_…`) never have dots."""
    return token.count(".") == 2


@dataclass
class OidcVerifier:
    """One per API process (in the app's state): the keys cache and the refetch budget."""

    settings: Settings
    client: httpx.AsyncClient
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None
    refetched_at: float | None = None
    fetches: int = 0
    failed_at: float | None = None
    _jwks_uri: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def issuer(self) -> str:
        assert self.settings.oidc_issuer is not None
        return self.settings.oidc_issuer

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, issuer, audience and times check out."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenMalformed("The access token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenMalformed("The access token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.settings.oidc_algorithms:
            raise TokenAlgorithm(
                f"Accepted signature algorithms: {', '.join(self.settings.oidc_algorithms)}"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenMalformed("The access token's key id is not a string")
        key = await self._key(kid)
        if key is None:
            raise TokenKeyUnknown("The issuer publishes no key with the token's key id")
        if key.get("alg") not in (None, algorithm) or key.get("use") not in (None, "sig"):
            raise TokenSignature("The access token's signature is not valid")
        try:
            public = jwt.PyJWK(key, algorithm=algorithm)
        except jwt.PyJWTError:
            # A key of another type than the algorithm needs (an EC key for RS256).
            raise TokenSignature("The access token's signature is not valid") from None
        return self._decode(token, public, algorithm)

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        # PyJWT checks the signature first and the claims after it, so the claim errors below
        # are only ever reported for tokens the issuer really signed.
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.settings.oidc_audience,
                issuer=self.issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("The access token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise TokenNotYetValid("The access token is not valid yet (nbf or iat)") from None
        except jwt.InvalidAudienceError:
            raise TokenAudience("The access token is not meant for Puls") from None
        except jwt.InvalidIssuerError:
            raise TokenIssuer("The access token comes from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenClaims(f"The access token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenSignature("The access token's signature is not valid") from None
        except jwt.DecodeError:
            raise TokenMalformed("The access token is not a well-formed JWT") from None
        except jwt.PyJWTError:
            raise TokenClaims("The access token's claims are not valid") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenClaims("The access token's 'sub' claim is not a string")
        return claims

    async def _key(self, kid: str | None) -> dict[str, Any] | None:
        now = time.monotonic()
        if self.fetched_at is None and self.failed_at is not None:
            # The issuer was unreachable a moment ago: do not ask it again for every request.
            if now - self.failed_at < min(self.settings.oidc_jwks_min_refetch_seconds, 10.0):
                raise _unavailable()
        if self.fetched_at is None or now - self.fetched_at > self.settings.oidc_jwks_cache_seconds:
            async with self._lock:
                if self.fetched_at is None or (
                    time.monotonic() - self.fetched_at > self.settings.oidc_jwks_cache_seconds
                ):
                    await self._refresh(required=not self.keys)
        found = self._lookup(kid)
        if found is not None:
            return found
        # An unknown key id: the issuer may have rotated. Refetch, within the budget.
        async with self._lock:
            found = self._lookup(kid)
            if found is not None:
                return found
            last = self.refetched_at if self.refetched_at is not None else self.fetched_at
            if last is not None and (
                time.monotonic() - last < self.settings.oidc_jwks_min_refetch_seconds
            ):
                return None
            self.refetched_at = time.monotonic()
            await self._refresh(required=False)
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self.keys.get(kid)
        # A token without a key id is acceptable only while the issuer publishes one key.
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    async def _refresh(self, *, required: bool) -> None:
        """Fetches discovery (once) and the JWKS. A failure keeps the keys cached so far;
        with none cached (`required`) it is a 503, not a 401: the token may be fine."""
        try:
            if self._jwks_uri is None:
                discovery = await self._get_json(
                    self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                )
                if discovery.get("issuer") != self.issuer:
                    raise ValueError("the discovery document names another issuer")
                uri = discovery.get("jwks_uri")
                if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                    raise ValueError("the discovery document has no jwks_uri")
                if self.settings.env == "production" and not uri.startswith("https://"):
                    raise ValueError("the jwks_uri is not https")
                self._jwks_uri = uri
            jwks = await self._get_json(self._jwks_uri)
            entries = jwks.get("keys")
            if not isinstance(entries, list):
                raise ValueError("the JWKS has no keys")
        except (httpx.HTTPError, ValueError) as exc:
            self.fetched_at = time.monotonic()  # retried after the cache period, not per token
            log.warning("oidc: fetching the issuer's keys failed: %s", type(exc).__name__)
            if required:
                self.fetched_at, self.failed_at = None, time.monotonic()
                raise _unavailable() from None
            return
        self.fetches += 1
        keys: dict[str, dict[str, Any]] = {}
        for number, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("kty") in ("RSA", "EC", "OKP"):
                keys[str(entry.get("kid", f"#{number}"))] = entry
        self.keys = keys
        self.fetched_at = time.monotonic()
        log.info("oidc: fetched %d signing keys", len(keys))

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self.client.stream(
            "GET", url, timeout=self.settings.oidc_http_timeout_seconds
        ) as response:
            response.raise_for_status()
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_DOCUMENT_BYTES:
                    raise ValueError("document too large")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return document


def _unavailable() -> IdentityProviderUnavailable:
    return IdentityProviderUnavailable(
        "The identity provider's keys could not be fetched; try again shortly",
        headers={"Retry-After": "10"},
    )


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles` in Keycloak's tokens)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
