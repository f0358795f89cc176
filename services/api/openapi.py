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

from services.core.validation import MONEY_PATTERN


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


HEADERS["Warning"] = {
    "description": "Deprecated input this version still accepts, one `299` warning per kind "
    '(`299 - "<what, and what to send instead>"`); the next version refuses it. Today: money '
    "sent as a whole JSON number instead of a decimal string.",
    "required": False,
    "schema": {"type": "string", "pattern": '^299 - ".*"$'},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _takes_money(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Whether the operation's JSON body holds money somewhere (a schema with the money
    pattern), following references."""
    schemas = spec.get("components", {}).get("schemas", {})
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    pending, seen = [body.get("schema")], set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            if node.get("pattern") == MONEY_PATTERN:
                return True
            ref = node.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                pending.append(schemas.get(ref.rsplit("/", 1)[1]))
            pending.extend(v for k, v in node.items() if k != "examples")
    return False


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
    `Retry-After` on 429 and 503, `Warning` on the successes of operations that take money
    (a whole number is still accepted, deprecated)."""
    spec.setdefault("components", {})["headers"] = HEADERS
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = _ref("X-Request-ID")
                if status in ("429", "503") and path.startswith("/v1/"):
                    headers["Retry-After"] = _ref("Retry-After")
                if status in ("201", "202"):
                    headers["Location"] = _ref("Location")
                if status.startswith("2") and _takes_money(spec, operation):
                    headers["Warning"] = _ref("Warning")
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


# What the common properties mean wherever a schema leaves them undescribed: the same name means
# the same thing across the contract (docs/architecture.md, "API conventions").
GLOSSARY: dict[str, str] = {
    "id": "The resource's id; what its URL and other resources refer to it by.",
    "org_unit": "The org unit's code (`GET /v1/org-units/{code}`).",
    "org_unit_code": "The org unit's code (`GET /v1/org-units/{code}`).",
    "parent_code": "The parent unit's code; null for a root.",
    "name": "The name people see.",
    "short_name": "A short form of the name, e.g. `KL`.",
    "code": "A stable code (letters, digits, `_`, `.`, `-`), the resource's key.",
    "name_en": "The name in English.",
    "name_sv": "The name in Swedish.",
    "items": "This page's items.",
    "next_cursor": "Send as `cursor` for the next page; null on the last page.",
    "created_at": "When it was created (RFC 3339, UTC).",
    "updated_at": "When it last changed (RFC 3339, UTC).",
    "version": 'Increases with every change; the `ETag` is this number in quotes (`"3"`).',
    "deleted": "`true`: a tombstone of a deleted resource.",
    "description": "Free text describing it.",
    "title": "Its title.",
    "text": "The text.",
    "notes": "Free-text notes.",
    "comment": "A free-text comment.",
    "kind": "What kind it is.",
    "status": "Where it stands.",
    "enabled": "Whether it is in force; a disabled one is kept but has no effect.",
    "valid_from": "The first day it applies (`YYYY-MM-DD`; a month `YYYY-MM` for targets).",
    "valid_to": "The last day it applies; null while open-ended.",
    "start_date": "The first day, `YYYY-MM-DD`.",
    "end_date": "The last day, `YYYY-MM-DD`; null while open.",
    "due_date": "When it is due, `YYYY-MM-DD`.",
    "period_start": "The first day of the period, `YYYY-MM-DD`.",
    "period_end": "The last day of the period, `YYYY-MM-DD`.",
    "starts_at": "When it begins (RFC 3339).",
    "ends_at": "When it ends (RFC 3339).",
    "decided_at": "When it was decided.",
    "decided_by": "The meeting decision that decided it, if recorded.",
    "decision_ref": "A reference to the decision behind it, e.g. `KL 2024-01-15 § 3`.",
    "effective_date": "From when it applies, `YYYY-MM-DD`.",
    "reported_on": "The day it was reported on.",
    "expires_at": "When it stops working; null: never.",
    "revoked_at": "When it was revoked; null while valid.",
    "disabled_at": "When it was disabled; null while enabled.",
    "finished_at": "When it finished; null while queued or running.",
    "entered_at": "When the value was entered.",
    "entered_by": "Who entered it (`key:<name>` for an API key).",
    "created_by": "Who created it (`key:<name>` for an API key).",
    "occurred_at": "When it happened (RFC 3339, UTC).",
    "kpi": "The KPI's code (`GET /v1/kpis/{code}`).",
    "profession": "The profession's code in the catalogue (`GET /v1/professions`).",
    "professions": "Profession codes it is limited to; null: every profession.",
    "profession_code": "The sender's own profession code, when it sent one.",
    "source": "The sending system, e.g. `heroma`.",
    "external_id": "The record's id in the sending system.",
    "period": "A period label: `2024`, `2024-Q1`, `2024-T1`, `2024-03` or `2024-03-R12`.",
    "grain": "The period length: `month`, `quarter`, `tertial`, `year` or `rolling12`.",
    "unit": "What the values are measured in.",
    "value": "The value, as a decimal string.",
    "owner_id": "The responsible person's id (`GET /v1/people/{id}`).",
    "responsible_id": "The responsible person's id (`GET /v1/people/{id}`).",
    "assignee_id": "The assigned person's id (`GET /v1/people/{id}`).",
    "person_id": "The person's id (`GET /v1/people/{id}`).",
    "presenter_ids": "The presenters' person ids.",
    "plan_id": "The action plan's id (`GET /v1/action-plans/{id}`).",
    "package_id": "The action package's id (`GET /v1/action-packages/{id}`).",
    "action_id": "The action's id (`GET /v1/actions/{id}`).",
    "meeting_id": "The meeting's id (`GET /v1/meetings/{id}`).",
    "agenda_item_id": "The agenda item's id.",
    "reported_in_meeting_id": "The meeting it was reported back in.",
    "policy_id": "The agency policy's id.",
    "subscription_id": "The webhook subscription's id.",
    "kpi_target_ids": "The ids of the KPI targets it is meant to move.",
    "place": "Where it takes place.",
    "number": "Its number in order (§ on an agenda).",
    "links": "What it refers to: plans, actions, KPI series, targets.",
    "members": "Its members and their roles.",
    "attendees": "Who is invited, in what role, and whether they were there.",
    "present": "Whether they were there.",
    "schedule": "When it meets regularly.",
    "email": "An e-mail address.",
    "initials": "Initials, as minutes abbreviate people.",
    "scopes": "What the key may do (`read`, `timedata:write` … `admin`).",
    "event_types": "The event types it receives (`*` for all).",
    "event_type": "The event's type, e.g. `decision.made`.",
    "url": "The HTTPS address events are posted to.",
    "purpose": "What it is for.",
    "calculation_basis": "How cost and saving were calculated.",
    "ongoing_work": "What is being done.",
    "result": "What came of it.",
    "area": "The action area's code.",
    "include_subtree": "Whether it also applies to the unit's whole subtree.",
    "comparator": "`lte`: the value should be at most the bound; `gte`: at least.",
    "per_grain": "For a `count` target: the period its value is per.",
    "period_start_hour": "The hour (0–23) a rule's 24-hour period starts.",
    "inserted": "Records stored new.",
    "updated": "Records that replaced a stored one.",
    "unchanged": "Records identical to the stored one (nothing written).",
    "rejected": "Records refused (see `errors`).",
    "errors": "What was wrong, one entry per problem.",
    "error": "Why it failed; null unless it did.",
    "reason": "Why (kept in the audit log).",
    "type": "Its type.",
    "data": "The event's payload.",
    "time_codes": "The sender's pay/absence codes and the time types they mean.",
    "profession_codes": "The sender's profession codes and the catalogue codes they mean.",
    "rows": "The rows, one per unit (or KPI).",
    "from": "The first period (a period label).",
    "to": "The last period (a period label).",
    "better": "Which direction is better: `lower` or `higher`.",
    "grains": "The period lengths the KPI can be read at.",
    "done": "Whether it is done.",
    "progress": "Progress in percent (0–100).",
    "overdue_since": "The day it became overdue; null unless overdue.",
    "cost_goal": "The cost goal in SEK, a decimal string.",
}


def _has_description(prop: dict[str, Any]) -> bool:
    if prop.get("description") or "$ref" in prop:
        return True
    branches = [*prop.get("anyOf", []), *prop.get("oneOf", []), *prop.get("allOf", [])]
    return any(isinstance(b, dict) and (b.get("description") or "$ref" in b) for b in branches)


_ROLES = (
    ("Create", "What creating {} takes."),
    ("Update", "The fields of {} to change; a field left out keeps its value."),
    ("Read", "{} as Puls returns it."),
    ("In", "{} as a sender sends it."),
)


def describe(spec: dict[str, Any]) -> dict[str, Any]:
    """Fills the descriptions a schema left out: a property from the glossary of common names,
    a request or read schema from its role (`PlanCreate`: what creating a plan takes)."""
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        for prop_name, prop in schema.get("properties", {}).items():
            if not _has_description(prop) and prop_name in GLOSSARY:
                prop["description"] = GLOSSARY[prop_name]
        if schema.get("description"):
            continue
        for suffix, template in _ROLES:
            if name.endswith(suffix) and len(name) > len(suffix):
                noun = re.sub(r"(?<!^)(?=[A-Z])", " ", name[: -len(suffix)]).lower()
                text = template.format(f"a {noun}")
                schema["description"] = text[0].upper() + text[1:]
                break
    return spec
