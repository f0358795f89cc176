from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from services.cli.main import ROOT
from services.core.config import Settings, describe_settings_error
from tests.conftest import make_client


def test_bad_values_are_named_clearly() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(DATABASE_URL="mysql://x", api_port=0, env="staging")
    message = describe_settings_error(caught.value)
    assert "DATABASE_URL: Value error, must be a postgresql:// URL" in message
    assert "PULS_API_PORT" in message and "PULS_ENV" in message


def test_production_requires_a_pseudonym_key() -> None:
    with pytest.raises(ValidationError, match="PULS_PSEUDONYM_KEY is required"):
        Settings(env="production")
    assert Settings(env="production", pseudonym_key="k").env == "production"


def test_cli_exits_with_the_message_on_bad_settings() -> None:
    env = {**os.environ, "PULS_API_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid configuration:" in result.stderr
    assert "PULS_API_PORT" in result.stderr


async def test_cli_keys_create_prints_a_working_token(app: FastAPI, settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "keys",
            "create",
            "--name",
            "ops",
            "--scope",
            "read",
            "--scope",
            "persondata:read",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
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
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "openapi", "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with open(out) as written, open(ROOT / "openapi" / "openapi.json") as committed:
        assert written.read() == committed.read()
