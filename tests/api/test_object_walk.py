"""Object-level authorization (OWASP API1), walked over the whole contract: a key confined to
one part of the region (with every scope, admin included) asks for each object of another
part by its id, through every operation that takes one, and gets 404, never the object."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.principal import Scope
from tests.conftest import make_client
from tests.factories import seed_tree

SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text())
# Catalogues shared by the whole region, and writes only an admin of the region makes.
# Valid bodies, so an operation cannot answer 422 about the body before it looks at the id.
BODIES: dict[str, Any] = {
    "/v1/bodies/{body_id}/meetings": {
        "starts_at": "2024-03-11T08:00:00Z",
        "ends_at": "2024-03-11T09:00:00Z",
    },
    "/v1/meetings/{meeting_id}/items": {"number": 2, "title": "Övrigt"},
    "/v1/meetings/{meeting_id}/items:reorder": {"item_ids": ["{item_id}"]},
    "/v1/agenda-items/{item_id}/decisions": {"text": "Beslut", "decided_at": "2024-03-04"},
    "/v1/agenda-items/{item_id}/assignments": {"assignee_id": "{person_id}", "text": "Uppdrag"},
    "/v1/action-plans/{plan_id}/actions": {"code": "9.9", "title": "Ny åtgärd"},
    "/v1/action-plans/{plan_id}/follow-ups": {"reported_on": "2024-04-01", "rag": "green"},
    "/v1/action-plans/{plan_id}/packages": {"name": "Nytt paket"},
    "/v1/me/subscriptions/items/{item_type}/{item_id}": {"following": True},
    "/v1/compliance/agency-policies/{policy_id}/exemptions": {
        "org_unit": "PV",
        "valid_from": "2024-03-01",
        "valid_to": "2024-03-31",
        "decided_by": "KL",
        "reason": "Vakanser",
    },
    "/v1/compliance/exemptions/{exemption_id}/decision": {
        "decision": "rejected",
        "decided_by": "KL",
        "reason": "Avslag",
    },
}
GLOBAL = {
    "/v1/kpis/{code}",
    "/v1/kpis/{code}/values",
    "/v1/action-areas/{code}",
    "/v1/professions/{code}",
    "/v1/sources/{source}/code-mappings",
    "/v1/deliveries/{delivery_id}:redeliver",
    # Deliveries are walked in test_collections (no subscription here has sent one).
    "/v1/deliveries/{delivery_id}",
    # Closing a period publishes the whole region's figures (admin of the whole region).
    "/v1/periods/{label}:close",
    "/v1/periods/{label}:reopen",
}
# A calendar feed's token is the credential itself (calendar clients send no key): whoever has
# it reads the feed, as intended; revoking it is the control (tests/api/test_notifications.py).
CAPABILITIES = {"/calendar/{token}.ics"}
ANALYSIS = "/v1/kpis/{code}/analyses/{org_unit}/{period}"
MANUAL_VALUE = "/v1/kpis/{code}/values/{org_unit}/{period}"


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body)
    assert response.status_code in (201, 202), (path, response.text)
    return str(response.json()["id"])


async def _objects_in_sus(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """One object of every kind, all inside SUS."""
    ids = {"code": "SUS-AKUT"}
    ids["person_id"] = await _created(
        client, "/v1/people", {"name": "Jonas Hansson", "initials": "JH", "org_unit": "SUS-AKUT"}
    )
    ids["target_id"] = await _created(
        client,
        "/v1/kpi-targets",
        {
            "kpi": "overtime_hours",
            "org_unit": "SUS",
            "comparator": "lte",
            "bound": "absolute",
            "value": "10",
            "valid_from": "2024-01",
        },
    )
    plan = {
        "title": "Handlingsplan akuten",
        "org_unit": "SUS-AKUT",
        "period_start": "2024-01-01",
        "period_end": "2024-12-31",
    }
    ids["plan_id"] = plan_id = await _created(client, "/v1/action-plans", plan)
    ids["package_id"] = await _created(
        client, f"/v1/action-plans/{plan_id}/packages", {"name": "Bemanning"}
    )
    ids["action_id"] = await _created(
        client, f"/v1/action-plans/{plan_id}/actions", {"code": "1.1", "title": "Rekrytera"}
    )
    ids["follow_up_id"] = await _created(
        client,
        f"/v1/action-plans/{plan_id}/follow-ups",
        {"reported_on": "2024-03-01", "rag": "amber", "ongoing_work": "Annonser ute"},
    )
    ids["policy_id"] = policy_id = await _created(
        client,
        "/v1/compliance/agency-policies",
        {"name": "Stopp", "professions": ["nurse"], "org_unit": "SUS", "valid_from": "2024-01-15"},
    )
    ids["exemption_id"] = await _created(
        client,
        f"/v1/compliance/agency-policies/{policy_id}/exemptions",
        {
            "org_unit": "SUS-AKUT",
            "valid_from": "2024-02-01",
            "valid_to": "2024-02-29",
            "decided_by": "KL",
            "reason": "Vakanser",
        },
    )
    ids["rule_id"] = await _created(
        client,
        "/v1/compliance/rules",
        {
            "kind": "overtime_month",
            "name": "Läkare på akuten",
            "max_hours": "40",
            "org_unit": "SUS",
            "valid_from": "2024-01-01",
        },
    )
    ids["webhook_id"] = await _created(
        client,
        "/v1/webhooks",
        {"url": "https://intranet.example.org/hooks", "event_types": ["kpi.*"], "org_unit": "SUS"},
    )
    ids["recalculation_id"] = await _created(client, "/v1/recalculations", {"org_unit": "SUS"})
    written = await client.put(
        "/v1/kpis/overtime_hours/analyses/SUS/2024", json={"text": "Övertiden minskar."}
    )
    assert written.status_code == 200, written.text
    manual = {
        "code": "engagement_index",
        "name_en": "Engagement index",
        "name_sv": "Hållbart medarbetarengagemang",
        "unit": "ratio",
        "better": "higher",
        "grains": ["year"],
    }
    assert (await client.post("/v1/kpis", json=manual)).status_code == 201
    value = {"org_unit": "SUS-AKUT", "period": "2024", "value": "78.5"}
    assert (await client.post("/v1/kpis/engagement_index/values", json=value)).status_code == 201
    ids["body_id"] = body_id = await _created(
        client,
        "/v1/bodies",
        {
            "name": "Ledningsgrupp SUS",
            "short_name": "LG-SUS",
            "org_unit": "SUS",
            "members": [{"person_id": ids["person_id"], "role": "chair"}],
        },
    )
    ids["meeting_id"] = meeting_id = await _created(
        client,
        f"/v1/bodies/{body_id}/meetings",
        {"starts_at": "2024-03-04T08:00:00Z", "ends_at": "2024-03-04T09:00:00Z"},
    )
    ids["item_id"] = item_id = await _created(
        client, f"/v1/meetings/{meeting_id}/items", {"number": 1, "title": "Bemanning"}
    )
    ids["assignment_id"] = await _created(
        client,
        f"/v1/agenda-items/{item_id}/assignments",
        {"assignee_id": ids["person_id"], "text": "Ta fram underlag", "due_date": "2024-03-18"},
    )
    ids["decision_id"] = await _created(
        client,
        f"/v1/agenda-items/{item_id}/decisions",
        {"text": "Bemanningen förstärks", "decided_at": "2024-03-04"},
    )
    keys = await client.post(
        "/v1/api-keys", json={"name": "sus", "scopes": ["timedata:write"], "org_unit": "SUS"}
    )
    ids["key_id"] = keys.json()["id"]
    ids["feed_id"] = await _created(client, "/v1/calendar-feeds", {"body_id": body_id})
    ids["item_type"] = "action"  # the followed item of /v1/me/subscriptions is the action
    async with make_client(app, keys.json()["token"]) as sus:
        upload = await sus.post(
            "/v1/imports",
            params={"kind": "time-records", "source": "heroma"},
            content=b"external_id;org_unit_code\nX;SUS-AKUT\n",
            headers={"content-type": "text/csv"},
        )
        assert upload.status_code == 202, upload.text
        ids["import_id"] = upload.json()["id"]
    return ids


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)


async def test_every_object_of_another_subtree_is_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    ids = await _objects_in_sus(app, client)
    everything = [s.value for s in Scope]
    outsider = await client.post(
        "/v1/api-keys", json={"name": "pv", "scopes": everything, "org_unit": "PV"}
    )
    failures, walked = [], 0
    async with make_client(app, outsider.json()["token"]) as pv:
        for path, item in SPEC["paths"].items():
            if "{" not in path or path in GLOBAL or path in CAPABILITIES:
                continue
            for method in item:
                if path == ANALYSIS:  # the object is the unit's analysis
                    path_ids = {**ids, "code": "overtime_hours", "org_unit": "SUS"}
                elif path == MANUAL_VALUE:  # the object is the unit's value
                    path_ids = {**ids, "code": "engagement_index", "org_unit": "SUS-AKUT"}
                else:
                    path_ids = ids
                names = re.findall(r"\{(\w+)\}", path)
                missing = [n for n in names if n not in path_ids and n != "period"]
                assert not missing, f"{method.upper()} {path}: no object for {missing}"
                # A followed item is named by type and id: here the action, not the agenda item.
                if "{item_type}" in path:
                    path_ids = path_ids | {"item_id": ids["action_id"]}
                url = _fill(path, {**path_ids, "period": "2024"})
                kwargs: dict[str, Any] = {}
                if method in ("post", "put", "patch"):
                    kwargs["json"] = json.loads(
                        re.sub(
                            r"\{(\w+)\}",
                            lambda m: ids[m[1]],
                            json.dumps(BODIES.get(path, {})),
                        )
                    )
                    if method == "put" and path.endswith("/actions"):
                        kwargs["json"] = [BODIES[path]]
                params: dict[str, str] = {}
                if path == ANALYSIS:
                    kwargs["json"] = {"text": "Annan enhets analys."}
                if path.endswith("/scorecard"):
                    params = {"period": "2024"}
                if path.endswith("/meetings:generate"):
                    params = {"until": "2024-06-30"}
                if path == "/v1/kpis/{code}/series":  # the object is the org unit asked for
                    url = "/v1/kpis/overtime_hours/series"
                    params = {"org_unit": "SUS", "from": "2024-01", "to": "2024-03"}
                if method == "get":  # the object is there: the region's admin sees it
                    seen = await client.get(url, params=params)
                    assert seen.status_code == 200, (path, seen.text)
                response = await pv.request(method.upper(), url, params=params, **kwargs)
                walked += 1
                if response.status_code != 404:
                    failures.append(f"{method.upper()} {path}: {response.status_code}")
    assert walked >= 40
    assert failures == [], "\n".join(failures)
