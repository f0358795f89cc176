"""The catching SMTP server of `puls run`: accepts every message on 127.0.0.1 and stores it as
an .eml file under .puls/mail/, so development sees what the worker would send."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):06d}.eml"
        (self.directory / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start(directory: Path, port: int) -> Controller:
    """Starts the server in a thread of this process; `.stop()` ends it."""
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Store(directory), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
