"""E-mail subscriptions of the signed-in person, and calendar feeds with their secret URLs."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from services.api.deps import (
    IdempotencyDep,
    Reader,
    SessionDep,
    SettingsDep,
    api_router,
    secret_shown_once,
)
from services.api.operations import deletes, operation
from services.api.problems import error_responses
from services.api.responses import no_content
from services.core.notifications import calendar_service, preference_service
from services.core.notifications.schemas import (
    CalendarFeedCreate,
    CalendarFeedCreated,
    CalendarFeedRead,
    FollowUpdate,
    ItemType,
    SubscriptionsRead,
    SubscriptionsUpdate,
)

router = api_router(tags=["notifications"])
# The feed itself is outside /v1's bearer authentication: the token in the path is the key.
feeds = APIRouter(tags=["notifications"])


@router.get(
    "/me/subscriptions",
    **operation("My e-mail subscriptions", SubscriptionsRead, problems=(401, 403, 404)),
)
async def get_my_subscriptions(
    session: SessionDep, principal: Reader, settings: SettingsDep
) -> SubscriptionsRead:
    """Which kinds of e-mail you get (reminders, overdue notices, meeting invitations, the
    weekly digest), in which language, and the items you follow or unfollow.

    Needs credentials that name a person (an OIDC access token); an API key gets 403
    `not_a_person`."""
    return await preference_service.read(session, principal, settings)


@router.patch(
    "/me/subscriptions",
    **operation(
        "Change my e-mail subscriptions",
        SubscriptionsRead,
        problems=(400, 401, 403, 404, 415, 422),
    ),
)
async def update_my_subscriptions(
    data: SubscriptionsUpdate, session: SessionDep, principal: Reader, settings: SettingsDep
) -> SubscriptionsRead:
    """Turns kinds of e-mail on or off and sets the language (`sv` or `en`); kinds not named
    keep their setting.

    Needs credentials that name a person (an OIDC access token); an API key gets 403
    `not_a_person`."""
    return await preference_service.update(session, principal, settings, data)


@router.put(
    "/me/subscriptions/items/{item_type}/{item_id}",
    **operation(
        "Follow or unfollow an item", SubscriptionsRead, problems=(400, 401, 403, 404, 415, 422)
    ),
)
async def follow_item(
    item_type: ItemType,
    item_id: uuid.UUID,
    data: FollowUpdate,
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
) -> SubscriptionsRead:
    """`following: true` sends you the item's reminders, overdue notices or invitations
    although it is not yours; `false` stops them although it is. An action or a plan
    (`plan`) also brings the reminders and overdue notices of the report-backs owed on it
    (`follow_up_due_on`); unfollowing a meeting also stops the reminders to present a
    follow-up at it. An item you cannot see is 404.

    Needs credentials that name a person (an OIDC access token); an API key gets 403
    `not_a_person`."""
    return await preference_service.follow(
        session, principal, settings, item_type, item_id, data.following
    )


@router.delete(
    "/me/subscriptions/items/{item_type}/{item_id}",
    **deletes("Forget following or unfollowing an item"),
)
async def forget_item(
    item_type: ItemType, item_id: uuid.UUID, session: SessionDep, principal: Reader
) -> Response:
    """Back to the default: mail about the item if it is yours, none if not.

    Needs credentials that name a person (an OIDC access token); an API key gets 403
    `not_a_person`."""
    await preference_service.forget(session, principal, item_type, item_id)
    return no_content()


@router.post(
    "/calendar-feeds",
    **operation(
        "Create a calendar feed",
        CalendarFeedCreated,
        problems=(400, 401, 403, 404, 415, 422),
        status=201,
        responses=secret_shown_once(201, "token, url"),
    ),
)
async def create_calendar_feed(
    data: CalendarFeedCreate,
    request: Request,
    session: SessionDep,
    principal: Reader,
    idem: IdempotencyDep,
) -> Response:
    """A secret address of a body's meetings (`body_id`, for anyone who sees the body) or of a
    person's meetings and due dates (`person_id`: yourself, or anyone for an admin), for
    calendar clients, which cannot send a bearer token. The token and URL are shown once;
    Puls keeps only the token's SHA-256. Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    feed = await calendar_service.create(session, principal, data)
    feed = feed.model_copy(update={"url": str(request.base_url).rstrip("/") + str(feed.url)})
    return await idem.respond(session, 201, feed, {"Location": f"/v1/calendar-feeds/{feed.id}"})


@router.get(
    "/calendar-feeds",
    **operation("List calendar feeds", list[CalendarFeedRead], problems=(401, 403)),
)
async def list_calendar_feeds(session: SessionDep, principal: Reader) -> list[CalendarFeedRead]:
    """The live feeds you created (an admin: all of them), without their tokens."""
    return await calendar_service.list_feeds(session, principal)


@router.delete("/calendar-feeds/{feed_id}", **deletes("Revoke a calendar feed"))
async def revoke_calendar_feed(
    feed_id: uuid.UUID, session: SessionDep, principal: Reader
) -> Response:
    """Its address answers 404 from the next request on. Yours, or any for an admin."""
    await calendar_service.revoke(session, principal, feed_id)
    return no_content()


_ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Puls//Calendar feed//SV\r\n"
    "BEGIN:VEVENT\r\nUID:meeting-…@puls\r\nSEQUENCE:0\r\nSTATUS:CONFIRMED\r\n"
    "DTSTART;TZID=Europe/Stockholm:20261210T090000\r\nSUMMARY:Ledningsgrupp HR\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@feeds.get(
    "/calendar/{token}.ics",
    summary="A calendar feed",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {"example": _ICS_EXAMPLE}}, "description": "iCalendar"},
        **error_responses(404),
    },
    # The secret token in the path is the credential: calendar clients send no headers.
    openapi_extra={"security": []},
)
async def calendar_feed(token: str, session: SessionDep, settings: SettingsDep) -> Any:
    """The feed behind a secret token from `POST /v1/calendar-feeds`, as iCalendar in local time
    with its VTIMEZONE. An unknown or revoked token is 404."""
    body = await calendar_service.render_feed(session, settings, token)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
