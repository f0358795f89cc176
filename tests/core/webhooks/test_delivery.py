"""Delivery from the outbox to a real receiver on 127.0.0.1, every message verified with the
official standardwebhooks package."""

from __future__ import annotations

import asyncio
import time

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from services.core.config import Settings
from services.core.events import service as events_service
from services.core.metrics import WorkerMetrics
from services.core.webhooks import delivery
from tests.factories import make_events, subscribe
from tests.jobs import deliver, deliveries
from tests.webhook_receiver import Answer, Receiver, verify


async def test_every_message_is_signed_per_standard_webhooks(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    sub = await subscribe(wh_client, receiver.url("/a"))
    codes = await make_events(wh_client, 3)
    await deliver(wh_app, wh_settings)
    got = await receiver.wait_for("/a", 3)
    bodies = [verify(sub["secret"], r) for r in got]
    assert [b["data"]["code"] for b in bodies] == codes
    for body, request in zip(bodies, got, strict=True):
        assert body["type"] == "org_unit.created"
        assert body["timestamp"].endswith("Z")
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["content-type"] == "application/json"
    items = await deliveries(wh_client, sub["id"])
    assert {i["status"] for i in items} == {"delivered"}
    assert all(i["attempts"][0]["status_code"] == 200 for i in items)


async def test_only_matching_types_and_subtree_are_sent(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    for code, parent in (("RS", None), ("SUS", "RS"), ("PV", "RS")):
        body = {"code": code, "name": code, "kind": "region" if parent is None else "unit"}
        if parent:
            body["parent_code"] = parent
        assert (await wh_client.post("/v1/org-units", json=body)).status_code == 201
    sus = await subscribe(wh_client, receiver.url("/sus"), ["org_unit.*"], org_unit="SUS")
    exact = await subscribe(wh_client, receiver.url("/exact"), ["org_unit.updated"])
    await subscribe(wh_client, receiver.url("/kpi"), ["kpi.*"])
    for code, parent in (("SUS-A", "SUS"), ("PV-A", "PV")):
        body = {"code": code, "name": code, "kind": "unit", "parent_code": parent}
        assert (await wh_client.post("/v1/org-units", json=body)).status_code == 201
    assert (await wh_client.patch("/v1/org-units/PV-A", json={"name": "Ny"})).status_code == 200
    await deliver(wh_app, wh_settings)
    got_sus = [verify(sus["secret"], r) for r in await receiver.wait_for("/sus", 1)]
    got_exact = [verify(exact["secret"], r) for r in await receiver.wait_for("/exact", 1)]
    assert [b["data"]["code"] for b in got_sus] == ["SUS-A"]
    assert [(b["type"], b["data"]["code"]) for b in got_exact] == [("org_unit.updated", "PV-A")]
    assert receiver.at("/kpi") == []


async def test_fails_twice_then_succeeds_is_delivered_once_with_three_attempts(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    answers = iter([Answer(500), Answer(503), Answer(200)])
    receiver.script("/flaky", lambda _r: next(answers))
    sub = await subscribe(wh_client, receiver.url("/flaky"))
    await make_events(wh_client, 1)
    for _ in range(20):
        await deliver(wh_app, wh_settings)
        if len(receiver.at("/flaky")) == 3:
            break
        await asyncio.sleep(0.06)
    got = receiver.at("/flaky")
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1  # the same message each time
    for request in got:
        verify(sub["secret"], request)
    (item,) = await deliveries(wh_client, sub["id"])
    assert item["status"] == "delivered" and item["attempt_count"] == 3
    assert [a["outcome"] for a in item["attempts"]] == ["retry", "retry", "delivered"]
    assert [a["status_code"] for a in item["attempts"]] == [500, 503, 200]
    assert item["attempts"][0]["next_retry_at"] is not None
    assert len(await deliveries(wh_client, sub["id"], status="delivered")) == 1


async def test_order_is_kept_per_subscription_even_across_retries(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    calls = {"n": 0}

    def first_fails(_r: object) -> Answer:
        calls["n"] += 1
        return Answer(503) if calls["n"] == 1 else Answer(200)

    receiver.script("/ordered", first_fails)
    sub = await subscribe(wh_client, receiver.url("/ordered"))
    codes = await make_events(wh_client, 12)
    for _ in range(20):
        await deliver(wh_app, wh_settings)
        if len(receiver.at("/ordered")) >= 13:
            break
        await asyncio.sleep(0.06)
    seen = [verify(sub["secret"], r)["data"]["code"] for r in receiver.at("/ordered")]
    assert seen == [codes[0], *codes]  # the failed first one is retried before any later one


async def test_gone_disables_the_subscription_and_publishes_an_admin_event(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/gone", Answer(410))
    sub = await subscribe(wh_client, receiver.url("/gone"))
    admin = await subscribe(wh_client, receiver.url("/admin"), ["webhook.*"])
    await make_events(wh_client, 2)
    await deliver(wh_app, wh_settings)
    assert len(receiver.at("/gone")) == 1
    state = (await wh_client.get(f"/v1/webhooks/{sub['id']}")).json()
    assert state["enabled"] is False and "410" in state["disabled_reason"]
    (notice,) = [verify(admin["secret"], r) for r in await receiver.wait_for("/admin", 1)]
    assert notice["type"] == "webhook.subscription_disabled"
    assert notice["data"]["subscription_id"] == sub["id"]
    items = await deliveries(wh_client, sub["id"])
    assert sorted(i["status"] for i in items) == ["failed", "pending"]


async def test_other_4xx_is_final_and_the_next_message_goes(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    answers = iter([Answer(400), Answer(200)])
    receiver.script("/bad", lambda _r: next(answers))
    sub = await subscribe(wh_client, receiver.url("/bad"))
    await make_events(wh_client, 2)
    await deliver(wh_app, wh_settings)
    assert len(receiver.at("/bad")) == 2
    statuses = [i["status"] for i in await deliveries(wh_client, sub["id"])]
    assert statuses == ["delivered", "failed"]  # newest first


async def test_retry_after_is_honoured(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/busy", Answer(429, headers={"Retry-After": "120"}))
    sub = await subscribe(wh_client, receiver.url("/busy"))
    await make_events(wh_client, 1)
    await deliver(wh_app, wh_settings)
    (item,) = await deliveries(wh_client, sub["id"])
    attempt = item["attempts"][0]
    assert item["status"] == "pending" and attempt["outcome"] == "retry"
    from datetime import datetime

    wait = datetime.fromisoformat(attempt["next_retry_at"]) - datetime.fromisoformat(
        attempt["attempted_at"]
    )
    assert 119 <= wait.total_seconds() <= 121


async def test_retries_end_in_failure_after_the_schedule(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/down", Answer(500))
    sub = await subscribe(wh_client, receiver.url("/down"))
    await make_events(wh_client, 1)
    for _ in range(20):
        await deliver(wh_app, wh_settings)
        await asyncio.sleep(0.06)
    (item,) = await deliveries(wh_client, sub["id"])
    # the first try plus one per step of the (test) schedule of three
    assert item["status"] == "failed" and item["attempt_count"] == 4
    assert len(receiver.at("/down")) == 4


async def test_failing_for_days_disables(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/dead", Answer(502))
    sub = await subscribe(wh_client, receiver.url("/dead"))
    await make_events(wh_client, 1)
    async with wh_app.state.sessionmaker() as session:
        await session.execute(
            sa.text(
                "UPDATE webhook_subscriptions SET failing_since = now() - interval '6 days' "
                "WHERE id = :id"
            ),
            {"id": sub["id"]},
        )
        await session.commit()
    await deliver(wh_app, wh_settings)
    state = (await wh_client.get(f"/v1/webhooks/{sub['id']}")).json()
    assert state["enabled"] is False and "failing continuously" in state["disabled_reason"]
    events = (await wh_client.get("/v1/events", params={"types": "webhook.*"})).json()["items"]
    assert [e["type"] for e in events] == ["webhook.subscription_disabled"]


async def test_a_slow_receiver_does_not_hold_up_another(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/hang", Answer(hang=True))
    slow = await subscribe(wh_client, receiver.url("/hang"))
    fast = await subscribe(wh_client, receiver.url("/fast"))
    await make_events(wh_client, 5)
    started = time.monotonic()
    patient = wh_settings.model_copy(update={"webhooks_retry_schedule_seconds": [60.0]})
    run = asyncio.create_task(deliver(wh_app, patient))
    got = await receiver.wait_for("/fast", 5, timeout=1.5)
    assert got[-1].at - started < 1.5  # all five arrived while the other receiver hangs
    await asyncio.wait_for(run, 10)
    assert time.monotonic() - started < 5  # the hung attempt ended at the 2 s total timeout
    (first, *_rest) = reversed(await deliveries(wh_client, slow["id"]))
    assert first["attempts"][0]["error"].startswith("timed out")
    assert first["attempts"][0]["outcome"] == "retry"
    assert {i["status"] for i in await deliveries(wh_client, fast["id"])} == {"delivered"}


async def test_a_ten_megabyte_answer_is_a_failed_attempt_read_only_in_part(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/huge", Answer(200, body_size=10 * 1024 * 1024))
    sub = await subscribe(wh_client, receiver.url("/huge"))
    await make_events(wh_client, 1)
    started = time.monotonic()
    await asyncio.wait_for(deliver(wh_app, wh_settings), 10)
    assert time.monotonic() - started < 5
    (item,) = await deliveries(wh_client, sub["id"])
    assert item["status"] == "failed"
    assert "over 65536 bytes" in item["attempts"][0]["error"]


async def test_send_time_check_refuses_a_forbidden_address(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    wh_settings: Settings,
    receiver: Receiver,
) -> None:
    # Created while private addresses were allowed; the worker's settings no longer allow them.
    sub = await subscribe(wh_client, receiver.url("/private"))
    await make_events(wh_client, 1)
    strict = wh_settings.model_copy(update={"webhooks_allow_private_addresses": False})
    await deliver(wh_app, strict)
    assert receiver.at("/private") == []
    (item,) = await deliveries(wh_client, sub["id"])
    attempt = item["attempts"][0]
    assert attempt["status_code"] is None and "loopback" in attempt["error"]
    assert attempt["outcome"] == "retry"


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    sub = await subscribe(wh_client, receiver.url("/rot"))
    rotated = await wh_client.post(f"/v1/webhooks/{sub['id']}:rotate-secret", json={})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != sub["secret"]
    await make_events(wh_client, 1, prefix="A")
    await deliver(wh_app, wh_settings)
    (request,) = await receiver.wait_for("/rot", 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(sub["secret"], request)  # old secret still verifies
    verify(new_secret, request)  # and so does the new one

    # An overlap of zero: only the newest secret signs.
    again = await wh_client.post(
        f"/v1/webhooks/{sub['id']}:rotate-secret", json={"overlap_seconds": 0}
    )
    newest = again.json()["secret"]
    await make_events(wh_client, 1, prefix="B")
    await deliver(wh_app, wh_settings)
    requests = await receiver.wait_for("/rot", 2)
    verify(newest, requests[1])
    import pytest
    import standardwebhooks

    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verify(new_secret, requests[1])


async def test_test_ping_and_redeliver(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    sub = await subscribe(wh_client, receiver.url("/ping"))
    response = await wh_client.post(f"/v1/webhooks/{sub['id']}/test")
    assert response.status_code == 202, response.text
    ping = response.json()
    assert ping["event_type"] == "webhook.ping" and ping["status"] == "pending"
    await deliver(wh_app, wh_settings)
    (request,) = await receiver.wait_for("/ping", 1)
    body = verify(sub["secret"], request)
    assert body["type"] == "webhook.ping" and body["data"]["subscription_id"] == sub["id"]

    again = await wh_client.post(f"/v1/deliveries/{ping['id']}:redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    await deliver(wh_app, wh_settings)
    requests = await receiver.wait_for("/ping", 2)
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    (item,) = await deliveries(wh_client, sub["id"])
    assert item["status"] == "delivered" and item["attempt_count"] == 2
    missing = await wh_client.post("/v1/deliveries/999999:redeliver")
    assert missing.status_code == 404


async def test_events_committed_out_of_order_are_not_lost(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    sub = await subscribe(wh_client, receiver.url("/late"), ["import.*"])
    sm = wh_app.state.sessionmaker
    async with sm() as slow, sm() as quick:
        await events_service.publish(slow, "import.completed", {"n": 1})  # takes the lower id
        await slow.flush()
        await events_service.publish(quick, "import.completed", {"n": 2})
        await quick.commit()
        await deliver(wh_app, wh_settings)  # sees id 2 with a gap before it
        await slow.commit()
    await deliver(wh_app, wh_settings)
    got = [verify(sub["secret"], r)["data"]["n"] for r in await receiver.wait_for("/late", 2)]
    assert sorted(got) == [1, 2]


async def test_metrics_count_outcomes_and_report_lag(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/m", Answer(410))
    await subscribe(wh_client, receiver.url("/m"))
    await subscribe(wh_client, receiver.url("/ok"))
    await make_events(wh_client, 2)
    metrics = WorkerMetrics()
    sm = wh_app.state.sessionmaker
    await delivery.refresh_gauges(sm, metrics)
    assert metrics.webhook_outbox_lag._value.get() >= 0
    await deliver(wh_app, wh_settings, metrics=metrics)
    await delivery.refresh_gauges(sm, metrics)
    samples = {
        (s.name, s.labels.get("outcome")): s.value
        for m in metrics.registry.collect()
        for s in m.samples
    }
    assert samples[("puls_webhook_deliveries_total", "delivered")] == 2
    assert samples[("puls_webhook_deliveries_total", "failed")] == 1
    assert samples[("puls_webhook_attempt_duration_seconds_count", None)] == 3
    assert samples[("puls_webhook_disabled_subscriptions", None)] == 1
    # one message of the disabled subscription is still pending, but it is not counted as lag
    assert samples[("puls_webhook_outbox_lag_seconds", None)] == 0


async def test_deleted_subscription_gets_nothing_and_its_queue_is_cancelled(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    from services.worker.tasks import webhooks as webhook_tasks

    sub = await subscribe(wh_client, receiver.url("/deleted"))
    await make_events(wh_client, 2)
    assert await delivery.fan_out(wh_app.state.sessionmaker, wh_settings) == 2
    assert (await wh_client.delete(f"/v1/webhooks/{sub['id']}")).status_code == 204
    metrics = WorkerMetrics()
    ctx = {"sessionmaker": wh_app.state.sessionmaker, "settings": wh_settings, "metrics": metrics}
    await webhook_tasks.deliver_webhooks_cron(ctx)  # what the worker runs every 2 s
    assert receiver.at("/deleted") == []
    async with wh_app.state.sessionmaker() as session:
        statuses = (
            await session.execute(sa.text("SELECT status FROM webhook_deliveries"))
        ).scalars()
        assert list(statuses) == ["cancelled", "cancelled"]


async def test_redirects_are_not_followed(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    receiver.script("/moved", Answer(302, headers={"Location": receiver.url("/elsewhere")}))
    sub = await subscribe(wh_client, receiver.url("/moved"))
    await make_events(wh_client, 1)
    await deliver(wh_app, wh_settings)
    assert len(receiver.at("/moved")) == 1 and receiver.at("/elsewhere") == []
    (item,) = await deliveries(wh_client, sub["id"])
    assert item["status"] == "failed"
    assert "redirects are not followed" in item["attempts"][0]["error"]
