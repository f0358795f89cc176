"""What FastAPI's contract generation leaves out or gets wrong, put right after it runs.

FastAPI renders the document with `exclude_none`, which also drops every `null` inside the
examples: an example of a read with `"valid_to": null` lost the key, and so no longer matched
its own schema (the field is required). The examples are put back as the models and routes
declare them."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel


def _models() -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                yield sub


def _declared_examples(model: type[BaseModel]) -> list[Any] | None:
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return examples if isinstance(examples, list) else None


def restore_examples(spec: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Puts back the nulls FastAPI dropped from schema examples (a model's `examples`, by the
    component named after it) and from the media-type examples routes declare."""
    components = spec.get("components", {}).get("schemas", {})
    by_name: dict[str, list[type[BaseModel]]] = {}
    for model in _models():
        by_name.setdefault(model.__name__, []).append(model)
    for name, schema in components.items():
        models = [m for m in by_name.get(name, []) if _declared_examples(m) is not None]
        if len(models) == 1 and "examples" in schema:
            schema["examples"] = copy.deepcopy(_declared_examples(models[0]))
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        item = spec.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            for status, declared in (route.responses or {}).items():
                _copy_media_examples(declared, operation.get("responses", {}).get(str(status)))
            body = (route.openapi_extra or {}).get("requestBody")
            _copy_media_examples(body, operation.get("requestBody"))
    return spec


def _copy_media_examples(declared: Any, rendered: Any) -> None:
    if not isinstance(declared, dict) or not isinstance(rendered, dict):
        return
    for media_type, media in declared.get("content", {}).items():
        target = rendered.get("content", {}).get(media_type)
        if target is not None and isinstance(media, dict) and "example" in media:
            target["example"] = copy.deepcopy(media["example"])


# The headers every answer may carry, described once (`components.headers`) and referenced by
# each response that carries them.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id: the client's own `X-Request-ID` when it is 1–128 of "
        "`A-Z a-z 0-9 . _ -`, else one Puls made. Problem documents repeat it as `request_id`; "
        "quote it when reporting a problem.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._\\-]{1,128}$"},
    },
    "ETag": {
        "description": 'The resource\'s version as a strong entity tag, `"<version>"` (the '
        "`version` field in quotes). Send it back in `If-Match` to change or delete the "
        "resource only if nobody else has (412 otherwise).",
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$', "examples": ['"3"']},
    },
    "Location": {
        "description": "Where the created resource (or the accepted work's status) is read.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["30"]},
    },
}
# Creating operations whose answer has no resource of its own to point at.
NO_LOCATION = {"create_exemption", "post_manual_value"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _schema_of(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = (
        response.get("content", {}).get("application/json", {}).get("schema", {})
    )
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        found: dict[str, Any] = spec["components"]["schemas"].get(name, {})
        return found
    return schema


def document_headers(spec: dict[str, Any]) -> dict[str, Any]:
    """Puts the headers Puls sends into the contract: `X-Request-ID` on every answer, `ETag`
    on every answer holding a versioned resource (one with `version`), `Location` on 201/202,
    `Retry-After` on 429 and 503."""
    spec.setdefault("components", {})["headers"] = HEADERS
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = _ref("X-Request-ID")
                if status in ("429", "503") and path.startswith("/v1/"):
                    headers["Retry-After"] = _ref("Retry-After")
                if status in ("201", "202") and operation["operationId"] not in NO_LOCATION:
                    headers["Location"] = _ref("Location")
                if status in ("200", "201") and "version" in _schema_of(spec, response).get(
                    "properties", {}
                ):
                    headers["ETag"] = _ref("ETag")
    return spec


_GENERATED = re.compile(r"^Page_(?:Union_)?(?P<item>[A-Za-z]+?)(?:Read)?_(?:_Tombstone__)?$")


def rename_generated(spec: dict[str, Any]) -> dict[str, Any]:
    """Gives the pages pydantic names after their generic parameters (`Page_Union_PlanRead__
    Tombstone__`) the names a client generator should show: `PlanPage`, or `PlanPlainPage` for a
    page of the same resource without tombstones."""
    schemas = spec.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in sorted(schemas, key=lambda n: ("Union_" not in n, n)):
        match = _GENERATED.match(name)
        if match is None:
            continue
        new = f"{match['item']}Page"
        if new in schemas or new in renames.values():
            new = f"{match['item']}PlainPage"
        renames[name] = new
    if not renames:
        return spec
    text = json.dumps(spec)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: dict[str, Any] = json.loads(text)
    components = renamed["components"]["schemas"]
    for old, new in renames.items():
        page = components.pop(old)
        page["title"] = new
        page.setdefault(
            "description",
            f"A page of {match_item(old)}: `items` and the `next_cursor` to send as `cursor` for "
            "the next page (null on the last one).",
        )
        components[new] = page
    renamed["components"]["schemas"] = dict(sorted(components.items()))
    return renamed


def match_item(name: str) -> str:
    match = _GENERATED.match(name)
    item = match["item"] if match else name
    tombstones = (
        " (and tombstones of deleted ones, with `updated_since`)" if "Union_" in name else ""
    )
    return f"{item} resources{tombstones}"
