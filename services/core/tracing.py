"""OpenTelemetry traces of requests, SQL and jobs, exported over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.

Without it nothing is installed: no provider, no instrumentation, no exporter thread, and the
calls below cost a dictionary lookup (the API's no-op tracer). The exporter reads the standard
`OTEL_*` variables itself (headers, timeout, compression), so a collector's documentation applies
as written; `OTEL_SERVICE_NAME` overrides the names given here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_tracer = trace.get_tracer("puls")
_provider: object | None = None


def enabled() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINTS)


def start(service_name: str) -> None:
    """Installs the process's tracer provider and OTLP exporter (once per process)."""
    global _provider
    if _provider is not None or not enabled():
        return
    # The SDK and exporter only where tracing is on.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider


def shutdown() -> None:
    """Sends what is buffered; called when the process stops."""
    global _provider
    if _provider is not None:
        _provider.shutdown()  # type: ignore[attr-defined]
        _provider = None


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement (its text, never its bound values)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares SQLAlchemy < 2.1 and would do nothing on 2.1; it only hooks
    # the engine's cursor events, which 2.1 keeps (the tracing test checks the spans arrive).
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, enable_commenter=False, skip_dep_check=True
    )


def tag_request(request_id: str) -> None:
    """The API's request id on the request's span, so a trace is found from a log line."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("puls.request_id", request_id)


@contextmanager
def job_span(name: str, job_id: str | None) -> Iterator[None]:
    """A span around one run of a worker job, with arq's job id."""
    if _provider is None:
        yield
        return
    attributes = {"puls.job.name": name, "puls.job.id": job_id or ""}
    with _tracer.start_as_current_span(f"job {name}", attributes=attributes):
        yield
