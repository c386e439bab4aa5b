"""Unpaid wages and compensation, checked against sums worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.victims.wages import minimum_wages, wages_claims, wages_owed

# GB, 25 March to 7 April 2024, 60 hours a week, 300 GBP received: the National Living Wage
# rose on 1 April. 25-31 March: 7 days, 60 h x 10.42 = 625.20; 1-7 April: 60 h x 11.44 = 686.40.
# Due 1,311.60, owed 1,011.60. Deductions: a 500 recruitment fee (unlawful in full) and 1,200
# for a bed of which 300 was lawful: 1,400. Owed in all 2,411.60 GBP.
MARA = {
    "victim": "Mara Lupu", "country": "GB", "offenders": ["Sid One", "Sue Two"],
    "periods": [{"start": "2024-03-25", "end": "2024-04-07", "hours_per_week": 60, "paid": 300}],
    "deductions": [{"kind": "recruitment_fee", "amount": 500},
                   {"kind": "accommodation", "amount": 1200, "lawful_amount": 300}],
}  # fmt: skip


def test_hand_example_across_a_rate_change() -> None:
    r = wages_owed(MARA)
    p = r["periods"][0]
    assert [s["hourly"] for s in p["segments"]] == [10.42, 11.44]
    assert [s["days"] for s in p["segments"]] == [7, 7]
    assert [s["due"] for s in p["segments"]] == [625.20, 686.40]
    assert p["due"] == 1311.60 and p["owed"] == 1011.60
    assert r["unlawful_deductions"] == 1400.0
    assert r["owed"] == 2411.60 and r["currency"] == "GBP"
    assert "gov.uk" in p["segments"][0]["source"]


def test_paid_above_the_minimum_owes_nothing_for_that_period() -> None:
    claim = {"country": "DE", "periods": [
        {"start": "2024-01-01", "end": "2024-01-07", "hours_per_week": 40, "paid": 1000},
        {"start": "2024-01-08", "end": "2024-01-14", "hours_per_week": 40, "paid": 0},
    ]}  # fmt: skip
    r = wages_owed(claim)
    # 40 h x 12.41 = 496.40 a week; the first week was paid 1,000: nothing owed, no credit carried
    assert [p["owed"] for p in r["periods"]] == [0.0, 496.40]
    assert r["owed"] == 496.40 and r["currency"] == "EUR"


def test_no_statutory_minimum_needs_a_rate() -> None:
    claim = {
        "country": "IT",
        "periods": [
            {"start": "2024-05-01", "end": "2024-05-07", "hours_per_week": 40, "paid": 100}
        ],
    }
    with pytest.raises(PalermoError, match="no statutory minimum"):
        wages_owed(claim)
    r = wages_owed({**claim, "hourly_rate": 9.0, "currency": "EUR"})
    assert r["owed"] == 260.0 and "given in the claim" in r["rate_basis"]  # 40 x 9 - 100


def test_per_offender_jointly_liable() -> None:
    vera = {"victim": "Vera", "country": "NL", "offenders": ["Sid One"],
            "periods": [{"start": "2024-06-24", "end": "2024-07-07", "hours_per_week": 70,
                         "paid": 0}]}  # fmt: skip
    r = wages_claims([MARA, vera])
    # Vera: 24-30 June 70 h x 13.27 = 928.90; 1-7 July 70 h x 13.68 = 957.60; 1,886.50 EUR
    assert r["victims"][1]["owed"] == 1886.50
    by = {(o["offender"], o["currency"]): o["owed"] for o in r["offenders"]}
    assert by == {("Sid One", "EUR"): 1886.50, ("Sid One", "GBP"): 2411.60,
                  ("Sue Two", "GBP"): 2411.60}  # fmt: skip
    assert r["total_owed"] == {"GBP": 2411.60, "EUR": 1886.50}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"country": ""}, "country is required"),
        ({"country": "XX"}, "no minimum wage for 'XX'"),
        ({"periods": []}, "periods is required"),
        (
            {"periods": [{"start": "2024-04-07", "end": "2024-04-01", "hours_per_week": 1}]},
            "before start",
        ),
        (
            {"periods": [{"start": "2024-04-01", "end": "2024-04-07", "hours_per_week": 200}]},
            "more hours than a week",
        ),
        (
            {
                "periods": [
                    {"start": "2024-04-01", "end": "2024-04-07", "hours_per_week": 40, "paid": -5}
                ]
            },
            r"periods\[0\].paid: must be >= 0",
        ),
        (
            {"periods": [{"start": "2020-01-01", "end": "2020-01-07", "hours_per_week": 40}]},
            "starts on 2023-04-01",
        ),
        (
            {"periods": [{"start": "1 April", "end": "2024-04-07", "hours_per_week": 40}]},
            "not a date",
        ),
    ],
)
def test_bad_claims_say_where(change: dict[str, object], message: str) -> None:
    with pytest.raises(PalermoError, match=message):
        wages_owed({**MARA, **change})


def test_every_rate_has_a_source() -> None:
    for country, table in minimum_wages().items():
        if table == "none":
            continue
        assert table["source"].startswith("https://") and table["currency"], country
        froms = [str(r["from"]) for r in table["rates"]]
        assert froms == sorted(froms) and all(r["hourly"] > 0 for r in table["rates"])


def test_cli(tmp_path: Path) -> None:
    f = tmp_path / "claims.json"
    f.write_text(json.dumps([MARA]), encoding="utf-8")
    assert main(["victims", "wages", str(f), "--json"]) == 0
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert main(["victims", "wages", str(tmp_path / "bad.json")]) != 0
