"""What e-mail is due: the scans that write the mail outbox (reminders and overdue notices,
meeting invitations, the weekly digest). Each message has a `dedupe_key` naming what it is
about, so a scan may run as often as it likes and writes each message once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import queue
from services.core.config import Settings
from services.core.kpis import series_service
from services.core.meetings import assignment_service, meeting_service
from services.core.notifications import repository
from services.core.notifications.rendering import local_time, render
from services.core.people import service as people_service
from services.core.plans import due_scan
from services.core.principal import Principal, Scope

# The scans read every unit's breached targets, as the region sees them.
_SYSTEM = Principal(key_id=None, name="notifications", scopes=frozenset({Scope.admin.value}))
_DIGEST_MEETING_DAYS = 14


@dataclass(frozen=True)
class Item:
    """Something a person owes by a date: an action, an assignment, a report-back owed on an
    action or a plan (`report_back`), or a follow-up to present at a meeting
    (`presentation`)."""

    type: str  # action | assignment | report_back | presentation
    id: uuid.UUID
    title: str
    due_date: date | None
    person_id: uuid.UUID
    context: str  # its plan's title, or its body's name
    link: str
    # What one follows or unfollows to hear about it (`/v1/me/subscriptions`): the item
    # itself, or for a report-back its action or plan, for a presentation its meeting.
    follow: tuple[str, uuid.UUID] | None = None

    @property
    def followed_as(self) -> tuple[str, uuid.UUID]:
        return self.follow or (self.type, self.id)

    def view(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "context": self.context,
            "due": self.due_date.isoformat() if self.due_date else "–",
            "link": self.link,
        }


@dataclass
class Candidate:
    """A message a scan wants: its kind, key, recipient and how to fill its template."""

    kind: str
    key: str
    person_id: uuid.UUID
    context: Callable[[str], dict[str, Any]] = field(repr=False)
    item_id: uuid.UUID | None = None


def _wake_delivery(session: AsyncSession) -> None:
    queue.defer_job(session, "deliver_mail", job_id=f"deliver_mail:{int(time.time())}")


async def open_items(
    session: AsyncSession,
    settings: Settings,
    *,
    due_before: date | None = None,
    person_id: uuid.UUID | None = None,
) -> list[Item]:
    """Open actions and assignments, and the report-backs owed on actions and plans, with the
    person who owes them, by due date."""
    base = settings.frontend_url.rstrip("/")
    items = [
        Item(
            "action",
            r.id,
            f"{r.code} {r.title}",
            r.due_date,
            r.responsible_id,
            r.plan_title,
            f"{base}/actions/{r.id}",
        )
        for r in await due_scan.open_actions_of_people(
            session, due_before=due_before, person_id=person_id
        )
    ]
    items += [
        Item(
            "assignment",
            r.id,
            r.text,
            r.due_date,
            r.assignee_id,
            r.body_name,
            f"{base}/assignments/{r.id}",
        )
        for r in await assignment_service.open_assignments_of_people(
            session, due_before=due_before, person_id=person_id
        )
    ]
    items += [
        Item(
            "report_back",
            r.id,
            r.title,
            r.due_on,
            r.person_id,
            r.plan_title if r.about == "action" else "",
            f"{base}/{'actions' if r.about == 'action' else 'action-plans'}/{r.id}",
            follow=(r.about, r.id),
        )
        for r in await due_scan.owed_report_backs_of_people(
            session, due_before=due_before, person_id=person_id
        )
    ]
    items.sort(key=lambda i: (i.due_date or date.max, i.type, i.id))
    return items


async def _audience(
    session: AsyncSession,
    owners: dict[tuple[str, uuid.UUID], set[uuid.UUID]],
    *,
    with_followers: bool = True,
) -> dict[tuple[str, uuid.UUID], set[uuid.UUID]]:
    """Who hears about each item: its people, plus those following it (unless
    `with_followers` is false), minus those who unfollowed it."""
    follows = await repository.follows(session, item_ids=[item_id for _, item_id in owners])
    audience = {key: set(people) for key, people in owners.items()}
    for f in follows:
        key = (f.item_type, f.item_id)
        if key not in audience:
            continue
        if f.following:
            if with_followers:
                audience[key].add(f.person_id)
        else:
            audience[key].discard(f.person_id)
    return audience


async def enqueue(
    session: AsyncSession, settings: Settings, candidates: Sequence[Candidate]
) -> Counter[str]:
    """Renders and stores the candidates not stored yet, in each person's language; a kind
    the person turned off is dropped, a person without an e-mail address gets a `skipped`
    row (counted once, never sent or retried). Counts by `kind:outcome`."""
    outcomes: Counter[str] = Counter()
    seen = await repository.existing_keys(session, [c.key for c in candidates])
    fresh = [c for c in candidates if c.key not in seen]
    if not fresh:
        return outcomes
    person_ids = list({c.person_id for c in fresh})
    prefs = await repository.preferences(session, person_ids)
    people: dict[uuid.UUID, Any] = {}
    # In chunks: the lookup binds one parameter per id, and PostgreSQL allows 32 767.
    for start in range(0, len(person_ids), 10_000):
        people.update(await people_service.by_ids(session, person_ids[start : start + 10_000]))
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for c in fresh:
        person = people.get(c.person_id)
        pref = prefs.get(c.person_id)
        if person is None or person.deleted_at is not None or c.key in keys:
            continue
        if pref is not None and c.kind in pref.disabled_kinds:
            outcomes[f"{c.kind}:disabled"] += 1
            continue
        keys.add(c.key)
        language = pref.language if pref is not None else settings.mail_default_language
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "dedupe_key": c.key,
            "kind": c.kind,
            "person_id": c.person_id,
            "item_id": c.item_id,
            "language": language,
            "to_address": person.email,
        }
        if not person.email:
            row.update(
                subject="", body_text="", body_html="", status="skipped", last_error="no_email"
            )
            outcomes[f"{c.kind}:skipped"] += 1
        else:
            rendered = render(
                c.kind, language, {"name": person.name, "language": language, **c.context(language)}
            )
            row.update(
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                status="pending",
                last_error=None,
            )
            outcomes[f"{c.kind}:queued"] += 1
        rows.append(row)
    await repository.insert_messages(session, rows)
    if outcomes.total():
        _wake_delivery(session)
    return outcomes


# ---------------------------------------------------------------- reminders and overdue


# Items whose e-mails have words of their own (`<kind>_<type>_subject`, `…_intro`); actions
# and assignments share the kind's.
_OWN_WORDS = ("report_back", "presentation")


def _item_candidate(kind: str, item: Item, person_id: uuid.UUID, today: date) -> Candidate:
    due = item.due_date
    assert due is not None
    days_left = (due - today).days

    def context(_language: str) -> dict[str, Any]:
        words = f"{kind}_{item.type}" if item.type in _OWN_WORDS else kind
        return {
            "item": item.view(),
            "days_left": days_left,
            "subject_key": f"{words}_subject",
            "subject_args": {"title": item.title, "due": due.isoformat()},
        }

    key = f"{kind}:{item.type}:{item.id}:{due}:{person_id}"
    return Candidate(kind, key, person_id, context, item.id)


def _owners(items: Iterable[Item]) -> dict[tuple[str, uuid.UUID], set[uuid.UUID]]:
    owners: dict[tuple[str, uuid.UUID], set[uuid.UUID]] = {}
    for i in items:
        owners.setdefault(i.followed_as, set()).add(i.person_id)
    return owners


async def presentations(
    session: AsyncSession, settings: Settings, today: date, until: date
) -> list[Item]:
    """The follow-up agenda items people present at planned meetings on local days
    [today, until], one per presenter, due on the meeting's local date."""
    zone = ZoneInfo(settings.local_timezone)
    base = settings.frontend_url.rstrip("/")
    rows = await meeting_service.follow_ups_presented_between(
        session,
        datetime.combine(today, day_time(), tzinfo=zone),
        datetime.combine(until + timedelta(days=1), day_time(), tzinfo=zone),
    )
    return [
        Item(
            "presentation",
            r.id,
            r.title,
            r.starts_at.astimezone(zone).date(),
            person,
            f"{r.body_name} {local_time(r.starts_at, settings.local_timezone)}",
            f"{base}/meetings/{r.meeting_id}",
            follow=("meeting", r.meeting_id),
        )
        for r in rows
        for person in r.presenter_ids
    ]


async def enqueue_reminders(session: AsyncSession, settings: Settings, today: date) -> Counter[str]:
    """A reminder `mail_reminder_days` before each due date and an overdue notice once it has
    passed (for items at most `mail_overdue_max_days` late), once per item, due date and
    person; for report-backs owed on actions and plans too. A follow-up agenda item gets a
    reminder to its presenters `mail_reminder_days` before the meeting (no overdue notice:
    the meeting is its end)."""
    horizon = today + timedelta(days=settings.mail_reminder_days + 1)
    oldest = today - timedelta(days=settings.mail_overdue_max_days)
    items = [
        i
        for i in await open_items(session, settings, due_before=horizon)
        if i.due_date and i.due_date >= oldest
    ]
    audience = await _audience(session, _owners(items))
    # A presentation is its presenters' business: following the meeting brings its
    # invitations, not reminders to others; unfollowing it stops them.
    presented = await presentations(
        session, settings, today, today + timedelta(days=settings.mail_reminder_days)
    )
    audience |= await _audience(session, _owners(presented), with_followers=False)
    candidates = [
        _item_candidate(
            "overdue" if i.due_date and i.due_date < today else "reminder", i, person, today
        )
        for i in items
        for person in sorted(audience[i.followed_as])
    ]
    candidates += [
        _item_candidate("reminder", i, i.person_id, today)
        for i in presented
        if i.person_id in audience[i.followed_as]
    ]
    return await enqueue(session, settings, candidates)


# ---------------------------------------------------------------- invitations


def meeting_view(meeting: Any, settings: Settings) -> dict[str, Any]:
    zone = settings.local_timezone
    return {
        "body": meeting.body_name,
        "starts": local_time(meeting.starts_at, zone),
        "ends": local_time(meeting.ends_at, zone)[-5:],
        "place": meeting.place,
        "agenda": list(meeting.agenda),
        "link": f"{settings.frontend_url.rstrip('/')}/meetings/{meeting.id}",
    }


async def enqueue_invitations(
    session: AsyncSession, settings: Settings, now: datetime
) -> Counter[str]:
    """An invitation with the agenda for each meeting starting within the horizon, to its
    attendees, the body's members and followers; again when the meeting changes (a new
    version) and a cancellation when it is cancelled or removed, to those invited before."""
    meetings = await meeting_service.meetings_between(
        session,
        now,
        now + timedelta(days=settings.mail_invitation_horizon_days),
        with_deleted=True,
    )
    audience = await _audience(session, {("meeting", m.id): set(m.participants) for m in meetings})
    invited = await repository.invited_before(session, [m.id for m in meetings])
    candidates: list[Candidate] = []
    for m in meetings:
        cancelled = m.deleted or m.status == "cancelled"
        view = meeting_view(m, settings)
        version = f"v{m.version}{'-deleted' if m.deleted else ''}"
        for person in sorted(audience[("meeting", m.id)]):
            before = (m.id, person) in invited
            if cancelled and not before:
                continue  # nothing to call off
            kind_key = (
                "invitation_cancelled"
                if cancelled
                else "invitation_changed"
                if before
                else "invitation"
            )
            candidates.append(
                Candidate(
                    "invitation",
                    f"invitation:{m.id}:{version}:{person}",
                    person,
                    _invitation_context(kind_key, view),
                    m.id,
                )
            )
    return await enqueue(session, settings, candidates)


def _invitation_context(kind_key: str, view: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    def context(_language: str) -> dict[str, Any]:
        return {
            "meeting": view,
            "intro_key": f"{kind_key}_intro",
            "subject_key": f"{kind_key}_subject",
            "subject_args": {"body": view["body"], "when": view["starts"]},
        }

    return context


# ---------------------------------------------------------------- the weekly digest


def _fixed(context: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return lambda _language: context


def _group(items: Iterable[Item]) -> dict[uuid.UUID, list[Item]]:
    grouped: dict[uuid.UUID, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.person_id, []).append(item)
    return grouped


async def enqueue_digests(
    session: AsyncSession, settings: Settings, today: date, now: datetime
) -> Counter[str]:
    """One digest per person and ISO week: open items, what is overdue, the next two weeks'
    meetings and the person's unit's targets that were not met."""
    year, week, _ = today.isocalendar()
    label = f"{year}-W{week:02d}"
    people = await people_service.live_people(session)
    done = await repository.existing_keys(session, [f"digest:{label}:{p.id}" for p in people])
    people = [p for p in people if f"digest:{label}:{p.id}" not in done]
    if not people:
        return Counter()
    items = _group(await open_items(session, settings))
    meetings: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for m in await meeting_service.meetings_between(
        session, now, now + timedelta(days=_DIGEST_MEETING_DAYS)
    ):
        view = meeting_view(m, settings)
        for person in m.participants:
            meetings.setdefault(person, []).append(view)
    breached: dict[int, list[dict[str, Any]]] = {}
    for unit in {p.org_unit_id for p in people if p.org_unit_id is not None}:
        breached[unit] = await series_service.breached_targets(session, _SYSTEM, unit)
    candidates = []
    for p in people:
        mine = items.get(p.id, [])
        context = {
            "overdue": [i.view() for i in mine if i.due_date and i.due_date < today],
            "open_items": [i.view() for i in mine if not i.due_date or i.due_date >= today],
            "meetings": meetings.get(p.id, []),
            "breached": breached.get(p.org_unit_id, []) if p.org_unit_id else [],
            "subject_args": {"week": week},
        }
        candidates.append(Candidate("digest", f"digest:{label}:{p.id}", p.id, _fixed(context)))
    return await enqueue(session, settings, candidates)


async def forget_old_bodies(session: AsyncSession, settings: Settings) -> int:
    """Blanks the address, subject and body of messages done with for
    `mail_body_retention_days`. The row stays, so its key still keeps the scans from writing
    the message again. Returns how many were blanked."""
    return await repository.blank_old_bodies(session, settings.mail_body_retention_days)
