"""The kinds of operation a /v1 route is, each with what its decorator declares: the summary,
the response model, the status and the problems the contract documents for it.

    @router.get("/kpi-targets/{target_id}", **reads("Get a target", TargetRead))
    @router.post("/action-plans", **creates("Create an action plan", PlanRead, 409))

Every kind answers 401 (no or a bad key), 403 (a scope missing), 429 (the key's rate, or
too many requests without a valid key from the client's address), 500 (a fault of Puls's own)
and 503 (the database out of reach, or a write conflict to retry); beyond that:

| kind | what the route does | its problems besides 401 and 403 |
| --- | --- | --- |
| `reads` | GET of one resource (or one view of it) | 404, 422 |
| `lists` | GET of a collection | 400 (a cursor of another list), 422 |
| `creates` | POST of a new resource (201 unless `status` says 202) | 400, 413, 415, 422 |
| `upserts` | PUT by key (or a batch POST): inserts or replaces | 400, 413, 415, 422 |
| `updates` | PATCH (or a POST that changes) one, with `If-Match` | 400, 404, 412, 413, 415, 422 |
| `deletes` | DELETE of one resource (204) | 404, 422 |
| `acts_on` | POST of an action on one resource, without a body | 404, 415, 422 |

A route's own further problems follow its kind: 404 for a parent or a unit it names, 409 for a
conflict, 412 for an `If-Match` a delete or an action checks, 413 for a body that can be large,
429 for person-level reads. The few operations that fit no kind (a catalogue with no input, a
path that is not validated) give their problems whole to `operation`. Every kind ends in
`operation`, so a problem every operation documents is added there, once.
"""

from __future__ import annotations

from typing import Any, TypedDict

from services.api.problems import error_responses

Responses = dict[int | str, dict[str, Any]]


class Operation(TypedDict, total=False):
    """The keyword arguments of a route decorator that a kind fills in."""

    summary: str
    response_model: Any
    status_code: int
    responses: Responses


def operation(
    summary: str,
    model: Any = None,
    *,
    problems: tuple[int, ...],
    status: int | None = None,
    responses: Responses | None = None,
) -> Operation:
    """A route's declaration with its problem statuses given whole. `model` is left out when
    None, so FastAPI still takes the model from the route's return annotation; `responses`
    are further documented answers (examples, other media types) beside the problems. An
    operation that takes a key (401) is rate limited too (429)."""
    declared = Operation(summary=summary, responses={**(responses or {})})
    # Any operation can meet a database that is down or a write conflict (503, with
    # Retry-After) or a fault of Puls's own (500, quoting the request id).
    statuses = set(problems) | ({429} if 401 in problems else set()) | {500, 503}
    declared["responses"].update(error_responses(*sorted(statuses)))
    if model is not None:
        declared["response_model"] = model
    if status is not None:
        declared["status_code"] = status
    return declared


def _kind(
    base: tuple[int, ...],
    summary: str,
    model: Any,
    more: tuple[int, ...],
    status: int | None = None,
    responses: Responses | None = None,
) -> Operation:
    return operation(
        summary, model, problems=(401, 403, *base, *more), status=status, responses=responses
    )


def reads(
    summary: str, model: Any = None, *more: int, responses: Responses | None = None
) -> Operation:
    return _kind((404, 422), summary, model, more, responses=responses)


def lists(summary: str, model: Any, *more: int, responses: Responses | None = None) -> Operation:
    return _kind((400, 422), summary, model, more, responses=responses)


def creates(
    summary: str,
    model: Any,
    *more: int,
    status: int = 201,
    responses: Responses | None = None,
) -> Operation:
    return _kind((400, 413, 415, 422), summary, model, more, status, responses)


def upserts(summary: str, model: Any, *more: int) -> Operation:
    return _kind((400, 413, 415, 422), summary, model, more)


def updates(summary: str, model: Any, *more: int) -> Operation:
    return _kind((400, 404, 412, 413, 415, 422), summary, model, more)


def deletes(summary: str, *more: int) -> Operation:
    return _kind((404, 422), summary, None, more, 204)


def acts_on(
    summary: str,
    model: Any = None,
    *more: int,
    status: int | None = None,
    responses: Responses | None = None,
) -> Operation:
    # A POST: a body sent anyway must be JSON (415), though the action reads none.
    return _kind((404, 415, 422), summary, model, more, status, responses)
