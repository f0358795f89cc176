from __future__ import annotations

from services.core.errors import Forbidden, NotFound


class FeedNotFound(NotFound):
    code = "calendar_feed_not_found"
    title = "No such calendar feed"


class FeedForbidden(Forbidden):
    code = "calendar_feed_forbidden"
    title = "Only the person or an admin may create this feed"


class FollowNotFound(NotFound):
    code = "follow_not_found"
    title = "The item is neither followed nor unfollowed"
