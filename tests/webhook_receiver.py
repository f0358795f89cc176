"""A real HTTP/1.1 receiver on 127.0.0.1 for webhook tests: records every request and answers
as each test scripts it (status codes, Retry-After, slowness, no answer, huge bodies)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import standardwebhooks


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    hang: bool = False  # read the request, never answer
    body_size: int | None = None  # stream this many bytes of body instead


Script = Callable[[Received], Answer]


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, Script] = {}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, script: Script | Answer) -> None:
        if isinstance(script, Answer):
            answer = script

            def fixed(_request: Received) -> Answer:
                return answer

            script = fixed
        self.scripts[path] = script

    def release_hung(self) -> None:
        self._release.set()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {len(self.at(path))} of {count} requests arrived")
            await asyncio.sleep(0.02)
        return self.at(path)

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                parts = line.decode("latin-1").split()
                path = parts[1] if len(parts) > 1 else "/"
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body, time.monotonic())
                self.received.append(request)
                script = self.scripts.get(path)
                answer = script(request) if script else Answer()
                if answer.hang:
                    await self._release.wait()
                    return
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                size = answer.body_size if answer.body_size is not None else len(answer.body)
                head = f"HTTP/1.1 {answer.status} X\r\nContent-Length: {size}\r\n"
                for name, value in answer.headers.items():
                    head += f"{name}: {value}\r\n"
                writer.write((head + "\r\n").encode())
                if answer.body_size is None:
                    writer.write(answer.body)
                else:
                    chunk = b"x" * 65536
                    for _ in range(answer.body_size // len(chunk)):
                        writer.write(chunk)
                        await writer.drain()
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def verify(secret: str, request: Received) -> Any:
    """The independent check: the official standardwebhooks package."""
    return standardwebhooks.Webhook(secret).verify(request.body, request.headers)
