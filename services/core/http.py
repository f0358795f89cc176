"""Protocol helpers shared by every mutable resource: ETags and If-Match."""

from __future__ import annotations

from services.core.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Raises 412 when the client's ETag is stale. No header means last-writer-wins by choice."""
    if if_match is None:
        return
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates:
        return
    current = etag(version)
    if not any(tag.removeprefix("W/") == current for tag in candidates):
        raise PreconditionFailed(
            f"If-Match {if_match} does not match the current version {current}; "
            "fetch the resource again and reapply your change"
        )
