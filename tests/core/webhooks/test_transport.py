"""The delivery's HTTP/1.1 client against a real socket server answering raw bytes: framings
(length, chunked, until close), interim answers, keep-alive reuse and its limits."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from services.core.webhooks import ssrf, transport

LOCAL = ipaddress.ip_address("127.0.0.1")


@asynccontextmanager
async def raw_server(
    answer: Callable[[int], bytes], *, close_after: bool = False
) -> AsyncIterator[tuple[int, list[int]]]:
    """Answers the n-th request on a connection with answer(n); closes when that is empty (or
    after each answer with `close_after`)."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        n = 0
        try:
            while await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line[15:])
                await reader.readexactly(length)
                data = answer(n)
                n += 1
                if not data:
                    break
                writer.write(data)
                await writer.drain()
                if close_after:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], connections


async def _post(port: int, connection: transport.Connection | None = None) -> transport.Answer:
    target = ssrf.parse_url(f"http://127.0.0.1:{port}/x", allow_http=True)
    conn = connection or await transport.connect(target, LOCAL, 1.0)
    return await transport.exchange(conn, target, {"webhook-id": "msg_1"}, b"{}", 65536)


@pytest.mark.parametrize(
    ("raw", "status", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, True),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            202,
            True,
        ),
        (b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 503, False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, False),
    ],
)
async def test_framings(raw: bytes, status: int, reusable: bool) -> None:
    async with raw_server(lambda _n: raw) as (port, _):
        target = ssrf.parse_url(f"http://127.0.0.1:{port}/x", allow_http=True)
        conn = await transport.connect(target, LOCAL, 1.0)
        answer = await _post(port, conn)
        assert answer.status == status and not answer.oversized
        assert conn.reusable is reusable
        conn.close()


async def test_body_delimited_by_close_and_oversized_chunks() -> None:
    close_delimited = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1000
    async with raw_server(lambda _n: close_delimited, close_after=True) as (port, _):
        answer = await _post(port)
        assert answer.status == 200 and answer.body_bytes == 1000
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"20000\r\n" + b"y" * 70000
    async with raw_server(lambda _n: chunked) as (port, _):
        assert (await _post(port)).oversized


async def test_keep_alive_is_reused_and_garbage_is_an_error() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(lambda _n: ok) as (port, connections):
        target = ssrf.parse_url(f"http://127.0.0.1:{port}/x", allow_http=True)
        conn = await transport.connect(target, LOCAL, 1.0)
        for _ in range(3):
            assert (await _post(port, conn)).status == 200
        assert len(connections) == 1
        conn.close()
    async with raw_server(lambda _n: b"SMTP ready\r\n\r\n", close_after=True) as (port, _):
        with pytest.raises(transport.TransportError):
            await _post(port)
    async with raw_server(lambda _n: b"") as (port, _):
        with pytest.raises(transport.TransportError):
            await _post(port)


async def test_refused_connection_is_an_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(transport.TransportError):
        await _post(port)
