"""``palermo finance trace`` on a hand-made workspace whose answers are worked out by hand for each
attribution rule:

- before the trace, Xavier (outside) pays the mule M1 1,000; then the source Sam pays M1 1,000;
  M1 withdraws 500 in cash, remits 600 abroad to Rita (whose bank's statements are not in the
  workspace) and pays 100 back to Sam; M1 keeps the rest;
- Sam pays Mona (M2) 300, a day *after* Mona paid Yusuf 300 from money she already had: nothing
  traced may leave before it arrived;
- Sam pays a seller 50,000 and, nine days later, the land registry registers a flat to Sam for
  that price: an asset (the bank's holder "Sam Source" is the one person of that name: the land
  registry's owner).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from schwifty import IBAN

from palermo.api_python import Workspace
from palermo.cli import main
from palermo.errors import PalermoError
from palermo.finance.trace import TraceParams, parse_rates, parse_window, trace
from palermo.store.money import Rate


def _iban(country: str, bank: str, account: str) -> str:
    return str(IBAN.generate(country, bank_code=bank, account_code=account))


S = _iban("DE", "37040044", "0532013000")
M1 = _iban("DE", "37040044", "0532013001")
M2 = _iban("DE", "37040044", "0532013002")
X = _iban("DE", "37040044", "0532013003")
Y = _iban("DE", "37040044", "0532013004")
SELLER = _iban("DE", "37040044", "0532013005")
R = "RO49AAAA1B31007593840000"  # a Romanian account (no statements in the workspace)
NAME = {S: "Sam Source", M1: "Mara Mule", M2: "Mona Second", X: "Xavier Outside",
        Y: "Yusuf Payee", SELLER: "Sid Seller", R: "Rita Remote", "CASH-DE1": ""}  # fmt: skip

PAYMENTS = [
    ("T01", "2024-01-01T09:00:00Z", X, M1, "1000.00", "transfer"),
    ("T02", "2024-01-02T09:00:00Z", S, M1, "1000.00", "transfer"),
    ("T03", "2024-01-03T09:00:00Z", M1, "CASH-DE1", "500.00", "cash_withdrawal"),
    ("T04", "2024-01-04T09:00:00Z", M1, R, "600.00", "remittance"),
    ("T05", "2024-01-05T09:00:00Z", M1, S, "100.00", "transfer"),
    ("T06", "2024-01-06T09:00:00Z", M2, Y, "300.00", "transfer"),
    ("T07", "2024-01-07T09:00:00Z", S, M2, "300.00", "transfer"),
    ("T08", "2024-03-01T09:00:00Z", S, SELLER, "50000.00", "transfer"),
]


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _payments(d: Path, rows: list[tuple[str, ...]], currency: str = "EUR") -> Path:
    header = ["transaction_id", "timestamp", "from_account", "to_account", "amount", "currency",
              "from_name", "to_name", "from_country", "to_country", "payment_type"]  # fmt: skip
    out = []
    for tid, ts, a, b, amount, kind in rows:
        cc = {R: "RO"}.get(b, "DE")
        out.append([tid, ts, a, b, amount, currency, NAME[a], NAME[b], "DE", cc, kind])
    return _csv(d / f"payments_{currency}.csv", header, out)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tracecase")
    land = _csv(
        d / "land.csv",
        ["title_number", "country", "city", "address", "property_type", "registered_at", "price",
         "currency", "owner_name", "owner_type", "owner_birth_date", "share_pct"],
        [["DE-1", "DE", "Berlin", "Hauptstr. 1, 10115 Berlin", "apartment", "2024-03-10",
          "50000.00", "EUR", "Sam Source", "person", "1980-01-01", "100"]],
    )  # fmt: skip
    path = d / "ws"
    with Workspace.open(path, create=True) as w:
        w.ingest(land, mapping="land", compartment="police")
        w.ingest(_payments(d, PAYMENTS), mapping="payments", compartment="fiu")
    return path


def _run(ws: Path, source: str = "Sam Source", **kw: object) -> dict:
    out = kw.pop("out", None)
    rates = kw.pop("rates", None)
    to = kw.pop("to", None)
    window = kw.pop("window", None)
    with Workspace.open(ws) as w:
        return trace(w.store, source, to=to, window=window, params=TraceParams(**kw),  # type: ignore[arg-type]
                     rates=rates, out=out)  # fmt: skip


def _ends(s: dict) -> dict[str, float]:
    return {k: pytest.approx(v, abs=0.01) for k, v in s["terminals_eur"].items()}


@pytest.mark.parametrize(
    ("rule", "cash", "remitted", "returned", "held_m1"),
    [
        # M1 holds 1,000 clean + 1,000 traced when the withdrawals start
        ("proportional", 250.0, 300.0, 50.0, 400.0),  # half, half, then 450/900 of 100
        ("fifo", 0.0, 100.0, 100.0, 800.0),  # the older clean 1,000 goes first
        ("lifo", 500.0, 500.0, 0.0, 0.0),  # the newest (traced) goes first; 100 clean left
        ("libr", 0.0, 100.0, 100.0, 800.0),  # untraced first: the least
        ("traced_first", 500.0, 500.0, 0.0, 0.0),  # traced first: the most
    ],
)
def test_rules_split_a_mixed_account_as_worked_out(
    ws: Path, rule: str, cash: float, remitted: float, returned: float, held_m1: float
) -> None:
    s = _run(ws, rule=rule)
    assert s["traced_eur"] == pytest.approx(51_300.0)  # 1,000 + 300 + 50,000 out of Sam
    assert s["ended_eur"] == pytest.approx(s["traced_eur"])  # conservation
    by = {(t["kind"], t["account"]): t["amount_eur"] for t in s["terminals"]}
    assert by.get(("cash", "CASH-DE1"), 0.0) == pytest.approx(cash, abs=0.01)
    assert by.get(("remittance", R), 0.0) == pytest.approx(remitted, abs=0.01)
    assert by.get(("returned", S), 0.0) == pytest.approx(returned, abs=0.01)
    assert by.get(("held", M1), 0.0) == pytest.approx(held_m1, abs=0.01)
    # Mona paid Yusuf before Sam's money arrived: none of it went to Yusuf
    assert by[("held", M2)] == pytest.approx(300.0)
    assert not any(t["account"] == Y for t in s["terminals"])
    assert by[("asset", SELLER)] == pytest.approx(50_000.0)


def test_conservation_and_paths_add_up(ws: Path, tmp_path: Path) -> None:
    s = _run(ws, out=tmp_path / "t")
    rows = list(csv.DictReader((tmp_path / "t" / "paths.csv").open(encoding="utf-8")))
    assert sum(float(r["amount_eur"]) for r in rows) == pytest.approx(s["traced_eur"], abs=0.05)
    per_terminal: dict[str, float] = {}
    for r in rows:
        per_terminal[r["terminal"]] = per_terminal.get(r["terminal"], 0.0) + float(r["amount_eur"])
    for n, t in enumerate(s["terminals"], start=1):
        assert per_terminal[str(n)] == pytest.approx(t["amount_eur"], abs=0.02)
    remit = next(r for r in rows if r["kind"] == "remittance")
    assert remit["accounts"] == f"{S} > {M1} > {R}"
    assert remit["transactions"] == "T02 > T04"
    assert remit["holders"].startswith("Sam Source > Mara Mule > Rita Remote")
    assert remit["country"] == "RO"
    asset = next(r for r in rows if r["kind"] == "asset")
    assert asset["asset"] == "DE-1" and "registered to the payer's holder" in asset["rule"]
    assert "payments_EUR.csv:9" in asset["evidence"]  # file and row of T08
    edges = list(csv.DictReader((tmp_path / "t" / "trail_edges.csv").open(encoding="utf-8")))
    assert {(e["from_account"], e["to_account"]) for e in edges} >= {(S, M1), (M1, R), (S, SELLER)}
    assert (M2, Y) not in {(e["from_account"], e["to_account"]) for e in edges}
    countries = list(csv.DictReader((tmp_path / "t" / "by_country.csv").open(encoding="utf-8")))
    assert {(c["kind"], c["country"]) for c in countries} >= {("remittance", "RO"), ("asset", "DE")}
    graph = (tmp_path / "t" / "trail.graphml").read_text(encoding="utf-8")
    assert "traced_eur" in graph and R in graph
    summary = json.loads((tmp_path / "t" / "summary.json").read_text(encoding="utf-8"))
    assert summary["conserved"] and summary["rule"] == "proportional"


def test_backward_finds_where_the_money_came_from(ws: Path) -> None:
    s = _run(ws, source=R, direction="backward")
    assert s["traced_eur"] == pytest.approx(600.0)  # all that reached Rita
    origins = {(o["kind"], o["account"]): o["amount_eur"] for o in s["origins"]}
    # proportional: M1 held Xavier's 1,000 and Sam's 1,000 (neither had inflows: prior funds)
    assert origins[("prior_funds", X)] == pytest.approx(300.0)
    assert origins[("prior_funds", S)] == pytest.approx(300.0)
    fifo = _run(ws, source=R, direction="backward", rule="fifo")
    origins = {(o["kind"], o["account"]): o["amount_eur"] for o in fifo["origins"]}
    assert origins[("prior_funds", X)] == pytest.approx(500.0)
    assert origins[("prior_funds", S)] == pytest.approx(100.0)
    with pytest.raises(PalermoError, match="backward"):
        _run(ws, source=R, direction="backward", rule="libr")


def test_busy_ledgers_merge_small_lots_and_totals_stay_exact(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import palermo.finance.trace as T

    monkeypatch.setattr(T, "MAX_LOTS", 1)
    monkeypatch.setattr(T, "MAX_ORIGINS", 1)
    s = _run(ws, source=R, direction="backward")
    assert s["traced_eur"] == pytest.approx(600.0)
    assert sum(o["amount_eur"] for o in s["origins"]) == pytest.approx(600.0)
    forward = _run(ws)
    assert forward["ended_eur"] == pytest.approx(51_300.0)


def test_max_hops_bounds_the_backward_reach(ws: Path) -> None:
    # Rita is one payment from M1, two from Sam and Xavier
    near = _run(ws, source=R, direction="backward", max_hops=1)
    # one hop back: M1's inflows are where the money entered, from outside the reach
    got = {(o["kind"], o["account"]): o["amount_eur"] for o in near["origins"]}
    assert got == {
        ("payment_from_outside", X): pytest.approx(300.0),
        ("payment_from_outside", S): pytest.approx(300.0),
    }


def test_to_stops_at_the_target_and_window_bounds_the_trace(ws: Path) -> None:
    s = _run(ws, to="Mara Mule")
    reached = [t for t in s["terminals"] if t["kind"] == "reached"]
    assert sum(t["amount_eur"] for t in reached) == pytest.approx(1000.0)
    assert "cash" not in s["terminals_eur"]  # nothing followed beyond the target
    w = _run(ws, window="2024-01-01..2024-02-01")
    assert w["traced_eur"] == pytest.approx(1300.0)  # the purchase is outside the window
    days = _run(ws, window="3d")  # from Sam's first payment (2 Jan) for 3 days
    assert days["traced_eur"] == pytest.approx(1000.0)


def test_currencies_need_rates(tmp_path: Path) -> None:
    d = tmp_path
    rows = [("G1", "2024-01-02T09:00:00Z", S, M1, "850.00", "transfer"),
            ("G2", "2024-01-03T09:00:00Z", M1, "CASH-DE1", "425.00", "cash_withdrawal")]  # fmt: skip
    with Workspace.open(d / "ws", create=True) as w:
        w.ingest(_payments(d, rows, "GBP"), mapping="payments", compartment="fiu")
    # one currency and no rate: amounts stay in it, and the unit says so
    alone = _run(d / "ws", source=S)
    assert alone["unit"] == "GBP" and alone["traced_eur"] == pytest.approx(850.0)
    with Workspace.open(d / "ws") as w:
        eur = [("E1", "2024-01-04T09:00:00Z", S, M1, "10.00", "transfer")]
        w.ingest(_payments(d, eur, "EUR"), mapping="payments", compartment="fiu")
    with pytest.raises(PalermoError, match="GBP have no EUR rate"):
        _run(d / "ws", source=S)
    rates = _csv(d / "rates.csv", ["currency", "units_per_eur"], [["GBP", "0.85"]])
    s = _run(d / "ws", source=S, rates=parse_rates(rates))
    assert s["traced_eur"] == pytest.approx(1010.0) and s["unit"] == "EUR"
    assert s["terminals_eur"]["cash"] == pytest.approx(500.0)
    dated = [Rate("GBP", 0.5), Rate("GBP", 0.85, parse_window("2024-01-01..")[0].date())]  # type: ignore[union-attr]
    assert _run(d / "ws", source=S, rates=dated)["traced_eur"] == pytest.approx(1010.0)


def test_bad_input_is_refused_with_reasons(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(PalermoError, match="no entity id, account number or name"):
        _run(ws, source="Nobody Atall")
    with pytest.raises(PalermoError, match="--rule"):
        _run(ws, rule="random")
    with pytest.raises(PalermoError, match="--window"):
        parse_window("last week")
    with pytest.raises(PalermoError, match="not after the start"):
        parse_window("2024-02-01..2024-01-01")
    bad = _csv(tmp_path / "r.csv", ["currency", "units_per_eur"], [["GBP", "-1"]])
    with pytest.raises(PalermoError, match="row 2"):
        parse_rates(bad)
    with pytest.raises(PalermoError, match="needs columns"):
        parse_rates(_csv(tmp_path / "r2.csv", ["cur", "rate"], [["GBP", "1"]]))


def test_cli_writes_the_trail_and_audits_it(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code = main(["finance", "trace", "-w", str(ws), "--from", S, "--rule", "fifo",
                 "--out", str(tmp_path / "cli"), "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rule"] == "fifo" and summary["traced_eur"] == pytest.approx(51_300.0)
    assert (tmp_path / "cli" / "paths.csv").exists()
    with Workspace.open(ws) as w:
        actions = [r[0] for r in w.store.engine.rows("SELECT action FROM audit")]
    assert "finance.trace" in actions
    assert main(["finance", "trace", "-w", str(ws), "--from", "Nobody"]) != 0


def test_same_second_payments_are_ordered_by_id_not_file_order(tmp_path: Path) -> None:
    rows = [
        ("A1", "2024-01-02T09:00:00Z", S, M1, "1000.00", "transfer"),
        ("A2", "2024-01-02T09:00:00Z", M1, "CASH-DE1", "400.00", "cash_withdrawal"),
        ("A0", "2024-01-02T09:00:00Z", M1, Y, "100.00", "transfer"),  # before A1: no taint
    ]
    results = []
    for name, order in (("a", rows), ("b", rows[::-1])):
        d = tmp_path / name
        d.mkdir()
        with Workspace.open(d / "ws", create=True) as w:
            w.ingest(_payments(d, order), mapping="payments", compartment="fiu")
        results.append(_run(d / "ws", source=S))
    for s in results:
        assert s["terminals_eur"]["cash"] == pytest.approx(400.0)
        assert not any(t["account"] == Y for t in s["terminals"])
    assert results[0]["terminals_eur"] == results[1]["terminals_eur"]
