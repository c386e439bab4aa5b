"""Multiple-systems estimation: the hand-computable two-list case, the UK 2013 six lists against
the Home Office's published range, simulated populations of known size (independent and
dependent lists), the existence check, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.estimate.mse import check, estimate, fit, read_counts, table_from

UK = Path(__file__).resolve().parents[1] / "data" / "mse" / "uk2013_six_lists.csv"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_two_lists_is_lincoln_petersen(tmp_path: Path) -> None:
    # n1 = 80 on A, n2 = 60 on B, 20 on both: N = 80 x 60 / 20 = 240, 120 unseen
    t = read_counts(_write(tmp_path / "c.csv", "A,B,count\n1,0,60\n0,1,40\n1,1,20\n"))
    r = estimate(t)
    assert r["hidden"] == pytest.approx(120.0, abs=0.05) and r["total"] == pytest.approx(240.0)
    # the saturated model (A:B) leaves the unseen cell unidentified: dropped, with the reason
    assert any("not identifiable" in m["dropped"] for m in r["models_tried"])
    lo, hi = r["interval"]["hidden"]
    assert lo < 120 < hi


def test_uk_2013_six_lists_within_the_published_range() -> None:
    # Silverman (2014) for the Home Office: 10,000-13,000 potential victims in 2013
    r = estimate(read_counts(UK), method="aic")
    assert r["observed"] == 2744
    assert 10_000 <= r["total"] <= 13_000
    lo, hi = r["interval"]["total"]
    assert 9_500 <= lo <= 10_500 and 12_500 <= hi <= 13_500
    assert any("share no case" in w for w in r["warnings"])


def _simulate(n: int, seed: int, dependent: bool) -> dict[tuple[int, ...], int]:
    rng = np.random.default_rng(seed)
    a = rng.random(n) < 0.25
    b = rng.random(n) < np.where(a, 0.7, 0.1) if dependent else rng.random(n) < 0.3
    c = rng.random(n) < 0.25
    d = rng.random(n) < 0.35
    counts: dict[tuple[int, ...], int] = {}
    for h in zip(a.astype(int), b.astype(int), c.astype(int), d.astype(int), strict=True):
        if any(h):
            counts[h] = counts.get(h, 0) + 1
    return counts


def test_independent_lists_interval_covers_the_truth() -> None:
    covered = 0
    for seed in range(20):
        r = estimate(table_from(["A", "B", "C", "D"], _simulate(2000, seed, False)), method="main")
        lo, hi = r["interval"]["total"]
        covered += lo <= 2000 <= hi
    assert covered >= 18  # >= 90% of seeds


def test_dependent_lists_the_interaction_recovers_the_size() -> None:
    n = 3000
    t = table_from(["A", "B", "C", "D"], _simulate(n, 7, True))
    naive = estimate(t, method="main")
    chosen = estimate(t, method="aic")
    assert "A:B" in chosen["model"]["terms"]
    assert abs(chosen["total"] - n) < abs(naive["total"] - n)
    lo, hi = chosen["interval"]["total"]
    assert lo <= n <= hi


def test_lists_that_share_no_case_are_at_minus_infinity() -> None:
    # A and B never together: the ordinary MLE of A:B does not exist, its extended MLE is minus
    # infinity (Chan, Silverman & Vincent 2021): the A-and-B histories leave the fit
    t = table_from(["A", "B", "C"], {(1, 0, 0): 30, (0, 1, 0): 20, (0, 0, 1): 25,
                                     (1, 0, 1): 10, (0, 1, 1): 5})  # fmt: skip
    assert check(t, [(0, 1)]) == "" and check(t, []) == ""
    f = fit(t, [(0, 1)])
    assert f.empty == [(0, 1)] and "A:B" not in f.params
    assert f.fitted[(t.histories[:, 0] == 1) & (t.histories[:, 1] == 1)].sum() == 0
    assert f.aic == pytest.approx(fit(t, []).aic - 2 * (f.loglik - fit(t, []).loglik) + 2)
    r = estimate(t, threshold=0, method="aic")
    assert any(m["terms"] == ["A:B"] and not m["dropped"] for m in r["models_tried"])
    r1 = estimate(t)  # threshold 1: not even tried, said so
    assert any(m["dropped"].startswith("overlap 0") for m in r1["models_tried"])


def test_bootstrap_is_seeded(tmp_path: Path) -> None:
    t = table_from(["A", "B", "C"], {(1, 0, 0): 60, (0, 1, 0): 50, (0, 0, 1): 40,
                                     (1, 1, 0): 15, (1, 0, 1): 12, (0, 1, 1): 10,
                                     (1, 1, 1): 4})  # fmt: skip
    r1 = estimate(t, bootstrap=200, seed=3)
    r2 = estimate(t, bootstrap=200, seed=3)
    assert r1["bootstrap"] == r2["bootstrap"]
    lo, hi = r1["bootstrap"]["hidden"]
    assert lo < r1["hidden"] < hi


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A,B,count\n1,2,5\n", r"row 2, field B: '2' is not 0 or 1"),
        ("A,B,count\n0,0,5\n", "row 2: a capture history of all zeros"),
        ("A,B,count\n1,0,-3\n", "row 2, field count: '-3' is not a count"),
        ("A,count\n1,5\n", "at least two lists"),
        ("A,B,count\n1,0,5\n1,0,6\n", "row 3: the same capture history as row 2"),
        ("A,B,n\n1,0,5\n", "no 'count' column"),
        ("", "no rows"),
        ("A,B,count\n1,0,x\n", "field count: 'x' is not a number"),
    ],
)
def test_bad_input(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PalermoError, match=message):
        read_counts(_write(tmp_path / "c.csv", text))


def test_cli(tmp_path: Path) -> None:
    f = _write(tmp_path / "c.csv", "A,B,C,count\n1,0,0,60\n0,1,0,50\n0,0,1,40\n1,1,0,15\n"
               "1,0,1,12\n0,1,1,10\n1,1,1,4\n")  # fmt: skip
    assert main(["estimate", "mse", str(f), "--out", str(tmp_path / "o"), "--json"]) == 0
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"estimate.json", "models.csv",
                                                            "models.svg"}  # fmt: skip
    assert main(["estimate", "mse", str(f), "--method", "nope"]) != 0
    assert main(["estimate", "mse", str(tmp_path / "missing.csv")]) != 0
