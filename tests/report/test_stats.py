"""``palermo report stats`` on the demo scenario (tiny): no published count below k, no suppressed
count recoverable from the totals beside it (an attacker's arithmetic on the CSV), victims
counted in the period they were identified, court outcomes from a file with bad rows set aside."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import Served, fail_cli, run_cli
from palermo.api_python import Workspace

DIMS = ["sex", "age_group", "citizenship", "exploitation"]
ALL = "(all)"


@pytest.fixture(scope="module")
def ws(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stats") / "ws"
    shutil.copytree(served.root, root)
    return root


def stats(capsys: pytest.CaptureFixture[str], ws: Path, out: Path, *args: str) -> dict[str, Any]:
    got: dict[str, Any] = run_cli(capsys, "report", "stats", "-w", str(ws), "--out", str(out),
                                  "--json", *args)  # fmt: skip
    return got


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def count(r: dict[str, str]) -> int | None:
    return int(r["count"]) if r["count"] != "" else None


def recover(rows: list[dict[str, str]], dims: list[str], k: int) -> list[str]:
    """What an attacker learns from a table's published sums: a suppressed count that is the
    only unknown of a published sum, or unknowns adding up to less than k."""
    cells = [r for r in rows if all(r[d] != ALL for d in dims)]
    margin = {(d, r[d]): r for r in rows for d in dims
              if r[d] != ALL and all(r[x] == ALL for x in dims if x != d)}  # fmt: skip
    total = next(r for r in rows if all(r[d] == ALL for d in dims))
    sums = []
    for (d, v), m in margin.items():
        sums.append((f"{d}={v}", m, [c for c in cells if c[d] == v]))
    for d in dims:
        sums.append((f"total over {d}", total, [m for (dd, _), m in margin.items() if dd == d]))
    leaks = []
    for name, whole, parts in sums:
        if count(whole) is None:
            continue
        hidden = [p for p in parts if count(p) is None]
        rest = count(whole) - sum(count(p) or 0 for p in parts)  # type: ignore[operator]
        if len(hidden) == 1:
            leaks.append(f"{name}: the one suppressed part is {rest}")
        elif hidden and rest < k:
            leaks.append(f"{name}: {len(hidden)} suppressed parts add up to {rest} < {k}")
    return leaks


def check_published(out: Path, k: int) -> None:
    """No count in any file below k (zeros aside), and none recoverable."""
    victims = read(out / "victims.csv")
    assert victims and not [r for r in victims if (count(r) or 0) and count(r) < k]  # type: ignore[operator]
    assert recover(victims, DIMS, k) == []
    for name, key in (("suspects.csv", ["stage", "role"]), ("assets.csv", ["table", "kind"])):
        rows = read(out / name)
        assert not [r for r in rows if (count(r) or 0) and count(r) < k]  # type: ignore[operator]
        for group in {r[key[0]] for r in rows}:
            part = [r for r in rows if r[key[0]] == group and r["suppressed"] != "no data"]
            if part:
                assert recover(part, [key[1]], k) == [], (name, group)
    for r in read(out / "assets.csv"):
        assert (r["value_eur"] == "") == (r["count"] == "")  # a value goes with its count
    # the page shows the same: no count below k in a table cell
    html = (out / "stats.html").read_text(encoding="utf-8")
    shown = [int(x) for x in re.findall(r'<td class="n">(\d+)</td>', html)]
    assert shown and not [x for x in shown if 0 < x < k]
    assert "<svg" in html and not re.search(r"(src|href)=[\"']?https?:", html)


def test_no_small_cell_and_none_recoverable(capsys: pytest.CaptureFixture[str], ws: Path,
                                             tmp_path: Path) -> None:  # fmt: skip
    for k in (10, 3):
        out = tmp_path / f"k{k}"
        got = stats(capsys, ws, out, "--period", "2024", "--k", str(k))
        assert got["victims"] > k and got["suppressed_cells"] > 0
        check_published(out, k)
    # a smaller k publishes more
    hidden10 = sum(1 for r in read(tmp_path / "k10" / "victims.csv") if r["count"] == "")
    hidden3 = sum(1 for r in read(tmp_path / "k3" / "victims.csv") if r["count"] == "")
    assert hidden3 < hidden10
    # what is suppressed does not say why (primary or secondary would narrow the others)
    assert {r["suppressed"] for r in read(tmp_path / "k10" / "victims.csv")} <= {"", "suppressed"}
    # the Python API writes the same files
    import palermo

    with palermo.open(ws) as w:
        w.report_stats("2024", tmp_path / "api", k=3)
    for name in ("victims.csv", "suspects.csv", "assets.csv"):
        assert read(tmp_path / "api" / name) == read(tmp_path / "k3" / name)


def test_the_attack_finds_a_leak_where_there_is_one() -> None:
    rows = [
        {"sex": "female", "count": "12", "suppressed": ""},
        {"sex": "male", "count": "", "suppressed": "suppressed"},
        {"sex": ALL, "count": "15", "suppressed": ""},
    ]
    assert recover(rows, ["sex"], 10) == ["total over sex: the one suppressed part is 3"]


def test_victims_counted_in_the_period_they_were_identified(
    capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path
) -> None:
    with Workspace.open(ws, read_only=True) as w:
        leads = w.store.engine.rows(
            "SELECT subject_ids[1] FROM findings WHERE kind = 'victims.lead' ORDER BY 1"
        )
    everything = stats(capsys, ws, tmp_path / "all", "--period", "2000-01-01..2030-12-31",
                       "--k", "1")  # fmt: skip
    assert everything["victims"] == everything["victims_published"] == len(leads)
    years = [stats(capsys, ws, tmp_path / y, "--period", y, "--k", "1")["victims"]
             for y in ("2023", "2024", "2025", "2026")]  # fmt: skip
    assert sum(years) == len(leads) and years[1] > 0
    quarters = [stats(capsys, ws, tmp_path / f"q{q}", "--period", f"2024-Q{q}", "--k", "1")
                for q in (1, 2, 3, 4)]  # fmt: skip
    assert sum(q["victims"] for q in quarters) == years[1]
    # a victim case opened for one of them (today) moves them to the case's period
    from datetime import date

    from palermo.report.stats import _detected
    from palermo.store import findings as F

    with Workspace.open(ws) as w:  # reading leads is audited
        found = F.read(w.store, "victims.lead")
        when = _detected(w.store, found)
    node = min(n for n, (day, _) in when.items() if day.year == 2024)
    copy = tmp_path / "ws2"
    shutil.copytree(ws, copy)
    run_cli(capsys, "victims", "case", "open", node, "-w", str(copy))
    after = stats(capsys, copy, tmp_path / "a", "--period", "2024", "--k", "1")
    assert after["victims"] == years[1] - 1
    today = stats(capsys, copy, tmp_path / "t", "--period", str(date.today().year), "--k", "1")
    assert today["detected_by"].get("victim case opened") == 1


def test_court_outcomes_from_a_file(capsys: pytest.CaptureFixture[str], ws: Path,
                                    tmp_path: Path) -> None:  # fmt: skip
    with Workspace.open(ws, read_only=True) as w:
        suspects = w.store.engine.rows(
            "SELECT subject_ids[1], replace(kind, 'network.role.', '') FROM findings WHERE kind"
            " LIKE 'network.role.%' AND kind <> 'network.role.victim' AND subject_ids[1] LIKE"
            " 'person-%' ORDER BY 1 LIMIT 4"
        )
    assert len(suspects) == 4
    src = tmp_path / "outcomes.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person", "outcome", "date", "amount_eur"])
        for node, _ in suspects:
            w.writerow([node, "prosecuted", "2024-05-02", ""])
        w.writerow([suspects[0][0], "convicted", "2024-11-20", ""])
        w.writerow([suspects[0][0], "confiscated", "2024-12-01", "25,000.50"])
        w.writerow([suspects[1][0], "convicted", "soon", ""])  # row 8: a bad date
        w.writerow(["Nobody At All", "convicted", "2024-01-01", ""])  # row 9: no such person
        w.writerow([suspects[2][0], "pardoned", "2024-01-01", ""])  # row 10: no such outcome
    out = tmp_path / "o"
    got = stats(capsys, ws, out, "--period", "2024", "--k", "1", "--outcomes", str(src))
    rows = read(out / "suspects.csv")
    prosecuted = {r["role"]: count(r) for r in rows if r["stage"] == "prosecuted"}
    want: dict[str, int] = {}
    for _, role in suspects:
        want[role] = want.get(role, 0) + 1
    assert {r: n for r, n in prosecuted.items() if n and r != ALL} == want
    assert prosecuted[ALL] == 4
    convicted = {r["role"]: count(r) for r in rows if r["stage"] == "convicted"}
    assert convicted[ALL] == 1 and convicted[suspects[0][1]] == 1
    conf = [r for r in read(out / "assets.csv") if r["table"] == "confiscated" and r["kind"] == ALL]
    assert conf[0]["count"] == "1" and float(conf[0]["value_eur"]) == 25000.5
    rejected = read(out / "outcomes_rejected.csv")
    assert [(r["row"], r["field"]) for r in rejected] == [("8", "date"), ("10", "outcome"),
                                                           ("9", "person")]  # fmt: skip
    assert got["outcomes_rejected"] == 3
    # without the file: no data, never a zero
    out2 = tmp_path / "none"
    stats(capsys, ws, out2, "--period", "2024")
    court = [r for r in read(out2 / "suspects.csv") if r["stage"] != "suspected"]
    assert court and all(r["count"] == "" and r["suppressed"] == "no data" for r in court)
    # and at k = 10 the same file's small counts are suppressed
    out3 = tmp_path / "k10"
    stats(capsys, ws, out3, "--period", "2024", "--outcomes", str(src))
    check_published(out3, 10)


def test_bad_period_and_k(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    err = fail_cli(capsys, "report", "stats", "-w", str(ws), "--period", "last year", "--out",
                   str(tmp_path / "x"))  # fmt: skip
    assert "a year (2025), a quarter (2025-Q1)" in err
    err = fail_cli(capsys, "report", "stats", "-w", str(ws), "--period", "2024", "--k", "0",
                   "--out", str(tmp_path / "x"))  # fmt: skip
    assert "--k 0" in err
