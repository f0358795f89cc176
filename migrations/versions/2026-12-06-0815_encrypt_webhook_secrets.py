"""webhook signing secrets encrypted at rest; stored idempotent answers lose their secrets

The current and previous signing secret of every subscription are encrypted with the newest key
of PULS_SECRETS_KEY (Fernet, `services/core/webhooks/secret_box.py`) into new columns, and the
clear columns are dropped. The answers the idempotency store kept for `POST /v1/api-keys` and
`POST /v1/webhooks` held the new token or secret; they keep the resource with the secret null
and the `Secret-Redacted` header, as answers stored from now on do. Downgrading decrypts the
secrets back (the stored answers stay redacted: that is what the older code also accepts).

Revision ID: 20261206_0815_sealed_secrets
Revises: 20261206_0800_audit_append_only
Create Date: 2026-12-06 08:15:00+00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from services.core.config import get_settings
from services.core.webhooks import secret_box

revision: str = "20261206_0815_sealed_secrets"
down_revision: str | Sequence[str] | None = "20261206_0800_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (path of the creating POST, the field of its 201 answer that holds the secret)
_SECRET_ANSWERS = (("/v1/api-keys", "token"), ("/v1/webhooks", "secret"))


def _convert(old: tuple[str, str], new: tuple[str, str], change: Callable[[str], str]) -> None:
    """Copies each subscription's (secret, previous secret) from the `old` columns into the
    `new` ones through `change` (encrypt or decrypt)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {old[0]}, {old[1]} FROM webhook_subscriptions"))
    for row in rows.all():
        bind.execute(
            sa.text(
                f"UPDATE webhook_subscriptions SET {new[0]} = :secret, {new[1]} = :previous "
                "WHERE id = :id"
            ),
            {
                "id": row[0],
                "secret": change(row[1]),
                "previous": None if row[2] is None else change(row[2]),
            },
        )


def upgrade() -> None:
    settings = get_settings()
    op.add_column("webhook_subscriptions", sa.Column("encrypted_secret", sa.Text()))
    op.add_column("webhook_subscriptions", sa.Column("encrypted_previous_secret", sa.Text()))
    _convert(
        ("secret", "previous_secret"),
        ("encrypted_secret", "encrypted_previous_secret"),
        lambda clear: secret_box.seal(settings, clear),
    )
    op.alter_column("webhook_subscriptions", "encrypted_secret", nullable=False)
    op.drop_column("webhook_subscriptions", "secret")
    op.drop_column("webhook_subscriptions", "previous_secret")
    for path, field in _SECRET_ANSWERS:
        op.execute(
            sa.text(
                "UPDATE idempotency_keys SET response_body = convert_to(jsonb_set("
                "convert_from(response_body, 'UTF8')::jsonb, ARRAY[CAST(:field AS text)], "
                "'null')::text, 'UTF8'), response_headers = coalesce(response_headers, "
                "'{}'::jsonb) || jsonb_build_object('Secret-Redacted', CAST(:field AS text)) "
                "WHERE method = 'POST' AND path = :path AND state = 'completed' "
                "AND response_status = 201"
            ).bindparams(path=path, field=field)
        )


def downgrade() -> None:
    settings = get_settings()
    op.add_column("webhook_subscriptions", sa.Column("secret", sa.Text()))
    op.add_column("webhook_subscriptions", sa.Column("previous_secret", sa.Text()))
    _convert(
        ("encrypted_secret", "encrypted_previous_secret"),
        ("secret", "previous_secret"),
        lambda sealed: secret_box.unseal(settings, sealed),
    )
    op.alter_column("webhook_subscriptions", "secret", nullable=False)
    op.drop_column("webhook_subscriptions", "encrypted_secret")
    op.drop_column("webhook_subscriptions", "encrypted_previous_secret")
