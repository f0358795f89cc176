"""Calendar feeds: a body's meetings, or a person's meetings and due dates, as iCalendar at a
secret URL (calendar clients cannot send a bearer token). Events keep their UID across
changes, carry SEQUENCE (the meeting's version) and STATUS:CANCELLED for a cancelled or removed
meeting, and are written in local time with the VTIMEZONE."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.config import Settings
from services.core.crud import read_as
from services.core.errors import NotFound
from services.core.meetings import body_service, meeting_service
from services.core.notifications import repository
from services.core.notifications.errors import FeedForbidden, FeedNotFound
from services.core.notifications.mail_service import open_items
from services.core.notifications.models import CalendarFeed
from services.core.notifications.rendering import STRINGS
from services.core.notifications.schemas import (
    CalendarFeedCreate,
    CalendarFeedCreated,
    CalendarFeedRead,
)
from services.core.people import service as people_service
from services.core.principal import Principal

TOKEN_PREFIX = "cal_"
# What a feed spans: recent history (so a just-held meeting stays) and the year ahead.
_PAST = timedelta(days=90)
_AHEAD = timedelta(days=400)
# A feed is read without a caller; what it shows was decided when it was created.
_REGION = Principal(key_id=None, name="calendar", scopes=frozenset({"admin"}))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_path(token: str) -> str:
    return f"/calendar/{token}.ics"


async def create(
    session: AsyncSession, principal: Principal, data: CalendarFeedCreate
) -> CalendarFeedCreated:
    """A body's feed for anyone who sees the body; a person's feed for that person or an
    admin (it lists their due dates)."""
    if data.body_id is not None:
        await body_service.get_body_visible(session, principal, data.body_id)
    elif data.person_id is not None:
        await people_service.get_visible(session, principal, data.person_id)
        if not principal.is_admin and principal.person_id != data.person_id:
            raise FeedForbidden("A person's calendar feed is theirs to create (or an admin's)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed(
        token_hash=hash_token(token),
        kind="body" if data.body_id else "person",
        body_id=data.body_id,
        person_id=data.person_id,
        created_by=principal.actor,
    )
    session.add(feed)
    await session.flush()
    await session.refresh(feed)
    await audit_service.record(
        session, principal, "calendar_feed.create", "calendar_feed", str(feed.id)
    )
    return read_as(CalendarFeedCreated, feed, token=token, url=feed_path(token))


def _mine(principal: Principal) -> str | None:
    return None if principal.is_admin else principal.actor


async def _visible(session: AsyncSession, principal: Principal, feed: CalendarFeed) -> bool:
    """Whether the caller sees what the feed shows: its body, or its person (an admin
    confined to a subtree manages only that subtree's feeds)."""
    try:
        if feed.body_id is not None:
            await body_service.get_body_visible(session, principal, feed.body_id)
        elif feed.person_id is not None:
            await people_service.get_visible(session, principal, feed.person_id)
    except NotFound:
        return False
    return True


async def list_feeds(session: AsyncSession, principal: Principal) -> list[CalendarFeedRead]:
    """An admin sees every live feed of what they see; anyone else the feeds they created."""
    return [
        read_as(CalendarFeedRead, f)
        for f in await repository.list_feeds(session, _mine(principal))
        if await _visible(session, principal, f)
    ]


async def revoke(session: AsyncSession, principal: Principal, feed_id: uuid.UUID) -> None:
    """The URL answers 404 from now on."""
    feed = await repository.get_feed(session, feed_id, for_update=True)
    mine = _mine(principal)
    if (
        feed is None
        or (mine is not None and feed.created_by != mine)
        or not await _visible(session, principal, feed)
    ):
        raise FeedNotFound(f"No calendar feed with id {feed_id}")
    feed.revoked_at = datetime.now(UTC)
    await session.flush()
    await audit_service.record(
        session, principal, "calendar_feed.revoke", "calendar_feed", str(feed.id)
    )


def _meeting_event(m: Any, settings: Settings, zone: ZoneInfo) -> icalendar.Event:
    event = icalendar.Event()
    link = f"{settings.frontend_url.rstrip('/')}/meetings/{m.id}"
    event.add("uid", f"meeting-{m.id}@puls")
    event.add("dtstamp", m.updated_at.astimezone(UTC))
    event.add("last-modified", m.updated_at.astimezone(UTC))
    event.add("dtstart", m.starts_at.astimezone(zone))
    event.add("dtend", m.ends_at.astimezone(zone))
    event.add("summary", m.body_name)
    if m.place:
        event.add("location", m.place)
    agenda = "\n".join(f"§{a['number']} {a['title']}" for a in m.agenda)
    event.add("description", f"{agenda}\n\n{link}".strip())
    event.add("url", link)
    # Version 1 is the first publication; each change raises SEQUENCE so clients replace it.
    event.add("sequence", max(m.version - 1, 0))
    cancelled = m.deleted or m.status == "cancelled"
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


async def render_feed(session: AsyncSession, settings: Settings, token: str) -> bytes:
    """The feed behind a token; an unknown or revoked token is 404 (the same answer, so a
    guess learns nothing)."""
    feed = await repository.feed_by_hash(session, hash_token(token))
    if feed is None:
        raise FeedNotFound("No calendar feed at this address")
    zone = ZoneInfo(settings.local_timezone)
    now = datetime.now(UTC)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Puls//Calendar feed//SV")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-timezone", settings.local_timezone)
    meetings = await meeting_service.meetings_between(
        session,
        now - _PAST,
        now + _AHEAD,
        body_id=feed.body_id,
        person_id=feed.person_id,
        with_deleted=True,
    )
    name = "Puls"
    if feed.body_id is not None:
        body = await body_service.get_body_visible(session, _REGION, feed.body_id)
        name = body[0].name
    for m in meetings:
        calendar.add_component(_meeting_event(m, settings, zone))
    if feed.person_id is not None:
        person = await people_service.by_ids(session, [feed.person_id])
        language: str = settings.mail_default_language
        prefs = await repository.preferences(session, [feed.person_id])
        if feed.person_id in prefs:
            language = prefs[feed.person_id].language
        words = STRINGS[language]
        if feed.person_id in person:
            name = f"Puls: {person[feed.person_id].name}"
        for item in await open_items(session, settings, person_id=feed.person_id):
            if item.due_date is None:
                continue
            event = icalendar.Event()
            event.add("uid", f"{item.type}-{item.id}-due@puls")
            event.add("dtstamp", now)
            event.add("dtstart", item.due_date)
            event.add("dtend", item.due_date + timedelta(days=1))
            event.add("summary", f"{words[item.type]}: {item.title}")
            event.add("description", f"{item.context}\n\n{item.link}")
            event.add("url", item.link)
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    calendar.add("x-wr-calname", name)
    calendar.add_missing_timezones()
    ical: bytes = calendar.to_ical()
    return ical
