"""SSRF retest of webhook delivery (OWASP API7): redirects towards internal addresses are never
followed, and a name that resolved to a public address when the subscription was made but to
an internal one when it is time to send (DNS rebinding) is refused before any connection. Name
resolution is the one seam replaced (`ssrf.resolve`); every connection the delivery code opens
is recorded, and one to anything but the local test receiver fails the test."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from fastapi import FastAPI

from services.core.config import Settings
from services.core.webhooks import ssrf, transport
from tests.factories import make_events, subscribe
from tests.jobs import deliver, deliveries
from tests.webhook_receiver import Answer, Receiver, running_receiver

NAME = "hooks.region.test"
PUBLIC = "93.184.216.34"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) delivery connects to; only the loopback receiver is let through."""
    opened: list[tuple[str, int]] = []
    real_connect = transport.connect

    async def recording_connect(
        target: ssrf.Target, address: ssrf.IPAddress, *args: object, **kwargs: object
    ) -> transport.Connection:
        opened.append((str(address), target.port))
        if str(address) != "127.0.0.1":
            raise AssertionError(f"delivery connected to {address}")
        return await real_connect(target, address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transport, "connect", recording_connect)
    return opened


def resolve_as(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        if host == NAME:
            return [ipaddress.ip_address(a) for a in addresses]
        return [ipaddress.ip_address(host)]

    monkeypatch.setattr(ssrf, "resolve", resolve)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_an_internal_address_is_not_followed(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    wh_settings: Settings,
    receiver: Receiver,
    connections: list[tuple[str, int]],
    status: int,
) -> None:
    async with running_receiver() as internal:  # an "internal" service on loopback
        targets = [
            f"http://127.0.0.1:{internal.port}/admin",
            f"http://[::1]:{internal.port}/admin",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://10.0.0.5/internal",
            "http://localhost/",
        ]
        subs = []
        for n, location in enumerate(targets):
            receiver.script(f"/r{n}", Answer(status, headers={"Location": location}))
            subs.append(await subscribe(wh_client, receiver.url(f"/r{n}")))
        await make_events(wh_client, 1)
        await deliver(wh_app, wh_settings)
        assert internal.received == []
    for n, sub in enumerate(subs):
        assert len(receiver.at(f"/r{n}")) == 1
        (item,) = await deliveries(wh_client, sub["id"])
        assert item["status"] == "failed", item
        assert f"HTTP {status}: redirects are not followed" in item["attempts"][0]["error"]
    assert {port for _, port in connections} == {receiver.port}


@pytest.mark.parametrize(
    "at_send_time",
    [
        ["127.0.0.1"],
        ["127.8.9.10"],
        ["10.1.2.3"],
        ["172.16.5.4"],
        ["192.168.1.1"],
        ["100.64.0.1"],  # carrier-grade NAT
        ["169.254.169.254"],
        ["0.0.0.0"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["::ffff:10.0.0.1"],
        ["fe80::1"],
        ["fc00::1"],
        ["fd00:ec2::254"],
        ["64:ff9b::a00:1"],  # 10.0.0.1 through a NAT64 gateway
        ["2002:a00:1::1"],  # 10.0.0.1 through 6to4
        [PUBLIC, "127.0.0.1"],  # one bad record among good ones refuses the name
        ["127.0.0.1", PUBLIC],
    ],
)
async def test_dns_rebinding_to_an_internal_address_is_refused_before_connecting(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[tuple[str, int]],
    at_send_time: list[str],
) -> None:
    resolve_as(monkeypatch, PUBLIC)  # public when the subscription is made
    created = await client.post(
        "/v1/webhooks", json={"url": f"https://{NAME}/hook", "event_types": ["org_unit.*"]}
    )
    assert created.status_code == 201, created.text
    await make_events(client, 1)
    resolve_as(monkeypatch, *at_send_time)  # and internal when it is time to send
    await deliver(app, settings)
    assert connections == []
    (item,) = await deliveries(client, created.json()["id"])
    attempt = item["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith(f"refused: {NAME} (")
    assert "webhooks are not sent there" in attempt["error"]


async def test_metadata_addresses_are_refused_even_where_private_ones_are_allowed(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    wh_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[tuple[str, int]],
) -> None:
    resolve_as(monkeypatch, "10.20.30.40")  # a receiver inside the region's network
    sub = await subscribe(wh_client, f"http://{NAME}/hook")
    await make_events(wh_client, 1)
    resolve_as(monkeypatch, "169.254.169.254")
    await deliver(wh_app, wh_settings)
    assert connections == []
    (item,) = await deliveries(wh_client, sub["id"])
    assert "a cloud metadata address" in item["attempts"][0]["error"]


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f.0.0.1",  # hexadecimal
        "0177.0.0.1",  # octal
        "127.1",  # short form
        "[0:0:0:0:0:ffff:7f00:1]",
        "[::ffff:a9fe:a9fe]",  # 169.254.169.254, IPv4-mapped
        "[64:ff9b::7f00:1]",  # NAT64
        "[2002:7f00:1::]",  # 6to4
        "localhost.",
    ],
)
async def test_loopback_in_disguise_is_refused_at_registration(
    client: httpx.AsyncClient, host: str
) -> None:
    response = await client.post(
        "/v1/webhooks", json={"url": f"https://{host}/hook", "event_types": ["org_unit.*"]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "forbidden_address"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", "a cloud metadata address"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "a loopback address"),
        ("2002:c0a8:101::", "a private address"),  # 192.168.1.1
        ("64:ff9b::5db8:d822", None),  # a public address through NAT64 is public
        ("2002:5db8:d822::1", None),
    ],
)
def test_nat64_and_6to4_addresses_are_judged_by_the_ipv4_address_they_carry(
    address: str, reason: str | None
) -> None:
    assert ssrf.address_refusal(ipaddress.ip_address(address), allow_private=False) == reason
    wrapped_metadata = reason == "a cloud metadata address"
    allowed = ssrf.address_refusal(ipaddress.ip_address(address), allow_private=True)
    assert allowed == (reason if wrapped_metadata else None)
