"""File imports end to end: the API streams the file to disk, a real worker (burst) applies it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.timedata import files, imports, ingest
from tests.conftest import make_client
from tests.factories import IMPORT_HEADER, create_key, seed_tree, upload
from tests.jobs import run_worker
from tests.problems import assert_problem


@pytest.fixture(params=["thread", "process"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_csv_with_bom_semicolons_and_decimal_commas(
    client: httpx.AsyncClient, settings: Settings, via: str
) -> None:
    await seed_tree(client)
    rows = "".join(
        f"heroma;T{i};SUS-AKUT;EMP-{i % 7};nurse;own;worked;2024-03-{1 + i % 28:02d};7,5;\n"
        for i in range(12_000)
    )
    bad = "heroma;BAD;NOWHERE;E;nurse;own;worked;2024-03-01;8;\n"
    response = await upload(client, ("\ufeff" + IMPORT_HEADER + rows + bad).encode())
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert response.json()["status"] == "queued"

    await run_worker(settings, via)
    status = (await client.get(location)).json()
    assert status["status"] == "succeeded", status
    assert status["rows_read"] == 12_001
    assert status["counts"] == {
        "inserted": 12_000,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert status["errors"][0]["index"] == 12_002  # the line in the file (header is line 1)
    # Stamped when it finished, not when its transaction began (before it was marked started).
    assert status["created_at"] <= status["started_at"] <= status["finished_at"]
    assert status["errors"][0]["errors"][0]["code"] == "unknown_org_unit"
    listed = (await client.get("/v1/time-records", params={"limit": 1})).json()["items"]
    assert listed[0]["hours"] == "7.50"
    events = (await client.get("/v1/events", params={"types": "import.*"})).json()["items"]
    assert events[0]["type"] == "import.completed" and events[0]["data"]["inserted"] == 12_000


async def test_ndjson_with_bad_lines_reports_them_by_line(
    client: httpx.AsyncClient, settings: Settings, via: str
) -> None:
    await seed_tree(client)
    good = {
        "external_id": "N1",
        "org_unit_code": "SUS-MED",
        "employee_ref": "E1",
        "profession": "doctor",
        "staff_kind": "agency",
        "time_type": "worked",
        "work_date": "2024-03-01",
        "hours": 10,
    }
    lines = [
        json.dumps(good),
        "{not json",
        "",
        json.dumps({**good, "external_id": "N2", "hours": 30}),
        json.dumps({"external_id": "N1", "deleted": True, "source": "other"}),
    ]
    response = await upload(client, "\n".join(lines).encode(), "application/x-ndjson")
    await run_worker(settings, via)
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "succeeded"
    assert [e["index"] for e in status["errors"]] == [2, 4]
    assert status["counts"]["inserted"] == 1 and status["counts"]["unchanged"] == 1


async def test_unreadable_files_fail_cleanly_and_store_nothing(
    client: httpx.AsyncClient, settings: Settings, via: str
) -> None:
    await seed_tree(client)
    wrong_header = await upload(client, b"source;external_id;colour\nheroma;T1;blue\n")
    stray_quote = await upload(
        client,
        (
            IMPORT_HEADER + 'heroma;T1;SUS-AKUT;E;nurse;own;worked;2024-03-01;8;"\n'
            "heroma;T2;SUS-AKUT;E;nurse;own;worked;2024-03-02;8;\n"
        ).encode(),
    )
    await run_worker(settings, via)
    header_status = (await client.get(wrong_header.headers["location"])).json()
    assert header_status["status"] == "failed"
    assert "colour" in header_status["failure"]
    quote_status = (await client.get(stray_quote.headers["location"])).json()
    assert quote_status["status"] == "failed" and "line" in quote_status["failure"]
    assert (await client.get("/v1/time-records")).json()["items"] == []
    events = (await client.get("/v1/events", params={"types": "import.failed"})).json()["items"]
    assert len(events) == 2


async def test_a_file_spoiled_after_its_first_chunk_fails_and_keeps_nothing(
    client: httpx.AsyncClient, settings: Settings, via: str
) -> None:
    """The next chunk is read while the one before it is stored (in the validator process it
    comes back with the chunk before): a broken line there still fails the whole import."""
    await seed_tree(client)
    rows = "".join(
        f"heroma;T{i};SUS-AKUT;E{i};nurse;own;worked;2024-03-01;8;\n"
        for i in range(files.CHUNK_ROWS + 10)
    )
    spoiled = IMPORT_HEADER + rows + 'heroma;TX;SUS-AKUT;E;nurse;own;worked;2024-03-01;8;"\n'
    response = await upload(client, spoiled.encode())
    await run_worker(settings, via)
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "failed" and "line" in status["failure"], status
    assert (await client.get("/v1/time-records")).json()["items"] == []


async def test_empty_truncated_and_wrong_type_uploads_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await upload(client, b"")).status_code == 422
    truncated = await client.post(
        "/v1/imports",
        params={"kind": "time-records", "source": "heroma"},
        content=b"source;external_id\n",
        headers={"content-type": "text/csv", "content-length": "500"},
    )
    assert truncated.status_code == 422
    assert truncated.json()["errors"][0]["code"] == "truncated"
    assert (await upload(client, b"x", media="application/pdf")).status_code == 415
    bad_kind = await client.post(
        "/v1/imports",
        params={"kind": "x", "source": "heroma"},
        content=b"a",
        headers={"content-type": "text/csv"},
    )
    assert bad_kind.status_code == 422
    leftovers = list(imports.import_dir(settings).glob("*.upload"))
    assert leftovers == []


async def test_a_worker_dying_mid_import_leaves_nothing_and_the_sweep_finishes_it(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    await seed_tree(client)
    total = files.CHUNK_ROWS + 1_000
    rows = "".join(
        f"heroma;T{i};SUS-AKUT;E{i};nurse;own;worked;2024-03-01;8;\n" for i in range(total)
    )
    response = await upload(client, (IMPORT_HEADER + rows).encode())
    import_id = uuid.UUID(response.json()["id"])
    await app.state.arq.flushdb()  # the job is lost, as if Redis had been flushed

    # A worker that applied the first chunk and died: its transaction never commits.
    upload_file = next(imports.import_dir(settings).glob("*.upload"))
    chunk = next(files.chunks(upload_file, "csv", ingest.TIME_RECORDS, "heroma"))
    async with app.state.sessionmaker() as dying:
        applied = await ingest.apply(
            dying, settings, ingest.TIME_RECORDS, chunk.rows, principal=None
        )
        assert applied.inserted == files.CHUNK_ROWS
        await dying.rollback()
    count = (await session.execute(sa.text("SELECT count(*) FROM time_records"))).scalar()
    assert count == 0

    await session.execute(
        sa.text("UPDATE imports SET created_at = now() - interval '10 minutes' WHERE id = :id"),
        {"id": import_id},
    )
    await session.commit()
    from services.worker.tasks.timedata import sweep_imports

    ctx = {"sessionmaker": app.state.sessionmaker, "arq": app.state.arq, "settings": settings}
    assert await sweep_imports(ctx) == 1
    await run_worker(settings)
    status = (await client.get(f"/v1/imports/{import_id}")).json()
    assert status["status"] == "succeeded" and status["counts"]["inserted"] == total

    # Running it again (a duplicate delivery of the job) changes nothing.
    await app.state.arq.enqueue_job("run_import", str(import_id), _job_id="again")
    await run_worker(settings)
    count = (await session.execute(sa.text("SELECT count(*) FROM time_records"))).scalar()
    assert count == total


async def _import(
    client: httpx.AsyncClient, settings: Settings, via: str, body: str
) -> dict[str, object]:
    response = await upload(client, (IMPORT_HEADER + body).encode())
    assert response.status_code == 202, response.text
    await run_worker(settings, via)
    status: dict[str, object] = (await client.get(response.headers["location"])).json()
    assert status["status"] == "succeeded", status
    return status


def _counts(**changed: int) -> dict[str, int]:
    return {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0, "rejected": 0} | changed


def _lines(n: int, hours: str = "8") -> list[str]:
    return [
        f"heroma;R{i};SUS-AKUT;EMP-{i % 5};nurse;own;worked;2024-03-{1 + i % 28:02d};{hours};\n"
        for i in range(n)
    ]


async def test_a_file_sent_again_is_skipped_line_by_line_and_changes_still_land(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession, via: str
) -> None:
    await seed_tree(client)
    lines = _lines(12_000)
    first = await _import(client, settings, via, "".join(lines))
    assert first["counts"] == _counts(inserted=12_000)
    hashed = sa.text("SELECT count(content_hash) FROM time_records")
    assert (await session.execute(hashed)).scalar() == 12_000
    # xmin changes with every new row version: equal afterwards means nothing was written.
    versions = sa.text("SELECT md5(string_agg(xmin::text, ',' ORDER BY id)) FROM time_records")
    before = (await session.execute(versions)).scalar()
    await session.commit()

    again = await _import(client, settings, via, "".join(lines))
    assert again["counts"] == _counts(unchanged=12_000)
    assert (await session.execute(versions)).scalar() == before
    await session.commit()

    # Changed behind the file's back: R1 through a JSON batch, R2 removed.
    changed = {
        "source": "heroma",
        "external_id": "R1",
        "org_unit_code": "SUS-AKUT",
        "employee_ref": "EMP-1",
        "profession": "nurse",
        "staff_kind": "own",
        "time_type": "worked",
        "work_date": "2024-03-02",
        "hours": "4",
    }
    batch = await client.post(
        "/v1/time-records:batch",
        json={"records": [changed, {"source": "heroma", "external_id": "R2", "deleted": True}]},
    )
    assert batch.json()["updated"] == 1 and batch.json()["deleted"] == 1, batch.text
    assert (await session.execute(hashed)).scalar() == 11_999  # R1's changed: hash unknown
    await session.commit()
    # The file again, with R3 edited and R4 twice in one chunk (the second different): the
    # removed R2 comes back, R1 gets the file's version again, R4's repeat is reported.
    edited = list(lines)
    edited[3] = edited[3].replace(";8;", ";6;")
    edited.insert(5, lines[4].replace(";8;", ";5;"))
    third = await _import(client, settings, via, "".join(edited))
    assert third["counts"] == _counts(updated=3, unchanged=11_997, rejected=1)
    assert third["errors"][0]["errors"][0]["code"] == "duplicate_key"  # type: ignore[index]
    hours: dict[str, str] = dict(
        (
            await session.execute(
                sa.text(
                    "SELECT external_id, hours::text FROM time_records "
                    "WHERE external_id IN ('R1', 'R2', 'R3', 'R4') AND deleted_at IS NULL"
                )
            )
        ).all()
    )
    assert hours == {"R1": "8.00", "R2": "8.00", "R3": "6.00", "R4": "8.00"}
    assert (await session.execute(hashed)).scalar() == 12_000
    # Only lines that match what is stored are skipped: ask for chunk positions directly.
    keys = [("heroma", "R5"), ("heroma", "R3"), ("heroma", "NEW"), None]
    line = lines[5].rstrip("\n").split(";")
    signature = "\x1f".join(["heroma", *IMPORT_HEADER.strip().split(";"), ""])
    same = ingest.content_hash(signature + "\x1f".join(line))
    skip = await ingest.unchanged(
        session, ingest.TIME_RECORDS, keys, [same, same, same, same], scope=None
    )
    assert skip == {0}


async def test_a_first_load_with_keys_sent_again_in_a_later_chunk(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession, via: str
) -> None:
    """A first load's chunks are all new but the one that sends stored keys again: that one
    updates, moves and leaves alone what the earlier chunk inserted, and inserts its new keys,
    while the next chunk is read beside its store."""
    await seed_tree(client)
    lines = _lines(files.CHUNK_ROWS + 10)
    again = [
        lines[1].replace(";8;", ";6;"),  # changed
        lines[2].replace("2024-03-03", "2024-04-05"),  # moved to another month
        lines[3],  # the same again
    ]
    status = await _import(client, settings, via, "".join(lines + again))
    assert status["counts"] == _counts(inserted=files.CHUNK_ROWS + 10, updated=2, unchanged=1)
    rows = (
        await session.execute(
            sa.text(
                "SELECT t.external_id, t.hours::text, t.work_date::text, "
                "t.tableoid::regclass::text, k.work_date::text FROM time_records t "
                "JOIN time_record_keys k USING (source, external_id) "
                "WHERE t.external_id IN ('R1', 'R2', 'R3', 'R10009') ORDER BY 1"
            )
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("R1", "6.00", "2024-03-02", "time_records_p202403", "2024-03-02"),
        ("R10009", "8.00", "2024-03-14", "time_records_p202403", "2024-03-14"),
        ("R2", "8.00", "2024-04-05", "time_records_p202404", "2024-04-05"),
        ("R3", "8.00", "2024-03-04", "time_records_p202403", "2024-03-04"),
    ]
    counted = sa.text(
        "SELECT (SELECT count(*) FROM time_records), (SELECT count(*) FROM time_record_keys)"
    )
    assert tuple((await session.execute(counted)).one()) == (files.CHUNK_ROWS + 10,) * 2


async def test_a_store_failing_while_the_next_chunk_is_read_keeps_nothing(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession, via: str
) -> None:
    """In a first load the next chunk is read while the one before it is stored: a store that
    fails meanwhile (a month whose partition cannot be made) fails the import and keeps
    nothing, and the worker is not left waiting on the chunk being read."""
    await seed_tree(client)
    # A table by the partition's name that is not a partition: the month cannot be made.
    await session.execute(sa.text("DROP TABLE IF EXISTS time_records_p200305"))
    await session.execute(sa.text("CREATE TABLE time_records_p200305 (x int)"))
    await session.commit()
    try:
        march = _lines(files.CHUNK_ROWS)
        may = [line.replace("2024-03-", "2003-05-").replace(";R", ";M") for line in march]
        after = [line.replace(";R", ";A") for line in march[:10]]
        response = await upload(client, (IMPORT_HEADER + "".join(march + may + after)).encode())
        assert response.status_code == 202, response.text
        worker = await asyncio.wait_for(run_worker(settings, via), timeout=60)
        assert worker.jobs_failed == 1
        status = (await client.get(response.headers["location"])).json()
        assert status["status"] != "succeeded", status
        counted = sa.text(
            "SELECT (SELECT count(*) FROM time_records), (SELECT count(*) FROM time_record_keys)"
        )
        assert tuple((await session.execute(counted)).one()) == (0, 0)
    finally:
        await session.rollback()
        await session.execute(sa.text("DROP TABLE IF EXISTS time_records_p200305"))
        await session.commit()


async def test_text_survives_the_child_process_exactly(
    client: httpx.AsyncClient, settings: Settings, via: str
) -> None:
    # Rows from the child travel as COPY text: backslashes, quotes and non-ASCII must arrive
    # as sent, and \N must stay text, not become NULL.
    await seed_tree(client)
    header = "source;external_id;org_unit_code;employee_ref;profession;staff_kind;time_type;"
    header += "work_date;hours;start;end;agency\n"
    line = (
        'heroma;"T\\1\\N";SUS-AKUT;E\\N;nurse;agency;worked;2024-03-31;7,5;'
        '2024-03-31T01:30:00+01:00;2024-03-31T10:00:00+02:00;"Vård ""Bemanning"" AB \u2028x"\n'
    )
    response = await upload(client, (header + line).encode())
    await run_worker(settings, via)
    status = (await client.get(response.headers["location"])).json()
    assert status["counts"]["inserted"] == 1, status
    item = (await client.get("/v1/time-records")).json()["items"][0]
    assert item["external_id"] == "T\\1\\N"
    assert item["agency"] == 'Vård "Bemanning" AB \u2028x'
    assert item["hours"] == "7.50"
    assert (item["start"], item["end"]) == ("2024-03-31T00:30:00Z", "2024-03-31T08:00:00Z")


async def test_a_validator_process_is_kept_for_the_next_file(
    client: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A new validator process spends about 1.5 s importing Puls: one that finished an import,
    # well or with a spoiled file, serves the next; one that died is replaced.
    await seed_tree(client)
    lookups = await ingest.load_lookups(session, None, None, codes=None, sources=None)
    settings = settings.model_copy(update={"import_process_min_bytes": 0})
    good = tmp_path / "good.csv"
    good.write_text(IMPORT_HEADER + "heroma;T1;SUS-AKUT;E1;nurse;own;worked;2024-03-01;8;\n")
    spoiled = tmp_path / "spoiled.csv"
    spoiled.write_text("no;such;columns\n1;2;3\n")

    async def validate(processes: files.ValidatorProcesses, path: Path) -> tuple[int, int]:
        """The validator's pid and the rows it prepared (-1 for a file refused whole)."""
        chunks = files.preparer(
            settings, path, "csv", ingest.TIME_RECORDS, "heroma", lookups, processes
        )
        assert isinstance(chunks, files.ProcessPreparer)
        pid = chunks.process.pid
        assert pid is not None
        try:
            assert await chunks.read() is not None
            prepared = await chunks.prepare(set())
            assert await chunks.read() is None
            return pid, len(prepared.prepared.rows)
        except files.ImportFileError:
            return pid, -1
        finally:
            chunks.close()

    processes = files.ValidatorProcesses()
    try:
        runs = [await validate(processes, path) for path in (good, spoiled, good)]
        assert [rows for _, rows in runs] == [1, -1, 1]
        assert len({pid for pid, _ in runs}) == 1
        first = runs[0][0]
        os.kill(first, signal.SIGKILL)
        while Path(f"/proc/{first}/stat").read_text().split(") ")[1][0] != "Z":
            await asyncio.sleep(0.05)  # dead, not yet reaped: the keeper must notice
        pid, rows = await validate(processes, good)
        assert rows == 1 and pid != first

        # Dead after it was last seen alive: the import still gets a working process.
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z":
            await asyncio.sleep(0.05)
        monkeypatch.setattr(files.ValidatorProcess, "alive", lambda self: True)
        replaced, rows = await validate(processes, good)
        assert rows == 1 and replaced not in (first, pid)
    finally:
        processes.close()


def _uploads(settings: Settings) -> list[Path]:
    return sorted(imports.import_dir(settings).glob("*.upload"))


@pytest.mark.parametrize(
    ("media", "body", "line"),
    [
        ("text/csv", IMPORT_HEADER.rstrip("\n") + ";" + "x" * 2_000 + "\n", 1),
        (
            "text/csv",
            IMPORT_HEADER
            + "heroma;T1;SUS-AKUT;E1;nurse;own;worked;2024-03-01;8;\n"
            + "heroma;T2;SUS-AKUT;E1;nurse;own;worked;2024-03-02;8;"
            + "y" * 5_000,  # no line break to the end of the file
            3,
        ),
        (
            "application/x-ndjson",
            '{"external_id": "N1"}\n{"external_id": "' + "z" * 3_000 + '"}\n',
            2,
        ),
    ],
)
async def test_a_line_longer_than_the_limit_fails_the_import_with_its_number(
    client: httpx.AsyncClient, settings: Settings, media: str, body: str, line: int
) -> None:
    """A file without line breaks (or a runaway line) is not read into memory whole: the
    import fails at that line, stores nothing and its file is removed."""
    await seed_tree(client)
    response = await upload(client, body.encode(), media)
    assert response.status_code == 202, response.text
    await run_worker(settings.model_copy(update={"import_max_line_length": 1_024}))
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "failed", status
    assert status["failure"].startswith(f"line {line} is longer than 1024 characters"), status
    assert (await client.get("/v1/time-records")).json()["items"] == []
    assert _uploads(settings) == []


async def test_a_key_has_at_most_a_few_imports_at_work_and_refusals_keep_no_file(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await seed_tree(client)
    line = "heroma;T{};SUS-AKUT;E1;nurse;own;worked;2024-03-01;8;\n"
    feeder = await create_key(client, ["timedata:write", "read"])
    async with make_client(app, feeder) as feed:
        for n in range(settings.import_max_active_per_key):
            queued = await upload(feed, (IMPORT_HEADER + line.format(n)).encode())
            assert queued.status_code == 202, queued.text
        refused = await upload(feed, (IMPORT_HEADER + line.format(99)).encode())
        problem = assert_problem(refused, 429, "too_many_imports")
        assert "PULS_IMPORT_MAX_ACTIVE_PER_KEY" in problem["detail"]
        assert int(refused.headers["retry-after"]) > 0
        # Another key is not held up by this one's imports.
        assert (await upload(client, (IMPORT_HEADER + line.format(7)).encode())).status_code == 202
        assert len(_uploads(settings)) == settings.import_max_active_per_key + 1
        await run_worker(settings)
        again = await upload(feed, (IMPORT_HEADER + line.format(99)).encode())
        assert again.status_code == 202, again.text


async def test_an_idempotency_conflict_keeps_no_upload_file(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await seed_tree(client)
    key = {"Idempotency-Key": "nightly-file-2024-03-05"}
    body = IMPORT_HEADER + "heroma;T1;SUS-AKUT;E1;nurse;own;worked;2024-03-01;8;\n"

    async def send(text: str) -> httpx.Response:
        return await client.post(
            "/v1/imports",
            params={"kind": "time-records", "source": "heroma"},
            content=text.encode(),
            headers={"content-type": "text/csv", **key},
        )

    first = await send(body)
    assert first.status_code == 202, first.text
    kept = _uploads(settings)
    assert len(kept) == 1
    replayed = await send(body)
    assert replayed.status_code == 202 and replayed.json()["id"] == first.json()["id"]
    other_body = await send(body.replace("T1", "T2"))
    assert_problem(other_body, 422)
    assert _uploads(settings) == kept  # neither the replay's file nor the refused one's


async def test_the_sweep_removes_upload_files_no_live_import_holds(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """A request that died between receiving its file and committing, or a worker that died
    after finishing an import, leaves a file behind: the import sweep removes it once it has
    been left untouched for a while, and never a queued import's file or one being written."""
    await seed_tree(client)
    queued = await upload(
        client, (IMPORT_HEADER + "heroma;T1;SUS-AKUT;E1;nurse;own;worked;2024-03-01;8;\n").encode()
    )
    (live,) = _uploads(settings)
    directory = imports.import_dir(settings)
    orphan, fresh = directory / f"{uuid.uuid4()}.upload", directory / f"{uuid.uuid4()}.upload"
    orphan.write_bytes(b"left by a request that died")
    fresh.write_bytes(b"an upload under way")
    other = directory / "not-an-upload.txt"
    other.write_bytes(b"not ours")
    long_ago = orphan.stat().st_mtime - 3_600
    for path in (orphan, live, other):
        os.utime(path, (long_ago, long_ago))
    from services.worker.tasks.timedata import sweep_imports

    ctx = {"sessionmaker": app.state.sessionmaker, "arq": app.state.arq, "settings": settings}
    await sweep_imports(ctx)
    assert sorted(directory.iterdir()) == sorted([live, fresh, other])
    other.unlink()
    fresh.unlink()
    await run_worker(settings)
    status = (await client.get(queued.headers["location"])).json()
    assert status["status"] == "succeeded" and _uploads(settings) == []
