"""Every SQL statement of the org tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.core.crud import Window, fetch_mirrored, scoped
from services.core.pagination import keyset
from services.core.tree import OrgUnit, in_subtree

Parent = aliased(OrgUnit)


def _with_parent_code() -> Any:
    stmt: Any = sa.select(OrgUnit, col(Parent.code).label("parent_code"))
    return stmt.outerjoin(Parent, col(Parent.id) == col(OrgUnit.parent_id))


async def get_by_code(
    session: AsyncSession, code: str, *, for_update: bool = False, include_deleted: bool = False
) -> OrgUnit | None:
    stmt = sa.select(OrgUnit).where(col(OrgUnit.code) == code)
    if not include_deleted:
        stmt = stmt.where(col(OrgUnit.deleted_at).is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_with_parent_code(session: AsyncSession, code: str) -> Any:
    stmt = _with_parent_code().where(col(OrgUnit.code) == code, col(OrgUnit.deleted_at).is_(None))
    return (await session.execute(stmt)).first()


async def list_page(
    session: AsyncSession,
    *,
    scope_path: str | None,
    parent_id: int | None,
    kind: str | None,
    window: Window,
) -> Sequence[Any]:
    stmt = scoped(
        _with_parent_code(),
        scope_path,
        (col(OrgUnit.parent_id), parent_id),
        (col(OrgUnit.kind), kind),
    )
    return await fetch_mirrored(session, stmt, OrgUnit, window)


async def subtree_page(
    session: AsyncSession, prefix: str, cursor: str | None, limit: int
) -> Sequence[Any]:
    stmt = _with_parent_code().where(
        in_subtree(col(OrgUnit.path), prefix), col(OrgUnit.deleted_at).is_(None)
    )
    rows: Sequence[Any] = (
        await session.execute(keyset(stmt, [col(OrgUnit.path)], cursor, limit))
    ).all()
    return rows


async def live_by_codes(session: AsyncSession, codes: set[str]) -> Sequence[OrgUnit]:
    rows = await session.execute(
        sa.select(OrgUnit).where(col(OrgUnit.code).in_(codes), col(OrgUnit.deleted_at).is_(None))
    )
    return rows.scalars().all()


async def lock_tree(session: AsyncSession) -> None:
    """Every other writer of org units waits until the transaction ends (readers do not): a
    bulk upsert validates the tree as it stands and must not race another change to it."""
    await session.execute(sa.text("LOCK TABLE org_units IN SHARE ROW EXCLUSIVE MODE"))


async def has_live_children(session: AsyncSession, unit_id: int) -> bool:
    stmt = sa.select(
        sa.exists().where(col(OrgUnit.parent_id) == unit_id, col(OrgUnit.deleted_at).is_(None))
    )
    return bool((await session.execute(stmt)).scalar())


async def move_subtree(session: AsyncSession, old_prefix: str, new_prefix: str) -> None:
    depth_shift = new_prefix.count("/") - old_prefix.count("/")
    await session.execute(
        sa.update(OrgUnit)
        .where(in_subtree(col(OrgUnit.path), old_prefix))
        .values(
            path=sa.literal(new_prefix) + sa.func.substr(col(OrgUnit.path), len(old_prefix) + 1),
            depth=col(OrgUnit.depth) + depth_shift,
        )
        .execution_options(synchronize_session=False)
    )


async def parent_links(session: AsyncSession) -> dict[str, str | None]:
    """code → parent code for the whole live tree (10 000 units is a few hundred KB)."""
    rows = await session.execute(
        sa.select(col(OrgUnit.code), col(Parent.code))
        .outerjoin(Parent, col(Parent.id) == col(OrgUnit.parent_id))
        .where(col(OrgUnit.deleted_at).is_(None))
    )
    return {row[0]: row[1] for row in rows.all()}


_BULK_UPSERT = sa.text("""
WITH incoming AS (
    SELECT * FROM unnest(
        CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:kinds AS text[]),
        CAST(:valid_froms AS date[]), CAST(:valid_tos AS date[])
    ) AS t(code, name, kind, valid_from, valid_to)
)
INSERT INTO org_units AS o (code, name, kind, valid_from, valid_to, path, depth)
SELECT code, name, kind, valid_from, valid_to, '/', 0 FROM incoming
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind,
    valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
    deleted_at = NULL, updated_at = now(), version = o.version + 1
WHERE (o.name, o.kind, o.valid_from, o.valid_to, o.deleted_at IS NULL)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.valid_from, EXCLUDED.valid_to, true)
RETURNING o.code, (xmax = 0) AS inserted
""")

_BULK_SET_PARENTS = sa.text("""
UPDATE org_units AS o
SET parent_id = p.id, updated_at = now(),
    version = CASE WHEN o.path = '/' THEN o.version ELSE o.version + 1 END
FROM unnest(CAST(:codes AS text[]), CAST(:parent_codes AS text[])) AS t(code, parent_code)
LEFT JOIN org_units AS p ON p.code = t.parent_code
WHERE o.code = t.code AND o.parent_id IS DISTINCT FROM p.id
RETURNING o.code
""")

# Recomputes paths top-down for the whole tree; touches only rows whose path changed.
_REBUILD_PATHS = sa.text("""
WITH RECURSIVE tree AS (
    SELECT id, '/' || id || '/' AS path, 0 AS depth FROM org_units WHERE parent_id IS NULL
    UNION ALL
    SELECT c.id, tree.path || c.id || '/', tree.depth + 1
    FROM org_units c JOIN tree ON c.parent_id = tree.id
)
UPDATE org_units AS o SET path = tree.path COLLATE "C", depth = tree.depth
FROM tree WHERE o.id = tree.id AND (o.path <> tree.path COLLATE "C" OR o.depth <> tree.depth)
""")


async def bulk_upsert(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> tuple[set[str], set[str]]:
    """Upserts by code and rewires parents. Returns (inserted codes, updated codes)."""
    result = await session.execute(
        _BULK_UPSERT,
        {
            "codes": [r["code"] for r in rows],
            "names": [r["name"] for r in rows],
            "kinds": [r["kind"] for r in rows],
            "valid_froms": [r["valid_from"] for r in rows],
            "valid_tos": [r["valid_to"] for r in rows],
        },
    )
    inserted: set[str] = set()
    updated: set[str] = set()
    for code, was_inserted in result.all():
        (inserted if was_inserted else updated).add(code)
    moved = await session.execute(
        _BULK_SET_PARENTS,
        {"codes": [r["code"] for r in rows], "parent_codes": [r["parent_code"] for r in rows]},
    )
    updated |= {code for (code,) in moved.all()} - inserted
    await session.execute(_REBUILD_PATHS)
    return inserted, updated
