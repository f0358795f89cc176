"""The ops files under docker/: Prometheus's scrape config and alert rules, Grafana's provisioned
datasource and dashboard. Every metric a panel or a rule uses must be on the API's or the
worker's /metrics after a short workload (a renamed metric would leave a panel empty and an
alert silent); the rules parse and fire (promtool, from Debian's `prometheus` package); each
alert has a runbook section in docs/operations.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from services.core.metrics import WorkerMetrics
from services.core.webhooks import delivery
from services.worker import main as worker_main
from services.worker import metrics_server
from services.worker.tasks import gauges
from tests.factories import feed, make_events, seed_tree, shifts, subscribe
from tests.webhook_receiver import Receiver

DOCKER = ROOT / "docker"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "puls.json"
OPERATIONS = ROOT / "docs" / "operations.md"
# What issue #24 asks the rules to cover.
REQUIRED_ALERTS = {
    "PulsApi5xxRate",
    "PulsRecalculationLag",
    "PulsDirtyCellsGrowing",
    "PulsWebhookFailures",
    "PulsWorkerDown",
    "PulsNotReady",
}
# Counters that only get a sample when something fails; their family must still be declared.
ON_FAILURE_ONLY = {"puls_enqueue_failures_total"}
_METRIC = re.compile(r"\bpuls_[a-z0-9_]+\b")
_PROMTOOL = shutil.which("promtool")
_NO_PROMTOOL = (
    "promtool is missing: `sudo apt-get install -y prometheus` (Debian) puts it in /usr/bin "
    "(make promtool says so too)"
)


def _alerts() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panel_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in _dashboard()["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def _used_metrics() -> set[str]:
    exprs = _panel_exprs() + [rule["expr"] for rule in _alerts()]
    return {name for expr in exprs for name in _METRIC.findall(expr)}


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_alert_rules_have_the_shape_operators_rely_on() -> None:
    loaded = yaml.safe_load(ALERTS.read_text())
    assert [g["name"] for g in loaded["groups"]] == ["puls"]
    rules = _alerts()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert REQUIRED_ALERTS <= set(names)
    anchors = _anchors(OPERATIONS.read_text())
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warn"}, rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        page, _, anchor = notes["runbook"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]
    for name in REQUIRED_ALERTS:
        assert name.lower() in anchors, f"no runbook section for {name}"


def test_dashboard_and_datasource_are_provisioned_together() -> None:
    datasource = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "dashboards" / "puls.yml").read_text()
    )["providers"][0]
    dashboard = _dashboard()
    assert dashboard["uid"] == "puls-overview" and dashboard["title"] == "Puls"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in (
        "requests per second by route",
        "latency",
        "errors",
        "ingested rows",
        "imports",
        "backlog",
        "lag",
        "queue depth",
        "webhook",
        "retries",
        "database connections",
    ):
        assert topic in titles, topic

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    mounts = compose["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    prometheus = compose["prometheus"]["volumes"]
    for name in ("prometheus.yml", "alerts.yml"):
        assert f"./prometheus/{name}:/etc/prometheus/{name}:ro" in prometheus
    scrape = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]
    }
    assert targets == {"puls-api": ["api:8000"], "puls-worker": ["worker:9100"]}
    assert scrape["rule_files"] == ["alerts.yml"]


@pytest.mark.skipif(_PROMTOOL is None, reason=_NO_PROMTOOL)
@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts.test.yml"],
    ],
    ids=["rules", "config", "rule-tests"],
)
def test_promtool_accepts_the_rules_and_their_tests(args: list[str]) -> None:
    assert _PROMTOOL is not None
    done = subprocess.run(
        [_PROMTOOL, *args],
        cwd=DOCKER / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def _exposed(text: str) -> tuple[set[str], set[str]]:
    """(sample names, declared family names) of a Prometheus text exposition."""
    samples = {
        m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE)
    }
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    return samples, declared


async def _worker_metrics(app: FastAPI, settings: Settings) -> str:
    """A worker's context (its own engine and metrics), its jobs run as arq runs them, the
    gauges refreshed as the cron does, and its /metrics port scraped over HTTP."""
    engine = create_engine(settings, pool_size=2)
    metrics = WorkerMetrics()
    metrics.pool.watch(engine)
    ctx: dict[str, Any] = {
        "settings": settings,
        "sessionmaker": create_sessionmaker(engine),
        "metrics": metrics,
        "arq": app.state.arq,
        "redis": app.state.arq,
    }
    functions = {f.name: f for f in worker_main.FUNCTIONS}
    server = None
    try:
        for name in ("heartbeat", "recalculate", "deliver_webhooks"):
            await worker_main.on_job_start(ctx)
            await functions[name].coroutine(ctx)
            await worker_main.after_job_end(ctx)
        await delivery.refresh_gauges(ctx["sessionmaker"], metrics)
        await gauges.refresh_gauges(ctx)
        server = await metrics_server.start(ctx, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert answer.status_code == 200
        return answer.text
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        await engine.dispose()


async def test_every_metric_a_panel_or_rule_uses_is_exposed_after_a_workload(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    await subscribe(wh_client, receiver.url("/ops"))
    await seed_tree(wh_client)
    await make_events(wh_client, 1)  # an org_unit.created event for the webhook
    await feed(
        wh_client,
        "time-records",
        shifts("OPS", "E1", [date(2024, 3, d) for d in range(1, 4)], "scheduled", "8"),
    )
    assert (await wh_client.get("/readyz")).status_code == 200
    assert (await wh_client.get("/v1/org-units/NOPE")).status_code == 404
    api_text = (await wh_client.get("/metrics")).text
    worker_text = await _worker_metrics(wh_app, wh_settings)
    assert await receiver.wait_for("/ops", 1)

    api_samples, api_declared = _exposed(api_text)
    worker_samples, worker_declared = _exposed(worker_text)
    samples, declared = api_samples | worker_samples, api_declared | worker_declared
    used = _used_metrics()
    assert len(used) >= 20
    missing = {name for name in used - ON_FAILURE_ONLY if name not in samples}
    assert not missing, f"used by a panel or rule, not on /metrics: {sorted(missing)}"
    for name in ON_FAILURE_ONLY & used:
        assert name in declared or name.removesuffix("_total") in declared, name
    # The workload showed up, not just the names.
    assert "puls_ingest_records_total{" in api_text
    assert 'puls_ready{dependency="database"} 1.0' in api_text
    assert re.search(r"^puls_db_pool_connections_max [1-9]", api_text, re.M)
    capacity = 2 + wh_settings.db_pool_size  # the worker's pool of 2 and its overflow
    assert f"puls_db_pool_connections_max {capacity:.1f}" in worker_text
    assert 'puls_webhook_deliveries_total{outcome="delivered"}' in worker_text
    assert re.search(r"^puls_recalculation_lag_seconds 0\.0$", worker_text, re.M)
    assert 'puls_jobs_total{function="recalculate",outcome="succeeded"} 1.0' in worker_text
