"""`puls webhooks listen` verifies what it receives (checked against messages signed here and by
the standardwebhooks package)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import httpx
import standardwebhooks

from services.cli.webhooks import serve
from services.core.webhooks import signing


async def test_listen_verifies_and_prints() -> None:
    secret = signing.generate_secret()
    lines: list[str] = []
    server = await serve("127.0.0.1", 0, secret, lines.append)
    port = server.sockets[0].getsockname()[1]
    body = json.dumps({"type": "webhook.ping", "timestamp": "x", "data": {}}).encode()
    ours = signing.headers([secret], "msg_1", int(time.time()), body)
    theirs_sig = standardwebhooks.Webhook(secret).sign("msg_2", datetime.now(UTC), body.decode())
    theirs = {**ours, "webhook-id": "msg_2", "webhook-signature": theirs_sig}
    forged = {**ours, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.post("/", content=body, headers=ours)).status_code == 204
        assert (await client.post("/", content=body, headers=theirs)).status_code == 204
        assert (await client.post("/", content=body, headers=forged)).status_code == 401
    verdicts = [json.loads(line)["signature"] for line in lines]
    assert verdicts == ["verified", "verified", "refused: no signature matches the secret"]
    assert json.loads(lines[0])["message"]["type"] == "webhook.ping"
