"""JSON-lines logging with a request id carried in a context variable.

Log records never carry personal data: callers log ids, codes and counts, never employee refs."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# Extras that only repeat the message for a terminal (uvicorn's coloured copy).
_NOISE = {"color_message"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RESERVED and key not in _NOISE and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for a log shipper (production's default)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """`09:08:31 INFO  puls.worker  worker started  queue=puls:queue`: for a person at a
    terminal (development's default); the same fields as the JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = _extras(record)
        request_id = request_id_var.get()
        if request_id:
            fields["request_id"] = request_id
        tail = "  " + " ".join(f"{key}={value}" for key, value in fields.items()) if fields else ""
        line = f"{when} {record.levelname:<7} {record.name}  {record.getMessage()}{tail}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", *, as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error", "arq", "arq.worker", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # arq logs every job's start and end at INFO: with crons every second or two that is a
    # line a second saying nothing. The worker logs a summary of each job that did work
    # instead (services/worker/main.py); arq's warnings and errors still come through.
    logging.getLogger("arq.worker").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
