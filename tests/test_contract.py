"""The committed contract is what the app serves, and every operation is documented."""

from __future__ import annotations

import json
from typing import Any

from services.cli.main import ROOT, render_openapi


def test_committed_openapi_matches_the_app() -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert committed == render_openapi(), "openapi/openapi.json drifted: run `make openapi`"


def _has_example(spec: dict[str, Any], media: dict[str, Any], depth: int = 0) -> bool:
    """An example on the media type, or on the (referenced) schema, or on what a list/page of
    it holds."""
    if "example" in media or "examples" in media:
        return True
    schema = media.get("schema", media)
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "examples" in schema or "example" in schema:
        return True
    if depth > 2:
        return False
    nested = [
        schema.get("items", {}),
        *schema.get("anyOf", []),
        *schema.get("oneOf", []),
        *schema.get("properties", {}).values(),
    ]
    return any(
        n and _has_example(spec, n, depth + 1)
        for n in nested
        if isinstance(n, dict) and ("$ref" in n or "items" in n or "anyOf" in n)
    )


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
            body = op.get("requestBody", {}).get("content", {})
            for media_type, media in body.items():
                assert _has_example(spec, media), f"{where} request {media_type} has no example"
            for status, response in op["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    assert _has_example(spec, media), f"{where} {status} {media_type} no example"
            if path.startswith("/v1/"):
                statuses = set(op["responses"])
                assert {"401", "403"} <= statuses, f"{where} does not document 401/403"
                for status, response in op["responses"].items():
                    if status.startswith(("4", "5")):
                        content = response.get("content", {})
                        assert "application/problem+json" in content, f"{where} {status}"
    assert len(operation_ids) > 50, "the contract lost its operations"


# Every schema and property is described: none may be added without its description.
UNDESCRIBED_PROPERTIES_AT_MOST = 0
UNDESCRIBED_SCHEMAS_AT_MOST = 0


def _described(prop: dict[str, Any]) -> bool:
    if prop.get("description") or "$ref" in prop:
        return True
    branches = [*prop.get("anyOf", []), *prop.get("oneOf", []), *prop.get("allOf", [])]
    return any(isinstance(b, dict) and (b.get("description") or "$ref" in b) for b in branches)


def test_the_contract_is_written_for_its_reader() -> None:
    text = render_openapi()
    spec = json.loads(text)
    assert "seed 0" not in text.lower(), "public text names an internal seed"
    assert spec["servers"] and spec["info"]["license"]["name"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("description"), f"{method.upper()} {path} has no description"
            if path.startswith("/v1/"):
                # [] says "any valid credential, no scope" (GET /v1/me); absent says nothing.
                assert "x-scopes" in op, f"{method.upper()} {path} has no x-scopes"
    schemas = spec["components"]["schemas"]
    assert not [n for n in schemas if n.startswith("Page_") or "Union_" in n]
    undescribed = [
        f"{name}.{prop}"
        for name, schema in schemas.items()
        for prop, value in schema.get("properties", {}).items()
        if not _described(value)
    ]
    assert len(undescribed) <= UNDESCRIBED_PROPERTIES_AT_MOST, undescribed
    bare = [name for name, schema in schemas.items() if not schema.get("description")]
    assert len(bare) <= UNDESCRIBED_SCHEMAS_AT_MOST, bare
