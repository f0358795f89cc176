"""Deprecated input still accepted for one version, and said so in the answer.

Validation notes what it let through (a whole JSON number where money is a decimal string);
the API answers the request with a `Warning: 299` header per use, as Kubernetes does for
deprecated fields, so an integration sees it in its logs before the next version refuses it.
Framework-free: the API's middleware opens a collection per request, validators note into it
(from the request's task, or a thread running in a copy of its context: the list is shared),
and work validated in another process hands its notes back (`ingest.Prepared.deprecations`)."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar, Token

# The deprecated uses noted while handling the current request; None outside one (a worker's
# file import), where noting does nothing.
_noted: ContextVar[list[str] | None] = ContextVar("puls_deprecated_uses", default=None)

MONEY_NUMBER = (
    "money as a JSON number is deprecated and refused from the next version: send a decimal "
    'string such as "1250.00"'
)


def collect() -> tuple[list[str], Token[list[str] | None]]:
    """Starts collecting for the request being handled: the list fills as validation notes;
    `stop` with the token ends it."""
    uses: list[str] = []
    return uses, _noted.set(uses)


def stop(token: Token[list[str] | None]) -> None:
    _noted.reset(token)


def note(message: str) -> None:
    uses = _noted.get()
    if uses is not None and message not in uses:
        uses.append(message)


def note_all(messages: Iterable[str]) -> None:
    for message in messages:
        note(message)


def noted() -> list[str]:
    """What was noted so far in this context (for work handing its notes to another process)."""
    return list(_noted.get() or [])


def warning_header(message: str) -> str:
    """A `Warning` header value (RFC 7234's 299, "miscellaneous persistent warning")."""
    return '299 - "' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
