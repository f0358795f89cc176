"""The generator writes realistic, reproducible feeds; `puls feed` sends them in batches,
retries what may be retried, resumes where it stopped and reports rejects by line."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from services.cli import demo, feed
from services.cli.main import app as cli
from services.core.config import Settings
from tests.api_process import running_api
from tests.conftest import make_client
from tests.factories import seed_tree
from tests.harness import ADMIN_TOKEN
from tests.webhook_receiver import Answer, Received, running_receiver

SMALL = demo.Spec(units=4, employees=40, months=2, start=date(2024, 3, 1), seed=7)
CSV_HEADER = (
    "external_id;org_unit_code;employee_ref;profession;staff_kind;time_type;work_date;hours\n"
)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_generator_is_reproducible_and_looks_like_a_region(tmp_path: Path) -> None:
    first = demo.generate(SMALL, tmp_path / "a")
    again = demo.generate(SMALL, tmp_path / "b")
    other = demo.generate(demo.Spec(**{**SMALL.__dict__, "seed": 8}), tmp_path / "c")
    for name in demo.FILES.values():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / demo.FILES["time-records"]).read_bytes() != (
        tmp_path / "c" / demo.FILES["time-records"]
    ).read_bytes()
    assert first == again and first.time_records > 1_000 and other.time_records > 1_000

    tree = json.loads((tmp_path / "a" / demo.ORG_UNITS_FILE).read_text())
    assert [u["kind"] for u in tree].count("unit") == 4 and tree[0]["kind"] == "region"
    rows = _csv_rows(tmp_path / "a" / demo.FILES["time-records"])
    hours: dict[str, float] = defaultdict(float)
    for row in rows:
        hours[f"{row['staff_kind']}:{row['time_type']}"] += float(row["hours"])
    assert {"own:scheduled", "own:worked", "own:sick", "agency:worked"} <= set(hours)
    assert all(row["start"] and row["end"] for row in rows if row["time_type"] == "worked")
    assert len({row["external_id"] for row in rows}) == len(rows)
    # Every worked shift's hours are its real length, also the night the clocks go forward.
    dst_nights = [
        r for r in rows if r["work_date"] == "2024-03-30" and r["start"].endswith("21:30:00+01:00")
    ]
    for row in rows:
        if row["start"] and row["time_type"] in {"scheduled", "worked"}:
            span = datetime.fromisoformat(row["end"]) - datetime.fromisoformat(row["start"])
            assert Decimal(row["hours"]) == Decimal(span.total_seconds() / 3600).quantize(
                Decimal("0.01")
            )
    assert dst_nights and all(r["hours"] == "9.00" for r in dst_nights)


def test_generated_volume_and_sick_leave_are_realistic(tmp_path: Path) -> None:
    counts = demo.generate(demo.Spec(units=10, employees=120, months=12, seed=3), tmp_path)
    rows = _csv_rows(tmp_path / demo.FILES["time-records"])
    assert len(rows) == counts.time_records
    scheduled = sum(float(r["hours"]) for r in rows if r["time_type"] == "scheduled")
    sick = sum(float(r["hours"]) for r in rows if r["time_type"] == "sick")
    assert 2.0 < 100 * sick / scheduled < 9.0  # Swedish regions report 4–7 %
    employments = _csv_rows(tmp_path / demo.FILES["employments"])
    assert any(e["end_reason"] for e in employments)  # people leave and are replaced
    assert sum(e["is_manager"] == "true" for e in employments) >= 10


async def test_generated_files_load_without_a_reject(app: FastAPI, tmp_path: Path) -> None:
    demo.generate(SMALL, tmp_path)
    async with make_client(app) as client:
        tree = json.loads((tmp_path / demo.ORG_UNITS_FILE).read_text())
        assert (await client.put("/v1/org-units", json=tree)).status_code == 200
        for kind, name in demo.FILES.items():
            summary = await feed.feed_file(
                client, tmp_path / name, kind=kind, source="heroma", batch_size=700
            )
            expected = len(_csv_rows(tmp_path / name))
            assert summary.rejects == [] and summary.counts["inserted"] == expected, kind
            assert summary.batches == -(-expected // 700)
        again = await feed.feed_file(
            client, tmp_path / demo.FILES["time-records"], kind="time-records", source="heroma"
        )
    assert again.counts["unchanged"] == again.records and again.counts["inserted"] == 0


async def test_rejects_are_reported_by_line_and_the_good_records_stored(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    await seed_tree(client)
    path = tmp_path / "times.csv"
    path.write_text(
        CSV_HEADER
        + "T1;SUS-AKUT;E1;nurse;own;worked;2024-03-04;8,00\n"
        + "T2;NOPE;E1;nurse;own;worked;2024-03-05;8\n"
        + "T3;SUS-AKUT;E1\n"
        + "T4;SUS-AKUT;E1;nurse;own;worked;2024-03-06;25\n"
        + "T5;SUS-AKUT;E2;nurse;own;sick;2024-03-06;8\n",
        encoding="utf-8-sig",
    )
    summary = await feed.feed_file(client, path, kind="time-records", source="heroma")
    assert summary.counts["inserted"] == 2 and summary.rejected == 3
    assert [line for line, _ in summary.rejects] == [3, 4, 5]
    assert summary.rejects[0][1][0]["code"] == "unknown_org_unit"
    assert summary.rejects[1][1][0]["code"] == "unreadable"
    stored = await session.scalar(sa.text("SELECT count(*) FROM time_records"))
    assert stored == 2


async def test_retries_honour_retry_after_and_keep_the_idempotency_key(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(CSV_HEADER + "T1;SUS-AKUT;E1;nurse;own;worked;2024-03-04;8\n")
    answers = iter(
        [
            Answer(status=429, headers={"Retry-After": "3"}),
            Answer(status=503),
            Answer(status=200, body=json.dumps({"inserted": 1, "errors": []}).encode()),
        ]
    )
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async with running_receiver() as receiver:
        receiver.script("/v1/time-records:batch", lambda _request: next(answers))
        async with httpx.AsyncClient(base_url=receiver.url("")) as client:
            summary = await feed.feed_file(
                client,
                path,
                kind="time-records",
                source="heroma",
                retry=feed.Retry(attempts=5, base_delay=0.5, sleep=no_wait),
            )
    requests = receiver.at("/v1/time-records:batch")
    keys = {_header(r, "idempotency-key") for r in requests}
    assert len(requests) == 3 and len(keys) == 1 and summary.retries == 2
    assert waits[0] == 3.0 and 0 <= waits[1] <= 1.0  # Retry-After, then jittered backoff
    assert summary.counts["inserted"] == 1
    assert json.loads(requests[0].body)["records"][0]["source"] == "heroma"


async def test_a_refused_batch_stops_without_retrying(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(CSV_HEADER + "T1;SUS-AKUT;E1;nurse;own;worked;2024-03-04;8\n")
    async with running_receiver() as receiver:
        receiver.script("/v1/time-records:batch", Answer(status=403, body=b"forbidden"))
        async with httpx.AsyncClient(base_url=receiver.url("")) as client:
            with pytest.raises(feed.FeedAborted, match="403"):
                await feed.feed_file(client, path, kind="time-records", source="heroma")
    assert len(receiver.at("/v1/time-records:batch")) == 1


class _Unplugged(httpx.AsyncBaseTransport):
    """The app, until the network goes away after `allowed` requests."""

    def __init__(self, app: FastAPI, allowed: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.allowed = allowed
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen > self.allowed:
            raise httpx.ConnectError("network unplugged", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_stopped_run_resumes_after_the_last_confirmed_batch(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    await seed_tree(client)
    path = tmp_path / "times.csv"
    path.write_text(
        CSV_HEADER
        + "".join(f"T{i};SUS-AKUT;E{i % 7};nurse;own;worked;2024-03-04;8\n" for i in range(50))
    )
    state = tmp_path / "state"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    kwargs = {"kind": "time-records", "source": "heroma", "batch_size": 10, "state_dir": state}
    unplugged = _Unplugged(app, allowed=3)
    async with httpx.AsyncClient(
        transport=unplugged, base_url="http://puls.test", headers=headers
    ) as flaky:
        with pytest.raises(feed.FeedAborted, match="unplugged"):
            await feed.feed_file(
                flaky,
                path,
                retry=feed.Retry(attempts=2, base_delay=0.0),
                **kwargs,  # type: ignore[arg-type]
            )
    assert len(list(state.iterdir())) == 1
    counting = _Unplugged(app, allowed=1_000)
    async with httpx.AsyncClient(
        transport=counting, base_url="http://puls.test", headers=headers
    ) as steady:
        summary = await feed.feed_file(steady, path, **kwargs)  # type: ignore[arg-type]
    assert summary.resumed_batches == 3 and counting.seen == 2
    assert summary.counts["inserted"] == 50
    assert await session.scalar(sa.text("SELECT count(*) FROM time_records")) == 50
    assert list(state.iterdir()) == []  # a finished run leaves no state behind


def test_puls_feed_and_demo_load_against_a_running_api(settings: Settings, tmp_path: Path) -> None:
    demo.generate(SMALL, tmp_path / "demo")
    runner = CliRunner()
    with running_api(settings) as url:
        loaded = runner.invoke(
            cli, ["demo", "load", str(tmp_path / "demo"), "--url", url, "--key", ADMIN_TOKEN]
        )
        assert loaded.exit_code == 0, loaded.output
        assert "rejected 0" in loaded.output
        bad = tmp_path / "bad.csv"
        bad.write_text(CSV_HEADER + "X1;NOPE;E1;nurse;own;worked;2024-03-04;8\n")
        result = runner.invoke(
            cli,
            ["feed", str(bad), "--kind", "time-records", "--source", "heroma"]
            + ["--url", url, "--key", ADMIN_TOKEN, "--state-dir", str(tmp_path / "st")]
            + ["--rejects-out", str(tmp_path / "rejects.ndjson")],
        )
    assert result.exit_code == 1, result.output
    assert "line 2: org_unit_code: unknown org unit 'NOPE'" in result.output
    assert json.loads((tmp_path / "rejects.ndjson").read_text())["line"] == 2


def _header(request: Received, name: str) -> str:
    return {k.lower(): v for k, v in request.headers.items()}[name]
