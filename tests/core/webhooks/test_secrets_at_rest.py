"""Signing secrets are stored encrypted under PULS_SECRETS_KEY (Fernet), signing still works end
to end with the real receiver, and the key can be rotated: old keys still decrypt, `reseal`
moves every secret to the newest key, and a secret under no configured key holds its messages
back instead of failing them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr

from services.cli.main import ROOT
from services.core.config import Settings
from services.core.webhooks import secret_box
from services.core.webhooks import service as webhooks_service
from tests.factories import make_events, subscribe
from tests.jobs import deliver, deliveries
from tests.webhook_receiver import Receiver, verify


def _with_keys(settings: Settings, *keys: bytes) -> Settings:
    return settings.model_copy(
        update={"secrets_key": SecretStr(",".join(k.decode() for k in keys))}
    )


async def _stored(app: FastAPI) -> list[tuple[str, str | None]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.text("SELECT encrypted_secret, encrypted_previous_secret FROM webhook_subscriptions")
        )
        return [(row[0], row[1]) for row in rows.all()]


async def test_secrets_are_stored_encrypted(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    sub = await subscribe(client, "https://hooks.example.org/puls")
    rotated = (await client.post(f"/v1/webhooks/{sub['id']}:rotate-secret", json={})).json()
    ((current, previous),) = await _stored(app)
    assert previous is not None
    for sealed, clear in ((current, rotated["secret"]), (previous, sub["secret"])):
        assert "whsec_" not in sealed and clear.removeprefix("whsec_") not in sealed
        assert secret_box.unseal(settings, sealed) == clear
        # A Fernet token under the configured key, and under no other.
        assert Fernet(settings.secrets_keys[0]).decrypt(sealed.encode()).decode() == clear
    columns = await _column_names(app)
    assert "secret" not in columns and "previous_secret" not in columns


async def _column_names(app: FastAPI) -> set[str]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'webhook_subscriptions'"
            )
        )
        return set(rows.scalars())


async def test_a_key_rotation_keeps_signing_end_to_end(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    """Created under the old key; the new key put first, the secrets resealed, the old key
    dropped: every message is still signed with the subscription's own secret."""
    old_key = wh_settings.secrets_keys[0]
    new_key = Fernet.generate_key()
    sub = await subscribe(wh_client, receiver.url("/rot"))

    both = _with_keys(wh_settings, new_key, old_key)
    await make_events(wh_client, 1, prefix="A")
    await deliver(wh_app, both)  # the old key still decrypts
    (first,) = await receiver.wait_for("/rot", 1)
    assert verify(sub["secret"], first)["data"]["code"] == "A000"

    async with wh_app.state.sessionmaker() as session, session.begin():
        assert await webhooks_service.reseal_secrets(session, both) == 1
    ((sealed, _),) = await _stored(wh_app)
    assert Fernet(new_key).decrypt(sealed.encode()).decode() == sub["secret"]

    only_new = _with_keys(wh_settings, new_key)
    await make_events(wh_client, 1, prefix="B")
    await deliver(wh_app, only_new)
    second = (await receiver.wait_for("/rot", 2))[1]
    assert verify(sub["secret"], second)["data"]["code"] == "B000"
    assert (await wh_client.get(f"/v1/webhooks/{sub['id']}")).json()["version"] == 1


async def test_a_secret_under_no_configured_key_holds_its_messages(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    wh_settings: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sub = await subscribe(wh_client, receiver.url("/held"))
    await make_events(wh_client, 1)
    wrong = _with_keys(wh_settings, Fernet.generate_key())
    with caplog.at_level(logging.ERROR, logger="puls.webhooks"):
        await deliver(wh_app, wrong)
    # Said as the configuration error it is (no traceback of a "failed delivery").
    logged = [r for r in caplog.records if r.name == "puls.webhooks"]
    assert logged and all(
        "unreadable with PULS_SECRETS_KEY" in r.getMessage() and not r.exc_info for r in logged
    )
    assert receiver.at("/held") == []
    (item,) = await deliveries(wh_client, sub["id"])
    assert item["status"] == "pending" and item["attempts"] == []

    async with wh_app.state.sessionmaker() as session, session.begin():
        with pytest.raises(secret_box.SecretUnreadable, match="PULS_SECRETS_KEY"):
            await webhooks_service.reseal_secrets(session, wrong)

    await deliver(wh_app, wh_settings)  # the key is back: sent, nothing lost
    (request,) = await receiver.wait_for("/held", 1)
    verify(sub["secret"], request)


def _reseal_cli(settings: Settings, secrets_key: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PULS_SECRETS_KEY": secrets_key,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "webhooks", "reseal-secrets"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_puls_webhooks_reseal_secrets_moves_them_to_the_newest_key(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    sub = await subscribe(client, "https://hooks.example.org/puls")
    old_key = settings.secrets_keys[0].decode()
    new_key = Fernet.generate_key().decode()

    refused = _reseal_cli(settings, Fernet.generate_key().decode())
    assert refused.returncode == 1 and "nothing changed" in refused.stderr
    ((unchanged, _),) = await _stored(app)
    assert secret_box.unseal(settings, unchanged) == sub["secret"]

    done = _reseal_cli(settings, f"{new_key},{old_key}")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted the secrets of 1 webhook subscriptions" in done.stdout
    ((sealed, _),) = await _stored(app)
    assert Fernet(new_key.encode()).decrypt(sealed.encode()).decode() == sub["secret"]
