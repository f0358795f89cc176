"""Cursor (keyset) pagination and the `updated_since` mirror protocol, reused by every collection.

A cursor is opaque to clients: base64url JSON of the last row's sort key and the name of the
order it continues (`on`: the table and the sort), so a cursor handed to another list is a 400
rather than a page of that list starting at a meaningless place. Keyset paging stays fast at any
depth and never skips or repeats rows when others are inserted meanwhile."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.sql import Select

from services.core.errors import PulsError, ValidationFailed, field_error

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

    id: str = Field(
        description="The deleted resource's `id` as text (a violation's number too), or its "
        "natural key where it is addressed by one: an org unit's `code`; a fed record's "
        "`source:external_id`."
    )
    deleted: bool = True
    updated_at: datetime = Field(description="When it was deleted.")


class CursorFromAnotherList(PulsError):
    status, code, title = 400, "cursor_from_another_list", "Cursor from another list"


@dataclass(frozen=True)
class SortField:
    """One field of a named order; `if_null` stands in for a missing value (a due date not
    set sorts last), so the order is total and keyset paging can continue after any row."""

    column: Any
    if_null: Any = None

    def expression(self) -> Any:
        if self.if_null is None:
            return self.column
        return sa.func.coalesce(self.column, sa.literal(self.if_null, self.column.type))

    def value(self, obj: Any) -> Any:
        value = getattr(obj, self.column.key)
        return self.if_null if value is None else value


@dataclass(frozen=True)
class Sort:
    """A stable order of a collection other than by id: its fields, then the id breaking ties;
    `descending` reverses the whole order (the id too, so the order stays a keyset)."""

    name: str
    fields: tuple[SortField, ...]
    descending: bool = False


def encode_cursor(values: Sequence[Any], on: str | None = None) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value if isinstance(value, int | str | float | None) else str(value)

    key = [plain(v) for v in values]
    payload: Any = {"on": on, "after": key} if on is not None else key
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[Any], on: str | None = None) -> list[Any]:
    """The sort key a cursor continues after. A cursor naming another order (`on`) than this
    list's is a 400; one without a name (issued before cursors named their list) is taken as
    this list's."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(values, dict) and "on" in values:
            if values["on"] != on:
                raise CursorFromAnotherList(
                    "This cursor belongs to another list (or another sort or mirror order of "
                    "this one); use the next_cursor this list returned",
                    errors=[
                        field_error(["query", "cursor"], "cursor of another list", "foreign_cursor")
                    ],
                )
            values = values.get("after")
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("shape")
        typed: list[Any] = []
        for column, value in zip(columns, values, strict=True):
            if isinstance(column.type, sa.DateTime) and value is not None:
                value = datetime.fromisoformat(value)
            elif isinstance(column.type, sa.Date) and value is not None:
                value = date.fromisoformat(value)
            elif isinstance(column.type, sa.Integer) and value is not None:
                # A forged number (text, a float, beyond bigint) is a bad cursor, not a 500.
                if type(value) is not int or not -(2**63) <= value < 2**63:
                    raise ValueError("not an id")
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
    *,
    on: str | None = None,
    descending: bool = False,
) -> Select[Any]:
    """Orders by `columns` (ascending, or all descending; unique together) and continues after
    `cursor`, which must be one of the order named `on`. Fetches one row more than asked so
    the caller knows whether a next page exists."""
    if cursor:
        after = decode_cursor(cursor, columns, on)
        left = sa.tuple_(*columns)
        right = sa.tuple_(*[sa.literal(v, c.type) for v, c in zip(after, columns, strict=True)])
        stmt = stmt.where(left < right if descending else left > right)
    order = [c.desc() for c in columns] if descending else list(columns)
    return stmt.order_by(*order).limit(limit + 1)


def order_name(model: Any, updated_since: datetime | None, sort: Sort | None) -> str:
    """What a mirrored list's cursors are `on`: its table and its order."""
    if updated_since is not None:
        return f"{model.__tablename__}:changes"
    return f"{model.__tablename__}:{sort.name if sort else 'id'}"


def mirror_page(
    rows: Sequence[Any],
    limit: int,
    *,
    updated_since: datetime | None,
    tombstone_id: Callable[[Any], str],
    to_read: Callable[[Any], R],
    sort: Sort | None = None,
) -> Page[R | Tombstone]:
    """A page of `(model, …)` rows as collections return them: by id (or `sort`) normally, by
    change time with `updated_since`, where soft-deleted rows come back as tombstones."""

    def key(row: Any) -> tuple[Any, ...]:
        if updated_since:
            return (row[0].updated_at, row[0].id)
        if sort is not None:
            return (*(f.value(row[0]) for f in sort.fields), row[0].id)
        return (row[0].id,)

    on = order_name(type(rows[0][0]), updated_since, sort) if rows else None
    page_rows, next_cursor = split_page(rows, limit, key, on)
    items: list[R | Tombstone] = [
        Tombstone(id=tombstone_id(r[0]), updated_at=r[0].updated_at)
        if r[0].deleted_at is not None
        else to_read(r)
        for r in page_rows
    ]
    return Page(items=items, next_cursor=next_cursor)


def mirror_query(
    stmt: Any, model: Any, updated_since: datetime | None, sort: Sort | None = None
) -> tuple[Any, list[Any]]:
    """The filter and keyset order matching `mirror_page`: live rows by id (or `sort`), or
    every row changed after `updated_since` (deleted ones included) by change time."""
    if updated_since is not None:
        return stmt.where(model.updated_at > updated_since), [model.updated_at, model.id]
    fields = [f.expression() for f in sort.fields] if sort is not None else []
    return stmt.where(model.deleted_at.is_(None)), [*fields, model.id]


def split_page(
    rows: Sequence[T], limit: int, key: Any, on: str | None = None
) -> tuple[list[T], str | None]:
    """Drops the look-ahead row and builds the next cursor (of the order `on`) from the last
    row kept."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        return items, encode_cursor(key(items[-1]), on)
    return items, None


def changes_query(
    stmt: Any, key: Any, changed: Any, updated_since: datetime | None
) -> tuple[Any, list[Any]]:
    """The filter and keyset order of a list whose rows are never deleted (a log, a catalogue,
    revoked keys that stay listed): by `key`, or with `updated_since` every row whose `changed`
    time is later, by that time. Such a list has no tombstones."""
    if updated_since is not None:
        return stmt.where(changed > updated_since), [changed, key]
    return stmt, [key]


def changes_name(list_name: str, updated_since: datetime | None) -> str:
    """What the cursors of a `changes_query` list are `on`."""
    return f"{list_name}:{'changes' if updated_since is not None else 'key'}"
