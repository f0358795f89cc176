"""The plumbing every aggregate's CRUD repeats, written once: a row the caller may see or a 404,
a collection page mirrored with tombstones, read schemas built from rows, and the insert, update and
soft-delete steps of a versioned resource.

Repositories call `scoped`, `fetch_mirrored` and `live_row` (the SQL); services call the rest, and
`insert` stores a new row for either. Nothing here commits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import col

from services.core.db import NamedCode, Versioned
from services.core.errors import PulsError, invalid_field
from services.core.pagination import (
    Page,
    Sort,
    Tombstone,
    changes_name,
    changes_query,
    decode_cursor,
    keyset,
    mirror_page,
    mirror_query,
    order_name,
    split_page,
)
from services.core.principal import Principal
from services.core.tree import OrgUnit, in_subtree

R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)
V = TypeVar("V", bound=Versioned)
N = TypeVar("N", bound=NamedCode)


@dataclass(frozen=True)
class Window:
    """Which page of a mirrored collection a caller asked for: its size, the cursor of the
    previous page, and `updated_since` (a mirror's change feed, tombstones included)."""

    limit: int
    cursor: str | None = None
    updated_since: datetime | None = None
    sort: Sort | None = None

    def sorted_by(self, sort: Sort | None) -> Window:
        """This window in a named order (None: by id). A mirror's pages come in change order,
        so a sort together with `updated_since` is refused rather than silently ignored."""
        if sort is not None and self.updated_since is not None:
            raise invalid_field(
                ["query", "sort"],
                "sort cannot be combined with updated_since (a mirror's pages come in change "
                "order)",
                "sort_with_updated_since",
            )
        return replace(self, sort=sort)

    def in_order(self, sort: Sort) -> Window:
        """A list's own order (an agenda by number), which a mirror's change order replaces."""
        return self if self.updated_since is not None else replace(self, sort=sort)


async def fetch_mirrored(
    session: AsyncSession, stmt: Select[Any], model: Any, window: Window
) -> Sequence[Any]:
    """The rows of one page of `stmt` (which selects `model` first): live rows by id, or with
    `updated_since` every row changed since then, deleted ones included, by change time."""
    stmt, order = mirror_query(stmt, model, window.updated_since, window.sort)
    on = order_name(model, window.updated_since, window.sort)
    descending = window.updated_since is None and window.sort is not None and window.sort.descending
    paged = keyset(stmt, order, window.cursor, window.limit, on=on, descending=descending)
    rows: Sequence[Any] = (await session.execute(paged)).all()
    return rows


async def fetch_changed(
    session: AsyncSession, stmt: Any, window: Window, *, key: Any, changed: Any, name: str
) -> Sequence[Any]:
    """The rows of one page of a list whose rows are never deleted (a log, a catalogue): by
    `key`, or with `updated_since` those `changed` since then, by change time. `name` names the
    list in its cursors; `page_from` makes the page with the same name."""
    stmt, order = changes_query(stmt, key, changed, window.updated_since)
    on = changes_name(name, window.updated_since)
    paged = keyset(stmt, order, window.cursor, window.limit, on=on)
    rows: Sequence[Any] = (await session.execute(paged)).all()
    return rows


def page_from(
    rows: Sequence[Any],
    window: Window,
    to_read: Callable[[Any], R],
    *,
    key: Callable[[Any], Any],
    changed: Callable[[Any], Any],
    name: str,
) -> Page[R]:
    """`fetch_changed`'s rows as the list's page; `key` and `changed` read a row's key and
    change time (the cursor of the last row)."""

    def cursor_key(row: Any) -> tuple[Any, ...]:
        return (changed(row), key(row)) if window.updated_since else (key(row),)

    kept, next_cursor = split_page(
        rows, window.limit, cursor_key, changes_name(name, window.updated_since)
    )
    return Page(items=[to_read(r) for r in kept], next_cursor=next_cursor)


def newest_first_or_changed(
    stmt: Any, window: Window, *, newest: Sequence[Any], changed: Any, key: Any, name: str
) -> Any:
    """One page of a list of status resources (imports, recalculations, deliveries), which
    the service changes and no client deletes: newest first by `newest`, or with
    `updated_since` those whose `changed` time is later, by that time then `key`."""
    if window.updated_since is not None:
        stmt = stmt.where(changed > window.updated_since)
        return keyset(stmt, [changed, key], window.cursor, window.limit, on=f"{name}:changes")
    return keyset(stmt, newest, window.cursor, window.limit, on=name, descending=True)


def status_page(
    rows: Sequence[Any],
    window: Window,
    to_read: Callable[[Any], R],
    *,
    newest: Callable[[Any], tuple[Any, ...]],
    changed: Callable[[Any], tuple[Any, ...]],
    name: str,
) -> Page[R]:
    """`newest_first_or_changed`'s rows as the list's page; `newest` and `changed` read a
    row's key in either order (the cursor of the last row)."""
    since = window.updated_since is not None
    on = f"{name}:changes" if since else name
    kept, next_cursor = split_page(rows, window.limit, changed if since else newest, on)
    return Page(items=[to_read(r) for r in kept], next_cursor=next_cursor)


_KEY_COLUMN = sa.column("key", sa.Text)
_CHANGED_COLUMN = sa.column("changed", sa.DateTime(timezone=True))


def page_of_entries(
    entries: Sequence[T],
    window: Window,
    *,
    key: Callable[[T], str],
    changed: Callable[[T], datetime | None],
    name: str,
) -> Page[T]:
    """A page of a short list held in memory (a catalogue partly defined in code), with the
    same cursors and `updated_since` as a list read from a table: by `key` (a text), or the
    entries with a change time after `updated_since`, by that time."""
    since = window.updated_since
    on = changes_name(name, since)

    def sort_key(entry: T) -> tuple[Any, ...]:
        return (changed(entry), key(entry)) if since is not None else (key(entry),)

    chosen = [e for e in entries if since is None or ((c := changed(e)) is not None and c > since)]
    chosen.sort(key=sort_key)
    if window.cursor:
        columns = [_CHANGED_COLUMN, _KEY_COLUMN] if since is not None else [_KEY_COLUMN]
        after = tuple(decode_cursor(window.cursor, columns, on))
        chosen = [e for e in chosen if sort_key(e) > after]
    kept, next_cursor = split_page(chosen[: window.limit + 1], window.limit, sort_key, on)
    return Page(items=kept, next_cursor=next_cursor)


def scoped(stmt: Any, scope_path: str | None, *filters: tuple[Any, object | None]) -> Any:
    """A list statement (joined to the org unit it is scoped by) narrowed to the caller's
    subtree and to each `(column, value)` filter the caller gave (a value of None filters
    nothing)."""
    if scope_path is not None:
        stmt = stmt.where(in_subtree(col(OrgUnit.path), scope_path))
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def text_search(stmt: Any, q: str | None, *columns: Any) -> Any:
    """`q` as a case-insensitive substring of any of `columns` (ILIKE, with the pattern's own
    wildcards taken literally); no `q` filters nothing."""
    if not q:
        return stmt
    pattern = "%" + q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    return stmt.where(sa.or_(*(column.ilike(pattern) for column in columns)))


async def live_row(
    session: AsyncSession, stmt: Any, model: Any, row_id: Any, *, for_update: bool
) -> Any:
    """The row of `stmt` (which selects `model` first) with this id, unless deleted, or None;
    with `for_update` the `model` row is locked (other joined rows are not)."""
    stmt = stmt.where(col(model.id) == row_id, col(model.deleted_at).is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=model)
    return (await session.execute(stmt)).first()


def page_of(
    rows: Sequence[Any],
    window: Window,
    to_read: Callable[[Any], R],
    *,
    tombstone_id: Callable[[Any], str] = lambda model: str(model.id),
) -> Page[R | Tombstone]:
    """`fetch_mirrored`'s rows as the collection's page; `to_read` gets the whole row."""
    return mirror_page(
        rows,
        window.limit,
        updated_since=window.updated_since,
        tombstone_id=tombstone_id,
        to_read=to_read,
        sort=window.sort,
    )


def visible_or_404(row: R | None, visible: Callable[[R], bool], not_found: PulsError) -> R:
    """The row, if it exists and the caller may see it; otherwise `not_found`. Both cases give
    the same answer, so another unit's id cannot be told from one that does not exist."""
    if row is None or not visible(row):
        raise not_found
    return row


def in_scope_or_404(row: Any, principal: Principal, not_found: PulsError) -> Any:
    """A scoped lookup's row (as `tree.with_unit` selects it: the resource first, its unit's
    path third) if the caller sees that path; otherwise `not_found`, as for a missing row."""
    return visible_or_404(row, lambda r: principal.sees_path(r[2]), not_found)


class _Attributes:
    """An object's attributes with some replaced, for `from_attributes` validation."""

    def __init__(self, obj: Any, overrides: dict[str, Any]) -> None:
        self._obj = obj
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._obj, name)


def read_as(schema: type[S], obj: Any, **overrides: Any) -> S:
    """A read schema built from a row's attributes (`from_attributes`), with the fields the row
    does not hold itself (a joined code, a computed warning) given as keyword arguments."""
    source = _Attributes(obj, overrides) if overrides else obj
    return schema.model_validate(source, from_attributes=True)


def snapshot(obj: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The named fields of a row, as history and audit entries record them."""
    return {field: getattr(obj, field) for field in fields}


async def insert(session: AsyncSession, obj: T) -> T:
    """Stores a new row and reloads it (the database gave it its id, times and defaults)."""
    session.add(obj)
    await session.flush()
    await session.refresh(obj)
    return obj


async def apply_update(session: AsyncSession, obj: V, changes: dict[str, Any]) -> V:
    """Sets the changed fields, gives the row a new version and change time, and reloads it
    (the database's clock set `updated_at`)."""
    for field, value in changes.items():
        setattr(obj, field, value)
    obj.touch()
    await session.flush()
    await session.refresh(obj)
    return obj


async def soft_delete(session: AsyncSession, obj: V) -> None:
    """Marks the row deleted (mirrors see a tombstone; references keep working)."""
    obj.mark_deleted()
    await session.flush()


async def catalogue(session: AsyncSession, model: type[N]) -> Sequence[N]:
    """Every entry of a code catalogue (`db.NamedCode`: professions, action areas), by code."""
    rows = await session.execute(sa.select(model).order_by(col(model.code)))
    return rows.scalars().all()


async def catalogue_page(session: AsyncSession, model: Any, window: Window) -> Sequence[Any]:
    """One page of a code catalogue (by code; with `updated_since`, by change time). Entries
    are never deleted, so there are no tombstones."""
    return await fetch_changed(
        session,
        sa.select(model),
        window,
        key=col(model.code),
        changed=col(model.updated_at),
        name=model.__tablename__,
    )


async def catalogue_entry(session: AsyncSession, model: type[N], code: str) -> N | None:
    return await session.get(model, code)


async def put_catalogue_entry(
    session: AsyncSession, model: type[N], code: str, name_en: str, name_sv: str
) -> N:
    """Adds a catalogue entry or renames it (its code is its key); the entry as stored."""
    stmt = pg_insert(model).values(code=code, name_en=name_en, name_sv=name_sv)
    stmt = stmt.on_conflict_do_update(
        index_elements=["code"],
        set_={
            "name_en": stmt.excluded.name_en,
            "name_sv": stmt.excluded.name_sv,
            "updated_at": sa.func.now(),
        },
    )
    stored: N = (
        await session.execute(
            sa.select(model).from_statement(stmt.returning(model)),
            execution_options={"populate_existing": True},
        )
    ).scalar_one()
    return stored
