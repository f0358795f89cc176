from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Response

from services.api.deps import (
    Admin,
    IdempotencyDep,
    IfMatch,
    PageDep,
    Reader,
    SessionDep,
    UpdatedSince,
    api_router,
)
from services.api.operations import creates, lists, operation, updates, upserts
from services.api.responses import created, no_content, versioned
from services.core.orgs import service as orgs_service
from services.core.orgs.schemas import (
    OrgUnitBulkResult,
    OrgUnitCreate,
    OrgUnitKind,
    OrgUnitRead,
    OrgUnitUpdate,
)
from services.core.pagination import Page, Tombstone

router = api_router(prefix="/org-units", tags=["org-units"])

_EXAMPLE_UNIT = {
    "code": "RS-MED",
    "name": "Medicinsk service",
    "kind": "administration",
    "parent_code": "RS",
    "depth": 1,
    "valid_from": None,
    "valid_to": None,
    "created_at": "2026-11-25T08:00:00Z",
    "updated_at": "2026-11-25T08:00:00Z",
    "version": 1,
}
_UNIT_ANSWER = {"content": {"application/json": {"example": _EXAMPLE_UNIT}}}


@router.get("", **lists("List org units", Page[OrgUnitRead | Tombstone], 404))
async def list_org_units(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    parent: Annotated[str | None, Query(description="Only children of this code.")] = None,
    kind: OrgUnitKind | None = None,
) -> Page[OrgUnitRead | Tombstone]:
    """Org units visible to the key, by id; with `updated_since`, every change since then
    (tombstones included) in change order, for mirroring the tree."""
    return await orgs_service.list_units(
        session,
        principal,
        parent_code=parent,
        kind=kind,
        window=page.window(updated_since),
    )


@router.post("", **creates("Create an org unit", OrgUnitRead, 409, responses={201: _UNIT_ANSWER}))
async def create_org_unit(
    data: OrgUnitCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Response:
    """Creates one unit under `parent_code` (or a root). Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    unit = await orgs_service.create(session, principal, data)
    return await created(idem, session, unit, f"/v1/org-units/{unit.code}")


@router.put("", **upserts("Upsert many org units by code", OrgUnitBulkResult, 413))
async def upsert_org_units(
    session: SessionDep,
    principal: Admin,
    units: Annotated[
        list[OrgUnitCreate],
        Body(
            max_length=10_000,
            examples=[
                [
                    {"code": "RS", "name": "Region Skåne", "kind": "region"},
                    {
                        "code": "RS-MED",
                        "name": "Medicinsk service",
                        "kind": "administration",
                        "parent_code": "RS",
                    },
                ]
            ],
        ),
    ],
) -> OrgUnitBulkResult:
    """Syncs the tree from the HR system: inserts new codes, updates changed ones, leaves equal
    ones untouched. Parents may come later in the list. All or nothing: an unknown parent, a
    cycle or a duplicate code rejects the whole list with each bad index named."""
    return await orgs_service.bulk_upsert(session, principal, units)


@router.get(
    "/{code}",
    **operation(
        "Get an org unit", OrgUnitRead, problems=(401, 403, 404), responses={200: _UNIT_ANSWER}
    ),
)
async def get_org_unit(code: str, session: SessionDep, principal: Reader) -> Any:
    return versioned(await orgs_service.read(session, principal, code))


@router.patch("/{code}", **updates("Change an org unit", OrgUnitRead))
async def update_org_unit(
    code: str, data: OrgUnitUpdate, session: SessionDep, principal: Admin, if_match: IfMatch = None
) -> Any:
    """Renames, re-kinds or moves a unit (with its whole subtree). Moving a unit under its own
    descendant is refused as a cycle."""
    unit = await orgs_service.update(session, principal, code, data, if_match=if_match)
    return versioned(unit)


@router.delete(
    "/{code}", **operation("Delete an org unit", problems=(401, 403, 404, 409, 412), status=204)
)
async def delete_org_unit(
    code: str, session: SessionDep, principal: Admin, if_match: IfMatch = None
) -> Response:
    """Soft-deletes a leaf unit; it stays visible to `updated_since` mirrors as a tombstone."""
    await orgs_service.delete(session, principal, code, if_match=if_match)
    return no_content()


@router.get("/{code}/subtree", **lists("A unit and everything below it", Page[OrgUnitRead], 404))
async def get_org_unit_subtree(
    code: str, session: SessionDep, principal: Reader, page: PageDep
) -> Page[OrgUnitRead]:
    """Depth-first (by materialized path), the unit itself first. A view of the tree, so no
    `updated_since`: a unit moved out of the subtree or deleted would have nothing to come
    back as here. To keep a copy of the tree in step, mirror `GET /v1/org-units` with
    `updated_since` (moves, renames and tombstones, for every unit the key sees) and take
    subtrees from the copy by `path`."""
    return await orgs_service.subtree(
        session, principal, code, cursor=page.cursor, limit=page.limit
    )
