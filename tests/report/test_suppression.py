"""Small-cell suppression: nothing below k is published, and nothing suppressed can be recovered
(or narrowed below k) from the sums published beside it; checked on hand-made and random tables."""

from __future__ import annotations

from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from palermo.report.suppression import Suppressed, suppress

DIMS = ["sex", "age", "form"]


def _recs(spec: dict[tuple[str, str, str], int]) -> list[tuple[str, ...]]:
    return [c for c, n in spec.items() for _ in range(n)]


def _check(t: Suppressed) -> None:
    k = t.k
    for c, n in t.cells.items():
        if c not in t.hidden_cells:
            assert n == 0 or n >= k
    for m, n in t.margins.items():
        if m not in t.hidden_margins:
            assert n == 0 or n >= k
    # every published margin: its hidden cells are none, or two or more adding up to >= k
    for d, v in t.margins:
        if (d, v) in t.hidden_margins:
            continue
        gone = [c for c in t.cells if c[d] == v and c in t.hidden_cells]
        assert not gone or (len(gone) >= 2 and sum(t.cells[c] for c in gone) >= k)
    if not t.total_hidden:
        for d in range(len(t.dimensions)):
            gone = [m for m in t.margins if m[0] == d and m in t.hidden_margins]
            assert not gone or (len(gone) >= 2 and sum(t.margins[m] for m in gone) >= k)
    # and the rows say the same
    for r in t.rows():
        assert r["count"] is None or r["count"] == 0 or r["count"] >= k
        assert (r["count"] is None) == bool(r["suppressed"])


def test_one_small_cell_takes_a_second_with_it() -> None:
    spec = {("female", "18-20", "labour"): 3, ("female", "21-23", "labour"): 40,
            ("male", "18-20", "labour"): 25, ("male", "21-23", "labour"): 30}  # fmt: skip
    t = suppress(_recs(spec), DIMS, k=10)
    _check(t)
    assert ("female", "18-20", "labour") in t.hidden_cells  # primary
    # female's margin (43) is published: the 3 would be 43 - 40, so a second cell goes
    assert ("female", "21-23", "labour") in t.hidden_cells
    rows = {tuple(r[d] for d in DIMS): r for r in t.rows()}
    assert rows[("female", "18-20", "labour")]["suppressed"] == "primary"
    assert rows[("female", "21-23", "labour")]["suppressed"] == "secondary"
    assert rows[("(all)", "(all)", "(all)")]["count"] == 98


def test_a_small_margin_is_suppressed_and_protected_by_another() -> None:
    spec = {("female", "18-20", "sexual"): 4, ("male", "21-23", "labour"): 60,
            ("male", "18-20", "labour"): 30}  # fmt: skip
    t = suppress(_recs(spec), DIMS, k=10)
    _check(t)
    assert (0, "female") in t.hidden_margins  # 4 women in all
    assert (0, "male") in t.hidden_margins  # else female = total - male
    assert not t.total_hidden


def test_zeros_published_unless_asked() -> None:
    spec = {("female", "18-20", "labour"): 12, ("male", "21-23", "labour"): 15}
    t = suppress(_recs(spec), DIMS, k=10)
    assert ("female", "21-23", "labour") not in t.hidden_cells and not t.hidden_cells
    t2 = suppress(_recs(spec), DIMS, k=10, suppress_zeros=True)
    _check(t2)
    assert ("female", "21-23", "labour") in t2.hidden_cells


def test_values_named_in_advance_are_cells_too() -> None:
    t = suppress(_recs({("female", "18-20", "labour"): 20}), DIMS, k=10,
                 all_values={"sex": ["female", "male"]})  # fmt: skip
    assert ("male", "18-20", "labour") in t.cells and t.cells[("male", "18-20", "labour")] == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=12, max_size=12),
    st.integers(min_value=2, max_value=15),
)
def test_random_tables_never_leak(counts: list[int], k: int) -> None:
    combos = list(product(["f", "m"], ["a", "b", "c"], ["x", "y"]))
    t = suppress(_recs(dict(zip(combos, counts, strict=True))), DIMS, k=k)
    _check(t)
