"""The latent-class model: with homogeneous, independent lists its credible interval covers the
truth; with two kinds of people (one far harder to reach) it is nearer the truth than
independence, which heterogeneity biases down; seeded; bad options refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.estimate.lcm import lcm_estimate
from palermo.estimate.mse import estimate, table_from


def _table(n: int, seed: int, p: np.ndarray) -> object:
    rng = np.random.default_rng(seed)
    caps = (rng.random((n, p.shape[1])) < p).astype(int)
    counts: dict[tuple[int, ...], int] = {}
    for row in caps:
        h = tuple(int(x) for x in row)
        if any(h):
            counts[h] = counts.get(h, 0) + 1
    return table_from([f"L{i}" for i in range(p.shape[1])], counts)


def test_homogeneous_lists_covered() -> None:
    covered = 0
    for seed in range(6):
        t = _table(2000, 100 + seed, np.array([[0.2, 0.3, 0.25, 0.35]]))
        lo, hi = lcm_estimate(t, samples=1000, burnin=400, seed=seed)["interval"]["total"]
        covered += lo <= 2000 <= hi
    assert covered >= 5


def test_heterogeneity_bias_is_smaller_than_independence() -> None:
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        hard = rng.random(2000) >= 0.4  # 60% hard to reach: 0.12 per list, the rest 0.45
        p = np.where(hard[:, None], 0.12, 0.45) * np.ones((1, 5))
        t = _table(2000, seed, p)
        lcm = lcm_estimate(t, samples=1000, burnin=400, seed=seed)["total"]
        independence = estimate(t, method="main")["total"]
        assert independence < lcm < 2400
        assert abs(lcm - 2000) < abs(independence - 2000)


def test_seeded_and_bad_options(tmp_path: Path) -> None:
    t = _table(500, 1, np.array([[0.3, 0.4, 0.35]]))
    assert lcm_estimate(t, samples=200, burnin=50, seed=4) == lcm_estimate(
        t, samples=200, burnin=50, seed=4
    )
    with pytest.raises(PalermoError, match="--classes"):
        lcm_estimate(t, classes=0)
    f = tmp_path / "c.csv"
    f.write_text("A,B,count\n1,0,60\n0,1,40\n1,1,20\n", encoding="utf-8")
    assert main(["estimate", "mse", str(f), "--method", "lcm", "--samples", "200",
                 "--burnin", "50", "--json"]) == 0  # fmt: skip
