"""The org tree every domain scopes by: its table and subtrees as ranges of materialized paths
(`/1/7/`). It sits below the domains because all of them join it for their scope filters (the
events outbox too, which orgs publishes into); the orgs domain maintains it (`orgs/service.py`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, col

from services.core.db import Versioned, identity_pk


def subtree_upper_bound(prefix: str) -> str:
    # Paths end in "/" and "/" sorts just below "0" in the C collation, so every descendant of
    # "/1/7/" sorts in ["/1/7/", "/1/70"): a plain btree range, usable by generic plans too.
    return prefix[:-1] + "0"


def subtree_upper_bound_sql(prefix: str) -> str:
    """`subtree_upper_bound` in SQL, of the SQL expression `prefix` (a path column)."""
    return f"left({prefix}, -1) || '0'"


def in_subtree_sql(path: str, prefix: str) -> str:
    """SQL: the path expression `path` lies in the subtree of the path expression `prefix`, as
    a range the path index serves (a join to many subtrees at once stays a range per row)."""
    return f"{path} >= {prefix} AND {path} < {subtree_upper_bound_sql(prefix)}"


def ancestor_ids(path: str) -> str:
    """SQL for the set of ids on the path `path` (an SQL expression): the unit and every unit
    above it, as text (`/1/7/42/` gives 1, 7, 42). Pooling many units up the tree joins these
    by equality instead of comparing every unit's path with every other's."""
    return f"unnest(string_to_array(trim(BOTH '/' FROM {path}), '/'))"


def in_subtree(path_column: Any, prefix: str) -> sa.ColumnElement[bool]:
    return sa.and_(path_column >= prefix, path_column < subtree_upper_bound(prefix))


class OrgUnit(Versioned, table=True):
    """A node of the organisation tree. `path` is a materialized path of ids ("/1/7/42/") in the
    C collation, so a subtree is one index range scan: path >= '/1/7/' AND path < '/1/70'."""

    __tablename__ = "org_units"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('region', 'administration', 'division', 'area', 'unit')", name="kind"
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_range"
        ),
        sa.Index("ix_org_units_updated_at_id", "updated_at", "id"),
    )

    id: int | None = identity_pk()
    code: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    parent_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("org_units.id", ondelete="RESTRICT"), index=True
        ),
    )
    path: str = Field(sa_column=sa.Column(sa.Text(collation="C"), nullable=False, index=True))
    depth: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    valid_from: date | None = None
    valid_to: date | None = None


def with_unit(model: Any, *, outer: bool = False) -> Any:
    """`select(model, unit code, unit path)` joined on the row's `org_unit_id`: the shape of the
    rows the domains' scoped lookups return, whose path the caller's scope is checked against.
    `outer` keeps rows without a unit (region-wide ones), with None for code and path."""
    stmt: Any = sa.select(model, col(OrgUnit.code), col(OrgUnit.path))
    join = stmt.outerjoin if outer else stmt.join
    return join(OrgUnit, col(OrgUnit.id) == col(model.org_unit_id))
