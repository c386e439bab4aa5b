"""``palermo victims wages``: unpaid wages and unlawful deductions owed to a victim, from the hours
worked, the period, the country's statutory minimum (``minimum_wages.yml``, each rate with its
source) and what was received (``../shared/DOMAIN.md`` section 11):

    owed = sum over periods of max(0, hours x minimum hourly rate - paid) + unlawful deductions

A period's hours are ``hours_per_week x days / 7`` (days counted inclusively), split at every
date a new minimum took effect, each part at its own rate. A claim may set ``hourly_rate`` (a
collective agreement, an age band: said in the output) instead of the statutory table; a country
without a statutory minimum is refused unless it does. A deduction counts in full unless
``lawful_amount`` says how much of it the law allowed (then the excess). Amounts stay in the
claim's currency, the country's own; nothing is converted.

Claims can name ``offenders``: per offender, the total owed by the claims naming them (each is
liable for the whole of each claim: jointly, not split).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from palermo.errors import PalermoError

TABLE = Path(__file__).with_name("minimum_wages.yml")


@lru_cache(maxsize=1)
def minimum_wages() -> dict[str, Any]:
    with TABLE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)["countries"]
    return data


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PalermoError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _number(value: Any, where: str, allow_zero: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise PalermoError(f"{where}: {value!r} is not a number") from None
    if x != x or x < 0 or (not allow_zero and x == 0):
        raise PalermoError(f"{where}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return x


def _segments(
    country: str, start: date, end: date, override: float | None, where: str
) -> list[dict[str, Any]]:
    """[start, end] cut at each date a new rate took effect: (from, to, days, rate, source)."""
    if override is not None:
        days = (end - start).days + 1
        return [{"from": start.isoformat(), "to": end.isoformat(), "days": days,
                 "hourly": override, "source": "hourly_rate given in the claim"}]  # fmt: skip
    table = minimum_wages().get(country)
    if table is None:
        raise PalermoError(
            f"{where}: no minimum wage for {country!r} in the shipped table"
            f" ({', '.join(sorted(minimum_wages()))}); give hourly_rate"
        )
    if table == "none":
        raise PalermoError(
            f"{where}: {country} has no statutory minimum wage (collective agreements set pay);"
            " give hourly_rate from the applicable agreement"
        )
    rates = sorted(
        ((_date(r["from"], "minimum_wages.yml"), float(r["hourly"])) for r in table["rates"]),
        key=lambda r: r[0],
    )
    if start < rates[0][0]:
        raise PalermoError(
            f"{where}: the table for {country} starts on {rates[0][0]}; the period starts on"
            f" {start}: give hourly_rate"
        )
    out = []
    for i, (since, rate) in enumerate(rates):
        until = rates[i + 1][0] - timedelta(days=1) if i + 1 < len(rates) else date.max
        a, b = max(start, since), min(end, until)
        if a <= b:
            out.append({"from": a.isoformat(), "to": b.isoformat(), "days": (b - a).days + 1,
                        "hourly": rate, "source": f"{table['source']} ({table['note']})"})  # fmt: skip
    return out


def wages_owed(claim: dict[str, Any], where: str = "claim") -> dict[str, Any]:
    """One victim's claim -> what is owed, period by period, with the rate and its source."""
    if not isinstance(claim, dict):
        raise PalermoError(f"{where}: a claim is a JSON object")
    country = str(claim.get("country") or "").upper()
    if not country:
        raise PalermoError(f"{where}: country is required (ISO 3166 alpha-2)")
    table = minimum_wages().get(country)
    override = claim.get("hourly_rate")
    rate = None if override is None else _number(override, f"{where}.hourly_rate", False)
    if rate is None:  # the table must know the country (said before anything else is asked)
        _segments(country, date.max, date.max, None, where)
    currency = claim.get("currency") or (table["currency"] if isinstance(table, dict) else None)
    if not currency:
        raise PalermoError(f"{where}: currency is required with hourly_rate for {country}")
    periods = claim.get("periods")
    if not isinstance(periods, list) or not periods:
        raise PalermoError(f"{where}: periods is required: [{{start, end, hours_per_week, paid}}]")
    rows = []
    for k, p in enumerate(periods):
        w = f"{where}.periods[{k}]"
        if not isinstance(p, dict):
            raise PalermoError(f"{w}: a period is an object")
        start, end = _date(p.get("start"), f"{w}.start"), _date(p.get("end"), f"{w}.end")
        if end < start:
            raise PalermoError(f"{w}: end {end} is before start {start}")
        hpw = _number(p.get("hours_per_week"), f"{w}.hours_per_week")
        if hpw > 7 * 24:
            raise PalermoError(f"{w}.hours_per_week: {hpw} is more hours than a week has")
        paid = _number(p.get("paid", 0), f"{w}.paid")
        segs = _segments(country, start, end, rate, w)
        due = 0.0
        for s in segs:
            s["hours"] = round(hpw * s["days"] / 7, 4)
            s["due"] = round(s["hours"] * s["hourly"], 2)
            due += s["hours"] * s["hourly"]
        due = round(due, 2)
        rows.append({
            "start": start.isoformat(), "end": end.isoformat(), "hours_per_week": hpw,
            "hours": round(sum(s["hours"] for s in segs), 4), "due": due, "paid": paid,
            "owed": round(max(0.0, due - paid), 2), "segments": segs,
        })  # fmt: skip
    deductions: list[dict[str, Any]] = []
    for k, d in enumerate(claim.get("deductions") or []):
        w = f"{where}.deductions[{k}]"
        if not isinstance(d, dict):
            raise PalermoError(f"{w}: a deduction is an object {{kind, amount[, lawful_amount]}}")
        amount = _number(d.get("amount"), f"{w}.amount")
        lawful = _number(d.get("lawful_amount", 0), f"{w}.lawful_amount")
        deductions.append({"kind": str(d.get("kind") or "deduction"), "amount": amount,
                           "lawful_amount": lawful,
                           "unlawful": round(max(0.0, amount - lawful), 2)})  # fmt: skip
    unpaid = round(sum(r["owed"] for r in rows), 2)
    unlawful = round(sum(d["unlawful"] for d in deductions), 2)
    return {
        "victim": claim.get("victim"),
        "country": country,
        "currency": currency,
        "offenders": [str(o) for o in claim.get("offenders") or []],
        "periods": rows,
        "deductions": deductions,
        "unpaid_wages": unpaid,
        "unlawful_deductions": unlawful,
        "owed": round(unpaid + unlawful, 2),
        "rule": "owed = sum over periods of max(0, hours x minimum hourly rate - paid)"
        " + unlawful deductions; hours = hours_per_week x days / 7",
        "rate_basis": "hourly_rate given in the claim"
        if rate is not None
        else "statutory minimum"
        " (palermo/victims/minimum_wages.yml; not re-checked offline: check the source)",
    }


def wages_claims(data: Any) -> dict[str, Any]:
    """One claim or a list: per victim, and per offender (jointly liable for each claim)."""
    claims = data if isinstance(data, list) else [data]
    results = [wages_owed(c, f"claim[{i}]") for i, c in enumerate(claims)]
    offenders: dict[tuple[str, str], float] = {}
    for r in results:
        for o in r["offenders"]:
            key = (o, r["currency"])
            offenders[key] = round(offenders.get(key, 0.0) + r["owed"], 2)
    totals: dict[str, float] = {}
    for r in results:
        totals[r["currency"]] = round(totals.get(r["currency"], 0.0) + r["owed"], 2)
    return {
        "victims": results,
        "offenders": [
            {
                "offender": o,
                "currency": c,
                "owed": v,
                "claims": sum(1 for r in results if o in r["offenders"]),
            }
            for (o, c), v in sorted(offenders.items())
        ],
        "total_owed": totals,
        "liability": "each offender named in a claim is liable for the whole of it",
    }


def read_claims(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PalermoError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise PalermoError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None


FULL_TIME_HOURS = 40.0  # a week; a month is 52 / 12 weeks
PERIOD_MONTHS = {"month": 1.0, "year": 12.0, "week": 12 / 52, "day": 12 / 52 / 5}


def full_time_monthly_minimum(country: str, on: date) -> tuple[float, str, str] | None:
    """The statutory minimum for a full-time month (40 h a week) in force on ``on`` (the table's
    first rate if ``on`` is earlier: the lowest known), with its currency and source; None where
    the table has no statutory minimum for the country."""
    table = minimum_wages().get(country.upper())
    if not isinstance(table, dict):
        return None
    rates = sorted((_date(r["from"], "minimum_wages.yml"), float(r["hourly"]))
                   for r in table["rates"])  # fmt: skip
    hourly = rates[0][1]
    for since, rate in rates:
        if since <= on:
            hourly = rate
    return round(hourly * FULL_TIME_HOURS * 52 / 12, 2), table["currency"], table["source"]


def monthly(amount: float, period: str) -> float | None:
    """A wage as a month's: per month, year, week or (working) day; None for others (hour)."""
    months = PERIOD_MONTHS.get(period.strip().lower())
    return None if months is None else amount / months


def link_to_proceeds(
    store: Any, result: dict[str, Any], rates: list[Any] | None = None
) -> dict[str, Any]:
    """Beside what each victim is owed, what ``finance proceeds`` traced from them into the
    suspects' accounts (EUR, proportional rule with its range), and beside each offender the
    proceeds traced to them: the claim's offenders (where the workspace holds them) or the
    network's role findings are the suspects. Names the workspace does not hold are said so."""
    from palermo.finance.proceeds import proceeds
    from palermo.finance.trace import _find_entity
    from palermo.store.money import money_tables

    tables = money_tables(store, rates or [])
    notes: list[str] = []
    victims = sorted({str(v["victim"]) for v in result["victims"] if v.get("victim")})
    offenders = sorted({o["offender"] for o in result["offenders"]})

    def usable(names: list[str], what: str) -> list[str]:
        ok = []
        for name in names:
            try:
                _find_entity(tables, name, what)
                ok.append(name)
            except PalermoError as exc:
                notes.append(f"{what} {name!r}: {exc}")
        return ok

    s_ok = usable(offenders, "offender")
    # a victim who holds no account is still traced where wages name them
    v_ok = [v for v in victims if _holds_account(tables, v)]
    try:
        traced = proceeds(store, suspects=s_ok or None, victims=v_ok or None, rates=rates,
                          store_findings=False)  # fmt: skip
    except PalermoError as exc:
        return {**result, "proceeds": None, "proceeds_notes": [*notes, str(exc)]}
    by_label = {r["label"]: r for r in traced["victims_taken"]}
    for v in victims:
        if v not in by_label:
            notes.append(
                f"victim {v!r}: nothing traced from them (no account, no wages naming them)"
            )
    for v in result["victims"]:
        t = by_label.get(str(v.get("victim")))
        v["traced_from_victim"] = None if t is None else {
            k: t[k] for k in ("taken_eur", "taken_low_eur", "taken_high_eur",
                              "wages_to_controllers_eur")
        }  # fmt: skip
    got = {r["label"]: r for r in traced["proceeds"]}
    for o in result["offenders"]:
        r = got.get(o["offender"])
        o["traced_proceeds"] = None if r is None else {
            k: r[k] for k in ("received_eur", "received_low_eur", "received_high_eur",
                              "held_eur", "assets_eur")
        }  # fmt: skip
    return {**result, "proceeds": {"unit": traced["unit"], "suspects": traced["suspects"],
                                   "rule": "proportional (range over all rules)"},
            "proceeds_notes": [*notes, *traced["notes"]]}  # fmt: skip


def _holds_account(tables: Any, name: str) -> bool:
    from palermo.finance.trace import _find_entity

    try:
        _find_entity(tables, name, "victim")
    except PalermoError:
        return False
    return True
