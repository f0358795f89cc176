"""One settings object for API, worker and CLI, read from the environment."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.principal import Scope

Environment = Literal["development", "test", "production"]
# The shortest bootstrap API key and pseudonym key production accepts (secrets.token_urlsafe(32)
# gives 43 characters: 256 bits).
MIN_SECRET_LENGTH = 32
# Records in one batch request at most: the contract's `maxItems` of `records`.
MAX_BATCH_RECORDS = 10_000
# The schemes each service URL may have, and what an operator who sets another one is told.
_URL_SCHEMES: dict[str, tuple[tuple[str, ...], str]] = {
    "database_url": (
        ("postgresql://", "postgresql+asyncpg://", "postgres://"),
        "must be a postgresql:// URL; Puls runs on PostgreSQL only",
    ),
    "redis_url": (("redis://", "rediss://", "unix://"), "must be a redis:// or rediss:// URL"),
}

# The signature algorithms PULS_OIDC_ALGORITHMS may name: public-key ones only.
OIDC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# The scopes a role may map to.
KNOWN_SCOPES = frozenset(scope.value for scope in Scope)

_NEW_KEY_HINT = (
    "make one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)
_DEVELOPMENT_SECRETS_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"puls development and test secrets key, not secret").digest()
)


def _fernet_keys(value: str) -> list[bytes]:
    """Each comma-separated entry must be a Fernet key: 32 bytes in url-safe base64."""
    entries = [entry.strip() for entry in value.split(",")]
    keys: list[bytes] = []
    for number, entry in enumerate(entries, start=1):
        try:
            raw = base64.b64decode(entry.encode(), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                f"key {number} of {len(entries)} is not a Fernet key (32 bytes in url-safe "
                f"base64, keys separated by commas, the newest first); {_NEW_KEY_HINT}"
            )
        keys.append(entry.encode())
    return keys


class Settings(BaseSettings):
    # Errors never echo a value: a malformed key or a URL with a password stays out of logs.
    model_config = SettingsConfigDict(
        env_prefix="PULS_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    env: Environment = "development"
    # The two URLs are read without the PULS_ prefix because every tool in the ecosystem uses them.
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias="DATABASE_URL",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    # A streaming replica for the heavy reads (series, scorecards); unset: every read on the
    # primary. Writes, idempotency and audit always go to DATABASE_URL.
    database_read_url: str | None = Field(default=None, validation_alias="DATABASE_READ_URL")
    read_replica_max_lag_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A replica further behind the primary than this is not read from.",
    )
    read_replica_retry_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After the replica failed to answer, reads go to the primary this long "
        "before it is tried again.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Recalculation rounds a worker runs side by side on disjoint org units: PostgreSQL runs
    # each round's statements on one core, so a full recalculation wants one per core.
    recalculation_lanes: int = Field(default=2, ge=1, le=16)
    # A small backlog's rounds start at most this often (a feed's batches coalesce).
    recalculation_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    db_statement_timeout_ms: int = Field(default=60_000, ge=100)
    # A recalculation round's statements each read its share of the claimed units' records:
    # about 20 s at 10 M records with two lanes, beyond the requests' timeout above.
    recalculation_statement_timeout_ms: int = Field(default=900_000, ge=1_000)

    bootstrap_api_key: SecretStr | None = None
    pseudonym_key: SecretStr | None = None
    # Raised with each new PULS_PSEUDONYM_KEY (docs/security.md, Rotating the pseudonym key);
    # version 1's pseudonyms are those of the key before versions existed.
    pseudonym_key_version: int = Field(default=1, ge=1, le=999)
    # Fernet keys that encrypt webhook signing secrets at rest, comma-separated, newest first:
    # the first encrypts, every one decrypts (rotation). Required in production.
    secrets_key: SecretStr | None = None

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # API processes `puls api` starts (one per core is usual); their metrics are summed.
    api_workers: int = Field(default=1, ge=1, le=64)
    worker_metrics_port: int = Field(
        default=9100, ge=0, le=65535, description="0 picks a free port"
    )
    worker_metrics_host: str = "127.0.0.1"

    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)
    # The batch schemas' `maxItems`; a lower setting refuses longer batches with 413.
    max_batch_records: int = Field(default=MAX_BATCH_RECORDS, ge=1, le=MAX_BATCH_RECORDS)
    rate_limit_per_minute: int = Field(default=6_000, ge=1)
    # Requests without a valid key from one client address per minute; beyond them 429.
    auth_failure_limit_per_minute: int = Field(default=30, ge=1)
    # Pages of person-level records (time records, employments, violations) per key (API6).
    person_data_rate_limit_per_minute: int = Field(default=120, ge=1)
    # Units of the per-key limit that a `children=true` series or a scorecard costs (API4).
    # Each computes one series per child unit or one point per KPI with a target, typically
    # 10-30 of them, where a plain read computes one; 20 is that typical size, so a key gets
    # rate_limit_per_minute / 20 (300 by default) of them a minute.
    expensive_read_cost: int = Field(default=20, ge=1)
    # Child units a `children=true` series computes at most; above it 422 naming the cap.
    max_child_series: int = Field(default=300, ge=1)
    min_group_size: int = Field(default=5, ge=1)
    # The region's local time (an IANA zone): working-time periods, agency-policy windows,
    # meeting schedules and the times printed in minutes. API timestamps stay RFC 3339 in UTC.
    local_timezone: str = "Europe/Stockholm"
    idempotency_in_flight_seconds: int = Field(default=120, ge=1)

    accepted_from_date: date = Field(
        default=date(2000, 1, 1), description="Fed records dated earlier are rejected."
    )
    accepted_days_ahead: int = Field(default=366, ge=0, le=3660)
    time_records_retention_years: int | None = Field(
        default=None,
        ge=1,
        description="Monthly partitions of time records wholly older than this many years are "
        "detached and dropped by the worker's cron (default: keep all).",
    )
    batch_process_min_records: int = Field(
        default=1_000,
        ge=1,
        description="JSON batches of at least this many records are validated in a child "
        "process at a lower priority, so the API's reads do not wait for them.",
    )
    import_process_min_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Import files at least this large are validated in a child process.",
    )
    import_dir: str = Field(
        default="",
        description="Where uploaded files wait for the worker; defaults to <data_dir>/imports.",
    )
    import_max_line_length: int = Field(
        default=65_536,
        ge=1_024,
        description="A longer line of an import file (CSV header included) fails the import "
        "with its line number instead of being read whole.",
    )
    import_max_active_per_key: int = Field(
        default=3,
        ge=1,
        description="Imports a key may have queued or running at once; one more is 429.",
    )

    queue_name: str = "puls:queue"
    redis_prefix: str = "puls"
    worker_poll_delay_seconds: float = Field(default=0.05, gt=0, le=5)
    worker_max_jobs: int = Field(default=10, ge=1)

    # Webhooks (issue 8). Development conveniences are off by default.
    webhooks_allow_http: bool = False
    webhooks_allow_private_addresses: bool = False
    webhooks_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhooks_max_response_bytes: int = Field(default=64 * 1024, ge=0)
    webhooks_max_concurrency: int = Field(default=8, ge=1, le=100)
    webhooks_batch_size: int = Field(default=100, ge=1, le=1000)
    webhooks_send_budget_seconds: float = Field(default=10.0, gt=0)
    webhooks_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    )
    webhooks_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    webhooks_max_retry_after_seconds: float = Field(default=86400.0, ge=0)
    webhooks_disable_after_seconds: float = Field(default=5 * 86400.0, gt=0)
    webhooks_secret_overlap_seconds: int = Field(default=86400, ge=0)
    webhooks_fanout_batch: int = Field(default=5000, ge=1)
    webhooks_outbox_gap_grace_seconds: float = Field(default=10.0, ge=0)
    # Extra CA bundle for receivers behind a region's own CA (default: the system's trust store).
    webhooks_ca_file: str | None = None
    webhooks_log_retention_days: int = Field(default=30, ge=1)

    # Action plans (issue 6): `action.due_soon` is published this many days before a due date.
    plans_due_soon_days: int = Field(default=7, ge=0, le=365)

    # Sign-in with the region's identity provider (issue 23): bearer JWT access tokens from
    # this issuer, beside API keys. Unset: API keys only.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    # Never `none` or HS*: a shared secret would let anyone holding the public key sign.
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "PS256", "ES256"])
    # A claim holding the caller's roles; dotted for nested ones (`realm_access.roles`).
    oidc_role_claim: str = "roles"
    # role → scopes, e.g. {"puls-planner": ["read", "plans:write"]}; unmapped roles give none.
    oidc_role_scopes: dict[str, list[str]] = Field(default_factory=dict)
    # A claim holding an org unit code that confines the caller to its subtree; unset (or
    # absent from a token), the person's own unit does, and a person without one sees all.
    oidc_unit_claim: str | None = None
    # A person without a subject is found by a verified `email` claim equal to theirs. Off by
    # default: a key that may edit people (plans:write) could otherwise set someone's e-mail
    # to an address it controls at the identity provider and sign in as them.
    oidc_link_by_email: bool = False
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    oidc_jwks_cache_seconds: int = Field(default=3600, ge=1)
    # An unknown `kid` refetches the JWKS at most this often (a flood of made-up kids must
    # not become a flood of requests to the identity provider).
    oidc_jwks_min_refetch_seconds: float = Field(default=60.0, ge=0)
    oidc_http_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # The development issuer `puls run` starts (never in production, only on 127.0.0.1).
    dev_issuer_port: int = Field(default=8001, ge=1, le=65535)
    # E-mail (issue 23): the SMTP server the worker hands mail to. The defaults reach the
    # catching server `puls run` starts; production sets its relay, TLS mode and credentials.
    mail_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    # none: plain (a local relay); starttls: upgrade after connecting (port 587); tls: TLS from
    # the first byte (port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Extra CA bundle for a relay behind a region's own CA (default: the system's trust store).
    smtp_ca_file: str | None = None
    mail_from: str = "Puls <puls@localhost>"
    # Where links in e-mails and calendar events point: the frontend, not the API.
    frontend_url: str = "http://127.0.0.1:3000"
    mail_default_language: Literal["sv", "en"] = "sv"
    # A reminder goes this many days before a due date (actions and assignments).
    mail_reminder_days: int = Field(default=3, ge=0, le=60)
    # An overdue notice goes for items at most this many days past due (the weekly digest lists
    # older ones), so turning mail on does not send a notice for every item late for years.
    mail_overdue_max_days: int = Field(default=30, ge=1, le=3650)
    # Invitations go for meetings starting within this many days (a schedule generates a year).
    mail_invitation_horizon_days: int = Field(default=60, ge=1, le=366)
    mail_batch_size: int = Field(default=500, ge=1, le=10_000)
    # SMTP connections one delivery run uses side by side.
    mail_connections: int = Field(default=4, ge=1, le=32)
    # Waits before each retry after a temporary failure; after the last the message is failed.
    # After this many days a sent, failed or skipped e-mail keeps only what it was about (its
    # key, kind, person, status): address, subject and body are blanked (personal data).
    mail_body_retention_days: int = Field(default=30, ge=1, le=3650)
    mail_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 21600.0, 43200.0]
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # None: human-readable lines in development and test, JSON lines in production (for a log
    # shipper); either may be forced.
    log_format: Literal["text", "json"] | None = None
    # None: served except in production, where only PULS_DOCS_ENABLED=true serves them.
    docs_enabled: bool | None = None
    cors_origins: list[str] = Field(default_factory=list)
    data_dir: str = ".puls"

    @field_validator("database_url", "redis_url")
    @classmethod
    def _known_scheme(cls, value: str, info: ValidationInfo) -> str:
        schemes, refusal = _URL_SCHEMES[str(info.field_name)]
        if not value.startswith(schemes):
            raise ValueError(refusal)
        return value

    @field_validator("local_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name such as Europe/Stockholm") from None
        return value

    @property
    def local_zone(self) -> ZoneInfo:
        """`local_timezone` as a zone: meeting schedules and minutes use it."""
        return ZoneInfo(self.local_timezone)

    @field_validator("secrets_key")
    @classmethod
    def _valid_secrets_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _fernet_keys(value.get_secret_value())
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: list[str]) -> list[str]:
        allowed = set(OIDC_ALGORITHMS)
        for name in value:
            if name not in allowed:
                raise ValueError(
                    f"{name!r} is not allowed; use asymmetric algorithms only "
                    f"({', '.join(OIDC_ALGORITHMS)})"
                )
        if not value:
            raise ValueError("name at least one algorithm")
        return value

    @field_validator("oidc_role_scopes")
    @classmethod
    def _known_scopes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, scopes in value.items():
            unknown = sorted(set(scopes) - KNOWN_SCOPES)
            if unknown:
                raise ValueError(
                    f"role {role!r} maps to unknown scopes {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(KNOWN_SCOPES))}"
                )
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_audience:
            raise ValueError("PULS_OIDC_AUDIENCE is required when PULS_OIDC_ISSUER is set")
        if self.env == "production" and not self.oidc_issuer.startswith("https://"):
            raise ValueError("PULS_OIDC_ISSUER must be an https:// URL when PULS_ENV=production")
        if not self.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError("PULS_OIDC_ISSUER must be an http(s):// URL")
        return self

    @model_validator(mode="after")
    def _production_needs_secrets_key(self) -> Settings:
        if self.env == "production" and self.secrets_key is None:
            raise ValueError(
                f"PULS_SECRETS_KEY is required when PULS_ENV=production; {_NEW_KEY_HINT}"
            )
        return self

    @property
    def secrets_keys(self) -> list[bytes]:
        """The Fernet keys of `PULS_SECRETS_KEY`, newest first. Development and test, when it is
        unset, use one derived from a fixed label: stable across restarts (what they stored stays
        readable) and no secret at all, which production (the key is required there) never uses."""
        if self.secrets_key is None:
            return [_DEVELOPMENT_SECRETS_KEY]
        return _fernet_keys(self.secrets_key.get_secret_value())

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env != "production":
            return self
        if self.pseudonym_key is None:
            raise ValueError("PULS_PSEUDONYM_KEY is required when PULS_ENV=production")
        for name, secret in (
            ("PULS_PSEUDONYM_KEY", self.pseudonym_key),
            ("PULS_BOOTSTRAP_API_KEY", self.bootstrap_api_key),
        ):
            if secret is not None and len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{name} must be at least {MIN_SECRET_LENGTH} characters when "
                    "PULS_ENV=production (make one with: python3 -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )
        return self

    @property
    def logs_as_json(self) -> bool:
        if self.log_format is None:
            return self.env == "production"
        return self.log_format == "json"

    @property
    def serves_docs(self) -> bool:
        """`/docs` and `/openapi.json`: off in production unless PULS_DOCS_ENABLED=true."""
        if self.docs_enabled is None:
            return self.env != "production"
        return self.docs_enabled

    @property
    def async_database_url(self) -> str:
        scheme, _, rest = self.database_url.partition("://")
        return f"postgresql+asyncpg://{rest}"

    @property
    def sync_database_url(self) -> str:
        """The plain libpq-style URL, for asyncpg.connect and pg tools."""
        _, _, rest = self.database_url.partition("://")
        return f"postgresql://{rest}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def describe_settings_error(exc: Exception) -> str:
    """Turns a pydantic ValidationError into lines an operator can act on."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    lines = ["Invalid configuration:"]
    for error in errors():
        loc = ".".join(str(p) for p in error.get("loc", ())) or "settings"
        name = loc if loc in ("DATABASE_URL", "REDIS_URL") else f"PULS_{loc.upper()}"
        if loc == "settings":
            name = "settings"
        lines.append(f"  {name}: {error.get('msg')}")
    return "\n".join(lines)
