"""The README's shell blocks, for the tests that run them as a newcomer pastes them."""

from __future__ import annotations

from services.cli.main import ROOT


def shell_blocks(after: str, before: str | None = None) -> list[str]:
    """The text of each ```sh block of the README after the line `after` (a heading), up to
    `before` where given."""
    text = (ROOT / "README.md").read_text().split(after, 1)[1]
    if before is not None:
        text = text.split(before, 1)[0]
    return [block.split("```", 1)[0] for block in text.split("```sh\n")[1:]]
