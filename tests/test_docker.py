"""No Docker engine runs here, so the image is checked by what can run without one: the
entrypoint script's roles against the real database, and the compose file's wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from services.cli.main import ROOT
from services.core.config import Settings
from tests import harness

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _env(**extra: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", **extra}


def test_entrypoint_migrate_role_upgrades_an_empty_database() -> None:
    server = harness.server_database_url()
    name = harness.unique_database_name("docker")
    url = harness.create_database(server, name)
    try:
        result = subprocess.run(
            ["sh", str(ENTRYPOINT), "migrate"],
            cwd=ROOT,
            env=_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "database at heads" in result.stdout
    finally:
        harness.drop_database(server, name)


def test_entrypoint_passes_other_commands_through() -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "echo", "hej"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
    )
    assert result.stdout == "hej\n"


def test_entrypoint_worker_role_fails_clearly_on_bad_settings() -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "worker"],
        cwd=ROOT,
        env=_env(REDIS_URL="http://nope"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "REDIS_URL: Value error" in result.stderr


def test_compose_wires_migrate_before_api_and_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "prometheus",
        "grafana",
    }
    for name in ("postgres", "redis", "api", "worker", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["migrate"]
    env = services["api"]["environment"]
    assert Settings(DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"])


def test_dockerfile_is_multi_stage_non_root_and_uv_installed() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2
    assert "USER puls" in text
    assert "uv sync --frozen --no-default-groups" in text
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
