"""The catching SMTP server `puls run` starts: what the worker sends lands as .eml files."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from services.cli import mailcatcher
from tests.smtp_server import free_port


async def test_caught_mail_is_stored_as_eml_files(tmp_path: Path) -> None:
    port = free_port()
    catcher = mailcatcher.start(tmp_path / "mail", port)
    try:
        for n in (1, 2):
            message = EmailMessage()
            message["From"], message["To"] = "puls@localhost", "jh@example.org"
            message["Subject"] = f"Påminnelse {n}"
            message.set_content("Hej!")
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    finally:
        catcher.stop()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert [f.name[-10:] for f in files] == ["000001.eml", "000002.eml"]
    assert b"Subject: =?utf-8?q?P=C3=A5minnelse?= 1" in files[0].read_bytes()
