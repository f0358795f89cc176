"""Small-group suppression that differencing cannot undo (docs/privacy.md), for keys without
`admin`: which (org unit, filters, month) groups of a person-based KPI are hidden.

Every figure is a sum of leaf facts, so what can be read forms tables whose lines add up:
the members of an org unit (its child units and the facts booked on the unit itself) add up to
the unit, the categories of one dimension add up to the group without that filter, the months
add up to every longer period. A group below `PULS_MIN_GROUP_SIZE` is hidden (primary); in any
line where that leaves exactly one hidden member beside a readable total, the next smallest
member (fewest distinct employees, ties by code) is hidden too (secondary), and a member whose
line total is hidden is never left the only one derivable from it.

The decision is taken per month over a whole table, a *pass*: the members of one org unit
(rows) × the categories of the filtered dimensions (columns), with the line totals read from
the pass of the parent unit (for the rows' sum) and the passes with one dimension fewer (for
each dimension's sum). Passes depend only on passes higher up and with fewer dimensions, never
on the request, so every request (the parent, `children=true`, one filter or another, JSON or
CSV) gets the same answer. Longer periods are hidden when any of their months is, so a
quarter minus its visible months gives nothing either, and `change` is hidden when either
year is."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.kpis import repository

Combo = tuple[str, ...]
# A table's cell: the member (child unit id as text, '' for the unit's own facts) and the
# categories of the pass's dimensions. An unknown category ('', no gender on file) is a cell
# like the others: no filter selects it, but it is derivable from the units that have only
# unknowns, so it is never counted as hidden unless it is.
Cell = tuple[str, Combo]
Hidden = dict[date, set[Cell]]


@dataclass(frozen=True)
class Group:
    employees: int
    code: str


def parent_of(path: str) -> tuple[str, str]:
    """The pass a unit is a row of: its parent's path ('/' for a root) and its id as text."""
    parts = path.strip("/").split("/")
    return ("/" + "/".join(parts[:-1]) + "/").replace("//", "/"), parts[-1]


def protect(
    cells: dict[Cell, Group],
    min_size: int,
    member_totals: dict[Combo, bool] | None,
    dimension_totals: list[dict[Cell, bool]],
) -> set[Cell]:
    """The hidden cells of one month's table. `member_totals`: whether the sum of the rows for
    each combination is hidden (None: no readable sum, the roots); `dimension_totals[i]`:
    whether the sum over dimension i's categories is hidden, by (member, other categories)."""
    hidden = {cell for cell, group in cells.items() if group.employees < min_size}
    lines: dict[Any, list[Cell]] = {}
    totals: dict[Any, bool | None] = {}
    of_cell: dict[Cell, list[Any]] = {}
    for cell in sorted(cells):
        member, combo = cell
        keys: list[Any] = [("", combo)]
        totals[keys[0]] = None if member_totals is None else member_totals.get(combo, False)
        for i in range(len(combo)):
            rest = combo[:i] + combo[i + 1 :]
            key = (i, member, rest)
            keys.append(key)
            totals[key] = dimension_totals[i].get((member, rest), False)
        for key in keys:
            lines.setdefault(key, []).append(cell)
        of_cell[cell] = keys
    # A cell alone in one of its lines equals that line's sum; hiding it protects nothing
    # where the sum is shown, so it is the last choice.
    alone = {
        cell
        for cell, keys in of_cell.items()
        if any(len(lines[k]) == 1 and totals[k] is False for k in keys)
    }
    queue = deque(lines)
    while queue:
        key = queue.popleft()
        members, total_hidden = lines[key], totals[key]
        if total_hidden is None:
            continue
        concealed = sum(1 for c in members if c in hidden)
        if total_hidden:
            short = not concealed  # the members would add up to the hidden sum
        else:
            short = len(members) > 1 and concealed == 1
        if not short:
            continue
        candidates = [c for c in members if c not in hidden]
        if not candidates:
            continue
        pick = min(candidates, key=lambda c: (c in alone, cells[c].employees, cells[c].code, c))
        hidden.add(pick)
        queue.extend(of_cell[pick])
    return hidden


K = TypeVar("K")


def protect_lines(groups: Mapping[K, Group], lines: Iterable[Sequence[K]], min_size: int) -> set[K]:
    """The hidden groups of a table whose lines' totals can all be read elsewhere (another
    domain's figures that are sums of these groups): the groups below `min_size` (primary),
    then in every line left with exactly one hidden member the next smallest member too (fewest
    employees, ties by code), until no line is. Depends on the groups only, never on what was
    asked, so every request decides the same."""
    hidden = {key for key, group in groups.items() if group.employees < min_size}
    readable = [list(line) for line in lines if len(line) > 1]
    changed = True
    while changed:
        changed = False
        for line in readable:
            shown = [key for key in line if key not in hidden]
            if len(line) - len(shown) == 1 and shown:
                hidden.add(min(shown, key=lambda k: (groups[k].employees, groups[k].code)))
                changed = True
    return hidden


# Tables and passes already read or decided in this process, by the facts' state
# (repository.facts_token): they change once per recalculation round. Least recently used go
# first.
_KEPT: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
KEPT = 512


def _remember(key: tuple[Any, ...] | None, value: Any) -> Any:
    if key is not None:
        _KEPT[key] = value
        if len(_KEPT) > KEPT:
            _KEPT.popitem(last=False)
    return value


def _recall(key: tuple[Any, ...] | None) -> Any:
    if key is None or key not in _KEPT:
        return None
    _KEPT.move_to_end(key)
    return _KEPT[key]


@dataclass
class Suppressor:
    """The hidden groups of one KPI over one request's months, passes decided once each."""

    session: AsyncSession
    kpi: str
    min_size: int
    passes: dict[tuple[Any, ...], Hidden] = field(default_factory=dict)
    # The request's facts' state, shared with its sums. None inside a recalculation (nothing
    # kept): its facts are newer than the version that names them.
    facts: repository.FactsState | None = None

    async def _key(self, *parts: Any) -> tuple[Any, ...] | None:
        token = None if self.facts is None else await self.facts.token()
        return None if token is None else (token, self.kpi, *parts)

    async def _table(
        self, prefix: str, dims: tuple[str, ...], first: date, last: date
    ) -> dict[date, dict[Cell, Group]]:
        key = await self._key("table", prefix, dims, first, last)
        if (kept := _recall(key)) is not None:
            return kept  # type: ignore[no-any-return]
        rows = await repository.split_employees(self.session, self.kpi, prefix, first, last, dims)
        table: dict[date, dict[Cell, Group]] = {}
        for row in rows:
            member, month, *combo, employees, code = row
            table.setdefault(month, {})[(member, tuple(combo))] = Group(int(employees), code or "")
        return _remember(key, table)  # type: ignore[no-any-return]

    async def _pass(self, prefix: str, dims: tuple[str, ...], first: date, last: date) -> Hidden:
        local = (prefix, dims, first, last)
        if local in self.passes:
            return self.passes[local]
        key = await self._key("pass", self.min_size, *local)
        found: Hidden | None = _recall(key)
        if found is None:
            table = await self._table(prefix, dims, first, last)
            above: Hidden | None = None
            if prefix != "/":
                parent, row = parent_of(prefix)
                above = await self._pass(parent, dims, first, last)
            fewer = [
                await self._pass(prefix, dims[:i] + dims[i + 1 :], first, last)
                for i in range(len(dims))
            ]
            fewer_tables = [
                await self._table(prefix, dims[:i] + dims[i + 1 :], first, last)
                for i in range(len(dims))
            ]
            found = {}
            for month, cells in table.items():
                member_totals = None
                if above is not None:
                    up = above.get(month, set())
                    member_totals = {combo: (row, combo) in up for _, combo in cells}
                dimension_totals = [
                    {cell: cell in sub.get(month, set()) for cell in sub_table.get(month, {})}
                    for sub, sub_table in zip(fewer, fewer_tables, strict=True)
                ]
                found[month] = protect(cells, self.min_size, member_totals, dimension_totals)
            _remember(key, found)
        self.passes[local] = found
        return found

    async def hidden_months(
        self, path: str, filters: dict[str, str], first: date, last: date, *, own: bool = False
    ) -> set[date]:
        """The months in [first, last] in which the group (the unit at `path`, or with `own`
        only the facts booked on the unit itself, under `filters`) is hidden."""
        dims = tuple(sorted(filters))
        combo = tuple(filters[d] for d in dims)
        prefix, member = (path, "") if own else parent_of(path)
        found = await self._pass(prefix, dims, first, last)
        return {month for month, cells in found.items() if (member, combo) in cells}
