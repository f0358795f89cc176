from services.core.errors import Forbidden, RateLimited, ServiceUnavailable, Unauthorized


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"
    title = "Invalid or missing API key"


class MissingScope(Forbidden):
    code = "missing_scope"
    title = "The API key lacks the scope this operation needs"


class TooManyFailedAuthentications(RateLimited):
    code = "auth_failures_throttled"
    title = "Too many requests without a valid API key"


# Bearer JWTs from the identity provider (OIDC). Each refusal names its reason in `code`, and
# the reasons that concern claims (expired, audience, issuer) are only reached once the
# signature has been verified: a forger learns nothing beyond "bad signature".
class InvalidToken(Unauthorized):
    code = "token_invalid"
    title = "Invalid access token"


class TokenMalformed(InvalidToken):
    code = "token_malformed"
    title = "The access token is not a well-formed JWT"


class TokenAlgorithm(InvalidToken):
    code = "token_algorithm"
    title = "The access token's signature algorithm is not accepted"


class TokenKeyUnknown(InvalidToken):
    code = "token_key_unknown"
    title = "The access token was signed with a key the issuer does not publish"


class TokenSignature(InvalidToken):
    code = "token_signature"
    title = "The access token's signature is not valid"


class TokenExpired(InvalidToken):
    code = "token_expired"
    title = "The access token has expired"


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"
    title = "The access token is not valid yet"


class TokenIssuer(InvalidToken):
    code = "token_issuer"
    title = "The access token comes from another issuer"


class TokenAudience(InvalidToken):
    code = "token_audience"
    title = "The access token is meant for another audience"


class TokenClaims(InvalidToken):
    code = "token_claims"
    title = "The access token lacks a claim Puls needs"


class PersonNotLinked(Forbidden):
    code = "person_not_linked"
    title = "The signed-in user is not linked to a person in Puls"


class TokenUnitUnknown(Forbidden):
    code = "token_unit_unknown"
    title = "The access token names an org unit Puls does not know"


class IdentityProviderUnavailable(ServiceUnavailable):
    code = "identity_provider_unavailable"
    title = "The identity provider's keys could not be fetched"
