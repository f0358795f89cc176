"""What FastAPI's contract generation leaves out or gets wrong, put right after it runs.

FastAPI renders the document with `exclude_none`, which also drops every `null` inside the
examples: an example of a read with `"valid_to": null` lost the key, and so no longer matched
its own schema (the field is required). The examples are put back as the models and routes
declare them."""

from __future__ import annotations

import copy
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
