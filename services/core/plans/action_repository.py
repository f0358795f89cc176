"""The SQL of actions: lookups, filtered pages, the bulk upsert with its history, the summary's
counts and the due/overdue scan."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.core.crud import Window, fetch_mirrored, live_row, text_search
from services.core.pagination import Sort, SortField
from services.core.plans.models import Action, ActionPackage, ActionPlan
from services.core.plans.schemas import OverdueAction
from services.core.tree import OrgUnit, in_subtree

OPEN_STATUSES = ("not_started", "in_progress", "postponed")


async def bump_actions_version(session: AsyncSession, plan_id: uuid.UUID) -> int:
    result = await session.execute(
        sa.update(ActionPlan)
        .where(col(ActionPlan.id) == plan_id)
        .values(actions_version=col(ActionPlan.actions_version) + 1)
        .returning(col(ActionPlan.actions_version))
    )
    version: int = result.scalar_one()
    return version


# --- actions -------------------------------------------------------------------------------


def _action_with_org() -> Any:
    stmt: Any = sa.select(Action, col(OrgUnit.code))
    return stmt.outerjoin(OrgUnit, col(OrgUnit.id) == col(Action.org_unit_id))


async def get_action(
    session: AsyncSession,
    action_id: uuid.UUID,
    *,
    for_update: bool = False,
    fresh: bool = False,
) -> Any:
    """`fresh` overwrites what the session holds of the row (after a write around the ORM)."""
    stmt = _action_with_org()
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return await live_row(session, stmt, Action, action_id, for_update=for_update)


async def package_has_actions(session: AsyncSession, package_id: uuid.UUID) -> bool:
    stmt = sa.select(
        sa.exists().where(col(Action.package_id) == package_id, col(Action.deleted_at).is_(None))
    )
    return bool((await session.execute(stmt)).scalar())


async def action_code_taken(
    session: AsyncSession, plan_id: uuid.UUID, code: str, *, other_than: uuid.UUID | None = None
) -> bool:
    stmt = sa.select(
        sa.exists().where(
            col(Action.plan_id) == plan_id,
            col(Action.code) == code,
            col(Action.id) != other_than if other_than else sa.true(),
        )
    )
    return bool((await session.execute(stmt)).scalar())


ACTION_SORTS = {
    "due_date": Sort("due_date", (SortField(col(Action.due_date), date(9999, 12, 31)),)),
    "-due_date": Sort(
        "-due_date", (SortField(col(Action.due_date), date(9999, 12, 31)),), descending=True
    ),
}


def _action_filters(
    stmt: Any,
    plan_id: uuid.UUID | None,
    filters: dict[str, Any],
) -> Any:
    if plan_id is not None:
        stmt = stmt.where(col(Action.plan_id) == plan_id)
    if filters.get("status") is not None:
        stmt = stmt.where(col(Action.status) == filters["status"])
    if filters.get("package_id") is not None:
        stmt = stmt.where(col(Action.package_id) == filters["package_id"])
    if filters.get("responsible_id") is not None:
        stmt = stmt.where(col(Action.responsible_id) == filters["responsible_id"])
    if filters.get("area") is not None:
        stmt = stmt.where(col(Action.area_code) == filters["area"])
    if filters.get("overdue") is not None:
        marked = col(Action.overdue_since).is_not(None)
        stmt = stmt.where(marked if filters["overdue"] else sa.not_(marked))
    if filters.get("due_before") is not None:
        stmt = stmt.where(col(Action.due_date) < filters["due_before"])
    return text_search(
        stmt, filters.get("q"), col(Action.code), col(Action.title), col(Action.description)
    )


async def list_actions(
    session: AsyncSession, plan_id: uuid.UUID, filters: dict[str, Any], *, window: Window
) -> Sequence[Any]:
    stmt = _action_filters(_action_with_org(), plan_id, filters)
    return await fetch_mirrored(session, stmt, Action, window)


PlanUnit = aliased(OrgUnit)


async def list_actions_across_plans(
    session: AsyncSession,
    *,
    within: Sequence[str],
    filters: dict[str, Any],
    window: Window,
) -> Sequence[Any]:
    """Actions of every live plan whose unit lies under every path of `within`."""
    stmt: Any = (
        _action_with_org()
        .join(ActionPlan, col(ActionPlan.id) == col(Action.plan_id))
        .join(PlanUnit, col(PlanUnit.id) == col(ActionPlan.org_unit_id))
        .where(col(ActionPlan.deleted_at).is_(None))
    )
    stmt = stmt.where(*[in_subtree(col(PlanUnit.path), p) for p in within])
    stmt = _action_filters(stmt, None, filters)
    return await fetch_mirrored(session, stmt, Action, window)


async def all_actions(
    session: AsyncSession, plan_id: uuid.UUID, filters: dict[str, Any]
) -> Sequence[Any]:
    """Live actions with their org unit code and package name (CSV export)."""
    stmt: Any = (
        sa.select(Action, col(OrgUnit.code), col(ActionPackage.name))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(Action.org_unit_id))
        .outerjoin(ActionPackage, col(ActionPackage.id) == col(Action.package_id))
        .where(col(Action.deleted_at).is_(None))
    )
    stmt = _action_filters(stmt, plan_id, filters).order_by(col(Action.code))
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return rows


async def action_id_by_code(session: AsyncSession, plan_id: uuid.UUID, code: str) -> uuid.UUID:
    result = await session.execute(
        sa.select(col(Action.id)).where(col(Action.plan_id) == plan_id, col(Action.code) == code)
    )
    action_id: uuid.UUID = result.scalar_one()
    return action_id


async def current_statuses(
    session: AsyncSession, plan_id: uuid.UUID, codes: Sequence[str]
) -> dict[str, str]:
    rows = await session.execute(
        sa.select(col(Action.code), col(Action.status)).where(
            col(Action.plan_id) == plan_id,
            col(Action.code).in_(codes),
            col(Action.deleted_at).is_(None),
        )
    )
    return {r[0]: r[1] for r in rows.all()}


# The JSON shape of an action in the history, built by SQL the same way for every writer.
_ACTION_JSON = """jsonb_build_object(
    'code', {a}.code, 'title', {a}.title, 'description', {a}.description,
    'area', {a}.area_code, 'package_id', {a}.package_id, 'responsible_id', {a}.responsible_id,
    'org_unit', (SELECT code FROM org_units WHERE id = {a}.org_unit_id),
    'start_date', {a}.start_date, 'due_date', {a}.due_date,
    'follow_up_due_on', {a}.follow_up_due_on, 'status', {a}.status, 'progress', {a}.progress)"""

# Upsert by code and write one history row per inserted or changed action, in one statement:
# every CTE reads the snapshot from before the upsert, so `old` holds the values replaced.
_BULK_UPSERT = sa.text(f"""
WITH incoming AS (
    SELECT * FROM unnest(
        CAST(:codes AS text[]), CAST(:titles AS text[]), CAST(:descriptions AS text[]),
        CAST(:areas AS text[]), CAST(:package_ids AS uuid[]), CAST(:responsible_ids AS uuid[]),
        CAST(:org_unit_ids AS bigint[]), CAST(:start_dates AS date[]), CAST(:due_dates AS date[]),
        CAST(:statuses AS text[]), CAST(:progresses AS smallint[]),
        CAST(:follow_up_due_ons AS date[])
    ) AS t(code, title, description, area_code, package_id, responsible_id, org_unit_id,
           start_date, due_date, status, progress, follow_up_due_on)
),
old AS (
    SELECT a.id, a.deleted_at IS NOT NULL AS was_deleted, {_ACTION_JSON.format(a="a")} AS doc
    FROM actions a JOIN incoming i ON a.code = i.code
    WHERE a.plan_id = :plan_id
),
upserted AS (
    INSERT INTO actions AS a (plan_id, code, title, description, area_code, package_id,
        responsible_id, org_unit_id, start_date, due_date, status, progress, follow_up_due_on)
    SELECT :plan_id, code, title, description, area_code, package_id, responsible_id,
        org_unit_id, start_date, due_date, status, progress, follow_up_due_on
    FROM incoming
    ON CONFLICT (plan_id, code) DO UPDATE SET
        title = EXCLUDED.title, description = EXCLUDED.description,
        area_code = EXCLUDED.area_code, package_id = EXCLUDED.package_id,
        responsible_id = EXCLUDED.responsible_id, org_unit_id = EXCLUDED.org_unit_id,
        start_date = EXCLUDED.start_date, due_date = EXCLUDED.due_date,
        status = EXCLUDED.status, progress = EXCLUDED.progress,
        follow_up_due_on = EXCLUDED.follow_up_due_on,
        overdue_since = CASE
            WHEN EXCLUDED.status IN ('done', 'cancelled') OR EXCLUDED.due_date IS NULL
                OR EXCLUDED.due_date >= :today THEN NULL
            ELSE a.overdue_since END,
        deleted_at = NULL, updated_at = now(), version = a.version + 1
    WHERE (a.title, a.description, a.area_code, a.package_id, a.responsible_id, a.org_unit_id,
           a.start_date, a.due_date, a.status, a.progress, a.follow_up_due_on,
           a.deleted_at IS NULL)
        IS DISTINCT FROM
          (EXCLUDED.title, EXCLUDED.description, EXCLUDED.area_code, EXCLUDED.package_id,
           EXCLUDED.responsible_id, EXCLUDED.org_unit_id, EXCLUDED.start_date,
           EXCLUDED.due_date, EXCLUDED.status, EXCLUDED.progress, EXCLUDED.follow_up_due_on,
           true)
    RETURNING a.id, a.code, a.title, a.description, a.area_code, a.package_id,
        a.responsible_id, a.org_unit_id, a.start_date, a.due_date, a.status, a.progress,
        a.follow_up_due_on
),
changes AS (
    SELECT u.id, o.id IS NULL OR o.was_deleted AS created,
        CASE WHEN o.was_deleted THEN NULL ELSE o.doc END AS old_doc,
        {_ACTION_JSON.format(a="u")} AS new_doc
    FROM upserted u LEFT JOIN old o ON o.id = u.id
)
INSERT INTO action_plan_history
    (plan_id, entity_type, entity_id, operation, actor, request_id, before, after)
SELECT :plan_id, 'action', c.id, CASE WHEN c.created THEN 'create' ELSE 'update' END,
    :actor, :request_id,
    CASE WHEN c.created THEN NULL ELSE (
        SELECT jsonb_object_agg(b.key, b.value) FROM jsonb_each(c.old_doc) b
        WHERE b.value IS DISTINCT FROM c.new_doc -> b.key) END,
    CASE WHEN c.created THEN c.new_doc ELSE (
        SELECT jsonb_object_agg(n.key, n.value) FROM jsonb_each(c.new_doc) n
        WHERE n.value IS DISTINCT FROM c.old_doc -> n.key) END
FROM changes c
RETURNING operation
""")


async def bulk_upsert_actions(
    session: AsyncSession,
    plan_id: uuid.UUID,
    rows: Sequence[dict[str, Any]],
    *,
    today: date,
    actor: str,
    request_id: str | None,
) -> tuple[int, int]:
    """Upserts `rows` by code into the plan with their history. Returns (inserted, updated)."""

    def column(name: str) -> list[Any]:
        return [r[name] for r in rows]

    result = await session.execute(
        _BULK_UPSERT,
        {
            "plan_id": plan_id,
            "today": today,
            "actor": actor,
            "request_id": request_id,
            "codes": column("code"),
            "titles": column("title"),
            "descriptions": column("description"),
            "areas": column("area_code"),
            "package_ids": column("package_id"),
            "responsible_ids": column("responsible_id"),
            "org_unit_ids": column("org_unit_id"),
            "start_dates": column("start_date"),
            "due_dates": column("due_date"),
            "statuses": column("status"),
            "progresses": column("progress"),
            "follow_up_due_ons": column("follow_up_due_on"),
        },
    )
    operations = [r[0] for r in result.all()]
    return operations.count("create"), operations.count("update")


# --- summary -------------------------------------------------------------------------------


async def status_counts(session: AsyncSession, plan_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        sa.select(col(Action.status), sa.func.count())
        .where(col(Action.plan_id) == plan_id, col(Action.deleted_at).is_(None))
        .group_by(col(Action.status))
    )
    return {r[0]: r[1] for r in rows.all()}


async def codes_without_due_date(session: AsyncSession, plan_id: uuid.UUID) -> list[str]:
    """The codes of the plan's live actions, other than cancelled ones, without a due date."""
    rows = await session.execute(
        sa.select(col(Action.code))
        .where(
            col(Action.plan_id) == plan_id,
            col(Action.deleted_at).is_(None),
            col(Action.due_date).is_(None),
            col(Action.status) != "cancelled",
        )
        .order_by(col(Action.code))
    )
    return list(rows.scalars().all())


def _is_overdue(today: date) -> Any:
    return sa.and_(col(Action.due_date) < today, col(Action.status).in_(OPEN_STATUSES))


async def overdue_action_ids(
    session: AsyncSession, plan_id: uuid.UUID, today: date
) -> list[uuid.UUID]:
    rows = await session.execute(
        sa.select(col(Action.id))
        .where(col(Action.plan_id) == plan_id, col(Action.deleted_at).is_(None), _is_overdue(today))
        .order_by(col(Action.due_date), col(Action.code))
    )
    return list(rows.scalars())


async def overdue_actions_in_subtree(
    session: AsyncSession, org_unit_id: int, day: date
) -> list[OverdueAction]:
    """Open actions of live plans in a unit's subtree due before `day`, by due date."""
    rows = await session.execute(
        sa.text(
            """
            SELECT a.id, a.code, a.title, a.due_date, p.title
            FROM actions a
            JOIN action_plans p ON p.id = a.plan_id AND p.deleted_at IS NULL
            JOIN org_units o ON o.id = p.org_unit_id
            JOIN org_units b ON b.id = :unit
            WHERE a.deleted_at IS NULL AND a.status NOT IN ('done', 'cancelled')
              AND p.status IN ('decided', 'active') AND a.due_date < :day
              AND starts_with(o.path, b.path)
            ORDER BY a.due_date, p.title, a.code
            """
        ),
        {"unit": org_unit_id, "day": day},
    )
    return [OverdueAction(*row) for row in rows.all()]


async def done_below_100(session: AsyncSession, plan_id: uuid.UUID) -> int:
    rows = await session.execute(
        sa.select(sa.func.count()).where(
            col(Action.plan_id) == plan_id,
            col(Action.deleted_at).is_(None),
            col(Action.status) == "done",
            col(Action.progress) < 100,
        )
    )
    return int(rows.scalar_one())


async def package_progress(session: AsyncSession, plan_id: uuid.UUID, today: date) -> Sequence[Any]:
    """Per live package: its actions, done ones, mean progress and overdue ones, named as
    `PackageProgress` names them."""
    live = sa.and_(
        col(Action.package_id) == col(ActionPackage.id), col(Action.deleted_at).is_(None)
    )
    stmt = (
        sa.select(
            col(ActionPackage.id).label("package_id"),
            col(ActionPackage.name),
            col(ActionPackage.owner_ids),
            col(ActionPackage.owner_id),
            col(ActionPackage.due_date),
            sa.func.count(col(Action.id)).label("actions"),
            sa.func.count(col(Action.id)).filter(col(Action.status) == "done").label("done"),
            sa.func.round(sa.func.avg(col(Action.progress)), 2).label("average_progress"),
            sa.func.count(col(Action.id)).filter(_is_overdue(today)).label("overdue"),
        )
        .outerjoin(Action, live)
        .where(col(ActionPackage.plan_id) == plan_id, col(ActionPackage.deleted_at).is_(None))
        .group_by(col(ActionPackage.id))
        .order_by(col(ActionPackage.created_at), col(ActionPackage.id))
    )
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return rows


# --- the due/overdue scan --------------------------------------------------------------------

_MARK_OVERDUE = sa.text("""
WITH marked AS (
    UPDATE actions a
    SET overdue_since = a.due_date + 1, updated_at = now(), version = a.version + 1
    FROM action_plans p
    WHERE p.id = a.plan_id AND p.deleted_at IS NULL
        AND p.status IN ('decided', 'active')
        AND a.deleted_at IS NULL AND a.status IN ('not_started', 'in_progress', 'postponed')
        AND a.due_date < :today AND a.overdue_since IS NULL
    RETURNING a.id, a.plan_id, a.code, a.title, a.due_date, a.status, a.progress,
        a.responsible_id, a.overdue_since, COALESCE(a.org_unit_id, p.org_unit_id) AS org_unit_id
),
history AS (
    INSERT INTO action_plan_history
        (plan_id, entity_type, entity_id, operation, actor, before, after)
    SELECT plan_id, 'action', id, 'update', 'system',
        jsonb_build_object('overdue', false), jsonb_build_object('overdue', true)
    FROM marked
),
plans AS (
    UPDATE action_plans p SET actions_version = p.actions_version + 1
    WHERE p.id IN (SELECT plan_id FROM marked)
)
SELECT * FROM marked ORDER BY plan_id, code
""")

_LOCK_PLANS = sa.text("""
SELECT p.id FROM action_plans p
WHERE p.deleted_at IS NULL AND p.status IN ('decided', 'active') AND EXISTS (
    SELECT 1 FROM actions a
    WHERE a.plan_id = p.id AND a.deleted_at IS NULL
        AND a.status IN ('not_started', 'in_progress', 'postponed')
        AND a.due_date < :today AND a.overdue_since IS NULL)
ORDER BY p.id
FOR UPDATE OF p
""")

# Finished actions and due dates moved into the future take the mark off (writes through the
# API already do so; this also covers anything written around it).
_CLEAR_OVERDUE = sa.text("""
UPDATE actions SET overdue_since = NULL, updated_at = now(), version = version + 1
WHERE overdue_since IS NOT NULL
    AND (status IN ('done', 'cancelled') OR due_date IS NULL OR due_date >= :today)
""")

_MARK_DUE_SOON = sa.text("""
UPDATE actions a SET due_soon_notified_for = a.due_date
FROM action_plans p
WHERE p.id = a.plan_id AND p.deleted_at IS NULL AND p.status IN ('decided', 'active')
    AND a.deleted_at IS NULL AND a.status IN ('not_started', 'in_progress', 'postponed')
    AND a.due_date >= :today AND a.due_date <= :horizon
    AND a.due_soon_notified_for IS DISTINCT FROM a.due_date
RETURNING a.id, a.plan_id, a.code, a.title, a.due_date, a.status, a.progress,
    a.responsible_id, COALESCE(a.org_unit_id, p.org_unit_id) AS org_unit_id
""")


async def clear_overdue(session: AsyncSession, today: date) -> int:
    result: Any = await session.execute(_CLEAR_OVERDUE, {"today": today})
    return int(result.rowcount or 0)


async def lock_plans_with_newly_overdue(session: AsyncSession, today: date) -> None:
    """Locks the plans the scan will touch, in id order and before their actions: the order
    every writer of actions follows, so the scan and a sync cannot deadlock."""
    await session.execute(_LOCK_PLANS, {"today": today})


async def mark_overdue(session: AsyncSession, today: date) -> Sequence[Any]:
    rows: Sequence[Any] = (await session.execute(_MARK_OVERDUE, {"today": today})).all()
    return rows


async def mark_due_soon(session: AsyncSession, today: date, horizon: date) -> Sequence[Any]:
    rows: Sequence[Any] = (
        await session.execute(_MARK_DUE_SOON, {"today": today, "horizon": horizon})
    ).all()
    return rows


async def open_actions_of(
    session: AsyncSession, person_id: uuid.UUID, within: Sequence[str], limit: int
) -> Sequence[Any]:
    """The person's unfinished actions with a due date, of live plans that are not finished
    (completed or cancelled), under every path of `within`, by due date; with the plan's
    title."""
    stmt: Any = (
        sa.select(Action, col(ActionPlan.title))
        .join(ActionPlan, col(ActionPlan.id) == col(Action.plan_id))
        .join(PlanUnit, col(PlanUnit.id) == col(ActionPlan.org_unit_id))
        .where(
            col(Action.responsible_id) == person_id,
            col(Action.deleted_at).is_(None),
            col(Action.status).in_(OPEN_STATUSES),
            col(Action.due_date).is_not(None),
            col(ActionPlan.deleted_at).is_(None),
            col(ActionPlan.status).not_in(["completed", "cancelled"]),
            *[in_subtree(col(PlanUnit.path), p) for p in within],
        )
        .order_by(col(Action.due_date), col(Action.id))
    )
    return (await session.execute(stmt.limit(limit))).all()


_OPEN_ACTIONS_OF_PEOPLE = sa.text("""
SELECT a.id, a.code, a.title, a.due_date, a.responsible_id, p.title AS plan_title
FROM actions a
JOIN action_plans p ON p.id = a.plan_id AND p.deleted_at IS NULL
WHERE a.deleted_at IS NULL AND a.status IN ('not_started', 'in_progress', 'postponed')
    AND p.status IN ('decided', 'active') AND a.responsible_id IS NOT NULL
    AND (CAST(:due_before AS date) IS NULL OR a.due_date < CAST(:due_before AS date))
    AND (CAST(:person AS uuid) IS NULL OR a.responsible_id = CAST(:person AS uuid))
ORDER BY a.due_date NULLS LAST, a.id
""")


async def open_actions_of_people(
    session: AsyncSession, *, due_before: date | None, person_id: uuid.UUID | None
) -> Sequence[Any]:
    rows: Sequence[Any] = (
        await session.execute(
            _OPEN_ACTIONS_OF_PEOPLE, {"due_before": due_before, "person": person_id}
        )
    ).all()
    return rows


# --- report-backs owed (follow_up_due_on) ----------------------------------------------------

# An action's report-back is owed by its responsible while the action is live and not
# cancelled (a done action may still owe its final report); a plan's by its owner.
_OWED_REPORT_BACKS = sa.text("""
SELECT 'action' AS about, a.id, a.plan_id, a.code || ' ' || a.title AS title,
    a.follow_up_due_on AS due_on, a.responsible_id AS person_id, p.title AS plan_title
FROM actions a
JOIN action_plans p ON p.id = a.plan_id AND p.deleted_at IS NULL
WHERE a.follow_up_due_on IS NOT NULL AND a.deleted_at IS NULL AND a.status <> 'cancelled'
    AND a.responsible_id IS NOT NULL AND p.status IN ('decided', 'active')
    AND (CAST(:due_before AS date) IS NULL OR a.follow_up_due_on < CAST(:due_before AS date))
    AND (CAST(:person AS uuid) IS NULL OR a.responsible_id = CAST(:person AS uuid))
UNION ALL
SELECT 'plan', p.id, p.id, p.title, p.follow_up_due_on, p.owner_id, p.title
FROM action_plans p
WHERE p.follow_up_due_on IS NOT NULL AND p.deleted_at IS NULL
    AND p.owner_id IS NOT NULL AND p.status IN ('decided', 'active')
    AND (CAST(:due_before AS date) IS NULL OR p.follow_up_due_on < CAST(:due_before AS date))
    AND (CAST(:person AS uuid) IS NULL OR p.owner_id = CAST(:person AS uuid))
ORDER BY due_on, about, id
""")


async def owed_report_backs_of_people(
    session: AsyncSession, *, due_before: date | None, person_id: uuid.UUID | None
) -> Sequence[Any]:
    """Report-backs owed on actions and plans of decided or active plans, due before
    `due_before` if given, by one person if given: rows of (about, id, plan_id, title, due_on,
    person_id, plan_title), by due date."""
    rows: Sequence[Any] = (
        await session.execute(_OWED_REPORT_BACKS, {"due_before": due_before, "person": person_id})
    ).all()
    return rows


async def owed_report_backs_of(
    session: AsyncSession, person_id: uuid.UUID, within: Sequence[str], limit: int
) -> Sequence[Any]:
    """The report-backs the person owes on actions and plans that are not finished (completed
    or cancelled), under every path of `within`, earliest due first: rows of (about, id,
    plan_id, title, due_on), at most `limit`."""
    live_plan = (
        col(ActionPlan.deleted_at).is_(None),
        col(ActionPlan.status).not_in(["completed", "cancelled"]),
        *[in_subtree(col(PlanUnit.path), p) for p in within],
    )
    actions: Any = (
        sa.select(
            sa.literal("action").label("about"),
            col(Action.id),
            col(Action.plan_id),
            (col(Action.code) + " " + col(Action.title)).label("title"),
            col(Action.follow_up_due_on).label("due_on"),
        )
        .join(ActionPlan, col(ActionPlan.id) == col(Action.plan_id))
        .join(PlanUnit, col(PlanUnit.id) == col(ActionPlan.org_unit_id))
        .where(
            col(Action.responsible_id) == person_id,
            col(Action.follow_up_due_on).is_not(None),
            col(Action.deleted_at).is_(None),
            col(Action.status) != "cancelled",
            *live_plan,
        )
    )
    plans: Any = (
        sa.select(
            sa.literal("plan").label("about"),
            col(ActionPlan.id),
            col(ActionPlan.id).label("plan_id"),
            col(ActionPlan.title),
            col(ActionPlan.follow_up_due_on).label("due_on"),
        )
        .join(PlanUnit, col(PlanUnit.id) == col(ActionPlan.org_unit_id))
        .where(
            col(ActionPlan.owner_id) == person_id,
            col(ActionPlan.follow_up_due_on).is_not(None),
            *live_plan,
        )
    )
    union = sa.union_all(actions, plans).subquery()
    stmt = sa.select(union).order_by(union.c.due_on, union.c.about, union.c.id).limit(limit)
    return (await session.execute(stmt)).all()
