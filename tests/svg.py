"""Charts in tests: parse an SVG as XML (defusedxml, so a chart is checked the way a careful
client reads it) and draw it with a real renderer (cairosvg) to count the pixels it painted."""

from __future__ import annotations

import io
import re
from typing import Any
from xml.etree.ElementTree import Element

import cairosvg
import defusedxml.ElementTree as safe_xml
from PIL import Image

NS = "{http://www.w3.org/2000/svg}"
INLINE = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def parse(svg: str) -> Element:
    root: Element = safe_xml.fromstring(svg.encode())
    assert root.tag == f"{NS}svg"
    return root


def inline_svgs(html: str) -> list[Element]:
    """Every `<svg>…</svg>` embedded in an HTML page, parsed."""
    return [parse(m.group(0)) for m in INLINE.finditer(html)]


def text_of(root: Element, tag: str) -> str:
    found = root.find(f"{NS}{tag}")
    assert found is not None, tag
    return found.text or ""


def texts(root: Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def by_class(root: Element, cls: str) -> list[Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def render(svg: str) -> Image.Image:
    png: Any = cairosvg.svg2png(bytestring=svg.encode())
    return Image.open(io.BytesIO(png)).convert("RGB")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def count_colour(
    image: Image.Image,
    colour: str,
    box: tuple[int, int, int, int] | None = None,
    tolerance: int = 40,
) -> int:
    """Pixels within `tolerance` of `colour` (anti-aliasing blends the edges), in `box`."""
    want = hex_rgb(colour)
    region = image.crop(box) if box else image
    return sum(
        1
        for px in _pixels(region)
        if all(abs(a - b) <= tolerance for a, b in zip(px, want, strict=True))
    )


def _pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    raw = image.tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def non_white(image: Image.Image) -> int:
    return sum(1 for px in _pixels(image) if min(px) < 240)
