"""A deliberately small HTTP/1.1 client for webhook POSTs.

Why not httpx here: delivery needs a connection to an exact, already-checked IP address with
the name only in `Host` and TLS SNI, a hard deadline over the whole exchange, a cap on how much
of the answer is read (never parsed), no redirects and no proxies from the environment; and
on this machine httpx managed ~300 requests/s where plain asyncio streams do several thousand.
The client writes one request, reads the status, the headers and at most `max_body` bytes, and
keeps the connection only when the answer's framing was read completely."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from services.core.webhooks import ssrf

MAX_HEADER_BYTES = 64 * 1024


class TransportError(Exception):
    """The exchange failed before a complete status and headers arrived."""


class ConnectTimeout(TransportError):
    pass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body_bytes: int
    oversized: bool


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reusable: bool = True
    used: int = field(default=0)

    def close(self) -> None:
        self.writer.close()


_TLS: dict[str | None, ssl.SSLContext] = {}


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    if ca_file not in _TLS:
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        _TLS[ca_file] = context
    return _TLS[ca_file]


async def connect(
    target: ssrf.Target,
    address: ssrf.IPAddress,
    connect_timeout: float,
    ca_file: str | None = None,
) -> Connection:
    https = target.scheme == "https"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                str(address),
                target.port,
                ssl=_tls_context(ca_file) if https else None,
                # Certificate and SNI are for the name, the socket goes to the checked address.
                server_hostname=target.host if https else None,
                limit=MAX_HEADER_BYTES,
            ),
            timeout=connect_timeout,
        )
    except TimeoutError:
        raise ConnectTimeout(f"connect timed out after {connect_timeout:g} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise TransportError(f"connection error: {exc}") from None
    return Connection(reader, writer)


def _request(target: ssrf.Target, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {ssrf.host_header(target)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: keep-alive", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    while True:
        status_line = await reader.readline()
        if not status_line:
            raise TransportError("connection closed before an answer")
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TransportError("the answer is not HTTP/1.x")
        status = int(parts[1])
        headers: dict[str, str] = {}
        size = 0
        while True:
            line = await reader.readline()
            size += len(line)
            if size > MAX_HEADER_BYTES:
                raise TransportError("answer headers too large")
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise TransportError("connection closed inside the answer headers")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200 and status != 101:
            continue  # interim answers (100 Continue, 103 Early Hints)
        return status, parts[0], headers


async def _read_body(
    reader: asyncio.StreamReader, status: int, version: str, headers: dict[str, str], limit: int
) -> tuple[int, bool, bool]:
    """(bytes read, oversized, framing complete so the connection may be reused)."""
    if status in (204, 304):
        return 0, False, True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise TransportError("malformed chunked answer") from None
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return total, False, True
            total += size
            if total > limit:
                return total, True, False
            await reader.readexactly(size + 2)
    length = headers.get("content-length", "")
    if length.isdigit():
        n = int(length)
        if n > limit:
            return n, True, False
        await reader.readexactly(n)
        return n, False, version == "HTTP/1.1" or "keep-alive" in headers.get("connection", "")
    total = 0
    while chunk := await reader.read(65536):  # delimited by close
        total += len(chunk)
        if total > limit:
            return total, True, False
    return total, False, False


async def exchange(
    connection: Connection, target: ssrf.Target, headers: dict[str, str], body: bytes, limit: int
) -> Answer:
    """One request/answer on `connection`. The caller bounds it with a deadline."""
    connection.used += 1
    try:
        connection.writer.write(_request(target, headers, body))
        await connection.writer.drain()
        status, version, answer_headers = await _read_head(connection.reader)
        received, oversized, complete = await _read_body(
            connection.reader, status, version, answer_headers, limit
        )
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        connection.reusable = False
        raise TransportError(f"connection error: {exc or type(exc).__name__}") from None
    except TransportError:
        connection.reusable = False
        raise
    if not complete or "close" in answer_headers.get("connection", "").lower():
        connection.reusable = False
    return Answer(status, answer_headers, received, oversized)
