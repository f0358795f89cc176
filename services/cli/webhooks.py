"""`puls webhooks listen`: a receiver for people wiring up a subscription. It verifies each
message's Standard Webhooks signature with the subscription's secret and prints it.
`puls webhooks reseal-secrets`: re-encrypts the stored signing secrets with the newest key of
PULS_SECRETS_KEY (a key rotation, docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Annotated

import typer

from services.core.config import describe_settings_error, get_settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.webhooks import secret_box, signing
from services.core.webhooks import service as webhooks_service

app = typer.Typer(no_args_is_help=True, help="Webhook tools.")
TOLERANCE_SECONDS = 300


def check(secret: str | None, body: bytes, headers: dict[str, str]) -> str:
    """'verified', 'unsigned (no secret given)' or why the message is refused."""
    if secret is None:
        return "unsigned (no secret given)"
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return "refused: timestamp missing or more than 5 minutes off"
    if not signing.verify(secret, body, headers):
        return "refused: no signature matches the secret"
    return "verified"


async def serve(
    host: str, port: int, secret: str | None, emit: Callable[[str], None]
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                parts = line.decode("latin-1").split()
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length > 10 * 1024 * 1024:
                    return
                body = await reader.readexactly(length)
                verdict = check(secret, body, headers)
                ok = not verdict.startswith("refused")
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = body.decode("utf-8", "replace")
                emit(
                    json.dumps(
                        {
                            "path": parts[1] if len(parts) > 1 else "/",
                            "webhook_id": headers.get("webhook-id"),
                            "signature": verdict,
                            "message": parsed,
                        },
                        ensure_ascii=False,
                    )
                )
                status = "204 No Content" if ok else "401 Unauthorized"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


@app.command("listen")
def listen(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="PULS_WEBHOOK_SECRET", help="The subscription's whsec_… secret, to verify."
        ),
    ] = None,
) -> None:
    """Receive webhooks, verify their signatures and print them, one JSON line each. Answers
    204 to verified messages and 401 to others. Point a subscription at it with
    PULS_WEBHOOKS_ALLOW_HTTP=true and PULS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true (development)."""

    def emit(line: str) -> None:
        print(line, flush=True)

    async def main() -> None:
        server = await serve(host, port, secret, emit)
        typer.echo(f"listening on http://{host}:{port}/ (Ctrl-C stops)", err=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)


@app.command("reseal-secrets")
def reseal_secrets() -> None:
    """Re-encrypt every stored signing secret with the first key of PULS_SECRETS_KEY, so the
    older keys after it can be dropped (docs/security.md, rotating PULS_SECRETS_KEY)."""
    try:
        settings = get_settings()
    except Exception as exc:
        typer.echo(describe_settings_error(exc), err=True)
        raise typer.Exit(2) from None

    async def run() -> int:
        engine = create_engine(settings, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await webhooks_service.reseal_secrets(session, settings)
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(run())
    except secret_box.SecretUnreadable as exc:
        typer.echo(f"nothing changed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"re-encrypted the secrets of {count} webhook subscriptions")
