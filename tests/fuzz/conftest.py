"""Shards: `PULS_FUZZ_SHARD=i/n` keeps every n-th case from the i-th, so `make test` runs the
fuzzing in two processes side by side (pytest-xdist cannot split it, see the test module)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = os.environ.get("PULS_FUZZ_SHARD")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for position, item in enumerate(items):
        (kept if position % count == index else dropped).append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept
