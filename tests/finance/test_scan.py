"""``palermo finance scan``: each detector present or absent by construction, bad input refused
with file/row/field, public layouts via --columns, the CLI, deterministic output."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.finance import ScanParams, scan

HEADER = ["transaction_id", "timestamp", "from_account", "to_account", "amount", "currency"]
T0 = datetime(2024, 3, 4, 9, 0)


def _write(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _tx(rows: list[tuple[str, str, float, float]], prefix: str = "t") -> list[list[object]]:
    """(from, to, amount, days after T0) -> rows with ids t001, ..."""
    return [
        [f"{prefix}{i:03d}", (T0 + timedelta(days=d)).isoformat(sep=" "), a, b, amt, "EUR"]
        for i, (a, b, amt, d) in enumerate(rows, 1)
    ]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _run(tmp_path: Path, rows: list[list[object]], **kw: object) -> tuple[dict, dict, dict]:
    """Scan (rules-only unless told otherwise: these tests are about the detectors); return
    (summary, {transaction_id: alert row}, {account: account row})."""
    kw.setdefault("rules_only", True)
    src = _write(tmp_path / "tx.csv", rows)
    summary = scan(src, out=tmp_path / "out", **kw)  # type: ignore[arg-type]
    alerts = {r["transaction_id"]: r for r in _read(tmp_path / "out" / "alerts.csv")}
    accounts = {r["account"]: r for r in _read(tmp_path / "out" / "accounts.csv")}
    return summary, alerts, accounts


def _patterns(row: dict[str, str] | None) -> set[str]:
    return set(row["patterns"].split(";")) if row and row["patterns"] else set()


# -- detectors present / absent by construction --------------------------------------------------


def test_fan_in_12_payers_in_3_days(tmp_path: Path) -> None:
    rows = _tx([(f"P{i:02d}", "HUB", 10 + 3.17 * i, i / 4) for i in range(12)])
    summary, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["HUB"]) == {"fan_in"}
    assert float(accounts["HUB"]["score"]) == pytest.approx(0.6)  # 12 / 10 payers * 0.5
    assert set(alerts) == {r[0] for r in rows}  # every payment into the hub proves it
    assert all(_patterns(a) == {"fan_in"} for a in alerts.values())
    assert summary["alerts_per_pattern"]["fan_in"] == {"accounts": 1, "transactions": 12}
    assert float(accounts["P00"]["score"]) == 0 and accounts["P00"]["patterns"] == ""


def test_fan_in_11_payers_over_60_days_is_not(tmp_path: Path) -> None:
    rows = _tx([(f"P{i:02d}", "HUB", 10 + 3.17 * i, 6 * i) for i in range(11)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert alerts == {}
    assert _patterns(accounts["HUB"]) == set()


def test_fan_in_counts_distinct_payers(tmp_path: Path) -> None:
    # 20 payments in 2 days but from 5 payers only
    rows = _tx([(f"P{i % 5}", "HUB", 10 + i, i / 10) for i in range(20)])
    _, alerts, _ = _run(tmp_path, rows)
    assert alerts == {}


def test_fan_in_proof_is_only_the_window(tmp_path: Path) -> None:
    early = [("OLD", "HUB", 11.0, 0.0)]  # 30 days before the burst
    burst = [(f"P{i:02d}", "HUB", 10 + 3.17 * i, 30 + i / 4) for i in range(10)]
    rows = _tx(early + burst)
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["HUB"]) == {"fan_in"}
    assert "t001" not in alerts and len(alerts) == 10


def test_fan_out(tmp_path: Path) -> None:
    rows = _tx([("BOSS", f"R{i:02d}", 10 + 3.17 * i, i / 4) for i in range(12)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["BOSS"]) == {"fan_out"}
    assert len(alerts) == 12
    far = _tx([("BOSS", f"R{i:02d}", 10 + 3.17 * i, 6 * i) for i in range(12)])
    _, alerts, _ = _run(tmp_path, far)
    assert alerts == {}


def test_structuring(tmp_path: Path) -> None:
    rows = _tx([("A", "B", 9500, 0), ("A", "C", 9650.5, 2), ("A", "D", 9990, 5), ("A", "E", 50, 1)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["A"]) == {"structuring"}
    assert set(alerts) == {"t001", "t002", "t003"}
    assert float(alerts["t001"]["score"]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "rows",
    [
        [("A", "B", 9500, 0), ("A", "C", 9650, 10), ("A", "D", 9990, 20)],  # spread over 20 days
        [("A", "B", 9500, 0), ("A", "C", 10000, 1), ("A", "D", 9990, 2)],  # 10000 is not below
        [("A", "B", 9500, 0), ("A", "C", 8900, 1), ("A", "D", 9990, 2)],  # 8900 is below 0.9 T
    ],
)
def test_structuring_absent(tmp_path: Path, rows: list[tuple[str, str, float, float]]) -> None:
    _, alerts, _ = _run(tmp_path, _tx(rows))
    assert alerts == {}


def test_structuring_same_currency_and_threshold_parameter(tmp_path: Path) -> None:
    rows = _tx([("A", "B", 9500, 0), ("A", "C", 9650, 1), ("A", "D", 9990, 2)])
    rows[1][5] = "USD"
    _, alerts, _ = _run(tmp_path, rows)
    assert alerts == {}
    rows = _tx([("A", "B", 4600, 0), ("A", "C", 4700, 1), ("A", "D", 4999, 2)])
    _, alerts, _ = _run(tmp_path, rows, params=ScanParams(structuring_threshold=5000))
    assert set(alerts) == {"t001", "t002", "t003"}


def test_round_amounts(tmp_path: Path) -> None:
    amounts = [1000, 2500 - 0.01, 300, 4000, 700, 1200]  # 5 of 6 round (0.83)
    rows = _tx([("R", f"X{i}", a, 10 * i) for i, a in enumerate(amounts)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["R"]) == {"round_amounts"}
    assert set(alerts) == {"t001", "t003", "t004", "t005", "t006"}


@pytest.mark.parametrize(
    "amounts",
    [
        [1000, 2000, 3000, 4000],  # only 4 payments
        [1000, 2000, 3000, 4001, 5050, 99],  # 3 of 6 round
    ],
)
def test_round_amounts_absent(tmp_path: Path, amounts: list[float]) -> None:
    rows = _tx([("R", f"X{i}", a, 10 * i) for i, a in enumerate(amounts)])
    _, alerts, _ = _run(tmp_path, rows)
    assert alerts == {}


def test_rapid_pass_through(tmp_path: Path) -> None:
    rows = _tx([("S", "MULE", 5000, 0), ("MULE", "T", 4800, 1.5), ("Z", "MULE", 77, 3)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["MULE"]) == {"rapid_pass_through"}
    assert set(alerts) == {"t001", "t002"}
    assert float(accounts["MULE"]["score"]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "out",
    [
        ("MULE", "T", 4800, 3),  # out after 3 days
        ("MULE", "T", 4000, 1),  # 20% less
        ("T", "MULE", 4800, 1),  # in again, not out
    ],
)
def test_rapid_pass_through_absent(tmp_path: Path, out: tuple[str, str, float, float]) -> None:
    _, alerts, _ = _run(tmp_path, _tx([("S", "MULE", 5000, 0), out]))
    assert alerts == {}


def test_pooled_wages(tmp_path: Path) -> None:
    rows = _tx([(f"W{i}", "POOL", 1500 + 7 * i, i) for i in range(6)])
    _, alerts, accounts = _run(tmp_path, rows)
    assert _patterns(accounts["POOL"]) == {"pooled_wages"}
    assert float(accounts["POOL"]["score"]) == pytest.approx(0.6)
    assert len(alerts) == 6


@pytest.mark.parametrize(
    "rows",
    [
        [(f"W{i}", "POOL", 1500 + 7 * i, i) for i in range(4)],  # 4 payers
        [(f"W{i}", "POOL", 400 * (i + 1), i) for i in range(6)],  # not similar
        [(f"W{i}", "POOL", 1500 + 7 * i, 10 * i) for i in range(6)],  # over 2 months
        [("W1", "POOL", 1500 + 7 * i, i) for i in range(6)],  # one payer
    ],
)
def test_pooled_wages_absent(tmp_path: Path, rows: list[tuple[str, str, float, float]]) -> None:
    _, alerts, _ = _run(tmp_path, _tx(rows))
    assert alerts == {}


@pytest.mark.parametrize("length", [2, 3, 4])
def test_cycle(tmp_path: Path, length: int) -> None:
    ring = ["A", "B", "C", "D"][:length]
    hops = [(ring[i], ring[(i + 1) % length], 1000 - 40 * i, 1.5 * i) for i in range(length)]
    _, alerts, accounts = _run(tmp_path, _tx(hops))
    assert all("cycle" in _patterns(accounts[a]) for a in ring)
    assert set(alerts) == {f"t{i:03d}" for i in range(1, length + 1)}
    assert all("cycle" in _patterns(a) for a in alerts.values())


@pytest.mark.parametrize(
    "hops",
    [
        [("A", "B", 1000, 0), ("B", "C", 950, 1), ("C", "A", 1100, 2)],  # amount goes up
        [("A", "B", 1000, 0), ("B", "C", 950, 4), ("C", "A", 900, 8)],  # 8 days round
        [("A", "B", 1000, 0), ("B", "C", 500, 1), ("C", "A", 450, 2)],  # half taken out
        [("A", "B", 1000, 3), ("B", "C", 950, 2), ("C", "A", 900, 1)],  # back in time
        [("A", "B", 1000, 0), ("B", "C", 950, 1), ("C", "D", 900, 2), ("D", "E", 880, 3),
         ("E", "A", 870, 4)],  # 5 accounts
    ],
)  # fmt: skip
def test_cycle_absent(tmp_path: Path, hops: list[tuple[str, str, float, float]]) -> None:
    _, _, accounts = _run(tmp_path, _tx(hops))
    assert not any("cycle" in _patterns(a) for a in accounts.values())


def test_cycle_max_length_parameter(tmp_path: Path) -> None:
    hops = [("A", "B", 1000, 0), ("B", "C", 950, 1), ("C", "D", 900, 2), ("D", "A", 880, 3)]
    _, _, accounts = _run(tmp_path, _tx(hops), params=ScanParams(cycle_max_length=3))
    assert not any("cycle" in _patterns(a) for a in accounts.values())


def test_scores_combine_and_sort(tmp_path: Path) -> None:
    fan = [(f"P{i:02d}", "HUB", 10 + 3.17 * i, i / 4) for i in range(20)]  # fan_in score 1
    struct = [("HUB", "B", 9500, 10), ("HUB", "C", 9650, 11), ("HUB", "D", 9990, 12)]
    _, alerts, accounts = _run(tmp_path, _tx(fan + struct))
    assert _patterns(accounts["HUB"]) == {"fan_in", "structuring"}
    assert float(accounts["HUB"]["score"]) == pytest.approx(1.0)  # 1 - (1 - 1)(1 - 0.5)
    scores = [float(a["score"]) for a in alerts.values()]
    assert scores == sorted(scores, reverse=True)
    assert next(iter(accounts)) == "HUB"
    zero = [a for a, r in accounts.items() if float(r["score"]) == 0]
    assert zero == sorted(zero)


def test_self_transfers_kept_out_and_counted(tmp_path: Path) -> None:
    rows = _tx([("A", "A", 9500, 0), ("A", "A", 9600, 1), ("A", "A", 9700, 2), ("A", "B", 5, 3)])
    summary, alerts, accounts = _run(tmp_path, rows)
    assert alerts == {}
    assert summary["self_transfers"] == 3
    assert any("3 self-transfer" in n for n in summary["notes"])
    assert set(accounts) == {"A", "B"}


def test_unsorted_input_same_result(tmp_path: Path) -> None:
    rows = _tx(
        [(f"P{i:02d}", "HUB", 10 + 3.17 * i, i / 4) for i in range(12)]
        + [("S", "MULE", 5000, 0), ("MULE", "T", 4800, 1.5)]
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _run(tmp_path / "a", rows)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    _run(tmp_path / "b", shuffled)
    for name in ("alerts.csv", "accounts.csv"):
        assert (tmp_path / "a" / "out" / name).read_bytes() == (
            tmp_path / "b" / "out" / name
        ).read_bytes()


def test_duplicate_timestamps_same_result_in_any_order(tmp_path: Path) -> None:
    # twelve payers at the very same second, and a pass-through within that second: ties are
    # broken by transaction id, not by the file's order
    rows = _tx([(f"P{i:02d}", "HUB", 100 + i, 0) for i in range(12)] + [("HUB", "OUT", 111, 0)])
    for run, order in (("a", rows), ("b", rows[::-1])):
        (tmp_path / run).mkdir()
        _, _, accounts = _run(tmp_path / run, order)
        assert "fan_in" in accounts["HUB"]["patterns"]
    for name in ("alerts.csv", "accounts.csv"):
        assert (tmp_path / "a" / "out" / name).read_bytes() == (
            tmp_path / "b" / "out" / name
        ).read_bytes()


def test_deterministic_bytes(tmp_path: Path) -> None:
    rows = _tx(
        [(f"P{i:02d}", "HUB", 10 + 3.17 * i, i / 4) for i in range(12)]
        + [("A", "B", 9500, 0), ("A", "C", 9650, 2), ("A", "D", 9990, 5)]
        + [(f"W{i}", "POOL", 1500 + 7 * i, i) for i in range(6)]
    )
    src = _write(tmp_path / "tx.csv", rows)
    scan(src, out=tmp_path / "o1")
    scan(src, out=tmp_path / "o2")
    for name in ("alerts.csv", "accounts.csv", "summary.json"):
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes()


def test_summary(tmp_path: Path) -> None:
    rows = _tx([("A", "B", 9500, 0), ("A", "C", 9650, 2), ("A", "D", 9990, 5)])
    summary, _, _ = _run(tmp_path, rows)
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["rows"] == 3 and on_disk["accounts"] == 4 and on_disk["alerts"] == 3
    assert on_disk["parameters"]["fan_in_min"] == 10
    assert on_disk["parameters"]["structuring_threshold"] == 10000
    assert set(on_disk["alerts_per_pattern"]) == {
        "fan_in", "fan_out", "structuring", "round_amounts", "rapid_pass_through", "pooled_wages",
        "cycle", "gather_scatter", "scatter_gather", "ad_payments", "accommodation_payments",
        "transport_payments", "remittance_corridor", "cash_intensive", "funnel",
    }  # fmt: skip
    assert on_disk["currencies"] == ["EUR"]
    assert summary["out"] == str(tmp_path / "out")


# -- bad input -----------------------------------------------------------------------------------


def _error(path: Path, **kw: object) -> str:
    with pytest.raises(PalermoError) as exc:
        scan(path, out=path.parent / "out", **kw)  # type: ignore[arg-type]
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_missing_columns(tmp_path: Path) -> None:
    src = _write(tmp_path / "tx.csv", [["t1", "2024-01-01", "A", "B", 5]], HEADER[:5])
    assert "currency" in _error(src)
    src = _write(tmp_path / "tx.csv", [["t1", "2024-01-01", "A", 5, "EUR"]],
                 ["transaction_id", "timestamp", "from_account", "amount", "currency"])  # fmt: skip
    assert "to_account" in _error(src)


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    src = tmp_path / "tx.csv"
    src.write_bytes(b"")
    assert "empty file" in _error(src)
    _write(src, [])
    assert "no transactions" in _error(src)


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        (4, "12,5x", "amount"),
        (4, "-5", "amount"),
        (4, "", "amount"),
        (1, "yesterday", "timestamp"),
        (1, "2024-13-45", "timestamp"),
        (5, "XYZ", "currency"),
        (2, "", "from_account"),
    ],
)
def test_bad_values_name_row_and_field(tmp_path: Path, column: int, value: str, field: str) -> None:
    rows = _tx([("A", "B", 100, 0), ("A", "C", 200, 1), ("A", "D", 300, 2)])
    rows[1][column] = value
    summary = scan(_write(tmp_path / "tx.csv", rows), out=tmp_path / "out")
    # the bad row is set aside with its row, field and reason; the good rows are scanned
    assert summary["rows_rejected"] == 1
    rejected = _read(tmp_path / "out" / "rejected.csv")
    assert [(r["row"], r["field"]) for r in rejected] == [("3", field)]
    assert field in rejected[0]["reason"] and rejected[0]["record"]
    assert any("row 3" in n and field in n for n in summary["notes"])
    accounts = {r["account"] for r in _read(tmp_path / "out" / "accounts.csv")}
    assert {"A", "B", "D"} <= accounts and "C" not in accounts
    # every row bad: nothing to scan, one line naming the rows
    for r in rows:
        r[column] = value
    msg = _error(_write(tmp_path / "tx.csv", rows))
    assert "no valid transaction" in msg and "row 2" in msg and field in msg


def test_ragged_row_and_other_separators(tmp_path: Path) -> None:
    src = tmp_path / "tx.csv"
    src.write_text(",".join(HEADER) + "\nt1,2024-01-01,A,B,5,EUR\nt2,2024-01-01,A,B\n")
    assert "line 3: expected 6 columns" in _error(src)
    src.write_text(";".join(HEADER) + "\nt1;2024-01-01;A;B;5;EUR\n")
    assert "not comma-separated" in _error(src)
    src.write_bytes(b"\xff\xfe\x00\x01garbage\n")
    assert "cannot be read" in _error(src)


def test_quoted_fields_bom_and_crlf(tmp_path: Path) -> None:
    src = tmp_path / "tx.csv"
    text = ",".join(HEADER) + '\r\nt1,2024-01-01,"A, Ltd",B,5,EUR\r\n'
    src.write_bytes(b"\xef\xbb\xbf" + text.encode())
    scan(src, out=tmp_path / "out", rules_only=True)
    assert [r["account"] for r in _read(tmp_path / "out" / "accounts.csv")] == ["A, Ltd", "B"]


def test_duplicate_ids(tmp_path: Path) -> None:
    rows = _tx([("A", "B", 100, 0), ("A", "C", 200, 1), ("A", "D", 300, 2)])
    rows[2][0] = "t001"
    summary = scan(_write(tmp_path / "tx.csv", rows), out=tmp_path / "out")
    rejected = _read(tmp_path / "out" / "rejected.csv")
    assert [r["row"] for r in rejected] == ["4"] and summary["rows_rejected"] == 1
    assert "duplicate" in rejected[0]["reason"] and "'t001'" in rejected[0]["reason"]
    assert "first on row 2" in rejected[0]["reason"]


def test_unknown_columns_field(tmp_path: Path) -> None:
    src = _write(tmp_path / "tx.csv", _tx([("A", "B", 100, 0)]))
    with pytest.raises(PalermoError, match="unknown field"):
        scan(src, out=tmp_path / "out", columns={"amout": "x"})


def test_bad_params() -> None:
    with pytest.raises(PalermoError, match="unknown parameter"):
        ScanParams.parse({"fan_in": "3"})
    with pytest.raises(PalermoError, match="must be a number"):
        ScanParams.parse({"fan_in_min": "many"})
    assert ScanParams.parse({"fan_in_min": "3", "window_days": "2.5"}) == ScanParams(
        fan_in_min=3, window_days=2.5
    )


# -- public layouts ------------------------------------------------------------------------------

AMLWORLD = (
    "Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,"
    "Amount Paid,Payment Currency,Payment Format,Is Laundering"
)
AMLWORLD_COLUMNS = (
    "timestamp=Timestamp,from_account=Account,to_account=Account.1,amount=Amount Paid,"
    "currency=Payment Currency,from_bank=From Bank,to_bank=To Bank,payment_type=Payment Format"
)


@pytest.mark.parametrize(
    "header", [AMLWORLD, AMLWORLD.replace("Account,Amount", "Account.1,Amount")]
)
def test_amlworld_layout(tmp_path: Path, header: str) -> None:
    lines = [header]
    for i in range(12):  # 12 payers into 8000F4580 within 3 hours
        lines.append(
            f"2022/09/01 00:{10 + i:02d},{11 + i},80{i:05d}A0,0011,8000F4580,"
            f"{20 + i}.5,US Dollar,{20 + i}.5,US Dollar,ACH,0"
        )
    lines.append(
        "2022/09/01 00:20,010,8000EBD30,010,8000EBD30,3697.34,US Dollar,3697.34,US Dollar,Reinvestment,0"
    )
    lines.append("2022/09/02 07:05,3402,80021DAD0,3402,80E5AD320,1.01,Euro,1.01,Euro,Cheque,0")
    lines.append("2022/09/02 07:06,3402,80021DAD0,3402,80E5AD321,0.05,Yuan,0.05,Yuan,Cheque,0")
    src = tmp_path / "HI-Small_Trans.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["finance", "scan", str(src), "--columns", AMLWORLD_COLUMNS,
                 "--out", str(tmp_path / "out"), "--json", "--rules-only"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"] == 15 and summary["self_transfers"] == 1
    assert summary["currencies"] == ["CNY", "EUR", "USD"]
    assert "row in the file" in summary["transaction_id"]
    accounts = {r["account"]: r for r in _read(tmp_path / "out" / "accounts.csv")}
    assert _patterns(accounts["8000F4580"]) == {"fan_in"}
    alerts = _read(tmp_path / "out" / "alerts.csv")
    assert sorted(int(a["transaction_id"]) for a in alerts) == list(range(2, 14))
    assert summary["first_timestamp"] == "2022-09-01 00:10:00"


def test_amlsim_layout(tmp_path: Path) -> None:
    header = ["tran_id", "orig_acct", "bene_acct", "tx_type", "base_amt", "tran_timestamp",
              "is_sar", "alert_id"]  # fmt: skip
    rows: list[list[object]] = [
        [i + 1, "S", "MULE" if i == 0 else "T", "TRANSFER", 5000 if i == 0 else 4900,
         f"2017-01-0{i + 1}T00:00:00Z", "True", 1]
        for i in range(1)
    ]  # fmt: skip
    rows.append([2, "MULE", "T", "TRANSFER", 4900.0, "2017-01-02T00:00:00Z", "True", 1])
    src = _write(tmp_path / "transactions.csv", rows, header)
    cols = "transaction_id=tran_id,from_account=orig_acct,to_account=bene_acct,amount=base_amt,timestamp=tran_timestamp"
    with pytest.raises(PalermoError, match="currency"):
        scan(src, out=tmp_path / "out", columns=dict(c.split("=") for c in cols.split(",")))
    code = main(["finance", "scan", str(src), "--columns", cols, "--currency", "USD",
                 "--out", str(tmp_path / "out"), "--rules-only"])  # fmt: skip
    assert code == 0
    alerts = _read(tmp_path / "out" / "alerts.csv")
    assert [a["transaction_id"] for a in alerts] == ["1", "2"]
    assert all(a["patterns"] == "rapid_pass_through" for a in alerts)


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(
        tmp_path / "tx.csv", _tx([("A", "B", 9500, 0), ("A", "C", 9650, 2), ("A", "D", 9990, 5)])
    )
    assert main(["finance", "scan", str(src), "--out", str(tmp_path / "o"), "--rules-only"]) == 0
    text = capsys.readouterr().out
    assert "3 flagged transaction(s)" in text and "structuring 1" in text
    assert main(["finance", "scan", str(src), "--out", str(tmp_path / "o"), "--json",
                 "--params", "structuring_min=4", "--rules-only"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["alerts"] == 0 and data["parameters"]["structuring_min"] == 4


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _tx([("A", "B", 100, 0), ("A", "C", -3, 1)])
    src = _write(tmp_path / "tx.csv", rows)
    assert main(["finance", "scan", str(src), "--out", str(tmp_path / "o")]) == 3
    captured = capsys.readouterr()
    assert "row 3" in captured.out and "amount" in captured.out  # the note names it
    err = captured.err
    assert err.startswith("palermo: error:") and err.count("\n") == 1
    assert "set aside" in err and "Traceback" not in err
    rc = main(["finance", "scan", str(src), "--out", str(tmp_path / "o"), "--allow-partial"])
    assert rc == 0
    capsys.readouterr()
    assert main(["finance", "scan", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) != 0
    assert "no such file" in capsys.readouterr().err


def test_out_of_memory_says_how_to_give_more(tmp_path: Path) -> None:
    rows = _tx([(f"P{i:02d}", "HUB", 100 + i, i / 4) for i in range(50)])
    src = _write(tmp_path / "tx.csv", rows)
    with pytest.raises(PalermoError, match="--memory"):
        scan(src, out=tmp_path / "out", rules_only=True, memory_limit="2MB")
