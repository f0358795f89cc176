"""DATABASE_READ_URL against a real streaming replica. The test owns both servers: it runs
initdb for a throwaway primary cluster in a temporary directory, migrates a Puls database on
it, and starts a standby made from it with `pg_basebackup -R`, each on its own port. Series are
read on the replica while it is close, and from the primary (the answer says why) when it lags,
is behind what the client has seen, or is down. Once the replica is back, they are read there
again.

The shared test server plays no part (its pg_hba.conf, its other databases): the replica
replays only this test's writes, so every wait is a matter of seconds."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
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
from services.cli.main import alembic_upgrade
from services.core.config import Settings
from tests.api_process import free_port
from tests.conftest import make_client
from tests.factories import days, seed_tree, shifts
from tests.jobs import recalculate

SERIES = "/v1/kpis/sick_leave_pct/series"
PARAMS = {"org_unit": "SUS-AKUT", "from": "2024-03", "to": "2024-03"}
DATABASE = "puls"
PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
INSTALL = (
    "PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) were not found: "
    "`apt-get install postgresql-15` (Debian/Ubuntu), `uv sync` (pgserver bundles them), "
    "or PULS_TEST_PG_BIN=<their directory>"
)
# Settings for a cluster that lives for one test: no fsync, little memory, and no autovacuum
# (whose writes would be the only WAL the test did not cause). Commits stay synchronous: a
# commit the client has seen is then on its way to the standby. A restarted standby retries
# streaming within a fraction of a second rather than the default 5 s.
CONFIG = """
shared_buffers = 16MB
max_connections = 40
fsync = off
autovacuum = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 200ms
log_min_messages = warning
"""
HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def _programs() -> Path | None:
    """The directory of PostgreSQL's server programs: PULS_TEST_PG_BIN, else Debian's
    PostgreSQL 15 (what production runs), else the ones pgserver (a dependency, for the embedded
    stack) bundles."""
    candidates = [Path("/usr/lib/postgresql/15/bin")]
    if explicit := os.environ.get("PULS_TEST_PG_BIN"):
        candidates.insert(0, Path(explicit))
    # Found, not imported: importing pgserver sets up its runtime directory.
    if (spec := importlib.util.find_spec("pgserver")) and spec.submodule_search_locations:
        candidates.append(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")
    for directory in candidates:
        if all((directory / program).exists() for program in PROGRAMS):
            return directory
    return None


def _system_user() -> str | None:
    """Who runs the clusters: PostgreSQL refuses to run as root, so root hands them to the
    postgres user (or pgserver's); anyone else runs them as themselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip("running as root needs a postgres system user to run PostgreSQL as")


class Cluster:
    """One PostgreSQL cluster under `root`: data directory, log and unix socket, on `port`."""

    def __init__(self, bin_dir: Path, user: str | None, root: Path) -> None:
        self.bin_dir, self.user, self.root = bin_dir, user, root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, program: str, *args: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run(
            [*prefix, str(self.bin_dir / program), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{program}: {done.stdout}{done.stderr}"

    def prepare(self) -> None:
        self.root.mkdir()
        if self.user:
            shutil.chown(self.root, self.user)

    def start(self) -> None:
        # Port, address and socket on the command line: a standby copies its primary's
        # postgresql.conf, and these must differ between the two.
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root}",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    async def sql(self, statement: str) -> object:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()


class Pair:
    """A primary and its streaming standby."""

    def __init__(self, primary: Cluster, standby: Cluster) -> None:
        self.primary, self.standby = primary, standby

    async def caught_up(self, done: str = "replay", seconds: float = 30) -> None:
        """Waits until the standby has received (done="receive") or replayed everything the
        primary has committed so far."""
        target = await self.primary.sql("SELECT pg_current_wal_flush_lsn()::text")
        deadline = asyncio.get_running_loop().time() + seconds
        while not await self.standby.sql(f"SELECT pg_last_wal_{done}_lsn() >= '{target}'::pg_lsn"):
            assert asyncio.get_running_loop().time() < deadline, (
                f"the standby lags: {await self.state()}"
            )
            await asyncio.sleep(0.05)

    async def state(self) -> str:
        """What the standby is doing, and how far the primary has written (for failures)."""
        primary = await self.primary.sql(
            "SELECT concat_ws(' ', pg_current_wal_insert_lsn(), pg_current_wal_flush_lsn())"
        )
        standby = await self.standby.sql(
            "SELECT concat_ws(' ', pg_is_in_recovery(),"
            " (SELECT status FROM pg_stat_wal_receiver), pg_last_wal_receive_lsn(),"
            " pg_last_wal_replay_lsn(), now() - pg_last_xact_replay_timestamp(),"
            " pg_is_wal_replay_paused())"
        )
        return (
            f"primary inserted, flushed: {primary}; standby in recovery, receiver, received,"
            f" replayed, last replayed commit's age, paused: {standby}"
        )


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    bin_dir = _programs()
    if bin_dir is None:
        pytest.skip(INSTALL)
    user = _system_user()
    root = Path(tempfile.mkdtemp(prefix="puls-replica-"))
    if user:
        shutil.chown(root, user)
    primary = Cluster(bin_dir, user, root / "primary")
    standby = Cluster(bin_dir, user, root / "standby")
    while standby.port == primary.port:
        standby = Cluster(bin_dir, user, root / "standby")
    try:
        primary.prepare()
        primary.run(
            "initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(CONFIG)
        (primary.data / "pg_hba.conf").write_text(HBA)
        primary.start()
        asyncio.run(_create_database(primary))
        alembic_upgrade(primary.url, "heads")
        standby.prepare()
        # -R writes standby.signal and primary_conninfo; the copy brings the primary's
        # postgresql.conf and pg_hba.conf along.
        standby.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(standby.data), "-X", "stream", "-R", "-c", "fast", "--no-sync",
        )  # fmt: skip
        standby.start()
        yield Pair(primary, standby)
    finally:
        # Both clusters go, whatever happened above: an immediate stop, then the files.
        for cluster in (standby, primary):
            try:
                cluster.stop()
            except (AssertionError, subprocess.TimeoutExpired):
                pass  # the other cluster and the files still go
        shutil.rmtree(root, ignore_errors=True)


async def _create_database(primary: Cluster) -> None:
    conn = await asyncpg.connect(primary.url.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


@pytest.fixture
async def replica_app(settings: Settings, pair: Pair) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={
                "database_url": pair.primary.url,
                "database_read_url": pair.standby.url,
                "read_replica_max_lag_seconds": 1.0,
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


async def _until(
    client: httpx.AsyncClient, pair: Pair, source: str, seconds: float = 30
) -> float | None:
    """The value read once `source` answers (the standby replays this test's writes alone:
    it catches up in well under a second)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found, value = await _source(client)
        if found == source:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {found}; {await pair.state()}")
        await asyncio.sleep(0.1)


async def test_reads_go_to_the_replica_and_fall_back_to_the_primary(
    replica_app: FastAPI, pair: Pair
) -> None:
    standby = pair.standby
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
        first = await _until(client, pair, "replica")
        assert first is not None

        # A mirror list reads on the replica and writes its audit row on the primary.
        listed = await client.get("/v1/time-records", params={"limit": 5})
        assert listed.status_code == 200, listed.text
        assert listed.headers["puls-read-source"] == "replica"
        assert len(listed.json()["items"]) == 5
        audited = await pair.primary.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'time-records.read'"
        )
        assert audited == 1

        # The client has seen a later recalculation than the replica holds. The audit row
        # replayed first: a replica still replaying it would (rightly) answer "lag".
        await pair.caught_up()
        later = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
        found, value = await _source(client, **{"Puls-Seen-Facts-Changed-At": later})
        assert (found, value) == ("primary; reason=behind", first)

        # Replay paused while the primary moves on: the replica falls behind by seconds.
        await standby.sql("SELECT pg_wal_replay_pause()")
        try:
            more = shifts("K2", "E2", [date(2024, 3, 6)], "sick", "8.00")
            assert (await client.post("/v1/time-records:batch", json={"records": more})).is_success
            await recalculate(replica_app)
            value = await _until(client, pair, "primary; reason=lag")
            assert value is not None and value > first, "the primary's newer figure"
            # All of it streamed, none of it replayed: resuming replays the recalculation.
            await pair.caught_up("receive")
        finally:
            await standby.sql("SELECT pg_wal_replay_resume()")
        assert await _until(client, pair, "replica") == value

        standby.stop()
        try:
            found, down_value = await _source(client)
            assert (found, down_value) == ("primary; reason=unavailable", value)
        finally:
            standby.start()
        assert await _until(client, pair, "replica") == value
