"""`/v1/me/subscriptions`: which kinds of e-mail a person gets, in which language, and the
items they follow or unfollow one by one."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.errors import NotAPerson
from services.core.meetings import assignment_service, meeting_service
from services.core.notifications import repository
from services.core.notifications.errors import FollowNotFound
from services.core.notifications.schemas import (
    FollowRead,
    ItemType,
    Language,
    MailKind,
    SubscriptionsRead,
    SubscriptionsUpdate,
)
from services.core.people import service as people_service
from services.core.plans import action_service, plan_service
from services.core.principal import Principal


def person_of(principal: Principal) -> uuid.UUID:
    if principal.person_id is None:
        raise NotAPerson(
            "Subscriptions belong to a person: sign in as one (an OIDC access token); "
            "an API key names no person"
        )
    return principal.person_id


async def read(
    session: AsyncSession, principal: Principal, settings: Settings
) -> SubscriptionsRead:
    person_id = person_of(principal)
    await people_service.get_visible(session, principal, person_id)
    pref = (await repository.preferences(session, [person_id])).get(person_id)
    disabled = set(pref.disabled_kinds) if pref else set()
    language = pref.language if pref else settings.mail_default_language
    follows = await repository.follows(session, person_id=person_id)
    return SubscriptionsRead(
        person_id=person_id,
        language=Language(language),
        kinds={kind: kind.value not in disabled for kind in MailKind},
        items=[
            FollowRead(item_type=ItemType(f.item_type), item_id=f.item_id, following=f.following)
            for f in follows
        ],
    )


async def update(
    session: AsyncSession, principal: Principal, settings: Settings, data: SubscriptionsUpdate
) -> SubscriptionsRead:
    current = await read(session, principal, settings)
    kinds = {**current.kinds, **(data.kinds or {})}
    await repository.upsert_preference(
        session,
        current.person_id,
        (data.language or current.language).value,
        sorted(kind.value for kind, on in kinds.items() if not on),
    )
    return await read(session, principal, settings)


async def _check_item(
    session: AsyncSession, principal: Principal, item_type: ItemType, item_id: uuid.UUID
) -> None:
    """One may follow only what one may see (404 otherwise, as for a direct read)."""
    if item_type is ItemType.action:
        await action_service.read_action(session, principal, item_id)
    elif item_type is ItemType.assignment:
        await assignment_service.read_assignment(session, principal, item_id)
    elif item_type is ItemType.plan:
        await plan_service.read_plan(session, principal, item_id)
    else:
        await meeting_service.get_meeting_visible(session, principal, item_id)


async def follow(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    item_type: ItemType,
    item_id: uuid.UUID,
    following: bool,
) -> SubscriptionsRead:
    # What the caller cannot see is 404 before anything else, as for a direct read.
    await _check_item(session, principal, item_type, item_id)
    person_id = person_of(principal)
    await repository.set_follow(session, person_id, item_type.value, item_id, following)
    return await read(session, principal, settings)


async def forget(
    session: AsyncSession, principal: Principal, item_type: ItemType, item_id: uuid.UUID
) -> None:
    """Back to the default for the item (mail if it is yours, none if not)."""
    await _check_item(session, principal, item_type, item_id)
    if not await repository.delete_follow(session, person_of(principal), item_type.value, item_id):
        raise FollowNotFound(f"You neither follow nor unfollow {item_type.value} {item_id}")
