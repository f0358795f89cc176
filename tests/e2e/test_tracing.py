"""OpenTelemetry traces, exported over OTLP/HTTP to a real receiver on 127.0.0.1: the API's
requests (with Puls's request id) and their SQL, and the worker's jobs (with arq's job id).
Without an endpoint nothing is installed."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from services.api.app import create_app
from services.cli.main import ROOT
from services.core import tracing
from services.core.config import Settings
from tests.api_process import free_port, running_api
from tests.harness import ADMIN_TOKEN
from tests.worker.test_worker_process import worker_env


class Collector:
    """The traces part of an OTLP/HTTP collector: decodes every export into plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.paths: set[str] = set()
        lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    collector.paths.add(self.path)
                    for resource in request.resource_spans:
                        service = _attributes(resource.resource.attributes)["service.name"]
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                collector.spans.append(
                                    {
                                        "service": service,
                                        "name": span.name,
                                        "trace": span.trace_id.hex(),
                                        "attributes": _attributes(span.attributes),
                                    }
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(
        self, found: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in list(self.spans):
                if found(span):
                    return span
            time.sleep(0.2)
        raise AssertionError(f"no such span among {self.spans}")


def _attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        out[pair.key] = getattr(pair.value, kind) if kind else None
    return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()


def _otel(collector: Collector) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second, for the test
    }


def test_api_requests_and_their_sql_are_traced(settings: Settings, collector: Collector) -> None:
    with running_api(settings, **_otel(collector)) as url:
        answer = httpx.get(
            f"{url}/v1/org-units",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-ID": "trace-me-1"},
        )
        assert answer.status_code == 200
        request = collector.wait_for(
            lambda s: s["attributes"].get("puls.request_id") == "trace-me-1"
        )
        assert request["service"] == "puls-api"
        assert request["name"].startswith("GET /v1/org-units")
        sql = collector.wait_for(
            lambda s: s["trace"] == request["trace"] and "db.statement" in s["attributes"]
        )
        assert "org_units" in sql["attributes"]["db.statement"]
    assert collector.paths == {"/v1/traces"}


async def test_worker_jobs_are_traced_with_their_job_id(
    settings: Settings, collector: Collector
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "worker"],
        cwd=ROOT,
        env={**worker_env(settings, free_port()), **_otel(collector)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The heartbeat cron runs at start-up; its run is a span of its own with arq's id.
        job = collector.wait_for(lambda s: s["name"] == "job heartbeat_cron", timeout=90)
        assert job["service"] == "puls-worker"
        assert job["attributes"]["puls.job.name"] == "heartbeat_cron"
        assert job["attributes"]["puls.job.id"].startswith("cron:heartbeat_cron")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_without_an_endpoint_nothing_is_installed(settings: Settings) -> None:
    assert not tracing.enabled()
    app: FastAPI = create_app(settings)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert tracing._provider is None
