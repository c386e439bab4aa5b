"""Published figures reproduced from their published overlap tables (tests/data/mse/, README
there for each source): the SparseMSE paper (Chan, Silverman & Vincent 2021, JASA 116:1297)
on New Orleans and the Western U.S. site, its Table 3 existence/identifiability cases, the
SparseMSE estimate of the five-list UK data, and the BIC-chosen two-list models of Silverman,
Chan & Vincent (2024, Statistics and Computing 34:44, Table 6). Published figures are totals
rounded to the unit, so ours must round to the same number."""

from __future__ import annotations

from pathlib import Path

import pytest

from palermo.estimate.mse import Table, check, read_counts, select

DATA = Path(__file__).resolve().parents[1] / "data" / "mse"


def _table(name: str) -> Table:
    return read_counts(DATA / f"{name}.csv")


def _chosen(
    t: Table, method: str, pthresh: float = 0.02, threshold: int = 1
) -> tuple[int, list[str]]:
    f, _ = select(t, method, threshold=threshold, pthresh=pthresh)
    return round(f.hidden + t.observed), [f"{t.lists[a]}:{t.lists[b]}" for a, b in f.terms]


def test_artificial_3_table_3_of_the_paper() -> None:
    # all three interactions: not identifiable; AB alone or with one of AC, BC: no MLE; any
    # set of AC and BC without AB: both tests passed (SparseMSE's Artificial_3 documentation)
    t = _table("artificial_3")
    ab, ac, bc = (0, 1), (0, 2), (1, 2)
    assert "not identifiable" in check(t, [ab, ac, bc])
    for terms in ([ab], [ab, ac], [ab, bc]):
        assert "does not exist" in check(t, terms)
    for terms in ([], [ac], [bc], [ac, bc]):
        assert check(t, terms) == ""


@pytest.mark.parametrize("threshold", [0, 1])
def test_new_orleans_stepwise_is_1184_with_de(threshold: int) -> None:
    # paper, section 4.1: the stepwise rule at p = 0.02 picks DE, total 1184; 18 of the 28 pairs
    # share no case, so with threshold 0 they are candidates too (at minus infinity): none wins
    t = _table("new_orleans_eight_lists")
    assert t.observed == 185
    assert _chosen(t, "pvalue", pthresh=0.02, threshold=threshold) == (1184, ["D:E"])


def test_new_orleans_main_effects_is_997() -> None:
    # paper: the main-effects model (thresholds 0.01 and below) gives 997
    t = _table("new_orleans_eight_lists")
    assert _chosen(t, "main") == (997, [])
    assert _chosen(t, "pvalue", pthresh=0.01, threshold=0) == (997, [])


def test_new_orleans_five_lists_is_1034_main_effects() -> None:
    # paper: on the five-list version no interaction is significant even at 5%; 1034
    t = _table("new_orleans_five_lists")
    assert _chosen(t, "pvalue", pthresh=0.05, threshold=0) == (1034, [])


def test_western_site_is_2483_with_ae() -> None:
    # paper, section 4.2: AE chosen, total 2483
    t = _table("western_us_five_lists")
    assert _chosen(t, "pvalue", pthresh=0.02, threshold=0) == (2483, ["A:E"])


def test_uk_five_lists_sparsemse_is_11313() -> None:
    # SparseMSE 2.0.1's stepwise estimate of the five-list UK data, 11,312.99 (Binette &
    # Steorts' MSETools README, which calls SparseMSE with its default pthresh 0.02)
    t = _table("uk2013_five_lists")
    total, terms = _chosen(t, "pvalue", pthresh=0.02, threshold=0)
    assert total == 11313
    assert terms == ["LA:NG", "LA:PFNCA", "NG:GO", "NG:GP", "PFNCA:GP", "GO:GP"]


@pytest.mark.parametrize(
    ("name", "published"),
    [("uk2013_six_lists", 12350), ("uk2013_five_lists", 12262), ("kosovo_four_lists", 14342)],
)
def test_bic_two_list_models_of_the_2024_paper(name: str, published: int) -> None:
    # Silverman, Chan & Vincent (2024), Table 6, "maxorder 2" (two-list interactions only),
    # BIC with the log of the cases seen; their search is downhill, ours forward: same model
    total, _ = _chosen(_table(name), "bic", threshold=0)
    assert total == published
