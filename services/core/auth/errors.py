from services.core.errors import Forbidden, RateLimited, Unauthorized


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"
    title = "Invalid or missing API key"


class MissingScope(Forbidden):
    code = "missing_scope"
    title = "The API key lacks the scope this operation needs"


class TooManyFailedAuthentications(RateLimited):
    code = "auth_failures_throttled"
    title = "Too many requests without a valid API key"
