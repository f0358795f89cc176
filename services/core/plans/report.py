"""The follow-up report laid out in Swedish: HTML from a Jinja2 template (autoescaped) and
Markdown with every user-supplied string escaped (`md_text`), as the meetings' minutes are."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from services.core.plans.schemas import PlanReport, ReportItem
from services.core.rendering import md_text, swedish_date, swedish_list, swedish_month

PLAN_STATUS = {
    "draft": "utkast",
    "decided": "beslutad",
    "active": "pågår",
    "completed": "avslutad",
    "cancelled": "avbruten",
}
ACTION_STATUS = {
    "not_started": "ej påbörjad",
    "in_progress": "pågår",
    "done": "klar",
    "postponed": "uppskjuten",
    "cancelled": "avbruten",
}


# How the report writes the catalogue's units after a figure.
UNITS = {"percent": "%", "hours": "timmar", "weeks": "veckor", "sek": "kr", "count": "st"}


def swedish_number(value: Decimal | None, unit: str | None = None, *, signed: bool = False) -> str:
    """A figure as Swedish reports write it: 3500000.0 SEK → "3 500 000 kr", 3.70 % → "3,7 %",
    a change with its sign ("−1 500 000 kr"); "–" where there is no value yet."""
    if value is None:
        return "–"
    whole, _, fraction = f"{abs(value).normalize():f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", " ")
    text = grouped + ("," + fraction if fraction else "")
    if value < 0:
        text = "−" + text
    elif signed and value > 0:
        text = "+" + text
    suffix = UNITS.get(unit or "", unit or "")
    return f"{text} {suffix}" if suffix else text


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("services.core.plans", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        sv_date=swedish_date, sv_month=swedish_month, sv_list=swedish_list, sv_number=swedish_number
    )
    env.globals.update(plan_status=PLAN_STATUS, action_status=ACTION_STATUS)
    return env


def html(report: PlanReport) -> str:
    return _environment().get_template("report.html.j2").render(r=report)


def _item_md(item: ReportItem) -> list[str]:
    e = md_text
    about = ACTION_STATUS[item.status.value]
    if item.due_date:
        about += f", senast {swedish_date(item.due_date)}"
    if item.responsible:
        about += f", ansvarig {item.responsible}"
    lines = [f"### {e(item.code)} {e(item.title)}", "", f"*{e(about)}*", ""]
    for label, text in (("Pågående arbete", item.ongoing_work), ("Resultat", item.result)):
        if text:
            lines += [f"**{label}:**", "", e(text), ""]
    return lines


def markdown(report: PlanReport) -> str:
    e = md_text
    lines = [
        f"# Uppföljning: {e(report.title)}",
        "",
        f"- **Enhet:** {e(report.org_unit)}",
        f"- **Period:** {swedish_date(report.period_start)} – {swedish_date(report.period_end)}",
        f"- **Status:** {PLAN_STATUS[report.status.value]}",
        f"- **Per:** {swedish_date(report.as_of)}",
        f"- **Sammanfattning:** {report.summary}",
        "",
    ]
    if report.plan_follow_up:
        follow_up = report.plan_follow_up
        lines += [
            "## Planen som helhet",
            "",
            f"*Rapporterat {swedish_date(follow_up.reported_on)}*",
            "",
        ]
        for label, text in (
            ("Pågående arbete", follow_up.ongoing_work),
            ("Resultat", follow_up.result),
        ):
            if text:
                lines += [f"**{label}:**", "", e(text), ""]
    if report.targets:
        lines += [
            "## Nyckeltal",
            "",
            f"| Nyckeltal | Vid start ({swedish_month(report.period_start)}) "
            f"| Nu ({swedish_month(report.as_of)}) | Förändring |",
            "| --- | --- | --- | --- |",
        ]
        for t in report.targets:
            name = e(t.name or t.kpi or "Okänt mål")
            lines.append(
                f"| {name} | {swedish_number(t.value_at_start, t.unit)} "
                f"| {swedish_number(t.value_now, t.unit)} "
                f"| {swedish_number(t.change, t.unit, signed=True)} |"
            )
        lines.append("")
    number = 0
    for package in report.packages:
        heading = e(package.name)
        if package.package_id is not None:
            number += 1
            heading = f"{number}. {heading}"
            owners = swedish_list(package.owners) or "Ej utsedd"
            due = swedish_date(package.due_date) if package.due_date else "–"
            lines += [
                f"## {heading}",
                "",
                f"- **Ansvariga:** {e(owners)}",
                f"- **Måltidpunkt:** {due}",
            ]
            if package.cost_goal:
                lines.append(f"- **Kostnadsmål:** {e(package.cost_goal)}")
        else:
            lines += [f"## {heading}", ""]
        lines += [f"- **Klara:** {package.done} av {package.actions}", ""]
        for item in package.items:
            lines += _item_md(item)
    return "\n".join(lines).rstrip() + "\n"
