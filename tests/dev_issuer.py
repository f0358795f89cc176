"""The development OIDC issuer served over real HTTP on 127.0.0.1 (uvicorn in a thread), for
the sign-in tests: the API fetches its discovery document and keys as it would Entra ID's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from services.devissuer.app import DevIssuer, refuse_outside_development
from tests.api_process import free_port


@contextmanager
def running_issuer() -> Iterator[DevIssuer]:
    refuse_outside_development("test", "127.0.0.1")
    issuer = DevIssuer()
    port = free_port()
    issuer.issuer = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            issuer, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the development issuer did not start")
            time.sleep(0.02)
        yield issuer
    finally:
        server.should_exit = True
        thread.join(10)


def token_from(dev: DevIssuer, person: str = "JH", **form: str) -> str:
    """A token from the issuer's token endpoint, over HTTP as `puls dev token` gets one."""
    response = httpx.post(f"{dev.issuer}/token", data={"person": person, **form}, timeout=5)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token
