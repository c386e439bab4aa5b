"""Cash deposits out of line with the sector (``finance score``), on a hand-made workspace.

Seven GB nail bars are registered (registry: sector nail_bar); each banks card takings and cash
every month for six months. Five take about a quarter of their money as cash (the sector's
profile); **Glow Nails** pays in twice its card takings as cash (two thirds: out of line by
share); **Big Nails** has the sector's share but ten times the money (out of line by volume,
peers of the same currency). Two building firms (sector construction) are too few to judge.
A person's cash deposits are not compared with anyone's: no sector. The banks give the holders'
country (as the simulator's do): without it resolution does not tie a holder to its registry entry;
the analyst accepts the pairs (registry entry, account holder) of the same name.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from schwifty import IBAN

from conftest import accept_same_names
from palermo.api_python import Workspace
from palermo.cli import main
from palermo.finance.sector import SectorParams, cash_vs_sector
from palermo.finance.workspace import score_workspace
from palermo.store import findings as F
from palermo.store.money import money_tables

LEGIT = ["Ana Nails Ltd", "Bea Nails Ltd", "Cleo Nails Ltd", "Dina Nails Ltd", "Eva Nails Ltd"]
FRONT, BIG = "Glow Nails Ltd", "Big Nails Ltd"
BUILDERS = ["Stone Build Ltd", "Brick Build Ltd"]
COMPANIES = [*LEGIT, FRONT, BIG, *BUILDERS]


def _iban(n: int) -> str:
    return str(IBAN.generate("GB", bank_code="NWBK601613", account_code=f"{31926800 + n}"))


ACC = {name: _iban(i) for i, name in enumerate([*COMPANIES, "Pat Person"])}


def _rows() -> list[list[str]]:
    rows, k = [], 0
    for m in range(1, 7):
        for i, name in enumerate(COMPANIES):
            card = 3000.0 + 100 * i
            cash = {FRONT: 2 * card, BIG: 10 * 1000.0 + 20 * i}.get(name, card / 3 + 10 * i)
            if name == BIG:
                card *= 10
            if name in BUILDERS:
                cash = 0.0
            for amount, kind, src, ref in (
                (card, "card", "MERCHANT-SETTLEMENT", "CARD SETTLEMENT"),
                (cash, "cash_deposit", "CASH-GB1", "cash"),
            ):
                if amount:
                    k += 1
                    rows.append([f"T{k}", f"2024-{m:02d}-1{i}T10:00:00Z", src, ACC[name],
                                 f"{amount:.2f}", "GBP", "", name, "GB", kind, ref])  # fmt: skip
        k += 1
        rows.append([f"T{k}", f"2024-{m:02d}-20T10:00:00Z", "CASH-GB1", ACC["Pat Person"],
                     "9000.00", "GBP", "", "Pat Person", "GB", "cash_deposit", "cash"])  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sector")
    with (d / "registry.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["registration_number", "company_name", "jurisdiction", "sector"])
        for i, name in enumerate(COMPANIES):
            w.writerow([f"0900{i:04d}", name, "GB", "construction" if name in BUILDERS else
                        "nail_bar"])  # fmt: skip
    with (d / "pay.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["transaction_id", "timestamp", "from_account", "to_account", "amount",
                    "currency", "from_name", "to_name", "to_country", "payment_type",
                    "reference"])  # fmt: skip
        w.writerows(_rows())
    with Workspace.open(d / "ws", create=True) as w:
        w.ingest(d / "registry.csv", mapping="companies", compartment="public")
        w.ingest(d / "pay.csv", mapping="payments", compartment="fiu")
        # eighteen records, each name twice: too few for the model to be sure of any pair (the
        # name's own frequency counts against it), so the analyst reviews them and accepts the
        # holders that are the registered companies of the same name
        accept_same_names(w, review=0.5)
    return d / "ws"


def test_out_of_line_by_share_and_by_volume(ws: Path) -> None:
    with Workspace.open(ws) as w:
        t = money_tables(w.store, [])
    rows = {r["label"]: r for r in cash_vs_sector(t.payments, t.accounts).to_pylist()}
    assert set(rows) == set(COMPANIES)  # the person has no sector: not compared
    front, big = rows[FRONT], rows[BIG]
    assert front["fired"] and front["cash_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert front["z_share"] >= 3.5 and front["peers"] == 6
    # the front's own deposits are not in its baseline: the median of the six others
    others = sorted(rows[n]["cash_share"] for n in [*LEGIT, BIG])
    assert front["sector_cash_share"] == pytest.approx((others[2] + others[3]) / 2, abs=1e-4)
    assert big["fired"] and big["z_share"] < 3.5 <= big["z_volume"]
    for name in LEGIT:
        assert not rows[name]["fired"] and rows[name]["note"] is None
    for name in BUILDERS:
        assert not rows[name]["fired"] and rows[name]["note"].startswith("not judged: 1 other")
    assert [r for r in rows.values() if r["fired"]] == sorted(
        (r for r in rows.values() if r["fired"]), key=lambda r: -r["score"]
    )
    # a stricter threshold and the front alone is out of line by neither measure at 50
    strict = cash_vs_sector(t.payments, t.accounts, SectorParams(z=50.0)).to_pylist()
    assert not any(r["fired"] for r in strict)
    # fewer cash than min_cash: not fired however odd
    high = cash_vs_sector(t.payments, t.accounts, SectorParams(min_cash=1e9)).to_pylist()
    assert not any(r["fired"] for r in high)


def test_score_adds_pattern_and_findings_with_deposits(ws: Path, tmp_path: Path) -> None:
    with Workspace.open(ws) as w:
        result = score_workspace(w.store, out=tmp_path, rules_only=True)
        found = F.read(w.store, "finance.cash_vs_sector")
    assert {f["label"] for f in result["cash_vs_sector"]["fired"]} == {FRONT, BIG}
    assert result["cash_vs_sector"]["not_judged_sectors"] == ["construction"]
    with (tmp_path / "entities.csv").open(encoding="utf-8") as f:
        entities = {r["label"]: r for r in csv.DictReader(f)}
    assert "cash_vs_sector" in entities[FRONT]["patterns"] and entities[FRONT]["flagged"] == "True"
    assert "cash_vs_sector" not in entities[LEGIT[0]]["patterns"]
    front = next(f for f in found if FRONT in f["explanation"])
    assert "67%" in front["explanation"] and "nail_bar" in front["explanation"]
    ev = front["evidence"][0]
    assert ev["cash_deposits_total"] == 6 and len(ev["cash_deposits"]) == 6
    assert all(d["evidence"].startswith("pay.csv:") for d in ev["cash_deposits"])
    assert front["parameters"]["params"]["z"] == 3.5
    assert (tmp_path / "cash_vs_sector.csv").exists()


def test_cli_sector_params(ws: Path, tmp_path: Path) -> None:
    args = ["finance", "score", "-w", str(ws), "--rules-only", "--out", str(tmp_path / "a")]
    assert main([*args, "--params", "sector_z=50"]) == 0
    with (tmp_path / "a" / "cash_vs_sector.csv").open(encoding="utf-8") as f:
        assert not any(r["fired"] == "True" for r in csv.DictReader(f))
    assert main([*args, "--params", "sector_nope=1"]) != 0
    assert main([*args, "--params", "sector_z=-1"]) != 0
