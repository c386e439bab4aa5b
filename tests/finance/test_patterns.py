"""The detectors added to ``palermo finance scan`` (gather_scatter, scatter_gather and the
FATF/FinCEN/FINTRAC indicators): each present by construction and absent in a near miss, with
its proof transactions, scores, parameters and the fields it needs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from palermo.errors import PalermoError
from palermo.finance import ScanParams, scan
from palermo.finance.patterns import _matches, _norm, indicators, normalise, unavailable

FULL = [
    "transaction_id", "timestamp", "from_account", "to_account", "amount", "currency",
    "from_name", "to_name", "from_country", "to_country", "from_bank", "to_bank", "payment_type",
    "reference",
]  # fmt: skip
BASIC = FULL[:6]
T0 = datetime(2024, 3, 4, 9, 0)


def tx(frm: str, to: str, amount: float, days: float, **fields: str) -> dict[str, object]:
    """One transaction ``days`` after T0; ``fields``: the optional ones (to_name=...)."""
    return {
        "timestamp": (T0 + timedelta(days=days)).isoformat(sep=" "),
        "from_account": frm,
        "to_account": to,
        "amount": amount,
        "currency": "EUR",
        **fields,
    }


@dataclass
class Result:
    summary: dict[str, object]
    hits: dict[str, dict[str, float]]  # pattern -> {account: the pattern's score}
    proof: dict[str, set[str]]  # pattern -> ids of the transactions proving it
    proof_of: dict[tuple[str, str], set[str]]  # (pattern, account) -> its proof

    def of(self, pattern: str) -> set[str]:
        """The accounts ``pattern`` fired on."""
        return set(self.hits.get(pattern, {}))


def run(
    tmp_path: Path,
    rows: list[dict[str, object]],
    header: list[str] = FULL,
    **params: str,
) -> Result:
    """Write ``rows`` (ids t01, t02, ... in order) and scan them, rules only; the detectors'
    tables ``hits`` and ``proof`` as the scan leaves them."""
    src = tmp_path / "tx.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="", lineterminator="\n")
        w.writeheader()
        for i, row in enumerate(rows, 1):
            w.writerow(
                {"transaction_id": f"t{i:02d}", **{k: v for k, v in row.items() if k in header}}
            )
        assert all(set(r) <= set(header) | set(FULL) for r in rows)
    tables: dict[str, list[tuple[str, str, object]]] = {}

    def grab(con: duckdb.DuckDBPyConnection) -> None:
        tables["hits"] = con.execute("SELECT pattern, account, score FROM hits").fetchall()
        tables["proof"] = con.execute("SELECT pattern, account, tid FROM proof").fetchall()

    summary = scan(
        src, out=tmp_path / "out", params=ScanParams.parse(params), rules_only=True, inspect=grab
    )
    r = Result(summary, {}, {}, {})
    for pattern, account, score in tables["hits"]:
        assert account not in r.hits.get(pattern, {}), f"two {pattern} hits for {account}"
        assert isinstance(score, float) and 0 <= score <= 1
        r.hits.setdefault(pattern, {})[account] = score
    for pattern, account, tid in tables["proof"]:
        assert account in r.hits[pattern], f"{pattern} proof for {account}, not a hit"
        r.proof.setdefault(pattern, set()).add(str(tid))
        r.proof_of.setdefault((pattern, account), set()).add(str(tid))
    return r


def ids(*numbers: int) -> set[str]:
    return {f"t{i:02d}" for i in numbers}


def renamed(rows: list[dict[str, object]], **names: str) -> list[dict[str, object]]:
    """``rows`` with each account name's parts replaced (renamed(rows, HUB="BIG"))."""
    out = []
    for row in rows:
        row = dict(row)
        for field in ("from_account", "to_account"):
            for old, new in names.items():
                row[field] = str(row[field]).replace(old, new)
        out.append(row)
    return out


# -- gather_scatter ------------------------------------------------------------------------------


def _gather(payers: int, payees: int, gap_days: float = 2.0) -> list[dict[str, object]]:
    """``payers`` distinct payers into HUB over one day, then HUB to ``payees`` distinct payees
    ``gap_days`` after the first arrival."""
    rows = [tx(f"P{i}", "HUB", 1000 + 37 * i, i * 0.1) for i in range(payers)]
    rows += [tx("HUB", f"Q{i}", 110 + 13 * i, gap_days + i * 0.1) for i in range(payees)]
    return rows


def test_gather_scatter(tmp_path: Path) -> None:
    rows = _gather(6, 6)
    rows.append(tx("P0", "HUB", 500, -20))  # 20 days before: outside every arrival window
    rows.append(tx("HUB", "Q0", 120, 30))  # a month after: outside every departure window
    r = run(tmp_path, rows)
    assert r.of("gather_scatter") == {"HUB"}
    assert r.proof["gather_scatter"] == ids(*range(1, 13))
    assert r.hits["gather_scatter"]["HUB"] == pytest.approx(0.6)  # 6 / 5 * 0.5


@pytest.mark.parametrize(
    "rows",
    [
        _gather(4, 6),  # one payer too few
        _gather(6, 4),  # one payee too few
        _gather(6, 6, gap_days=9.5),  # the payments out start 8 days after the last arrival
        [tx("HUB", f"Q{i}", 110 + 13 * i, -1 - i) for i in range(6)]
        + _gather(6, 0),  # the fan-out before the fan-in
    ],
)
def test_gather_scatter_absent(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    assert "gather_scatter" not in run(tmp_path, rows).proof


def test_gather_scatter_scores_and_parameters(tmp_path: Path) -> None:
    r = run(tmp_path, _gather(5, 5) + renamed(_gather(10, 12), HUB="BIG"))
    assert (
        r.hits["gather_scatter"]["BIG"]
        == 1.0
        > r.hits["gather_scatter"]["HUB"]
        == pytest.approx(0.5)
    )
    assert run(tmp_path, _gather(3, 3), gather_min="3").of("gather_scatter") == {"HUB"}
    assert run(tmp_path, _gather(6, 6), gather_min="7").of("gather_scatter") == set()
    assert run(tmp_path, _gather(6, 6, 9.5), gather_days="10").of("gather_scatter") == {"HUB"}


def test_gather_scatter_cash_desk_is_no_hub(tmp_path: Path) -> None:
    rows = renamed(_gather(6, 6), HUB="CASH-01")
    assert "gather_scatter" not in run(tmp_path, rows).proof


# -- scatter_gather ------------------------------------------------------------------------------


def _scatter(
    mids: int, back: float = 950.0, after: float = 1.0, sinks: int = 1
) -> list[dict[str, object]]:
    """SRC pays MID0.. 1000 each; each MIDi pays SINK(i % sinks) ``back`` ``after`` days later."""
    rows = [tx("SRC", f"MID{i}", 1000, i * 0.1) for i in range(mids)]
    rows += [tx(f"MID{i}", f"SINK{i % sinks}", back, i * 0.1 + after) for i in range(mids)]
    return rows


def test_scatter_gather(tmp_path: Path) -> None:
    rows = [*_scatter(3), tx("SRC", "MID0", 1000, 40), tx("MID0", "OTHER", 990, 40.5)]
    r = run(tmp_path, rows)
    # the source, the sink and each intermediary; proof: both hops, the chain outside it not
    assert r.of("scatter_gather") == {"SRC", "SINK0", "MID0", "MID1", "MID2"}
    assert r.proof["scatter_gather"] == ids(1, 2, 3, 4, 5, 6)
    assert r.proof_of["scatter_gather", "SRC"] == r.proof_of["scatter_gather", "SINK0"]
    assert r.proof_of["scatter_gather", "MID1"] == ids(2, 5)  # its two hops
    assert r.hits["scatter_gather"] == pytest.approx(dict.fromkeys(r.of("scatter_gather"), 0.5))


@pytest.mark.parametrize(
    "rows",
    [
        _scatter(2),  # one intermediary too few
        _scatter(3, after=8),  # the second hop 8 days after the first
        _scatter(3, back=700),  # 70% of what came in: out of the amount band
        _scatter(3, back=1100),  # more than came in
        _scatter(3, sinks=3),  # three sinks, one each
        _scatter(3, after=-0.5),  # the second hop before the first
        [tx("SRC", f"MID{i}", 1000, i) for i in range(3)]
        + [tx(f"MID{i}", "SRC", 950, i + 0.5) for i in range(3)],  # back to the source
        [tx("SRC", f"MID{i}", 1000, 4 * i) for i in range(3)]
        + [tx(f"MID{i}", "SINK0", 950, 4 * i + 0.5) for i in range(3)],  # first hops 8 days apart
    ],
)
def test_scatter_gather_absent(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    assert "scatter_gather" not in run(tmp_path, rows).proof


def test_scatter_gather_scores_and_parameters(tmp_path: Path) -> None:
    r = run(tmp_path, _scatter(6) + renamed(_scatter(3), SRC="S2", MID="M2", SINK0="K2"))
    assert (
        r.hits["scatter_gather"]["SINK0"]
        == 1.0
        > r.hits["scatter_gather"]["K2"]
        == pytest.approx(0.5)
    )
    assert run(tmp_path, _scatter(3, back=700), scatter_min_ratio="0.6").of("scatter_gather")
    assert run(tmp_path, _scatter(2), scatter_min="2").of("scatter_gather")
    assert not run(tmp_path, _scatter(3), scatter_min="4").of("scatter_gather")
    assert run(tmp_path, _scatter(3, after=8), scatter_days="9").of("scatter_gather")


# -- ad_payments (F3) ----------------------------------------------------------------------------


def _ads(amounts: tuple[float, ...] = (15, 22.5, 9), days: tuple[float, ...] = (0, 9, 19),
         name: str = "Vivastreet Ltd", ref: str = "ad boost") -> list[dict[str, object]]:  # fmt: skip
    return [
        tx("PIMP", "SITE", a, d, to_name=name, reference=ref, payment_type="card")
        for a, d in zip(amounts, days, strict=True)
    ]


def test_ad_payments(tmp_path: Path) -> None:
    rows = [*_ads(), tx("PIMP", "SHOP", 12, 3, to_name="Tesco Stores", reference="groceries")]
    r = run(tmp_path, rows)
    assert r.of("ad_payments") == {"PIMP"}
    assert r.proof["ad_payments"] == ids(1, 2, 3)
    assert r.hits["ad_payments"]["PIMP"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "rows",
    [
        _ads(amounts=(15, 250, 9)),  # one payment above ad_max_amount
        _ads(amounts=(15, 22), days=(0, 9)),  # two payments only
        _ads(days=(0, 25, 50)),  # spread over 50 days
        _ads(name="Tesco Stores", ref="groceries"),  # no keyword
        _ads(name="Erosion Control Ltd", ref="invoice"),  # "eros" is a whole word only
    ],
)
def test_ad_payments_absent(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    assert "ad_payments" not in run(tmp_path, rows).proof


def test_ad_payments_reference_alone_and_parameters(tmp_path: Path) -> None:
    rows = _ads(name="", ref="ESCORTS-ads.example premium")  # escort*, in the reference
    assert run(tmp_path, rows).of("ad_payments") == {"PIMP"}
    assert run(tmp_path, _ads(days=(0, 25, 50)), ad_days="60").of("ad_payments") == {"PIMP"}
    assert not run(tmp_path, _ads(amounts=(15, 50, 9)), ad_max_amount="40").of("ad_payments")
    r = run(tmp_path, _ads() + _ads(days=(1, 2, 3)))
    assert r.hits["ad_payments"]["PIMP"] == pytest.approx(
        1.0
    )  # 6 payments in 30 days: twice the minimum


def test_ad_payments_need_a_name_or_reference(tmp_path: Path) -> None:
    r = run(tmp_path, _ads(), header=BASIC)
    assert "ad_payments" not in r.proof
    notes = r.summary["notes"]
    assert isinstance(notes, list)
    assert "ad_payments could not run: needs to_name or reference (not in the file)" in notes


# -- accommodation_payments (F6, F4) -------------------------------------------------------------


def test_accommodation_payments(tmp_path: Path) -> None:
    rows = [
        tx("BOSS", "LANDLORD1", 800, 0, reference="rent Flat 1, 12 Mill Lane"),
        tx("BOSS", "LANDLORD2", 650, 2, reference="Chirie apartament 4"),  # RO
        tx("BOSS", "LANDLORD1", 800, 45, reference="rent Flat 1, 12 Mill Lane"),  # next window
        tx("TENANT", "LANDLORD1", 700, 1, reference="RENT"),
        tx("TENANT", "LANDLORD1", 700, 31, reference="RENT"),  # one place, every month
    ]
    r = run(tmp_path, rows)
    assert r.of("accommodation_payments") == {"BOSS"}
    assert r.proof["accommodation_payments"] == ids(1, 2)
    assert r.hits["accommodation_payments"]["BOSS"] == pytest.approx(0.5)


def test_accommodation_hotels_and_scores(tmp_path: Path) -> None:
    rows = [
        tx("A", "H1", 90, 0, to_name="Hotel Ibis Leeds"),
        tx("A", "H2", 120, 3, to_name="Airbnb Payments UK"),
        tx("A", "H3", 60, 6, to_name="Booking.com BV"),
        tx("A", "H4", 45, 9, to_name="YHA Hostels"),
        tx("B", "L1", 500, 0, reference="Miete Mai"),  # DE
        tx("B", "L2", 500, 1, reference="huur"),  # NL
    ]
    r = run(tmp_path, rows)
    assert (
        r.hits["accommodation_payments"]["A"]
        == 1.0
        > r.hits["accommodation_payments"]["B"]
        == pytest.approx(0.5)
    )
    assert run(tmp_path, rows, lodging_min_places="3").of("accommodation_payments") == {"A"}


@pytest.mark.parametrize(
    "second",
    [
        tx("BOSS", "LANDLORD2", 650, 40, reference="rent Flat 2"),  # 40 days later
        tx("BOSS", "LANDLORD2", 650, 2, reference="parents evening"),  # "rent" in a word
        tx("BOSS", "LANDLORD2", 650, 2, reference="current account"),
        tx("BOSS", "LANDLORD1", 650, 2, reference="rent Flat 1"),  # the same landlord
    ],
)
def test_accommodation_payments_absent(tmp_path: Path, second: dict[str, object]) -> None:
    rows = [tx("BOSS", "LANDLORD1", 800, 0, reference="rent Flat 1"), second]
    assert "accommodation_payments" not in run(tmp_path, rows).proof


# -- transport_payments (F5) ---------------------------------------------------------------------


def test_transport_payments(tmp_path: Path) -> None:
    rows = [
        tx("T", "FLIX", 39, 0, to_name="FlixBus DACH GmbH"),
        tx("T", "RYAN", 89.99, 1, to_name="RYANAIR DAC", reference="booking X7Q2"),
        tx("T", "AGENT", 120, 2, to_name="Andrei P", reference="bilete autocar"),  # RO
        tx("T", "FLIX", 39, 30, to_name="FlixBus DACH GmbH"),  # outside the week
    ]
    r = run(tmp_path, rows)
    assert r.of("transport_payments") == {"T"}
    assert r.proof["transport_payments"] == ids(1, 2, 3)
    assert r.hits["transport_payments"]["T"] == pytest.approx(0.5)
    assert not run(tmp_path, rows, transport_min="4").of("transport_payments")
    assert run(tmp_path, rows, transport_min="4", transport_days="31").of("transport_payments")


@pytest.mark.parametrize(
    "names",
    [
        ["FlixBus", "Ryanair", "Wizz Air"],  # over 21 days (days 0, 10, 20 below)
        ["Uber BV", "Uber BV", "Bolt Operations"],  # ride-hailing is left out
        ["Business Supplies Ltd", "Omnibus Books", "Busy Bee"],  # "bus" only as a word
    ],
)
def test_transport_payments_absent(tmp_path: Path, names: list[str]) -> None:
    days = [0, 10, 20] if names[0] == "FlixBus" else [0, 1, 2]
    rows = [tx("T", f"M{i}", 30, d, to_name=n) for i, (n, d) in enumerate(zip(names, days, strict=True))]  # fmt: skip
    assert "transport_payments" not in run(tmp_path, rows).proof


# -- remittance_corridor (F9) --------------------------------------------------------------------


def test_remittance_corridor_one_sender_one_country(tmp_path: Path) -> None:
    rows = [tx("S", f"RO{i}", 300, 7 * i, from_country="GB", to_country="RO") for i in range(3)]
    rows.append(tx("S", "GBX", 300, 1, from_country="GB", to_country="GB"))  # domestic
    rows.append(tx("S", "UA1", 300, 2, from_country="GB", to_country="UA"))  # another corridor
    r = run(tmp_path, rows)
    assert r.of("remittance_corridor") == {"S"}
    assert r.proof["remittance_corridor"] == ids(1, 2, 3)
    assert r.hits["remittance_corridor"]["S"] == pytest.approx(0.5)
    assert not run(tmp_path, rows, remit_min="4").of("remittance_corridor")


@pytest.mark.parametrize(
    "rows",
    [
        [tx("S", f"R{i}", 300, 7 * i, from_country="GB", to_country="GB") for i in range(3)],
        [tx("S", f"R{i}", 300, 7 * i, from_country="GB", to_country="RO") for i in range(2)],
        [tx("S", f"R{i}", 300, 40 * i, from_country="GB", to_country="RO") for i in range(3)],
        [tx("S", f"R{i}", 300, i, from_country="GB", to_country=c)
         for i, c in enumerate(["RO", "UA", "NG"])],  # three countries, one each
        [tx("ACC1", f"ACC{i + 2}", 300, i) for i in range(3)],  # no country: no guess
    ],
)  # fmt: skip
def test_remittance_corridor_absent(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    assert "remittance_corridor" not in run(tmp_path, rows).proof


def test_remittance_corridor_from_ibans(tmp_path: Path) -> None:
    rows = [tx("GB29 NWBK 6016 1331 9268 19", f"RO49AAAA1B3100759384000{i}", 250, i)
            for i in range(3)]  # fmt: skip
    rows.append(tx("GB29NWBK60161331926819", "GB33BUKB20201555555555", 250, 1))  # domestic
    r = run(tmp_path, rows, header=BASIC)
    assert r.of("remittance_corridor") == {"GB29 NWBK 6016 1331 9268 19"}
    assert r.proof["remittance_corridor"] == ids(1, 2, 3)
    notes = r.summary["notes"]
    assert isinstance(notes, list) and any("IBAN" in n for n in notes)


def test_remittance_corridor_many_senders_one_beneficiary(tmp_path: Path) -> None:
    rows = [
        tx(f"S{i}", "BEN", 200 + i, 5 * i, from_country="GB", to_country="RO") for i in range(3)
    ]
    rows.append(tx("S9", "BEN", 200, 3, from_country="RO", to_country="RO"))  # domestic
    r = run(tmp_path, rows)
    assert r.of("remittance_corridor") == {"BEN"}
    assert r.proof["remittance_corridor"] == ids(1, 2, 3)
    assert not run(tmp_path, rows, remit_min_senders="4").of("remittance_corridor")


def test_remittance_corridor_typed_and_one_hit_per_account(tmp_path: Path) -> None:
    # payment type remittance to an account of unknown country counts; typed but known domestic not
    typed = [tx("S", f"MTO{i}", 100, i, payment_type="remittance") for i in range(3)]
    domestic = [tx("D", f"MTO{i}", 100, i, payment_type="Remittance", from_country="GB",
                   to_country="GB") for i in range(3)]  # fmt: skip
    r = run(tmp_path, typed + domestic)
    assert r.of("remittance_corridor") == {"S"}
    assert r.proof["remittance_corridor"] == ids(1, 2, 3)
    # X both sends three to RO and receives from three senders abroad: one hit, the higher score
    both = [tx("X", f"RO{i}", 100, i, from_country="GB", to_country="RO") for i in range(3)]
    both += [tx(f"NG{i}", "X", 100, i, from_country="NG", to_country="GB") for i in range(6)]
    r = run(tmp_path, both)
    assert r.of("remittance_corridor") == {"X"}
    per = r.summary["alerts_per_pattern"]
    assert isinstance(per, dict) and per["remittance_corridor"] == {
        "accounts": 1,
        "transactions": 9,
    }
    assert r.hits["remittance_corridor"]["X"] == pytest.approx(1.0)  # 6 senders: twice the minimum


# -- cash_intensive (F2) -------------------------------------------------------------------------


def _cash_case(front_pays_wages: bool = False, peers: int = 5) -> list[dict[str, object]]:
    """``peers`` shops taking about a quarter of their income in cash, MID 40%, FRONT all cash."""
    rows: list[dict[str, object]] = []
    for k in range(peers):
        for i in range(5):
            rows.append(tx("CASH-DESK", f"SHOP{k}", 100, i, payment_type="cash_deposit",
                           reference="cash deposit"))  # fmt: skip
        rows.append(tx(f"CLIENT{k}", f"SHOP{k}", 1400 + 100 * k, 3, payment_type="transfer"))
        rows.append(tx(f"SHOP{k}", f"STAFF{k}", 900, 20, payment_type="salary"))
    for i in range(5):  # at a teller: cash by its payment type alone
        rows.append(tx("TELLER-12", "MID", 100, i, payment_type="cash deposit"))
    rows.append(tx("CLIENTM", "MID", 750, 3, payment_type="transfer"))
    for i in range(6):
        rows.append(tx("CASH-DESK", "FRONT", 700 + 10 * i, i, payment_type="Cash_Deposit"))
    if front_pays_wages:
        rows.append(tx("FRONT", "COOK", 800, 20, payment_type="transfer", reference="WAGES WK12"))
    return rows


def test_cash_intensive(tmp_path: Path) -> None:
    rows = _cash_case()
    r = run(tmp_path, rows)
    assert r.of("cash_intensive") == {"FRONT", "MID"}
    front = {f"t{i:02d}" for i, t in enumerate(rows, 1) if t["to_account"] == "FRONT"}
    mid = {f"t{i:02d}" for i, t in enumerate(rows, 1)
           if t["to_account"] == "MID" and t["from_account"] == "TELLER-12"}  # fmt: skip
    assert r.proof["cash_intensive"] == front | mid
    assert r.hits["cash_intensive"]["FRONT"] == 1.0 > r.hits["cash_intensive"]["MID"] > 0.5
    assert run(tmp_path, rows, cash_min_z="30").of("cash_intensive") == set()
    assert run(tmp_path, rows, cash_min_deposits="6").of("cash_intensive") == set()  # 1 peer


def test_cash_intensive_absent(tmp_path: Path) -> None:
    # FRONT pays wages (a reference says so): F2 wants cash revenue with no wage debits
    assert run(tmp_path, _cash_case(front_pays_wages=True)).of("cash_intensive") == {"MID"}
    # too few peers for a median and MAD
    assert run(tmp_path, _cash_case(peers=2)).of("cash_intensive") == set()
    # four peers: MID no longer out of line (z 0.6), FRONT still (z 6)
    r = run(tmp_path, _cash_case(peers=2), cash_min_peers="4")
    assert r.of("cash_intensive") == {"FRONT"}


def test_cash_intensive_without_payment_types(tmp_path: Path) -> None:
    # cash deposits known by the CASH... payer alone (MID's teller deposits are not); the wage
    # condition cannot be checked, so FRONT fires though it pays wages
    r = run(tmp_path, _cash_case(front_pays_wages=True), header=BASIC)
    assert r.of("cash_intensive") == {"FRONT"}
    notes = r.summary["notes"]
    assert isinstance(notes, list)
    assert any(n.startswith("cash_intensive ran without its no-wage/tax-debit") for n in notes)


# -- funnel (F7) ---------------------------------------------------------------------------------


def _funnel(hours: float, where: str = "RO") -> list[dict[str, object]]:
    return [
        tx("CASH-LONDON", "F", 2000, 0, payment_type="cash_deposit", from_country="GB",
           to_country="GB", from_bank="Albion Bank", to_bank="Albion Bank"),
        tx("F", "ATM-7781", 1900, hours / 24, payment_type="cash_withdrawal", from_country="GB",
           to_country=where, from_bank="Albion Bank", to_bank="Banca Carpatica"),
        tx("F", "SHOP", 50, 0.1, from_country="GB", to_country="GB"),
    ]  # fmt: skip


def test_funnel(tmp_path: Path) -> None:
    r = run(tmp_path, _funnel(10))
    assert r.of("funnel") == {"F"}
    assert r.proof["funnel"] == ids(1, 2)
    assert r.hits["funnel"]["F"] == pytest.approx(0.5)
    assert not run(tmp_path, _funnel(30)).of("funnel")  # 30 hours later
    assert run(tmp_path, _funnel(30), funnel_days="1.5").of("funnel") == {"F"}
    assert not run(tmp_path, _funnel(10, where="GB")).of("funnel")  # same country
    # banks alone: they differ
    no_countries = [h for h in FULL if not h.endswith("_country")]
    assert run(tmp_path, _funnel(10), header=no_countries).of("funnel") == {"F"}


def test_funnel_needs_banks_or_countries(tmp_path: Path) -> None:
    header = [*BASIC, "payment_type"]
    r = run(tmp_path, _funnel(10), header=header)
    assert "funnel" not in r.proof
    notes = r.summary["notes"]
    assert isinstance(notes, list)
    assert (
        "funnel could not run: needs from_country and to_country or from_bank and to_bank"
        " (not in the file)"
    ) in notes


# -- keyword lists, notes, parameters ------------------------------------------------------------


def test_indicator_lists_have_sources() -> None:
    lists = indicators()
    assert {"ad_sites", "lodging", "transport", "remittance", "cash_deposit", "wages_tax"} <= set(
        lists
    )
    for entry in lists.values():
        assert any(s in entry["source"] for s in ("FATF-APG 2018", "FinCEN FIN-2020-A008",
                                                  "FINTRAC 2021-OA001"))  # fmt: skip
        assert entry["indicator"].startswith("F")


def test_normalised_whole_word_matching() -> None:
    con = duckdb.connect()
    samples = ["Chirie – ȘTEFAN, Fahrkarten-Büro", "BOOKING.COM*B.V.", "Zażółć gęślą", "Київ €5"]
    expected = ["chirie stefan fahrkarten buro", "booking com b v", "zazołc gesla", "киів 5"]
    for text, want in zip(samples, expected, strict=True):
        sql = con.execute(f"SELECT trim({_norm('?')})", [text]).fetchone()
        assert normalise(text) == want == (sql[0] if sql else None), text  # Python == SQL
    cases = {
        "Fahrkarten Bahn": True, "DB FAHRKARTE": True, "Omnibus": False, "Bus ticket": True,
        "Business": False, "wizzair.com": True, "билеты": True, "Ticketmaster": False,
    }  # fmt: skip
    for text, hit in cases.items():
        got = con.execute(f"SELECT {_matches(_norm('?'), 'transport')}", [text]).fetchone()
        assert got == (hit,), text


def test_unavailable_notes() -> None:
    everything = set(FULL)
    assert unavailable(everything) == []
    notes = unavailable(set(BASIC))
    for name in ("ad_payments", "accommodation_payments", "transport_payments", "funnel"):
        assert any(n.startswith(f"{name} could not run") for n in notes)
    assert unavailable(everything - {"to_name"}) == []  # the reference suffices


def test_params() -> None:
    p = ScanParams.parse({"gather_min": "4", "scatter_min_ratio": "0.5", "ad_max_amount": "80"})
    assert (p.gather_min, p.scatter_min_ratio, p.ad_max_amount) == (4, 0.5, 80.0)
    assert ScanParams().remit_days == 30.0 and ScanParams().cash_min_z == 3.5
    with pytest.raises(PalermoError, match="scatter_min_ratio"):
        ScanParams.parse({"scatter_min_ratio": "1.5"})
    with pytest.raises(PalermoError, match="ad_max_amount"):
        ScanParams.parse({"ad_max_amount": "0"})
    with pytest.raises(PalermoError, match="lodging_min_places must be >= 1"):
        ScanParams.parse({"lodging_min_places": "0"})
