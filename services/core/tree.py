"""Subtrees of the org tree as ranges of materialized paths (`/1/7/`), for every domain's
scope filters. Below the domains: the events outbox filters by it and orgs publishes events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def subtree_upper_bound(prefix: str) -> str:
    # Paths end in "/" and "/" sorts just below "0" in the C collation, so every descendant of
    # "/1/7/" sorts in ["/1/7/", "/1/70"): a plain btree range, usable by generic plans too.
    return prefix[:-1] + "0"


def in_subtree(path_column: Any, prefix: str) -> sa.ColumnElement[bool]:
    return sa.and_(path_column >= prefix, path_column < subtree_upper_bound(prefix))
