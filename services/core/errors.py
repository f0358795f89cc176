"""Domain errors. Each carries its HTTP status and a stable code; the API renders them as
RFC 9457 problem details. No FastAPI import here, so the worker and CLI can raise them too."""

from __future__ import annotations

from typing import Any


class PulsError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class Unauthorized(PulsError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(PulsError):
    status, code, title = 403, "forbidden", "Missing scope"


class NotAPerson(Forbidden):
    """The credentials name no person (an API key): there is no "me". One answer wherever
    "me" is used (`/v1/me/work`, `/v1/me/subscriptions`, `assignee=me`, `responsible=me`): the
    request is well formed, the caller is not someone it can be about."""

    code = "not_a_person"
    title = "These credentials belong to no person"


class NotFound(PulsError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(PulsError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(PulsError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class NotAcceptable(PulsError):
    status, code, title = 406, "not_acceptable", "Not acceptable"


class PayloadTooLarge(PulsError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(PulsError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(PulsError):
    status, code, title = 422, "validation_failed", "Validation failed"


class RateLimited(PulsError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(PulsError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


def field_error(loc: list[str | int], msg: str, code: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "code": code}


def invalid_field(loc: list[str | int], msg: str, code: str = "invalid") -> ValidationFailed:
    """A 422 about one field, its message also the problem's detail."""
    return ValidationFailed(msg, errors=[field_error(loc, msg, code)])
