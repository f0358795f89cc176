"""The committed contract is what the app serves, and every operation is documented."""

from __future__ import annotations

import json

from services.cli.main import ROOT, render_openapi


def test_committed_openapi_matches_the_app() -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert committed == render_openapi(), "openapi/openapi.json drifted: run `make openapi`"


def test_every_operation_is_described() -> None:
    spec = json.loads(render_openapi())
    operation_ids = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId"), where
            assert op["operationId"] not in operation_ids, f"duplicate operationId at {where}"
            operation_ids.add(op["operationId"])
            assert op.get("summary"), f"{where} has no summary"
            assert op.get("tags"), f"{where} has no tag"
            if path.startswith("/v1/"):
                statuses = set(op["responses"])
                assert {"401", "403"} <= statuses, f"{where} does not document 401/403"
                for status, response in op["responses"].items():
                    if status.startswith(("4", "5")):
                        content = response.get("content", {})
                        assert "application/problem+json" in content, f"{where} {status}"
