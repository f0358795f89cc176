"""Body dates and times are as strict as query dates: `YYYY-MM-DD` and RFC 3339 with an offset,
never a number (pydantic alone reads `0` as 1970-01-01 and "1700000000" as a Unix time)."""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.routing import APIRoute
from pydantic import BaseModel

from services.api.app import create_app
from services.api.problems import flat_routes
from services.core.config import Settings
from services.core.validation import _iso_date, _rfc3339
from tests.problems import assert_problem


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _temporal_fields(annotation: Any, metadata: list[Any]) -> Iterator[tuple[type, list[Any]]]:
    """Every date or datetime the annotation holds, with the validators around it."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        yield from _temporal_fields(base, [*metadata, *extra])
    elif origin in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in typing.get_args(annotation):
            yield from _temporal_fields(arg, metadata)
    elif annotation in (dt.date, dt.datetime) or (
        isinstance(annotation, type) and issubclass(annotation, dt.date)
    ):
        yield annotation, metadata


def _request_models(settings: Settings) -> set[type[BaseModel]]:
    app = create_app(settings)
    found: set[type[BaseModel]] = set()
    todo = [
        model
        for route in flat_routes(app.routes)
        if isinstance(route, APIRoute) and route.body_field is not None
        for model in _models_in(route.body_field.field_info.annotation)
    ]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.add(model)
        for info in model.model_fields.values():
            todo.extend(_models_in(info.annotation))
    return found


def test_every_body_date_and_time_is_strict(settings: Settings) -> None:
    models = _request_models(settings)
    assert len(models) > 30, "the walk lost the request bodies"
    checked = 0
    for model in models:
        for name, info in model.model_fields.items():
            for kind, metadata in _temporal_fields(info.annotation, list(info.metadata)):
                funcs = {getattr(m, "func", None) for m in metadata}
                strict = _iso_date if kind is dt.date else _rfc3339
                assert strict in funcs, f"{model.__name__}.{name} takes numbers as {kind.__name__}"
                checked += 1
    assert checked > 15


async def test_a_number_for_a_body_date_is_422(client: httpx.AsyncClient) -> None:
    for valid_from in (0, 1_700_000_000, "1700000000", 0.0):
        response = await client.put(
            "/v1/org-units",
            json=[{"code": "RS", "name": "Region", "kind": "region", "valid_from": valid_from}],
        )
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"][0]["loc"][-1] == "valid_from"
    unit = await client.post(
        "/v1/org-units", json={"code": "RS", "name": "Region", "kind": "region", "valid_from": 0}
    )
    assert_problem(unit, 422, "validation_failed")
    key = await client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["read"], "expires_at": 1_900_000_000}
    )
    assert_problem(key, 422, "validation_failed")
    ok = await client.post(
        "/v1/org-units",
        json={"code": "RS", "name": "Region", "kind": "region", "valid_from": "2024-01-01"},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["valid_from"] == "2024-01-01"
