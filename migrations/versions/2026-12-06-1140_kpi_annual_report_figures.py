"""the annual report's figures: presence and absence, pay form, spells of 60+ days, new KPIs

Cost budgets are a new feed (`budgets`); units write analyses of a KPI's figure
(`kpi_analyses`, every version kept); closing a period publishes its figures
(`kpi_period_closures`, `kpi_published`). Employments carry their pay form (`monthly` | `hourly`, and the sender's `pay_form_code`);
existing `hourly` contracts become hourly-paid. Staff facts are split by pay form (a new key
column of `kpi_facts`, '' for the other kinds). New measures: worked hours inside the schedule,
monthly-paid scheduled and hourly-paid worked hours, non-managers, women, women managers, hires,
summer staff and their recovery, consultant cost. Personnel costs take the category
`consultant`; code mappings the kind `pay_form`; targets the strict comparators `lt` / `gt` and
a trajectory (`reach_by`, `start_period`). A dirty mark knows whether a recalculation made it
(`spill`). The survey indices of the annual reports are predefined manual KPIs.

The facts are derived: after upgrading, one `POST /v1/recalculations` recomputes them with the
new definitions (CHANGELOG.md).

Revision ID: 20261206_1100_kpi_report_figures
Revises: 20261206_1100_mail
Create Date: 2026-12-06 11:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_1100_kpi_report_figures"
down_revision: str | Sequence[str] | None = "20261206_102_c2_catalogues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MEASURES = (
    "present",
    "scheduled_monthly",
    "worked_hourly",
    "non_managers",
    "women",
    "women_managers",
    "hires",
    "summer_staff",
    "recovered",
    "cost_consultant",
    "budget_total",
    "budget_agency",
    "budget_consultant",
)

# (code, name_en, name_sv, unit, description): the staff survey's indices as seed 002 prints
# them, entered yearly by each unit.
SURVEY_KPIS = (
    ("hme_index", "Sustainable employee engagement (HME)", "Hållbart medarbetarengagemang (HME)",
     "ratio", "HME total index, 0–100, from the yearly staff survey."),
    ("hme_leadership", "HME: leadership", "HME: ledarskap", "ratio",
     "HME sub-index leadership, 0–100."),
    ("hme_motivation", "HME: motivation", "HME: motivation", "ratio",
     "HME sub-index motivation, 0–100."),
    ("hme_governance", "HME: governance", "HME: styrning", "ratio",
     "HME sub-index governance, 0–100."),
    ("survey_response_rate_pct", "Staff survey response rate", "Svarsfrekvens medarbetarenkät",
     "percent", "Share of employees who answered the staff survey."),
    ("would_recommend_pct", "Would recommend the workplace",
     "Kan rekommendera sin arbetsplats", "percent",
     "Share of respondents who would recommend their workplace."),
    ("development_talk_pct", "Development talks held", "Genomförda medarbetarsamtal",
     "percent", "Share of respondents whose development talk led to an individual plan."),
)  # fmt: skip


# Every measure column of the facts, as of this revision (the week facts have them all).
_ALL_MEASURES = (
    "scheduled", "sick", "sick_short", "sick_long", "sick_60", "absent", "overtime",
    "extra_time", "on_call", "quick_returns", "worked", "worked_agency", "worked_agency_doctor", "headcount", "fte",
    "permanent", "fixed_term", "monthly_paid", "full_time", "managers", "ended", "cost_agency",
    "cost_total", "violations", "violation_hours", *_MEASURES,
)  # fmt: skip


def _create_week_facts() -> None:
    op.create_table(
        "kpi_week_facts",
        sa.Column("employees", sa.Integer(), nullable=True),
        *[sa.Column(m, sa.Numeric(), nullable=True) for m in _ALL_MEASURES],
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("profession", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_unit_id", "week", "kind", "profession", name=op.f("pk_kpi_week_facts")
        ),
    )
    op.create_index("ix_kpi_week_facts_kind_week", "kpi_week_facts", ["kind", "week"])


def upgrade() -> None:
    op.add_column(
        "employments",
        sa.Column("pay_form", sa.Text(), server_default="monthly", nullable=False),
    )
    op.add_column("employments", sa.Column("pay_form_code", sa.Text(), nullable=True))
    op.execute("UPDATE employments SET pay_form = 'hourly' WHERE contract = 'hourly'")
    op.create_check_constraint("pay_form", "employments", "pay_form IN ('monthly', 'hourly')")
    op.drop_constraint(op.f("ck_personnel_costs_category"), "personnel_costs", type_="check")
    op.create_check_constraint(
        "category", "personnel_costs", "category IN ('own_staff', 'agency', 'consultant')"
    )
    op.drop_constraint(op.f("ck_code_mappings_kind"), "code_mappings", type_="check")
    op.create_check_constraint(
        "kind", "code_mappings", "kind IN ('time', 'profession', 'pay_form')"
    )
    op.drop_constraint(op.f("ck_kpi_targets_comparator"), "kpi_targets", type_="check")
    op.create_check_constraint(
        "comparator", "kpi_targets", "comparator IN ('lte', 'gte', 'lt', 'gt')"
    )
    op.add_column("kpi_targets", sa.Column("reach_by", sa.Text(), nullable=True))
    op.add_column("kpi_targets", sa.Column("start_period", sa.Text(), nullable=True))
    op.add_column(
        "kpi_dirty_cells",
        sa.Column("spill", sa.Boolean(), server_default="false", nullable=False),
    )
    for table in ("kpi_facts", "kpi_cell_totals"):
        for measure in _MEASURES:
            op.add_column(table, sa.Column(measure, sa.Numeric(), nullable=True))
    op.add_column("kpi_facts", sa.Column("pay_form", sa.Text(), server_default="", nullable=False))
    op.drop_constraint(op.f("pk_kpi_facts"), "kpi_facts", type_="primary")
    op.create_primary_key(
        "pk_kpi_facts",
        "kpi_facts",
        ["org_unit_id", "month", "kind", "profession", "staff_kind", "gender", "age_band",
         "pay_form"],
    )  # fmt: skip
    _create_week_facts()
    op.create_table(
        "kpi_period_closures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.Column(
            "closed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("reopened_by", sa.Text(), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_period_closures")),
    )
    op.create_index(
        "uq_kpi_period_closures_open",
        "kpi_period_closures",
        ["period"],
        unique=True,
        postgresql_where=sa.text("reopened_at IS NULL"),
    )
    op.create_table(
        "kpi_published",
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("kpi", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("numerator", sa.Numeric(), nullable=True),
        sa.Column("denominator", sa.Numeric(), nullable=True),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("period", "kpi", "org_unit_id", name=op.f("pk_kpi_published")),
    )  # fmt: skip
    op.create_table(
        "kpi_analyses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kpi", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column(
            "written_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_kpi_analyses_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_analyses")),
    )
    op.create_index(
        "ix_kpi_analyses_kpi_org_unit_id_period", "kpi_analyses", ["kpi", "org_unit_id", "period"]
    )
    op.create_table(
        "budgets",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("last_month", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("amount_sek", sa.Numeric(16, 2), nullable=False),
        sa.Column("content_hash", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "category IN ('personnel', 'own_staff', 'agency', 'consultant')",
            name=op.f("ck_budgets_category"),
        ),
        sa.CheckConstraint("first_month <= last_month", name=op.f("ck_budgets_months")),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_budgets_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_budgets_source_external_id")),
    )  # fmt: skip
    op.create_index("ix_budgets_org_unit_id_first_month", "budgets", ["org_unit_id", "first_month"])
    manual = sa.table(
        "manual_kpis",
        sa.column("code", sa.Text),
        sa.column("name_en", sa.Text),
        sa.column("name_sv", sa.Text),
        sa.column("unit", sa.Text),
        sa.column("better", sa.Text),
        sa.column("grains", sa.ARRAY(sa.Text)),
        sa.column("description", sa.Text),
    )
    op.execute(
        sa.insert(manual).values(
            [
                {
                    "code": code,
                    "name_en": name_en,
                    "name_sv": name_sv,
                    "unit": unit,
                    "better": "higher",
                    "grains": ["year"],
                    "description": description,
                }
                for code, name_en, name_sv, unit, description in SURVEY_KPIS
            ]
        )
    )


def downgrade() -> None:
    op.drop_table("kpi_week_facts")
    op.drop_table("budgets")
    op.drop_table("kpi_analyses")
    op.drop_table("kpi_published")
    op.drop_table("kpi_period_closures")
    codes = ", ".join(f"'{k[0]}'" for k in SURVEY_KPIS)
    op.execute(f"DELETE FROM manual_kpi_values WHERE kpi IN ({codes})")
    op.execute(f"DELETE FROM manual_kpis WHERE code IN ({codes})")
    op.execute("DELETE FROM kpi_facts WHERE pay_form = 'hourly'")
    op.drop_constraint(op.f("pk_kpi_facts"), "kpi_facts", type_="primary")
    op.drop_column("kpi_facts", "pay_form")
    op.create_primary_key(
        "pk_kpi_facts",
        "kpi_facts",
        ["org_unit_id", "month", "kind", "profession", "staff_kind", "gender", "age_band"],
    )
    for table in ("kpi_facts", "kpi_cell_totals"):
        for measure in _MEASURES:
            op.drop_column(table, measure)
    op.drop_column("kpi_dirty_cells", "spill")
    op.drop_column("kpi_targets", "start_period")
    op.drop_column("kpi_targets", "reach_by")
    op.execute("DELETE FROM kpi_targets WHERE comparator IN ('lt', 'gt')")
    op.drop_constraint(op.f("ck_kpi_targets_comparator"), "kpi_targets", type_="check")
    op.create_check_constraint("comparator", "kpi_targets", "comparator IN ('lte', 'gte')")
    op.execute("DELETE FROM code_mappings WHERE kind = 'pay_form'")
    op.drop_constraint(op.f("ck_code_mappings_kind"), "code_mappings", type_="check")
    op.create_check_constraint("kind", "code_mappings", "kind IN ('time', 'profession')")
    op.execute("DELETE FROM personnel_costs WHERE category = 'consultant'")
    op.drop_constraint(op.f("ck_personnel_costs_category"), "personnel_costs", type_="check")
    op.create_check_constraint("category", "personnel_costs", "category IN ('own_staff', 'agency')")
    op.drop_constraint(op.f("ck_employments_pay_form"), "employments", type_="check")
    op.drop_column("employments", "pay_form_code")
    op.drop_column("employments", "pay_form")
