"""Prometheus metrics. Each process has its own registry (not the global default), so tests can
build several apps and the API and worker never mix series. No per-id labels."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of `registry`, or of every API process's files when several serve
    (PROMETHEUS_MULTIPROC_DIR set by `puls api`)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class PoolGauges:
    """Database connections in use and the pool's capacity, kept by the pool's own checkout
    and checkin events, so every API process reports its own pool (summed when several
    serve) without a query at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_use = Gauge(
            "puls_db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.capacity = Gauge(
            "puls_db_pool_connections_max",
            "The pool's size plus its overflow: connections it may open at most.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def watch(self, engine: AsyncEngine) -> None:
        pool: Any = engine.sync_engine.pool
        self.capacity.set(pool.size() + max(getattr(pool, "_max_overflow", 0), 0))

        def checkout(*_: Any) -> None:
            self.in_use.inc()

        def checkin(*_: Any) -> None:
            self.in_use.dec()

        event.listen(engine.sync_engine, "checkout", checkout)
        event.listen(engine.sync_engine, "checkin", checkin)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "puls_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "puls_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "puls_http_requests_in_flight",
            "HTTP requests being served.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.ingest_records = Counter(
            "puls_ingest_records_total",
            "Records received by feeds, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.enqueue_failures = Counter(
            "puls_enqueue_failures_total",
            "Jobs that could not be handed to Redis after commit (the sweep picks them up).",
            ["function"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "puls_ready",
            "1 when the dependency (database, redis) answered the last check, else 0.",
            ["dependency"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.pool = PoolGauges(self.registry)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs = Counter(
            "puls_jobs_total",
            "Jobs run by the worker, by function and outcome.",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "puls_job_duration_seconds",
            "Job run time by function.",
            ["function"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "puls_queue_depth", "Jobs waiting in the arq queue.", registry=self.registry
        )
        self.heartbeat = Gauge(
            "puls_worker_heartbeat_timestamp_seconds",
            "Unix time of the worker's last heartbeat.",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "puls_webhook_deliveries_total",
            "Webhook delivery attempts by outcome (delivered, retry, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.webhook_attempt_duration = Histogram(
            "puls_webhook_attempt_duration_seconds",
            "Time of one webhook HTTP attempt, until the status (and at most 64 KB) arrived.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
            registry=self.registry,
        )
        self.webhook_outbox_lag = Gauge(
            "puls_webhook_outbox_lag_seconds",
            "Age of the oldest event not yet delivered to an enabled subscription.",
            registry=self.registry,
        )
        self.webhook_disabled_subscriptions = Gauge(
            "puls_webhook_disabled_subscriptions",
            "Webhook subscriptions that are disabled (by an admin, a 410 or failing for days).",
            registry=self.registry,
        )
        self.pool = PoolGauges(self.registry)
        self.dirty_cells = Gauge(
            "puls_recalculation_dirty_cells",
            "(Org unit, month) cells marked dirty and waiting for recalculation.",
            registry=self.registry,
        )
        self.recalculation_lag = Gauge(
            "puls_recalculation_lag_seconds",
            "Age of the oldest dirty cell: how far the KPI figures lag the data (0 when none).",
            registry=self.registry,
        )
        self.imports = Gauge(
            "puls_imports",
            "File imports by status (queued, running).",
            ["status"],
            registry=self.registry,
        )
        self.import_rows_read = Gauge(
            "puls_import_rows_read",
            "Rows read so far by the running imports (its rate is the import speed).",
            registry=self.registry,
        )
        self.plan_actions_flagged = Counter(
            "puls_plan_actions_flagged_total",
            "Actions the due/overdue scan flagged, by kind (overdue, due_soon).",
            ["kind"],
            registry=self.registry,
        )
        self.mail_messages = Counter(
            "puls_mail_messages_total",
            "E-mails by kind and outcome: queued, skipped (no address), sent, retry (a temporary "
            "SMTP error or the server down), failed (a permanent refusal or retries used up).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.mail_outbox = Gauge(
            "puls_mail_outbox_messages",
            "Rows of the mail outbox by status (pending is what waits to be sent).",
            ["status"],
            registry=self.registry,
        )
