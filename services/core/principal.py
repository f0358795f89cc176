"""Who is calling, below every domain: each service takes a `Principal` and asks it what the
caller may see, so no domain has to import `auth` (which itself uses orgs and audit) for it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from services.core.errors import Forbidden


class Scope(StrEnum):
    """What a key may do. `read` is every aggregated read (org units, KPIs, plans, meetings,
    compliance summaries); person-level records (time records, employments, violations) need
    `persondata:read`, which no other scope but `admin` implies."""

    read = "read"
    persondata_read = "persondata:read"
    timedata_write = "timedata:write"
    plans_write = "plans:write"
    meetings_write = "meetings:write"
    kpis_write = "kpis:write"
    webhooks_admin = "webhooks:admin"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (None for the bootstrap key), its scopes and the org subtree
    it is confined to (a materialized path prefix; None means the whole region)."""

    key_id: uuid.UUID | None
    name: str
    scopes: frozenset[str]
    org_path: str | None = None
    org_unit_code: str | None = None
    person_id: uuid.UUID | None = None

    def has_scope(self, scope: Scope | str) -> bool:
        return Scope.admin in self.scopes or str(scope) in self.scopes

    @property
    def is_admin(self) -> bool:
        return Scope.admin in self.scopes

    @property
    def actor(self) -> str:
        """How audit rows and history name the caller."""
        return f"key:{self.key_id}" if self.key_id else f"key:{self.name}"

    def sees_path(self, path: str) -> bool:
        return self.org_path is None or path.startswith(self.org_path)

    def require_whole_region(self, what: str) -> None:
        """Region-wide objects (catalogues, code mappings, rules and people of no unit, a
        recalculation of everything) bind every subtree: a key confined to one may read them
        but never create or change them (403, like a missing scope: there is nothing to hide)."""
        if self.org_path is not None:
            raise RegionWideWrite(
                f"{what} belongs to the whole region; this key is confined to "
                f"{self.org_unit_code or 'a subtree'}"
            )


class RegionWideWrite(Forbidden):
    code = "region_wide_write"
    title = "Only a key of the whole region may change this"
