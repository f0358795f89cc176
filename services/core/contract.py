"""What every domain's schemas share in the contract: how a request or response model is
configured with its example, and the example values of the versioned fields reads end with."""

from __future__ import annotations

from typing import Any, Unpack

from pydantic import ConfigDict

# `created_at`, `updated_at` and `version` (the ETag) as every versioned read's example shows them.
VERSIONED_EXAMPLE: dict[str, Any] = {
    "created_at": "2026-11-25T08:00:00Z",
    "updated_at": "2026-11-25T08:00:00Z",
    "version": 1,
}


def request_config(
    example: dict[str, Any],
    *,
    schema: dict[str, Any] | None = None,
    **options: Unpack[ConfigDict],
) -> ConfigDict:
    """A request body: unknown fields are refused (a misspelt field is an error, not silently
    ignored), and `example` is shown in the contract, with `schema`'s keywords (a rule across
    fields JSON Schema can state)."""
    extra = {"examples": [example], **(schema or {})}
    return ConfigDict(extra="forbid", json_schema_extra=extra, **options)


def response_config(example: dict[str, Any], **options: Unpack[ConfigDict]) -> ConfigDict:
    """A response body with `example` shown in the contract."""
    return ConfigDict(json_schema_extra={"examples": [example]}, **options)
