"""DATABASE_READ_URL against a real streaming replica of the test server (pg_basebackup to a
temporary directory, started with pg_ctl on another port): series are read there while it is
close, from the primary (and the answer says why) when it lags, is behind what the client
has seen, or is down, and from the replica again once it is back."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.core.config import Settings
from tests.api_process import free_port
from tests.conftest import make_client
from tests.factories import days, seed_tree, shifts
from tests.jobs import recalculate

BIN = Path("/usr/lib/postgresql/15/bin")
SERIES = "/v1/kpis/sick_leave_pct/series"
PARAMS = {"org_unit": "SUS-AKUT", "from": "2024-03", "to": "2024-03"}


def _as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    # PostgreSQL's programs refuse to run as root; the data directory must be postgres's.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *command], capture_output=True, text=True, timeout=300, check=False
    )


class Standby:
    def __init__(self, root: Path, primary: str, port: int) -> None:
        self.root, self.primary, self.port = root, primary, port
        self.data = root / "data"

    def start(self) -> None:
        started = _as_postgres(
            str(BIN / "pg_ctl"),
            "-D", str(self.data), "-l", str(self.root / "log"), "-w",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c hot_standby=on",
            "start",
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr

    def stop(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    async def sql(self, database: str, statement: str) -> object:
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     database=database)  # fmt: skip
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def standby(database: tuple[str, list[str]]) -> Iterator[Standby]:
    if not (BIN / "pg_basebackup").exists():
        pytest.skip("PostgreSQL 15's server programs are not installed here")
    root = Path(tempfile.mkdtemp(prefix="puls-replica-"))
    shutil.chown(root, "postgres") if os.geteuid() == 0 else None
    url = httpx.URL(database[0])
    backup = _as_postgres(
        str(BIN / "pg_basebackup"), "-h", url.host, "-p", str(url.port or 5432),
        "-U", url.username or "postgres", "-D", str(root / "data"), "-X", "stream", "-R",
        "-c", "fast",
    )  # fmt: skip
    if "no pg_hba.conf entry for replication" in backup.stderr:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip("the test server does not permit replication connections from 127.0.0.1")
    assert backup.returncode == 0, backup.stderr
    # Debian keeps the server's configuration outside its data directory.
    (root / "data" / "postgresql.conf").write_text("")
    (root / "data" / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    )
    _as_postgres("chown", "-R", "postgres", str(root)) if os.geteuid() == 0 else None
    node = Standby(root, database[0], free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def replica_app(
    settings: Settings, standby: Standby, database: tuple[str, list[str]]
) -> AsyncIterator[FastAPI]:
    url = httpx.URL(database[0])
    read_url = str(url.copy_with(port=standby.port))
    app = create_app(
        settings.model_copy(
            update={
                "database_read_url": read_url,
                "read_replica_max_lag_seconds": 3.0,
                "read_replica_retry_seconds": 0.5,
            }
        )
    )
    async with app.router.lifespan_context(app):
        yield app


async def _source(client: httpx.AsyncClient, **headers: str) -> tuple[str, float | None]:
    response = await client.get(SERIES, params=PARAMS, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["puls-read-source"], response.json()["points"][0]["value"]


async def _until(client: httpx.AsyncClient, source: str, seconds: float = 240) -> float | None:
    """The value read once `source` answers. The replica replays the whole server's writes
    (other test databases' too): a fresh one takes a minute or more to catch up here."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found, value = await _source(client)
        if found == source:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still {found}"
        await asyncio.sleep(0.2)


async def test_reads_go_to_the_replica_and_fall_back_to_the_primary(
    replica_app: FastAPI, standby: Standby, database: tuple[str, list[str]]
) -> None:
    name = httpx.URL(database[0]).path.lstrip("/")
    async with make_client(replica_app) as client:
        await seed_tree(client)
        records = [
            record
            for employee in ("E1", "E2", "E3", "E4", "E5")
            for record in shifts(
                "S", employee, days(date(2024, 3, 1), date(2024, 3, 10)), "scheduled", "8.00"
            )
        ]
        records += shifts("K", "E1", [date(2024, 3, 4), date(2024, 3, 5)], "sick", "8.00")
        assert (await client.post("/v1/time-records:batch", json={"records": records})).is_success
        await recalculate(replica_app)
        try:
            first = await _until(client, "replica", 120)
        except AssertionError:
            state = await standby.sql(
                name,
                "SELECT concat_ws(' ', pg_is_in_recovery(),"
                " (SELECT status FROM pg_stat_wal_receiver), pg_last_wal_receive_lsn(),"
                " pg_last_wal_replay_lsn(),"
                " now() - pg_last_xact_replay_timestamp(), pg_is_wal_replay_paused())",
            )
            raise AssertionError(f"replica state: {state}") from None
        assert first is not None

        # A mirror list reads on the replica and writes its audit row on the primary.
        listed = await client.get("/v1/time-records", params={"limit": 5})
        assert listed.status_code == 200, listed.text
        assert listed.headers["puls-read-source"] == "replica"
        assert len(listed.json()["items"]) == 5
        primary = await asyncpg.connect(database[0])
        try:
            audited = await primary.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'time-records.read'"
            )
        finally:
            await primary.close()
        assert audited == 1

        # The client has seen a later recalculation than the replica holds.
        later = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
        found, value = await _source(client, **{"Puls-Seen-Facts-Changed-At": later})
        assert (found, value) == ("primary; reason=behind", first)

        # Replay paused while the primary moves on: the replica falls behind by seconds.
        await standby.sql(name, "SELECT pg_wal_replay_pause()")
        try:
            more = shifts("K2", "E2", [date(2024, 3, 6)], "sick", "8.00")
            assert (await client.post("/v1/time-records:batch", json={"records": more})).is_success
            await recalculate(replica_app)
            value = await _until(client, "primary; reason=lag", 60)
            assert value is not None and value > first, "the primary's newer figure"
        finally:
            await standby.sql(name, "SELECT pg_wal_replay_resume()")
        assert await _until(client, "replica") == value

        standby.stop()
        try:
            found, down_value = await _source(client)
            assert (found, down_value) == ("primary; reason=unavailable", value)
        finally:
            standby.start()
        assert await _until(client, "replica") == value
