"""https delivery goes to the checked address with the name in Host and TLS SNI (certificate
verified for the name), and a name that re-resolves to a forbidden address at send time is
refused (DNS rebinding). Name resolution is the only thing replaced here: the receiver, TLS and
HTTP are real."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.core.config import Settings
from services.core.webhooks import ssrf
from tests.factories import make_events, subscribe
from tests.jobs import deliver, deliveries
from tests.webhook_receiver import Receiver, running_receiver, verify

NAME = "hooks.puls.test"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", f"/CN={NAME}"]
        + ["-addext", f"subjectAltName=DNS:{NAME}"],
        check=True,
        capture_output=True,
    )
    return cert, key


def _resolve_to(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        if host == NAME:
            return [ipaddress.ip_address(address)]
        return [ipaddress.ip_address(host)]

    monkeypatch.setattr(ssrf, "resolve", resolve)


async def test_https_to_the_pinned_address_with_sni_and_host(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    wh_settings: Settings,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []

    def remember(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = remember
    _resolve_to(monkeypatch, "127.0.0.1")
    receiver = Receiver()
    await receiver.start(tls=server_tls)
    try:
        sub = await subscribe(wh_client, f"https://{NAME}:{receiver.port}/tls")
        await make_events(wh_client, 1)
        trusting = wh_settings.model_copy(update={"webhooks_ca_file": str(cert)})
        await deliver(wh_app, trusting)
        (request,) = await receiver.wait_for("/tls", 1)
        verify(sub["secret"], request)
        assert request.headers["host"] == f"{NAME}:{receiver.port}"
        assert names == [NAME]

        # Without trusting that certificate the attempt fails (verification is on).
        await make_events(wh_client, 1, prefix="B")
        await deliver(wh_app, wh_settings)
        newest = (await deliveries(wh_client, sub["id"]))[0]
        assert newest["status"] == "pending"
        assert "CERTIFICATE_VERIFY_FAILED" in newest["attempts"][0]["error"]
    finally:
        await receiver.stop()


async def test_dns_rebinding_to_loopback_is_refused_at_send_time(
    client: httpx.AsyncClient, settings: Settings, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_receiver() as receiver:
        _resolve_to(monkeypatch, "93.184.216.34")  # public when the subscription is made
        sub = (
            await client.post(
                "/v1/webhooks",
                json={"url": f"https://{NAME}:{receiver.port}/x", "event_types": ["org_unit.*"]},
            )
        ).json()
        assert "id" in sub, sub
        await make_events(client, 1)
        _resolve_to(monkeypatch, "127.0.0.1")  # and loopback when it is time to send
        await deliver(app, settings)
        assert receiver.received == []
        (item,) = await deliveries(client, sub["id"])
        assert "loopback" in item["attempts"][0]["error"]
        assert item["attempts"][0]["status_code"] is None
