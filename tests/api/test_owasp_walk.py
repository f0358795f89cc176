"""The OWASP API Top 10 walk in docs/security.md names, item by item, the tests that cover
it; these tests keep that walk true, and cover the one item no other test did (logs)."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import httpx
import pytest

from services.core.logging import JsonFormatter
from tests.factories import seed_tree, time_record

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [f"API{n}:2023" for n in range(1, 11)]
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _walk() -> dict[str, list[tuple[str, str]]]:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = text.split("## OWASP API Security Top 10 (2023)", 1)[1].split("\n## ", 1)[0]
    items: dict[str, list[tuple[str, str]]] = {}
    for chunk in section.split("\n### ")[1:]:
        heading, _, body = chunk.partition("\n")
        items[heading.split(" ", 1)[0]] = _REFERENCE.findall(body)
    return items


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_owasp_item_names_tests_that_exist() -> None:
    walk = _walk()
    assert list(walk) == ITEMS
    for item, references in walk.items():
        assert references, f"{item} names no test"
        for file, name in references:
            path = ROOT / file
            assert path.is_file(), f"{item}: {file} does not exist"
            assert name in _test_names(path), f"{item}: {file} defines no {name}"


async def test_no_employee_ref_or_key_reaches_the_logs(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The HR system's employee id and a guessed key are secrets of the sender: whatever
    happens to a request that carries them (stored, refused, unauthenticated), no log line
    may repeat them."""
    caplog.set_level(logging.DEBUG)
    employee_ref = "19790312-9876"
    guessed_key = "puls_" + "g" * 43
    await seed_tree(client)
    batch = [
        time_record("LOG-1", employee_ref=employee_ref),
        time_record("LOG-2", employee_ref=employee_ref, work_date="not-a-date"),
        time_record("LOG-3", employee_ref=employee_ref, org_unit_code="NO-SUCH-UNIT"),
        time_record("LOG-4", employee_ref=employee_ref, hours="-3"),
    ]
    answer = await client.post("/v1/time-records:batch", json={"records": batch})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rejected"] == 3
    assert (await client.get("/v1/time-records")).status_code == 200
    refused = await anon.get("/v1/time-records", headers={"Authorization": f"Bearer {guessed_key}"})
    assert refused.status_code == 401

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any("time-records:batch" in line for line in lines), "the batch was not logged"
    for line in lines:
        assert employee_ref not in line and "197903129876" not in line, line
        assert guessed_key not in line, line
