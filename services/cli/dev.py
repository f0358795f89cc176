"""`puls dev`: the development issuer and tokens for its named test people."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from services.core.auth import service as auth_service
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.people import service as people_service
from services.core.people.schemas import PersonCreate
from services.devissuer.app import PEOPLE, TestPerson

app = typer.Typer(no_args_is_help=True, help="Development helpers (never in production).")


def _settings() -> Settings:
    from services.cli.main import load_settings

    return load_settings()


def _refuse_in_production(settings: Settings) -> None:
    if settings.env == "production":
        typer.echo("puls dev is for development; PULS_ENV=production", err=True)
        raise typer.Exit(2)


@app.command("issuer")
def issuer(
    port: Annotated[int | None, typer.Option(help="Default: PULS_DEV_ISSUER_PORT.")] = None,
) -> None:
    """Serve the development OIDC issuer on 127.0.0.1 (discovery, JWKS, token endpoint)."""
    from services.devissuer.server import serve  # uvicorn only for the command that serves

    settings = _settings()
    _refuse_in_production(settings)
    data_dir = Path(os.environ.get("PULS_DATA_DIR", settings.data_dir))
    serve(
        env=settings.env,
        host="127.0.0.1",
        port=port or settings.dev_issuer_port,
        key_file=data_dir / "dev-issuer-key.json",
    )


@app.command("token")
def token(
    person: Annotated[str, typer.Option(help=f"Initials: {', '.join(sorted(PEOPLE))}.")],
    roles: Annotated[
        str | None, typer.Option(help="Comma-separated roles instead of the person's.")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Confine the token to this org unit.")] = None,
    link: Annotated[
        bool, typer.Option(help="Register the person in Puls (with the token's subject).")
    ] = True,
) -> None:
    """Print an access token of a test person from the running development issuer
    (`make run` starts it), for `Authorization: Bearer <token>`."""
    settings = _settings()
    _refuse_in_production(settings)
    test_person = PEOPLE.get(person.upper())
    if test_person is None:
        typer.echo(f"unknown test person {person!r}; known: {', '.join(sorted(PEOPLE))}", err=True)
        raise typer.Exit(2)
    base = settings.oidc_issuer or f"http://127.0.0.1:{settings.dev_issuer_port}"
    form = {"person": test_person.initials, "audience": settings.oidc_audience or "puls"}
    if roles is not None:
        form["roles"] = roles
    if unit is not None:
        form["unit"] = unit
    try:
        response = httpx.post(f"{base}/token", data=form, timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(
            f"the development issuer at {base} did not answer ({exc}); run `make run`", err=True
        )
        raise typer.Exit(1) from None
    if link:
        asyncio.run(_register(settings, test_person))
    typer.echo(response.json()["access_token"])


async def _register(settings: Settings, person: TestPerson) -> None:
    """The test person as a person in Puls, once (their subject is what links the token)."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            if await people_service.for_sign_in(session, person.subject, email=None) is None:
                await people_service.create(
                    session,
                    auth_service.bootstrap_principal(),
                    PersonCreate(
                        name=person.name,
                        initials=person.initials,
                        email=person.email,
                        subject=person.subject,
                    ),
                )
    finally:
        await engine.dispose()
