"""audit_log is append-only: a trigger refuses UPDATE and DELETE

The audit trail of person-level reads and of every change must hold even against a bug or a
stray statement on the application's own connection: the database refuses to change or delete
an audit row. Nothing in Puls updates or deletes one; the test harness empties tables with
TRUNCATE, which row and statement triggers on UPDATE/DELETE do not see (a retention purge, if
one is ever wanted, is a migration that drops the trigger for its run).

Revision ID: 20261206_0800_audit_append_only
Revises: 20261206_0700_cross_domain_fks
Create Date: 2026-12-06 08:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_0800_audit_append_only"
down_revision: str | Sequence[str] | None = "20261206_0700_cross_domain_fks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
