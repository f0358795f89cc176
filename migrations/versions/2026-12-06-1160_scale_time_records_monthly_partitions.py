"""time_records partitioned by month on work_date; time_record_keys keeps (source, external_id)
unique across the partitions

The rows move into the partitioned table in the migration's transaction (nothing is lost or
seen half-moved); the partitions are those of the months holding data and the current month.

Revision ID: 20261206_1160_scale_partitions
Revises: 20261206_1130_fact_people
"""

from collections.abc import Sequence
from datetime import date

from alembic import op

revision: str = "20261206_1160_scale_partitions"
down_revision: str | Sequence[str] | None = "20261206_1130_fact_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_time_records_org_unit_id_work_date", "org_unit_id, work_date"),
    ("ix_time_records_employee_work_date", "employee, work_date"),
    ("ix_time_records_updated_at_id", "updated_at, id"),
)
_FOREIGN_KEYS = (
    "ADD CONSTRAINT fk_time_records_org_unit_id_org_units FOREIGN KEY (org_unit_id) "
    "REFERENCES org_units (id)",
    "ADD CONSTRAINT fk_time_records_profession_professions FOREIGN KEY (profession) "
    "REFERENCES professions (code)",
)


def _set_aside(unique: str) -> None:
    """Renames time_records and its schema-wide names (indexes, identity sequence) away."""
    op.execute("ALTER TABLE time_records RENAME TO time_records_before")
    for name in ("pk_time_records", unique, *(n for n, _ in _INDEXES)):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_before")
    op.execute("ALTER SEQUENCE time_records_id_seq RENAME TO time_records_before_id_seq")


def _indexes_and_keys() -> None:
    for name, columns in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON time_records ({columns})")
    for fk in _FOREIGN_KEYS:
        op.execute(f"ALTER TABLE time_records {fk}")
    op.execute(
        "SELECT setval('time_records_id_seq', max(id)) FROM time_records HAVING max(id) IS NOT NULL"
    )


def upgrade() -> None:
    _set_aside("uq_time_records_source_external_id")
    op.execute(
        "CREATE TABLE time_records (LIKE time_records_before INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS INCLUDING IDENTITY) PARTITION BY RANGE (work_date)"
    )
    op.execute(
        "ALTER TABLE time_records ADD CONSTRAINT pk_time_records PRIMARY KEY (id, work_date), "
        "ADD CONSTRAINT uq_time_records_source_external_id_work_date "
        "UNIQUE (source, external_id, work_date)"
    )
    # One partition per month with data, and this month's (the worker's cron makes the rest
    # ahead; ingest makes any other a record needs).
    this_month = date.today().replace(day=1).isoformat()
    op.execute(f"""
        DO $$
        DECLARE m date;
        BEGIN
            FOR m IN SELECT DISTINCT date_trunc('month', work_date)::date FROM time_records_before
                UNION SELECT DATE '{this_month}' ORDER BY 1
            LOOP
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF time_records FOR VALUES FROM (%L) TO (%L)',
                    'time_records_p' || to_char(m, 'YYYYMM'), m, m + interval '1 month');
            END LOOP;
        END $$
    """)
    op.execute("INSERT INTO time_records SELECT * FROM time_records_before")
    op.execute("""
        CREATE TABLE time_record_keys (
            source text NOT NULL, external_id text NOT NULL, work_date date NOT NULL,
            CONSTRAINT pk_time_record_keys PRIMARY KEY (source, external_id))
    """)
    op.execute(
        "INSERT INTO time_record_keys SELECT source, external_id, work_date "
        "FROM time_records_before"
    )
    op.execute("DROP TABLE time_records_before")
    _indexes_and_keys()


def downgrade() -> None:
    _set_aside("uq_time_records_source_external_id_work_date")
    op.execute(
        "CREATE TABLE time_records (LIKE time_records_before INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
    )
    op.execute(
        "ALTER TABLE time_records ADD CONSTRAINT pk_time_records PRIMARY KEY (id), "
        "ADD CONSTRAINT uq_time_records_source_external_id UNIQUE (source, external_id)"
    )
    op.execute("INSERT INTO time_records SELECT * FROM time_records_before")
    op.execute("DROP TABLE time_records_before")
    op.execute("DROP TABLE time_record_keys")
    _indexes_and_keys()
