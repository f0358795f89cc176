"""The secondary-suppression pass of one month's table (suppression.protect): the lines of
members and categories, the next smallest member, ties, hidden totals and the fixed point where
a unit's lines and a category's lines meet (docs/privacy.md)."""

from __future__ import annotations

from services.core.kpis.suppression import Cell, Group, parent_of, protect, protect_lines

MIN = 5


def _cells(sizes: dict[Cell, int]) -> dict[Cell, Group]:
    return {cell: Group(size, f"U{cell[0]}") for cell, size in sizes.items()}


def test_a_lone_small_member_takes_the_next_smallest_with_it() -> None:
    cells = _cells({("1", ()): 3, ("2", ()): 9, ("3", ()): 7, ("", ()): 12})
    assert protect(cells, MIN, {(): False}, []) == {("1", ()), ("3", ())}


def test_ties_go_by_code_and_the_answer_never_depends_on_the_order() -> None:
    sizes: dict[Cell, int] = {("1", ()): 2, ("7", ()): 8, ("3", ()): 8}
    hidden = protect(_cells(sizes), MIN, {(): False}, [])
    assert hidden == {("1", ()), ("3", ())}  # U3 before U7
    backwards = dict(reversed(list(_cells(sizes).items())))
    assert protect(backwards, MIN, {(): False}, []) == hidden


def test_two_small_members_protect_each_other() -> None:
    cells = _cells({("1", ()): 3, ("2", ()): 4, ("3", ()): 20})
    assert protect(cells, MIN, {(): False}, []) == {("1", ()), ("2", ())}


def test_a_hidden_total_is_not_left_as_the_sum_of_shown_members() -> None:
    # The unit was hidden to protect a sibling: its own children must not add up to it.
    cells = _cells({("1", ()): 6, ("2", ()): 7})
    assert protect(cells, MIN, {(): True}, []) == {("1", ())}
    # A unit with one member: that member is the unit.
    assert protect(_cells({("1", ()): 9}), MIN, {(): True}, []) == {("1", ())}


def test_without_a_readable_total_nothing_more_is_hidden() -> None:
    cells = _cells({("1", ()): 3, ("2", ()): 9})
    assert protect(cells, MIN, None, []) == {("1", ())}


def test_units_and_categories_are_decided_together() -> None:
    # Two units × two genders; the second unit's women are few. Hiding the first unit's women
    # (for the women's column) leaves the first unit's row with one hidden member, so its
    # men go too, and then the men's column needs the second unit's men.
    cells = _cells(
        {
            ("1", ("female",)): 9,
            ("1", ("male",)): 8,
            ("2", ("female",)): 2,
            ("2", ("male",)): 6,
        }
    )
    rows: dict[Cell, bool] = {("1", ()): False, ("2", ()): False}
    hidden = protect(cells, MIN, {("female",): False, ("male",): False}, [rows])
    assert hidden == set(cells)
    for line in (("1", "female"), ("2", "female"), ("1", "male"), ("2", "male")):
        same_row = [c for c in hidden if c[0] == line[0]]
        same_column = [c for c in hidden if c[1] == (line[1],)]
        assert len(same_row) != 1 and len(same_column) != 1


def test_an_unknown_category_is_an_ordinary_member() -> None:
    # Nurses of unknown gender ('' in the facts) are no filter's answer, but the hospital that
    # has only them shows them: they do not count as hidden unless they are.
    cells = _cells({("1", ("",)): 7, ("1", ("female",)): 6, ("1", ("male",)): 2})
    hidden = protect(cells, MIN, {("",): False, ("female",): False, ("male",): False},
                     [{("1", ()): False}])  # fmt: skip
    assert hidden == {("1", ("male",)), ("1", ("female",))}


def test_parent_of_gives_the_pass_a_unit_is_a_row_of() -> None:
    assert parent_of("/1/7/42/") == ("/1/7/", "42")
    assert parent_of("/1/") == ("/", "1")


def test_overlapping_lines_are_protected_until_none_has_one_hidden() -> None:
    # The compliance summary's rows of one unit-month: all kinds, and daily + weekly rest.
    sizes = {"daily_rest": 6, "weekly_rest": 2, "overtime_month": 9, "agency_policy": 7}
    groups = {kind: Group(n, kind) for kind, n in sizes.items()}
    everything = list(groups)
    rest = ["daily_rest", "weekly_rest"]
    # The rest line hides daily rest with weekly; all kinds then has two hidden: enough.
    assert protect_lines(groups, [everything, rest], MIN) == set(rest)
    # Alone in a line of its own, a small member hides no one (its total equals it anyway).
    assert protect_lines({"x": Group(2, "x")}, [["x"]], MIN) == {"x"}
    # Only the all-kinds line: the next smallest (daily rest, 6) goes with weekly rest, or with
    # eight daily rests the next is the agency policy (7).
    assert protect_lines(groups, [everything], MIN) == {"weekly_rest", "daily_rest"}
    small = {**groups, "daily_rest": Group(8, "daily_rest")}
    assert protect_lines(small, [everything], MIN) == {"weekly_rest", "agency_policy"}
