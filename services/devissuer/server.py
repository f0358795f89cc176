"""Serving the development issuer with uvicorn (`puls dev issuer`, started by `puls run`)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from services.devissuer.app import DevIssuer, refuse_outside_development


def serve(*, env: str, host: str, port: int, key_file: Path) -> None:
    refuse_outside_development(env, host)
    issuer = DevIssuer.persistent(key_file)
    issuer.issuer = f"http://{host}:{port}"
    uvicorn.run(issuer, host=host, port=port, log_config=None, access_log=False, lifespan="on")
