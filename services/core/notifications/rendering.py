"""E-mails from Jinja2 templates: one text and one HTML template per kind, the words of each
language in `STRINGS`, so a kind is written once and every language fills it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from services.core.notifications.models import LANGUAGES, MAIL_KINDS

TEMPLATES = Path(__file__).parent / "templates"

STRINGS: dict[str, dict[str, str]] = {
    "sv": {
        "greeting": "Hej {name}!",
        "reminder_subject": "Påminnelse: {title} ska vara klar {due}",
        "reminder_intro": "Det här ska vara klart om {days} dagar ({due}):",
        "reminder_today": "Det här ska vara klart i dag ({due}):",
        "overdue_subject": "Försenad: {title} (skulle vara klar {due})",
        "overdue_intro": "Det här skulle ha varit klart {due} och är fortfarande öppet:",
        "reminder_report_back_subject": "Påminnelse: återrapportering om {title} senast {due}",
        "reminder_report_back_intro": "En återrapportering ska lämnas om {days} dagar ({due}):",
        "reminder_report_back_today": "En återrapportering ska lämnas i dag ({due}):",
        "overdue_report_back_subject": "Försenad återrapportering: {title} (senast {due})",
        "overdue_report_back_intro": "Återrapporteringen skulle ha lämnats {due} och har inte "
        "kommit in:",
        "reminder_presentation_subject": "Påminnelse: återrapportera {title} på mötet {due}",
        "reminder_presentation_intro": "Uppföljningen ska presenteras på mötet om {days} dagar "
        "({due}):",
        "reminder_presentation_today": "Uppföljningen ska presenteras på mötet i dag ({due}):",
        "invitation_subject": "Kallelse: {body} {when}",
        "invitation_changed_subject": "Ändrad kallelse: {body} {when}",
        "invitation_cancelled_subject": "Inställt möte: {body} {when}",
        "invitation_intro": "Du är kallad till {body}.",
        "invitation_changed_intro": "Mötet i {body} har ändrats.",
        "invitation_cancelled_intro": "Mötet i {body} är inställt.",
        "digest_subject": "Din vecka i Puls, vecka {week}",
        "digest_intro": "Här är det som väntar dig.",
        "when": "När",
        "where": "Var",
        "agenda": "Dagordning",
        "no_agenda": "Ingen dagordning ännu.",
        "open_items": "Dina öppna uppgifter",
        "overdue_items": "Försenat",
        "next_meetings": "Dina nästa möten",
        "breached": "Nyckeltal i din enhet som inte når målet",
        "nothing": "Inget.",
        "due": "klar",
        "no_due": "inget datum",
        "action": "Åtgärd",
        "assignment": "Uppdrag",
        "report_back": "Återrapportering",
        "presentation": "Uppföljning att presentera",
        "open": "Öppna i Puls",
        "footer": "Du får det här meddelandet från Puls. Vilka e-post du får väljer du under "
        "Inställningar > Prenumerationer.",
    },
    "en": {
        "greeting": "Hello {name},",
        "reminder_subject": "Reminder: {title} is due {due}",
        "reminder_intro": "This is due in {days} days ({due}):",
        "reminder_today": "This is due today ({due}):",
        "overdue_subject": "Overdue: {title} (was due {due})",
        "overdue_intro": "This was due {due} and is still open:",
        "reminder_report_back_subject": "Reminder: report back on {title} by {due}",
        "reminder_report_back_intro": "A report-back is due in {days} days ({due}):",
        "reminder_report_back_today": "A report-back is due today ({due}):",
        "overdue_report_back_subject": "Overdue report-back: {title} (was due {due})",
        "overdue_report_back_intro": "This report-back was due {due} and has not been made:",
        "reminder_presentation_subject": "Reminder: present {title} at the meeting on {due}",
        "reminder_presentation_intro": "This follow-up is to be presented at the meeting in "
        "{days} days ({due}):",
        "reminder_presentation_today": "This follow-up is to be presented at the meeting today "
        "({due}):",
        "invitation_subject": "Invitation: {body} {when}",
        "invitation_changed_subject": "Changed: {body} {when}",
        "invitation_cancelled_subject": "Cancelled: {body} {when}",
        "invitation_intro": "You are invited to {body}.",
        "invitation_changed_intro": "The meeting of {body} has changed.",
        "invitation_cancelled_intro": "The meeting of {body} is cancelled.",
        "digest_subject": "Your week in Puls, week {week}",
        "digest_intro": "Here is what is waiting for you.",
        "when": "When",
        "where": "Where",
        "agenda": "Agenda",
        "no_agenda": "No agenda yet.",
        "open_items": "Your open items",
        "overdue_items": "Overdue",
        "next_meetings": "Your next meetings",
        "breached": "KPIs of your unit that miss their target",
        "nothing": "Nothing.",
        "due": "due",
        "no_due": "no date",
        "action": "Action",
        "assignment": "Assignment",
        "report_back": "Report-back",
        "presentation": "Follow-up to present",
        "open": "Open in Puls",
        "footer": "You get this message from Puls. Choose which e-mails you get under "
        "Settings > Subscriptions.",
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache
def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    # StrictUndefined: a misspelt variable fails the render (and the test over every
    # template and language) instead of leaving a blank in a sent e-mail.
    loader = jinja2.FileSystemLoader(TEMPLATES)
    text = jinja2.Environment(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return text, html


def local_time(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def day(value: date | None, language: str) -> str:
    return value.isoformat() if value else STRINGS[language]["no_due"]


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    """The subject, text and HTML of one e-mail. `context` carries `subject_args` (the
    subject's placeholders) and whatever the kind's templates use."""
    if kind not in MAIL_KINDS or language not in LANGUAGES:
        raise ValueError(f"no template for {kind}/{language}")
    words = STRINGS[language]
    subject_key = context.get("subject_key", f"{kind}_subject")
    subject = words[subject_key].format(**context["subject_args"])
    text_env, html_env = _environments()
    values = {**context, "t": words, "subject": subject}
    return Rendered(
        subject=subject,
        text=text_env.get_template(f"{kind}.txt.j2").render(values),
        html=html_env.get_template(f"{kind}.html.j2").render(values),
    )
