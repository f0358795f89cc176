"""Status, deviation and trend of a point against its target (DESIGN.md), as pure functions so
any client can re-derive them from the `rule` a point carries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.core.kpis.catalogue import Direction

TREND_TOLERANCE = Decimal("0.01")  # 1 % relative change is noise, not a trend


class Comparator(StrEnum):
    lte = "lte"
    gte = "gte"
    lt = "lt"
    gt = "gt"

    @property
    def lower_is_toward(self) -> bool:
        return self in (Comparator.lte, Comparator.lt)


def meets(value: Decimal, bound: Decimal, comparator: Comparator) -> bool:
    match comparator:
        case Comparator.lte:
            return value <= bound
        case Comparator.gte:
            return value >= bound
        case Comparator.lt:
            return value < bound
        case Comparator.gt:
            return value > bound
    raise AssertionError(comparator)  # pragma: no cover


def on_line(start: Decimal, end: Decimal, done: Decimal) -> Decimal:
    """The value a straight line from `start` to `end` has when `done` (0–1, clamped) of the
    way is gone: a target to be reached by a period, judged on the way there."""
    done = min(max(done, Decimal(0)), Decimal(1))
    return start + (end - start) * done


class Status(StrEnum):
    met = "met"
    not_met = "not_met"
    no_target = "no_target"


class Trend(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


@dataclass(frozen=True)
class Assessment:
    status: Status
    deviation: Decimal | None
    deviation_pct: Decimal | None
    change: Decimal | None
    change_pct: Decimal | None
    trend: Trend | None


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else Decimal(100) * part / whole


def assess(
    value: Decimal | None,
    year_before: Decimal | None,
    target: Decimal | None,
    comparator: Comparator | None,
    better: Direction,
) -> Assessment:
    """`trend` compares the value with the same period a year before: toward the target (the
    comparator's side) or, without a target, in the KPI's better direction, is positive;
    a relative change within 1 % is neutral."""
    if value is None:
        return Assessment(
            Status.no_target if target is None else Status.not_met, None, None, None, None, None
        )
    status, deviation, deviation_pct = Status.no_target, None, None
    if target is not None and comparator is not None:
        met = meets(value, target, comparator)
        status = Status.met if met else Status.not_met
        deviation = value - target
        deviation_pct = _pct(deviation, target)
    change = change_pct = None
    trend: Trend | None = None
    if year_before is not None:
        change = value - year_before
        change_pct = _pct(change, year_before)
        direction = better
        if comparator is not None:
            direction = Direction.lower if comparator.lower_is_toward else Direction.higher
        if direction is Direction.none:
            trend = Trend.neutral
        elif year_before == 0:
            trend = (
                Trend.neutral
                if value == 0
                else (
                    Trend.positive
                    if (value < 0) == (direction is Direction.lower)
                    else Trend.negative
                )
            )
        elif abs(change) <= abs(year_before) * TREND_TOLERANCE:
            trend = Trend.neutral
        else:
            improved = change < 0 if direction is Direction.lower else change > 0
            trend = Trend.positive if improved else Trend.negative
    return Assessment(status, deviation, deviation_pct, change, change_pct, trend)
