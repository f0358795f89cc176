"""Org tree operations. Every lookup goes through the caller's org scope: a unit outside the
principal's subtree is reported as not found, never as forbidden, so ids cannot be probed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import (
    Window,
    apply_update,
    page_of,
    read_as,
    snapshot,
    soft_delete,
    visible_or_404,
)
from services.core.errors import ValidationFailed, field_error
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.orgs import repository
from services.core.orgs.errors import (
    OrgTreeInvalid,
    OrgUnitCodeTaken,
    OrgUnitHasChildren,
    OrgUnitNotFound,
)
from services.core.orgs.schemas import (
    OrgUnitBulkResult,
    OrgUnitCreate,
    OrgUnitRead,
    OrgUnitUpdate,
)
from services.core.pagination import Page, Tombstone, split_page
from services.core.principal import Principal
from services.core.tree import OrgUnit


def to_read(unit: OrgUnit, parent_code: str | None) -> OrgUnitRead:
    return read_as(OrgUnitRead, unit, parent_code=parent_code)


def _not_found(code: str) -> OrgUnitNotFound:
    return OrgUnitNotFound(f"No org unit with code {code!r}")


async def get_visible(
    session: AsyncSession, principal: Principal, code: str, *, for_update: bool = False
) -> OrgUnit:
    """The unit with `code` if the principal may see it; 404 otherwise."""
    return visible_or_404(
        await repository.get_by_code(session, code, for_update=for_update),
        lambda unit: principal.sees_path(unit.path),
        _not_found(code),
    )


async def get_referenced(
    session: AsyncSession,
    principal: Principal,
    code: str,
    loc: list[str | int],
    *,
    detail: str | None = None,
) -> OrgUnit:
    """For other domains: a unit named in a request that does not exist (or lies outside the
    caller's subtree) is a 422 naming the field, not a 404 of the resource asked for."""
    try:
        return await get_visible(session, principal, code)
    except OrgUnitNotFound:
        msg = f"unknown org unit {code!r}"
        raise ValidationFailed(
            detail or msg, errors=[field_error(loc, msg, "unknown_org_unit")]
        ) from None


async def resolve_codes(
    session: AsyncSession, principal: Principal, codes: Sequence[str]
) -> dict[str, OrgUnit]:
    """Looks up many codes at once; unknown or out-of-scope codes are simply absent."""
    if not codes:
        return {}
    units = await repository.live_by_codes(session, set(codes))
    return {u.code: u for u in units if principal.sees_path(u.path)}


async def read(session: AsyncSession, principal: Principal, code: str) -> OrgUnitRead:
    row = visible_or_404(
        await repository.get_with_parent_code(session, code),
        lambda row: principal.sees_path(row[0].path),
        _not_found(code),
    )
    return to_read(row[0], row[1])


async def list_units(
    session: AsyncSession,
    principal: Principal,
    *,
    parent_code: str | None,
    kind: str | None,
    window: Window,
) -> Page[OrgUnitRead | Tombstone]:
    parent_id = None
    if parent_code is not None:
        parent_id = (await get_visible(session, principal, parent_code)).id
    rows = await repository.list_page(
        session,
        scope_path=principal.org_path,
        parent_id=parent_id,
        kind=kind,
        window=window,
    )
    return page_of(rows, window, lambda r: to_read(r[0], r[1]), tombstone_id=lambda u: u.code)


async def subtree(
    session: AsyncSession, principal: Principal, code: str, *, cursor: str | None, limit: int
) -> Page[OrgUnitRead]:
    root = await get_visible(session, principal, code)
    rows = await repository.subtree_page(session, root.path, cursor, limit)
    page_rows, next_cursor = split_page(rows, limit, lambda r: (r[0].path,))
    return Page(items=[to_read(r[0], r[1]) for r in page_rows], next_cursor=next_cursor)


async def _parent_for(
    session: AsyncSession, principal: Principal, parent_code: str | None
) -> OrgUnit | None:
    if parent_code is None:
        if principal.org_path is not None:
            raise OrgTreeInvalid(
                "A key confined to a subtree cannot create or move units to the root",
                errors=[
                    field_error(["body", "parent_code"], "required for this key", "parent_required")
                ],
            )
        return None
    try:
        return await get_visible(session, principal, parent_code)
    except OrgUnitNotFound:
        raise OrgTreeInvalid(
            f"Unknown parent org unit {parent_code!r}",
            errors=[
                field_error(
                    ["body", "parent_code"], f"unknown org unit {parent_code!r}", "unknown_parent"
                )
            ],
        ) from None


def _code_unavailable(code: str) -> OrgTreeInvalid:
    """The same answer for every code a confined key may not take, live or deleted, so the
    answer does not tell which units exist elsewhere in the region."""
    msg = f"code {code!r} cannot be used by this key"
    return OrgTreeInvalid(
        f"Org unit code {code!r} cannot be used by this key; choose another code",
        errors=[field_error(["body", "code"], msg, "code_unavailable")],
    )


async def create(session: AsyncSession, principal: Principal, data: OrgUnitCreate) -> OrgUnitRead:
    """Creates a unit, or brings a deleted code back to life (keeping its id, so its history
    joins again). A key confined to a subtree may only revive a code inside that subtree."""
    parent = await _parent_for(session, principal, data.parent_code)
    existing = await repository.get_by_code(
        session, data.code, for_update=True, include_deleted=True
    )
    if existing is not None and not principal.sees_path(existing.path):
        # Codes are unique across the region, so a confined key cannot have this one; but a
        # unit outside its subtree, live or deleted, must neither be pulled into the subtree
        # (a deleted one would bring its records along) nor confirmed by a 409.
        raise _code_unavailable(data.code)
    if existing is not None and existing.deleted_at is None:
        raise OrgUnitCodeTaken(f"Org unit code {data.code!r} is already in use")
    if existing is not None:
        # A tombstoned code comes back to life, keeping its id so history still joins.
        unit = existing
        unit.deleted_at = None
        unit.touch()
    else:
        unit = OrgUnit(code=data.code, name=data.name, kind=data.kind, path="/", depth=0)
        session.add(unit)
    unit.name, unit.kind = data.name, data.kind
    unit.valid_from, unit.valid_to = data.valid_from, data.valid_to
    unit.parent_id = parent.id if parent else None
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    unit.depth = parent.depth + 1 if parent else 0
    await session.flush()
    await session.refresh(unit)
    await audit_service.record(
        session,
        principal,
        "org_unit.create",
        "org_unit",
        unit.code,
        org_unit_id=unit.id,
        details=data.model_dump(mode="json"),
    )
    await events_service.publish(
        session, "org_unit.created", {"code": unit.code}, org_unit_id=unit.id
    )
    return to_read(unit, parent.code if parent else None)


async def update(
    session: AsyncSession,
    principal: Principal,
    code: str,
    data: OrgUnitUpdate,
    *,
    if_match: str | None,
) -> OrgUnitRead:
    unit = await get_visible(session, principal, code, for_update=True)
    check_if_match(if_match, unit.version)
    changes = data.model_dump(exclude_unset=True)
    before = snapshot(unit, [field for field in changes if field != "parent_code"])
    parent_code = (await repository.get_with_parent_code(session, code))[1]
    if "parent_code" in changes:
        before["parent_code"] = parent_code
        new_parent = await _parent_for(session, principal, data.parent_code)
        if new_parent is not None and new_parent.path.startswith(unit.path):
            raise OrgTreeInvalid(
                f"Moving {code!r} under {new_parent.code!r} would create a cycle",
                errors=[field_error(["body", "parent_code"], "would create a cycle", "cycle")],
            )
        new_prefix = f"{new_parent.path if new_parent else '/'}{unit.id}/"
        if new_prefix != unit.path:
            await repository.move_subtree(session, unit.path, new_prefix)
        unit.parent_id = new_parent.id if new_parent else None
        parent_code = new_parent.code if new_parent else None
    fields = {field: value for field, value in changes.items() if field != "parent_code"}
    valid_from = fields.get("valid_from", unit.valid_from)
    valid_to = fields.get("valid_to", unit.valid_to)
    if valid_from and valid_to and valid_to < valid_from:
        raise OrgTreeInvalid(
            "valid_to must not be before valid_from",
            errors=[field_error(["body", "valid_to"], "before valid_from", "invalid_range")],
        )
    await apply_update(session, unit, fields)
    await audit_service.record(
        session,
        principal,
        "org_unit.update",
        "org_unit",
        unit.code,
        org_unit_id=unit.id,
        details={"before": before, "after": data.model_dump(mode="json", exclude_unset=True)},
    )
    await events_service.publish(
        session, "org_unit.updated", {"code": unit.code}, org_unit_id=unit.id
    )
    return to_read(unit, parent_code)


async def delete(
    session: AsyncSession, principal: Principal, code: str, *, if_match: str | None
) -> None:
    unit = await get_visible(session, principal, code, for_update=True)
    check_if_match(if_match, unit.version)
    assert unit.id is not None
    if await repository.has_live_children(session, unit.id):
        raise OrgUnitHasChildren(f"Org unit {code!r} has child units; move or delete them first")
    await soft_delete(session, unit)
    await audit_service.record(
        session, principal, "org_unit.delete", "org_unit", code, org_unit_id=unit.id
    )
    await events_service.publish(session, "org_unit.deleted", {"code": code}, org_unit_id=unit.id)


def _check_bulk_tree(
    units: Sequence[OrgUnitCreate], links: dict[str, str | None]
) -> list[dict[str, Any]]:
    """Validates the tree the batch would produce: duplicate codes, unknown parents, cycles."""
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, unit in enumerate(units):
        if unit.code in seen:
            errors.append(
                {
                    "loc": ["body", index, "code"],
                    "code": "duplicate_code",
                    "msg": f"code {unit.code!r} also at index {seen[unit.code]}",
                }
            )
        seen.setdefault(unit.code, index)
    merged = dict(links)
    merged.update({u.code: u.parent_code for u in units})
    for index, unit in enumerate(units):
        if unit.parent_code is not None and unit.parent_code not in merged:
            errors.append(
                {
                    "loc": ["body", index, "parent_code"],
                    "code": "unknown_parent",
                    "msg": f"unknown org unit {unit.parent_code!r}",
                }
            )
    for index, unit in enumerate(units):
        visited = {unit.code}
        current = merged.get(unit.code)
        while current is not None:
            if current in visited:
                errors.append(
                    {
                        "loc": ["body", index, "parent_code"],
                        "code": "cycle",
                        "msg": f"{unit.code!r} would be its own ancestor",
                    }
                )
                break
            visited.add(current)
            current = merged.get(current)
    return errors


async def bulk_upsert(
    session: AsyncSession, principal: Principal, units: Sequence[OrgUnitCreate]
) -> OrgUnitBulkResult:
    """Upserts a whole list by code; parents may appear later in the same list. Atomic: a
    single bad unit (unknown parent, cycle, duplicate) rejects the list and changes nothing."""
    if principal.org_path is not None:
        raise OrgTreeInvalid("Bulk upsert of the org tree needs an unscoped admin key")
    await repository.lock_tree(session)
    links = await repository.parent_links(session)
    errors = _check_bulk_tree(units, links)
    if errors:
        raise OrgTreeInvalid(f"{len(errors)} unit(s) would make the tree invalid", errors=errors)
    rows = [u.model_dump() for u in units]
    inserted, updated = await repository.bulk_upsert(session, rows)
    await audit_service.record(
        session,
        principal,
        "org_unit.bulk_upsert",
        "org_unit",
        None,
        details={"inserted": len(inserted), "updated": len(updated)},
    )
    if inserted or updated:
        await events_service.publish(
            session, "org_tree.changed", {"inserted": len(inserted), "updated": len(updated)}
        )
    return OrgUnitBulkResult(
        inserted=len(inserted),
        updated=len(updated),
        unchanged=len(units) - len(inserted) - len(updated),
    )
