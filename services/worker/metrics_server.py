"""The worker's own /metrics and /healthz on a separate port (asyncio, no web framework)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


async def start(ctx: dict[str, Any], host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path == "/metrics":
                await _refresh_queue_depth(ctx)
                body = generate_latest(ctx["metrics"].registry)
                status, content_type = "200 OK", CONTENT_TYPE_LATEST
            elif path == "/healthz":
                body, status, content_type = b'{"status":"ok"}', "200 OK", "application/json"
            else:
                body, status, content_type = b'{"status":404}', "404 Not Found", "application/json"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def _refresh_queue_depth(ctx: dict[str, Any]) -> None:
    try:
        depth = await ctx["redis"].zcard(ctx["settings"].queue_name)
        ctx["metrics"].queue_depth.set(depth)
    except Exception:
        pass
