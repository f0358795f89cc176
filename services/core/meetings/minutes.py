"""Minutes laid out like seed 000: heading, time, place, attendance, numbered items with the
presenters' initials, then each item's decisions and assignments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from services.core.kpis.chart_service import TargetChart
from services.core.rendering import md_text, swedish_date


def _initials(person: dict[str, Any]) -> str:
    return str(person.get("initials") or person.get("name") or person["id"])


def _attendee(a: dict[str, Any]) -> str:
    text = f"{a['name'] or a['id']}"
    if a.get("initials"):
        text += f" ({a['initials']})"
    if a["role"] == "co_opted":
        items = ", ".join(f"§{n}" for n in a["co_opted_items"])
        text += f", adjungerad {items}".rstrip()
    return text


def _time(data: dict[str, Any]) -> str:
    """The meeting's time in the region's local time, as seed 000 prints it: "15 januari
    2024, kl. 13.00–17.00" (a meeting past midnight names both days)."""
    zone = ZoneInfo(data["time_zone"])
    start = datetime.fromisoformat(data["starts_at"]).astimezone(zone)
    end = datetime.fromisoformat(data["ends_at"]).astimezone(zone)
    if start.date() == end.date():
        return f"{swedish_date(start.date())}, kl. {start:%H.%M}–{end:%H.%M}"
    return (
        f"{swedish_date(start.date())} kl. {start:%H.%M} – "
        f"{swedish_date(end.date())} kl. {end:%H.%M}"
    )


def _assignment(a: dict[str, Any]) -> str:
    due = f" (senast {a['due_date']})" if a["due_date"] else ""
    return f"{_initials(a['assignee'])} fick i uppdrag att: {a['text']}{due}"


def _decision(d: dict[str, Any]) -> str:
    eff = f" (gäller från {d['effective_date']})" if d["effective_date"] else ""
    return f"{d['text']}{eff}"


def markdown(data: dict[str, Any]) -> str:
    """Markdown with every user-supplied string escaped (`md_text`), as `html` escapes it."""
    e = md_text
    body = data["body"]
    title = body["name"] + (f" ({body['short_name']})" if body["short_name"] else "")
    lines = [
        f"# Mötesanteckningar: {e(title)}",
        "",
        f"- **Tid:** {e(_time(data))}",
        f"- **Plats:** {e(data['place'] or '–')}",
        "",
        "## Närvaro",
        "",
    ]
    lines += [f"- {e(_attendee(a))}" for a in data["attendees"] if a["present"]]
    absent = [a for a in data["attendees"] if not a["present"]]
    if absent:
        lines += ["", "### Frånvarande", ""] + [f"- {e(_attendee(a))}" for a in absent]
    lines += ["", "## Ärenden", ""]
    for item in data["items"]:
        presenters = ", ".join(_initials(p) for p in item["presenters"])
        lines.append(
            f"### {int(item['number'])}. {e(item['title'])}"
            + (f" ({e(presenters)})" if presenters else "")
        )
        lines.append("")
        if item["notes"]:
            lines += [e(item["notes"]), ""]
        for d in item["decisions"]:
            lines.append(f"- **Beslut:** {e(_decision(d))}")
        for a in item["assignments"]:
            lines.append(f"- **Uppdrag:** {e(_assignment(a))}")
        if item["decisions"] or item["assignments"]:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _figures(charts: Sequence[TargetChart]) -> list[str]:
    """The charts of breached targets, inline. The SVG is Puls's own drawing (every text in it
    escaped by `kpis/charts.py`), so it is embedded as it is."""
    if not charts:
        return []
    out = ["<h2>Mål som inte nås</h2>"]
    for chart in charts:
        out.append(
            f'<figure class="kpi-chart" data-target="{escape(chart.target_id)}">'
            f"{chart.svg}<figcaption>{escape(chart.caption)}</figcaption></figure>"
        )
    return out


def html(data: dict[str, Any], charts: Sequence[TargetChart] = ()) -> str:
    """HTML with every user-supplied string escaped, and the charts of breached targets."""
    e = escape
    body = data["body"]
    title = body["name"] + (f" ({body['short_name']})" if body["short_name"] else "")
    out = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>Mötesanteckningar: {e(title)}</title></head><body>",
        f"<h1>Mötesanteckningar: {e(title)}</h1>",
        f"<p><strong>Tid:</strong> {e(_time(data))}</p>",
        f"<p><strong>Plats:</strong> {e(data['place'] or '–')}</p>",
        "<h2>Närvaro</h2><ul>",
    ]
    out += [f"<li>{e(_attendee(a))}</li>" for a in data["attendees"] if a["present"]]
    out.append("</ul>")
    absent = [a for a in data["attendees"] if not a["present"]]
    if absent:
        out.append("<h3>Frånvarande</h3><ul>")
        out += [f"<li>{e(_attendee(a))}</li>" for a in absent]
        out.append("</ul>")
    out.append("<h2>Ärenden</h2><ol>")
    for item in data["items"]:
        presenters = ", ".join(_initials(p) for p in item["presenters"])
        out.append(f'<li value="{int(item["number"])}"><h3>{e(item["title"])}</h3>')
        if presenters:
            out.append(f'<p class="presenters">{e(presenters)}</p>')
        if item["notes"]:
            out.append(f"<p>{e(item['notes'])}</p>")
        if item["decisions"] or item["assignments"]:
            out.append("<ul>")
            out += [
                f"<li><strong>Beslut:</strong> {e(_decision(d))}</li>" for d in item["decisions"]
            ]
            out += [
                f"<li><strong>Uppdrag:</strong> {e(_assignment(a))}</li>"
                for a in item["assignments"]
            ]
            out.append("</ul>")
        out.append("</li>")
    out.append("</ol>")
    out += _figures(charts)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


_SOURCE_SV = {
    "open_assignments": "Uppdrag att återrapportera",
    "overdue_actions": "Försenade åtgärder",
    "breached_targets": "Mål som inte nås",
}


def prepare_html(proposals: Sequence[dict[str, Any]], charts: Sequence[TargetChart]) -> str:
    """The prepare view for a person: the proposed items by source, then the charts of the
    breached targets inline."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        "<title>Förslag till dagordning</title></head><body>",
        "<h1>Förslag till dagordning</h1>",
    ]
    if not proposals:
        out.append("<p>Inga förslag.</p>")
    for source, heading in _SOURCE_SV.items():
        titles = [p["title"] for p in proposals if p["source"] == source]
        if titles:
            out.append(f"<h2>{escape(heading)}</h2><ul>")
            out += [f"<li>{escape(t)}</li>" for t in titles]
            out.append("</ul>")
    others = [p["title"] for p in proposals if p["source"] not in _SOURCE_SV]
    if others:
        out.append("<h2>Övrigt</h2><ul>" + "".join(f"<li>{escape(t)}</li>" for t in others))
        out.append("</ul>")
    if charts:
        out.append("<h2>Diagram</h2>")
        out += _figures(charts)[1:]
    out.append("</body></html>")
    return "\n".join(out) + "\n"
