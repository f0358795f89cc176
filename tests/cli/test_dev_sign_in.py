"""The OIDC settings refuse what would be unsafe, the development issuer refuses production and
other hosts, and `puls dev token` prints a token the API accepts for a registered test person."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.api.app import create_app
from services.cli.main import ROOT, _with_dev_issuer
from services.core.config import MIN_SECRET_LENGTH, Settings
from services.devissuer.app import DEV_ROLE_SCOPES, refuse_outside_development
from tests.conftest import make_client
from tests.dev_issuer import running_issuer

SECRETS_KEY = "dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy0tLS0tLS0="


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS512", "rs256"])
def test_only_asymmetric_algorithms_can_be_configured(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="asymmetric algorithms only"):
        Settings(oidc_algorithms=["RS256", algorithm])


def test_incomplete_or_unsafe_oidc_settings_stop_the_start() -> None:
    with pytest.raises(ValidationError, match="PULS_OIDC_AUDIENCE is required"):
        Settings(oidc_issuer="https://login.example.org/tenant/v2.0")
    with pytest.raises(ValidationError, match="unknown scopes superuser"):
        Settings(oidc_role_scopes={"boss": ["read", "superuser"]})
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        Settings(
            env="production",
            pseudonym_key="k" * MIN_SECRET_LENGTH,
            secrets_key=SECRETS_KEY,
            oidc_issuer="http://login.example.org",
            oidc_audience="puls",
        )
    assert Settings(
        oidc_issuer="https://login.example.org", oidc_audience="puls"
    ).oidc_algorithms == ["RS256", "PS256", "ES256"]


def test_the_development_issuer_refuses_production_and_other_hosts() -> None:
    with pytest.raises(RuntimeError, match="never runs with PULS_ENV=production"):
        refuse_outside_development("production", "127.0.0.1")
    with pytest.raises(RuntimeError, match="binds 127.0.0.1 only"):
        refuse_outside_development("development", "0.0.0.0")
    refused = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "dev", "issuer"],
        cwd=ROOT,
        env={
            **os.environ,
            "PULS_ENV": "production",
            "PULS_PSEUDONYM_KEY": "k" * MIN_SECRET_LENGTH,
            "PULS_SECRETS_KEY": SECRETS_KEY,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "PULS_ENV=production" in refused.stderr


async def test_puls_dev_token_signs_a_test_person_in(settings: Settings) -> None:
    with running_issuer() as issuer:
        printed = subprocess.run(
            [sys.executable, "-m", "services.cli.main", "dev", "token", "--person", "jh"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": settings.database_url,
                "PULS_OIDC_ISSUER": issuer.issuer,
                "PULS_OIDC_AUDIENCE": "puls",
                "PULS_LOG_LEVEL": "WARNING",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert printed.returncode == 0, printed.stderr
        token = printed.stdout.strip()
        assert token.count(".") == 2
        app = create_app(
            settings.model_copy(
                update={
                    "oidc_issuer": issuer.issuer,
                    "oidc_audience": "puls",
                    "oidc_role_scopes": DEV_ROLE_SCOPES,
                }
            )
        )
        async with app.router.lifespan_context(app), make_client(app, token) as jh:
            me = (await jh.get("/v1/me")).json()
    assert me["auth_method"] == "oidc" and me["scopes"] == ["admin"]
    assert me["person"]["initials"] == "JH" and me["person"]["subject"] == "dev-jh"


def test_make_run_points_the_api_at_the_development_issuer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env: dict[str, str] = {}
    assert _with_dev_issuer(env) is True
    assert env["PULS_OIDC_ISSUER"] == "http://127.0.0.1:8001"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.oidc_audience == "puls" and settings.oidc_unit_claim == "puls_unit"
    assert settings.oidc_role_scopes == DEV_ROLE_SCOPES
    # An issuer of the operator's own, or production: no development issuer.
    assert _with_dev_issuer({"PULS_OIDC_ISSUER": "https://login.example.org"}) is False
    assert _with_dev_issuer({"PULS_ENV": "production"}) is False
