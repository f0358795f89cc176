"""The answers the routes of every domain give the same way: a versioned resource with its
`ETag`, a created one through the idempotency store with `Location`, and 204."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import Idempotency
from services.core.http import etag
from services.core.spreadsheets import Decimals


def versioned(model: Any, status: int = 200, location: str | None = None) -> JSONResponse:
    """A resource with a `version`, answered with its `ETag` (and `Location` when given)."""
    headers = {"ETag": etag(model.version)}
    if location:
        headers["Location"] = location
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


async def created(
    idem: Idempotency,
    session: AsyncSession,
    model: Any,
    location: str | None,
    *,
    status: int = 201,
) -> Response:
    """201 (or 202 for work accepted) with `Location` and, for a versioned resource, `ETag`,
    kept by the idempotency store so a retry with the same `Idempotency-Key` gets this very
    answer."""
    headers = {"Location": location} if location else {}
    if (version := getattr(model, "version", None)) is not None:
        headers["ETag"] = etag(version)
    return await idem.respond(session, status, model, headers)


def no_content() -> Response:
    return Response(status_code=204)


def wants_csv(request: Request) -> bool:
    """The client asked for CSV (`Accept: text/csv`) rather than the default JSON."""
    return "text/csv" in request.headers.get("accept", "")


CsvDecimals = Annotated[
    Decimals,
    Query(
        alias="decimal",
        description="For `Accept: text/csv` only. `comma` (the default): Swedish spreadsheets, "
        "`;` between cells, decimal comma, UTF-8 with a byte order mark. `point`: for machines, "
        "`,` between cells (RFC 4180), decimal point, UTF-8 without a byte order mark.",
    ),
]


def csv_file(text: str, filename: str, headers: dict[str, str] | None = None) -> Response:
    """A CSV answer (`spreadsheets.write_csv`'s text), offered as a download named `filename`."""
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={**(headers or {}), "Content-Disposition": f'attachment; filename="{filename}"'},
    )
