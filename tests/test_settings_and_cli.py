from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import ValidationError

from services.cli.main import ROOT
from services.core.config import MIN_SECRET_LENGTH, Settings, describe_settings_error
from tests.conftest import make_client


def test_bad_values_are_named_clearly() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(DATABASE_URL="mysql://x", api_port=0, env="staging")
    message = describe_settings_error(caught.value)
    assert "DATABASE_URL: Value error, must be a postgresql:// URL" in message
    assert "PULS_API_PORT" in message and "PULS_ENV" in message


LONG_ENOUGH = "k" * MIN_SECRET_LENGTH
# A fixed key (not a generated one: xdist's processes must collect the same parameters).
SECRETS_KEY = "dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy0tLS0tLS0="


def _puls(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `puls` command in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_requires_a_pseudonym_key() -> None:
    with pytest.raises(ValidationError, match="PULS_PSEUDONYM_KEY is required"):
        Settings(env="production", secrets_key=SECRETS_KEY)
    assert (
        Settings(env="production", pseudonym_key=LONG_ENOUGH, secrets_key=SECRETS_KEY).env
        == "production"
    )


@pytest.mark.parametrize("variable", ["pseudonym_key", "bootstrap_api_key"])
def test_production_refuses_short_secrets_naming_the_variable(variable: str) -> None:
    secrets: dict[str, Any] = {
        "pseudonym_key": LONG_ENOUGH,
        variable: "k" * (MIN_SECRET_LENGTH - 1),
    }
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", secrets_key=SECRETS_KEY, **secrets)
    message = describe_settings_error(caught.value)
    assert f"PULS_{variable.upper()} must be at least {MIN_SECRET_LENGTH} characters" in message
    # Development and tests keep short keys (make run, the test harness).
    assert Settings(env="development", **secrets).env == "development"
    production = {**secrets, variable: LONG_ENOUGH}
    assert Settings(env="production", secrets_key=SECRETS_KEY, **production).env == "production"


def test_production_serves_no_docs_unless_enabled() -> None:
    production = Settings(env="production", pseudonym_key=LONG_ENOUGH, secrets_key=SECRETS_KEY)
    assert not production.serves_docs
    assert Settings(
        env="production", pseudonym_key=LONG_ENOUGH, secrets_key=SECRETS_KEY, docs_enabled=True
    ).serves_docs
    assert Settings(env="development").serves_docs
    assert not Settings(env="development", docs_enabled=False).serves_docs


def test_the_worker_metrics_listen_on_loopback_unless_configured() -> None:
    assert Settings().worker_metrics_host == "127.0.0.1"


def test_production_requires_a_secrets_key() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", pseudonym_key=LONG_ENOUGH)
    assert "PULS_SECRETS_KEY is required when PULS_ENV=production" in describe_settings_error(
        caught.value
    )


@pytest.mark.parametrize(
    "value",
    ["not-a-key", SECRETS_KEY[:-4], SECRETS_KEY + "," + "x" * 44, SECRETS_KEY + ",", "Zm9v"],
    ids=["not-base64", "short", "second-not-a-key", "empty-second", "three-bytes"],
)
def test_a_malformed_secrets_key_is_named_and_not_echoed(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(secrets_key=value)
    message = describe_settings_error(caught.value)
    assert "PULS_SECRETS_KEY: Value error" in message and "not a Fernet key" in message
    assert value not in str(caught.value) and value not in message


def test_secrets_keys_newest_first_and_a_stable_development_key() -> None:
    older = Fernet.generate_key().decode()
    keys = Settings(secrets_key=f"{SECRETS_KEY}, {older}").secrets_keys
    assert keys == [SECRETS_KEY.encode(), older.encode()]
    # Unset outside production: one key derived from a fixed label, the same in every process
    # (what development stored stays readable after a restart).
    derived = Settings(env="development").secrets_keys
    assert derived == Settings(env="test").secrets_keys and len(derived) == 1
    Fernet(derived[0])


def test_cli_refuses_to_start_in_production_without_a_secrets_key() -> None:
    env = {**os.environ, "PULS_ENV": "production", "PULS_PSEUDONYM_KEY": "k" * 32}
    env.pop("PULS_SECRETS_KEY", None)
    result = _puls("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "PULS_SECRETS_KEY is required" in result.stderr


def test_cli_exits_with_the_message_on_bad_settings() -> None:
    env = {**os.environ, "PULS_API_PORT": "not-a-port"}
    result = _puls("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "Invalid configuration:" in result.stderr
    assert "PULS_API_PORT" in result.stderr


async def test_cli_keys_create_prints_a_working_token(app: FastAPI, settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }
    result = _puls(
        "keys", "create", "--name", "ops", "--scope", "read", "--scope", "persondata:read", env=env
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("puls_")
    async with make_client(app, token) as client:
        assert (await client.get("/v1/events")).status_code == 200
        assert (await client.get("/v1/time-records")).status_code == 200
        assert (await client.post("/v1/api-keys", json={})).status_code == 403


def test_openapi_command_writes_the_contract(tmp_path: object) -> None:
    out = os.path.join(str(tmp_path), "openapi.json")
    result = _puls("openapi", "--out", out)
    assert result.returncode == 0, result.stderr
    with open(out) as written, open(ROOT / "openapi" / "openapi.json") as committed:
        assert written.read() == committed.read()
