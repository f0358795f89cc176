"""Pure ASGI middleware: request ids, metrics, access logs, security headers, body limits and
content-type checks. Pure ASGI (not BaseHTTPMiddleware) keeps streaming bodies streaming."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import unexpected_problem
from services.core import deprecation, tracing
from services.core.logging import request_id_var
from services.core.metrics import ApiMetrics

log = logging.getLogger("puls.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
PROBLEM_JSON = b"application/problem+json"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes")


async def _send_problem(
    send: Send,
    scope: Scope,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(
        {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "instance": scope.get("path"),
            "request_id": request_id_var.get(),
        }
    ).encode()
    raw_headers = [(b"content-type", PROBLEM_JSON), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Request id in and out, metrics by route template, one JSON access-log line per request,
    the security headers every API response carries, and a `Warning` for each deprecated
    input the request used (`core.deprecation`)."""

    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics, *, docs_prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.docs_prefixes = docs_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        deprecated, collecting = deprecation.collect()
        tracing.tag_request(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": 0}
        is_docs = scope["path"].startswith(self.docs_prefixes)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                for use in deprecated:
                    headers.append((b"warning", deprecation.warning_header(use).encode()))
                if not is_docs:
                    headers.append((b"x-frame-options", b"DENY"))
                    headers.append(
                        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
                    )
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Answer here, inside the request-id context, instead of in Starlette's outermost
            # error middleware; a response already under way can only be cut off.
            if status_holder["started"]:
                raise
            status, code, title, detail, headers = unexpected_problem(exc)
            await _send_problem(send_wrapper, scope, status, code, title, detail, headers)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = status_holder["status"]
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.duration.labels(scope["method"], template).observe(elapsed)
            if template not in ("/metrics", "/healthz", "/readyz"):
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 1),
                    },
                )
            deprecation.stop(collecting)
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """413 before reading when Content-Length is over the limit, and while reading when a
    chunked body grows past it. File uploads (`/v1/imports`) have their own, larger limit.

    The 413 for a declared length is raised when the route first asks for the body, not here:
    the route authorises the caller before it reads (`StrictJsonRoute`), so a request without
    a valid key is a 401 whatever it declares, and still no byte of it is read."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, max_upload: int, upload_prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_prefixes = upload_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"].startswith(self.upload_prefixes) else self.max_body
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_problem(
                    send, scope, 400, "bad_request", "Bad request", "Content-Length is not a number"
                )
                return
        too_large = declared is not None and int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


class JsonContentTypeMiddleware:
    """JSON endpoints accept only application/json (or +json) bodies: 415 otherwise."""

    def __init__(self, app: ASGIApp, *, exempt_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and scope["path"].startswith("/v1/")
            and not scope["path"].startswith(self.exempt_prefixes)
        ):
            headers = Headers(scope=scope)
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if has_body and not (media == "application/json" or media.endswith("+json")):
                await _send_problem(
                    send,
                    scope,
                    415,
                    "unsupported_media_type",
                    "Unsupported media type",
                    f"Send the body as application/json, not {media or 'no content type'!r}",
                )
                return
        await self.app(scope, receive, send)
