"""Every e-mail template renders in every language (StrictUndefined: a misspelt variable fails
here, not in a sent e-mail), with the subject filled, text and HTML both, and what people typed
escaped in HTML only."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.notifications.models import LANGUAGES, MAIL_KINDS
from services.core.notifications.rendering import STRINGS, render

TYPED = "Hyrstopp <inom> Region Skåne & bevakning"
ITEM = {
    "type": "action",
    "title": TYPED,
    "context": "Bemanningsprojektet 2016–2018",
    "due": "2018-12-31",
    "link": "https://puls.example.org/actions/1",
}
# A report-back owed on an action, and a follow-up to present at a meeting: words of their own.
REPORT_BACK = {**ITEM, "type": "report_back"}
PRESENTATION = {
    **ITEM,
    "type": "presentation",
    "context": "Koncernledningen 2024-01-15 13:00",
    "link": "https://puls.example.org/meetings/1",
}
SUBJECT_ARGS = {"title": TYPED, "due": "2018-12-31"}
MEETING = {
    "body": "Koncernledningen",
    "starts": "2024-01-15 13:00",
    "ends": "17:00",
    "place": "Teams",
    "agenda": [{"number": 1, "title": "Inledning"}, {"number": 2, "title": TYPED}],
    "link": "https://puls.example.org/meetings/1",
}
CONTEXTS: dict[str, list[dict[str, Any]]] = {
    "reminder": [
        {"item": ITEM, "days_left": 3, "subject_args": SUBJECT_ARGS},
        {"item": ITEM, "days_left": 0, "subject_args": SUBJECT_ARGS},
    ]
    + [
        {
            "item": item,
            "days_left": days,
            "subject_key": f"reminder_{item['type']}_subject",
            "subject_args": SUBJECT_ARGS,
        }
        for item in (REPORT_BACK, PRESENTATION)
        for days in (3, 0)
    ],
    "overdue": [
        {"item": ITEM, "subject_args": SUBJECT_ARGS},
        {
            "item": REPORT_BACK,
            "subject_key": "overdue_report_back_subject",
            "subject_args": SUBJECT_ARGS,
        },
    ],
    "invitation": [
        {
            "meeting": MEETING,
            "intro_key": f"{key}_intro",
            "subject_key": f"{key}_subject",
            "subject_args": {"body": "Koncernledningen", "when": "2024-01-15 13:00"},
        }
        for key in ("invitation", "invitation_changed", "invitation_cancelled")
    ]
    + [
        {
            "meeting": {**MEETING, "agenda": [], "place": None},
            "intro_key": "invitation_intro",
            "subject_args": {"body": "Koncernledningen", "when": "2024-01-15 13:00"},
        }
    ],
    "digest": [
        {
            "overdue": [ITEM],
            "open_items": [{**ITEM, "type": "assignment"}, REPORT_BACK],
            "meetings": [MEETING],
            "breached": [{"kpi": "sick_leave_pct", "org_unit": "RJH", "period": "2024-03"}],
            "subject_args": {"week": 3},
        },
        {
            "overdue": [],
            "open_items": [],
            "meetings": [],
            "breached": [],
            "subject_args": {"week": 3},
        },
    ],
}


def test_every_kind_has_contexts() -> None:
    assert set(CONTEXTS) == set(MAIL_KINDS)
    assert set(STRINGS) == set(LANGUAGES)
    assert all(STRINGS[lang].keys() == STRINGS["sv"].keys() for lang in LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", MAIL_KINDS)
def test_every_template_renders_in_every_language(kind: str, language: str) -> None:
    for context in CONTEXTS[kind]:
        rendered = render(
            kind, language, {"name": "Johanna Holmberg", "language": language, **context}
        )
        assert rendered.subject
        assert "{" not in rendered.subject
        assert STRINGS[language]["greeting"].format(name="Johanna Holmberg") in rendered.text
        assert STRINGS[language]["footer"] in rendered.text
        assert rendered.html.startswith("<!DOCTYPE html>")
        assert f'lang="{language}"' in rendered.html
        empty = context.get("meeting", {}).get("agenda") == [] or context.get("overdue") == []
        if not empty:
            assert TYPED in rendered.text
            assert "Hyrstopp &lt;inom&gt; Region Skåne &amp; bevakning" in rendered.html
            assert "<inom>" not in rendered.html
        else:
            assert (
                STRINGS[language]["nothing" if kind == "digest" else "no_agenda"] in rendered.text
            )


def test_a_missing_value_fails_the_render() -> None:
    with pytest.raises(Exception, match="days_left"):
        render(
            "reminder",
            "sv",
            {
                "name": "JH",
                "language": "sv",
                "item": ITEM,
                "subject_args": {"title": "x", "due": "y"},
            },
        )


def test_an_unknown_kind_or_language_is_refused() -> None:
    with pytest.raises(ValueError):
        render("newsletter", "sv", {})
    with pytest.raises(ValueError):
        render("digest", "de", {})


@pytest.mark.parametrize("language", LANGUAGES)
def test_report_backs_and_presentations_have_words_of_their_own(language: str) -> None:
    words = STRINGS[language]
    for kind, context, intro in [
        (
            "reminder",
            CONTEXTS["reminder"][2],
            words["reminder_report_back_intro"].format(days=3, due="2018-12-31"),
        ),
        (
            "reminder",
            CONTEXTS["reminder"][5],
            words["reminder_presentation_today"].format(due="2018-12-31"),
        ),
        (
            "overdue",
            CONTEXTS["overdue"][1],
            words["overdue_report_back_intro"].format(due="2018-12-31"),
        ),
    ]:
        rendered = render(kind, language, {"name": "JH", "language": language, **context})
        assert intro in rendered.text
        assert f"{words[context['item']['type']]}: {TYPED}" in rendered.text
        assert rendered.subject == words[context["subject_key"]].format(**SUBJECT_ARGS)
