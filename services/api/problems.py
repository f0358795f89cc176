"""One envelope for every error: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from services.core.errors import PulsError
from services.core.logging import request_id_var

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid value of a request."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then field names and list "
        "positions.",
        examples=[["body", 0, "org_unit_code"]],
    )
    msg: str = Field(description="What is wrong, for a person.", examples=["unknown org unit 'X1'"])
    code: str = Field(description="A stable code for programs.", examples=["unknown_org_unit"])


class Problem(BaseModel):
    """An RFC 9457 problem document: every refusal and error Puls answers."""

    type: str = Field(
        description="A URI reference naming the kind of problem.",
        examples=["/problems/validation_failed"],
    )
    title: str = Field(
        description="The kind of problem, for a person.", examples=["Validation failed"]
    )
    status: int = Field(description="The HTTP status.", examples=[422])
    detail: str = Field(
        description="What went wrong this time, for a person.", examples=["1 field is invalid"]
    )
    instance: str | None = Field(
        default=None, description="The request's path.", examples=["/v1/org-units"]
    )
    code: str = Field(
        description="A stable code for programs (the last segment of `type`).",
        examples=["validation_failed"],
    )
    request_id: str | None = Field(
        default=None, description="The request's `X-Request-ID`; quote it when reporting."
    )
    errors: list[FieldError] | None = Field(
        default=None, description="For validation problems: each invalid value."
    )


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition_failed", "Precondition failed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_failed", "Validation failed"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal error"),
    503: ("service_unavailable", "Service unavailable"),
}


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path if request is not None else None,
        "request_id": request_id_var.get(),
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        # pydantic puts union branch / validator names in loc; keep what a client can map.
        loc = [
            p
            for p in _clean_loc(error.get("loc", ()))
            if not (isinstance(p, str) and p.startswith(("function-", "constrained-")))
        ]
        errors.append({"loc": loc, "msg": error.get("msg", ""), "code": error.get("type", "")})
    return errors


_BODY_SHAPE_ERRORS = {"model_attributes_type", "model_type", "dict_type", "list_type"}
_JSON_KINDS = {
    list: "a JSON array",
    dict: "a JSON object",
    str: "a JSON string",
    bool: "a JSON boolean",
    int: "a JSON number",
    float: "a JSON number",
    type(None): "null",
}


def _wrong_body_shape(request: Request, exc: RequestValidationError) -> str | None:
    """What to tell a client whose JSON body is a value of the wrong kind as a whole, or None
    when the body has the right kind (its fields are then checked one by one)."""
    for error in exc.errors():
        if error.get("type") in _BODY_SHAPE_ERRORS and list(error.get("loc", ())) == ["body"]:
            sent = _JSON_KINDS.get(type(error.get("input")), "another JSON value")
            return f"The body must be {_expected_body(request)}, not {sent}"
    return None


def _expected_body(request: Request) -> str:
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a JSON object ({annotation.__name__})"
    origin = getattr(annotation, "__origin__", None)
    if origin is list:
        (item,) = getattr(annotation, "__args__", (object,))
        name = getattr(item, "__name__", None)
        return f"a JSON array of {name} objects" if name else "a JSON array"
    return "a JSON object"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(PulsError)
    async def _puls_error(request: Request, exc: PulsError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.code,
            exc.title,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["code"] == "json_invalid" for e in errors):
            ctx: dict[str, Any] = next(
                (e.get("ctx", {}) for e in exc.errors() if e.get("type") == "json_invalid"), {}
            )
            return problem_response(
                request,
                400,
                "malformed_json",
                "Malformed JSON",
                f"The request body is not valid JSON: {ctx.get('error', 'parse error')}",
            )
        shape = _wrong_body_shape(request, exc)
        if shape is not None:
            # JSON (the middleware let only JSON through), but not the JSON value expected:
            # an array sent where an object is expected, or the other way round.
            return problem_response(
                request,
                422,
                "body_shape",
                "Body of the wrong shape",
                shape,
                errors=[{"loc": ["body"], "msg": shape, "code": "body_shape"}],
            )
        noun = "field is" if len(errors) == 1 else "fields are"
        return problem_response(
            request,
            422,
            "validation_failed",
            "Validation failed",
            f"{len(errors)} {noun} invalid",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route {request.method} {request.url.path}"
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; list them all.
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return problem_response(request, exc.status_code, code, title, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        status, code, title, detail, headers = unexpected_problem(exc)
        return problem_response(request, status, code, title, detail, headers=headers)


def flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, looking inside included routers (FastAPI keeps them as wrappers)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in flat_routes(request.app.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                methods |= route.methods
    return sorted(methods - {"HEAD"})


def unexpected_problem(exc: BaseException) -> tuple[int, str, str, str, dict[str, str]]:
    """What to answer for an exception no handler expected: 503 when the database is out of
    reach (the client should retry), else a 500 that reveals nothing but the request id."""
    if _is_rejected_value(exc):
        return (
            422,
            "validation_failed",
            "Validation failed",
            "A value is outside what Puls can store (too large, too long or malformed)",
            {},
        )
    if _is_write_conflict(exc):
        return (
            503,
            "write_conflict",
            "Concurrent write conflict",
            "A concurrent request wrote the same rows and the database chose this one to "
            "give way; nothing of it was stored. Retry the request",
            {"Retry-After": "1"},
        )
    if _is_database_unavailable(exc):
        return (
            503,
            "service_unavailable",
            "Service unavailable",
            "The database is unavailable; retry shortly",
            {"Retry-After": "5"},
        )
    log.error("unhandled error", exc_info=exc)
    return (
        500,
        "internal_error",
        "Internal error",
        "An unexpected error occurred; quote the request id when reporting it",
        {},
    )


def _is_rejected_value(exc: BaseException) -> bool:
    """A value the database refused as data (out of range, bad encoding): the client's input,
    a 422, whichever endpoint let it through."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, asyncpg.DataError):
            return True
        cause = cause.__cause__
    return isinstance(exc, DBAPIError) and "invalid input for query argument" in str(exc)


def _is_write_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back whole, so a retry
    is safe and will most likely succeed."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, asyncpg.TransactionRollbackError):
            return True
        cause = cause.__cause__
    return False


def _is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(
        exc,
        PoolTimeout
        | OperationalError
        | InterfaceError
        | ConnectionError
        | OSError
        | asyncio.TimeoutError,
    ):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause = exc.__cause__ or exc.__context__
    return isinstance(
        cause,
        asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError | ConnectionError | OSError,
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the listed problem statuses, each with an example."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, title = _STATUS_CODES[status]
        example: dict[str, Any] = {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": title,
            "code": code,
            "instance": "/v1/…",
            "request_id": "3f2c…",
        }
        if status == 422:
            example["errors"] = [
                {"loc": ["body", "code"], "msg": "Field required", "code": "missing"}
            ]
        out[status] = {
            "description": title,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": example,
                }
            },
        }
    return out


def finish_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Makes every error response in the contract a problem document: FastAPI's default 422
    (HTTPValidationError) is replaced, and the Problem schema is added to the components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    default_422 = error_responses(422)[422]
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            for status, response in list(responses.items()):
                content = response.get("content", {})
                if status == "422" and "application/problem+json" not in content:
                    responses[status] = default_422
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema
