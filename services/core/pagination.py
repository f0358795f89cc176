"""Cursor (keyset) pagination and the `updated_since` mirror protocol, reused by every collection.

A cursor is opaque to clients: base64url JSON of the last row's sort key. Keyset paging stays
fast at any depth and never skips or repeats rows when others are inserted meanwhile."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.sql import Select

from services.core.errors import ValidationFailed, field_error

T = TypeVar("T")
R = TypeVar("R")
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class Tombstone(BaseModel):
    """A deleted resource as seen by an `updated_since` mirror."""

    id: str
    deleted: bool = True
    updated_at: datetime


def encode_cursor(values: Sequence[Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value if isinstance(value, int | str | float | None) else str(value)

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[Any]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("shape")
        typed: list[Any] = []
        for column, value in zip(columns, values, strict=True):
            if isinstance(column.type, sa.DateTime) and value is not None:
                value = datetime.fromisoformat(value)
            elif isinstance(column.type, sa.Date) and value is not None:
                value = date.fromisoformat(value)
            elif isinstance(column.type, sa.Uuid) and value is not None:
                import uuid

                value = uuid.UUID(value)
            typed.append(value)
        return typed
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this service issued",
            errors=[field_error(["query", "cursor"], "invalid cursor", "invalid_cursor")],
        ) from exc


def keyset(
    stmt: Select[Any],
    columns: Sequence[Any],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Orders by `columns` (ascending, unique together) and continues after `cursor`.
    Fetches one row more than asked so the caller knows whether a next page exists."""
    if cursor:
        after = decode_cursor(cursor, columns)
        stmt = stmt.where(
            sa.tuple_(*columns)
            > sa.tuple_(*[sa.literal(v, c.type) for v, c in zip(after, columns, strict=True)])
        )
    return stmt.order_by(*columns).limit(limit + 1)


def mirror_page(
    rows: Sequence[Any],
    limit: int,
    *,
    updated_since: datetime | None,
    tombstone_id: Callable[[Any], str],
    to_read: Callable[[Any], R],
) -> Page[R | Tombstone]:
    """A page of `(model, …)` rows as collections return them: by id normally, by change time
    with `updated_since`, where soft-deleted rows come back as tombstones."""

    def key(row: Any) -> tuple[Any, ...]:
        return (row[0].updated_at, row[0].id) if updated_since else (row[0].id,)

    page_rows, next_cursor = split_page(rows, limit, key)
    items: list[R | Tombstone] = [
        Tombstone(id=tombstone_id(r[0]), updated_at=r[0].updated_at)
        if r[0].deleted_at is not None
        else to_read(r)
        for r in page_rows
    ]
    return Page(items=items, next_cursor=next_cursor)


def mirror_query(stmt: Any, model: Any, updated_since: datetime | None) -> tuple[Any, list[Any]]:
    """The filter and keyset order matching `mirror_page`: live rows by id, or every row
    changed after `updated_since` (deleted ones included) by change time."""
    if updated_since is not None:
        return stmt.where(model.updated_at > updated_since), [model.updated_at, model.id]
    return stmt.where(model.deleted_at.is_(None)), [model.id]


def split_page(rows: Sequence[T], limit: int, key: Any) -> tuple[list[T], str | None]:
    """Drops the look-ahead row and builds the next cursor from the last row kept."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        return items, encode_cursor(key(items[-1]))
    return items, None
