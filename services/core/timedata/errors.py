from services.core.errors import (
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)


class BatchTooLarge(PayloadTooLarge):
    code = "batch_too_large"
    title = "Too many records in one batch"


class BatchRejected(ValidationFailed):
    code = "batch_rejected"
    title = "The batch has bad records and was stored atomically: nothing was stored"


class PseudonymKeyMissing(ServiceUnavailable):
    code = "pseudonym_key_missing"
    title = "PULS_PSEUDONYM_KEY is not configured"


class ImportNotFound(NotFound):
    code = "import_not_found"
    title = "Import not found"


class ProfessionNotFound(NotFound):
    code = "profession_not_found"
    title = "Profession not found"


class UnknownProfession(ValidationFailed):
    code = "unknown_profession"
    title = "Unknown profession"


class TooManyImports(RateLimited):
    code = "too_many_imports"
    title = "Too many imports queued or running for this key"


class PartitionUnavailable(ServiceUnavailable):
    code = "partition_unavailable"
    title = "A month's partition of time records could not be created; nothing was stored"
