"""The simulator: deterministic per seed, a ground truth that adds up, observed files that every
record of which maps to a true identity, and rates that come out as configured."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import phonenumbers
import pytest

from palermo.errors import PalermoError
from palermo.simulate import parse_scale, simulate
from palermo.simulate.scenarios import SCENARIOS

SCENARIO_NAMES = sorted(SCENARIOS)


def rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for i, name in enumerate(SCENARIO_NAMES):
        folder = tmp_path_factory.mktemp(name)
        simulate(name, "tiny", 11 + i, folder)
        out[name] = folder
    return out


def test_same_seed_gives_byte_identical_output(tmp_path: Path, cases: dict[str, Path]) -> None:
    again = tmp_path / "again"
    simulate("labour-agri", "tiny", 11 + SCENARIO_NAMES.index("labour-agri"), again)
    assert digest(again) == digest(cases["labour-agri"])
    other = tmp_path / "other"
    simulate("labour-agri", "tiny", 999, other)
    assert digest(other) != digest(again)


def test_layout_and_manifest(cases: dict[str, Path]) -> None:
    for folder in cases.values():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["palermo_manifest"] == 1
        listed = {f["path"] for f in manifest["files"]}
        on_disk = {f"observed/{p.name}" for p in (folder / "observed").iterdir()}
        assert listed == on_disk  # every observed file is named, with its mapping
        assert all(f["mapping"] for f in manifest["files"])
        assert (folder / "truth" / "README.md").exists()
        # nothing of the truth leaks into the observed folder
        assert not any("truth" in p.name for p in (folder / "observed").iterdir())


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_victims_money_adds_up(cases: dict[str, Path], name: str) -> None:
    truth = cases[name] / "truth"
    victims = rows(truth / "victims.csv")
    assert victims
    flows = rows(truth / "money_flows.csv")
    holdings = rows(truth / "money_holdings.csv")
    earned: dict[str, float] = defaultdict(float)
    for f in flows:
        if f["stage"] == "earnings":
            earned[f["victim_id"]] += float(f["amount_eur"])
    ended: dict[str, float] = defaultdict(float)
    kept: dict[str, float] = defaultdict(float)
    for h in holdings:
        (kept if h["node"].startswith("kept:") else ended)[h["victim_id"]] += float(h["eur"])
    for v in victims:
        pid = v["person_id"]
        assert abs(earned[pid] - float(v["earned_eur"])) < 0.05
        assert abs(float(v["earned_eur"]) - float(v["kept_eur"]) - float(v["taken_eur"])) < 0.02
        # where the money ended (accounts, cash, fees, assets, costs) is what was taken from them
        assert abs(ended[pid] - float(v["taken_eur"])) < 0.05 + 1e-6 * float(v["earned_eur"])
        assert abs(kept[pid] - float(v["kept_eur"])) < 0.05
    assert sum(float(v["earned_eur"]) for v in victims) > 0


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_money_never_leaves_before_it_arrives(cases: dict[str, Path], name: str) -> None:
    flows = rows(cases[name] / "truth" / "money_flows.csv")
    flows.sort(key=lambda f: (f["time"], int(f["flow_id"])))
    balance: dict[str, float] = defaultdict(float)
    for f in flows:
        amount = float(f["amount_eur"])
        if f["source"] not in ("own",) and not f["source"].startswith("earned:"):
            balance[f["source"]] -= amount
            assert balance[f["source"]] > -0.05, f
        balance[f["target"]] += amount


def test_observed_criminal_transactions_are_where_the_truth_says(cases: dict[str, Path]) -> None:
    folder = cases["mixed-transnational"]
    manifest = {f["path"]: f for f in json.loads((folder / "manifest.json").read_text())["files"]}
    listed = rows(folder / "truth" / "transactions.csv")
    assert listed
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    for t in listed:
        by_file[t["file"]].append(t)
    flows = {f["flow_id"]: f for f in rows(folder / "truth" / "money_flows.csv")}
    for file, items in by_file.items():
        entry = manifest[f"observed/{file}"]
        id_col = entry.get("columns", {}).get("transaction_id", "transaction_id")
        data = rows(folder / "observed" / file, entry.get("delimiter", ","))
        for t in items:
            assert data[int(t["row"]) - 2][id_col] == t["transaction_id"]
            if t["flow_id"]:
                assert flows[t["flow_id"]]["transaction_id"] == t["transaction_id"]


def test_every_record_maps_to_a_true_identity(cases: dict[str, Path]) -> None:
    folder = cases["mixed-transnational"]
    truth = folder / "truth"
    accounts = {a["account"] for a in rows(truth / "accounts.csv")}
    phones = {p["phone"] for p in rows(truth / "phones.csv")}
    ids = {p["person_id"] for p in rows(truth / "persons.csv")}
    ids |= {c["company_id"] for c in rows(truth / "companies.csv")}
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    mentioned: dict[str, set[str]] = defaultdict(set)
    for m in rows(truth / "mentions.csv"):
        mentioned[m["file"]].add(m["row"])
        if m["role"] not in ("ad_label", "asset"):
            assert m["true_id"] in ids, m
    for entry in manifest:
        path = folder / entry["path"]
        name = path.name
        if entry["mapping"] == "payments":
            cols = entry.get("columns", {})
            for r in rows(path, entry.get("delimiter", ",")):
                assert r[cols.get("from_account", "from_account")] in accounts
                assert (
                    r[cols.get("to_account", "to_account")] in accounts
                    or r[cols.get("to_account", "to_account")] == ""
                )  # a deliberately broken row
        elif entry["mapping"] == "calls":
            region = entry["options"]["phone_region"]
            cols = entry.get("columns", {})
            seen = set()
            for r in rows(path):
                seen.update(r[cols.get(f, f)] for f in ("caller", "callee"))
            for number in seen:
                parsed = phonenumbers.parse(number, region)
                e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                assert e164 in phones, (name, number)
        elif entry["mapping"] == "goaml":
            assert mentioned[name]
        else:
            n = len(rows(path))
            assert n > 0, name
            assert mentioned[name] == {str(i) for i in range(2, n + 2)}, name


def test_broken_rows_are_listed(cases: dict[str, Path]) -> None:
    folder = cases["mixed-transnational"]
    broken = rows(folder / "truth" / "broken_rows.csv")
    assert broken
    manifest = {f["path"]: f for f in json.loads((folder / "manifest.json").read_text())["files"]}
    for b in broken:
        entry = manifest[b["file"]]
        data = rows(folder / b["file"], entry.get("delimiter", ","))
        assert data[int(b["row"]) - 2][b["field"]] == b["written"]


def test_base_rate_is_low_and_falls_with_scale(tmp_path: Path, cases: dict[str, Path]) -> None:
    tiny = json.loads((cases["mixed-transnational"] / "manifest.json").read_text())["summary"]
    simulate("mixed-transnational", "small", 5, tmp_path / "small")
    small = json.loads((tmp_path / "small" / "manifest.json").read_text())["summary"]
    rate_tiny = tiny["criminal_transactions"] / tiny["transactions"]
    rate_small = small["criminal_transactions"] / small["transactions"]
    assert rate_tiny < 0.1
    assert rate_small < rate_tiny
    assert 70_000 < small["transactions"] < 160_000  # "small" is about 100k
    assert small["victims"] > tiny["victims"]
    # degree distribution of the call graph: most people phone a handful of others; the numbers
    # in escort ads are hubs that many clients call
    calls = rows(tmp_path / "small" / "observed" / "cdr_gb_operator.csv")
    degree: Counter[str] = Counter()
    pairs = {(c["caller"], c["callee"]) for c in calls}
    for a, b in pairs:
        degree[a] += 1
        degree[b] += 1
    values = sorted(degree.values())
    median = values[len(values) // 2]
    assert 2 <= median <= 12
    work = [
        p["phone"] for p in rows(tmp_path / "small" / "truth" / "phones.csv") if p["kind"] == "work"
    ]
    gb_work = ["0" + p[3:] for p in work if p.startswith("+44")]
    if gb_work:
        callers = Counter(b for _a, b in pairs if b in gb_work)
        assert max(callers.values(), default=0) > 5 * median


def test_noise_rates_come_out_as_configured(tmp_path: Path) -> None:
    from palermo.simulate.scenarios import SCENARIOS, with_overrides

    noisy = with_overrides(
        SCENARIOS["labour-agri"], missing_rate=0.2, dob_swap_rate=0.2, typo_rate=0.0
    )
    simulate(noisy, "300k", 3, tmp_path / "n")
    truth = {p["person_id"]: p for p in rows(tmp_path / "n" / "truth" / "persons.csv")}
    mentions = {
        m["row"]: m["true_id"]
        for m in rows(tmp_path / "n" / "truth" / "mentions.csv")
        if m["file"] == "employment_register_gb.csv" and m["role"] == "employee"
    }
    data = rows(tmp_path / "n" / "observed" / "employment_register_gb.csv")
    missing = swapped = swappable = 0
    for i, r in enumerate(data, start=2):
        true = truth[mentions[str(i)]]["birth_date"]
        y, m, d = true.split("-")
        if not r["date_of_birth"]:
            missing += 1
        elif int(d) <= 12 and d != m:
            swappable += 1
            swapped += r["date_of_birth"] == f"{y}-{d}-{m}"
        else:
            assert r["date_of_birth"] == true
    n = len(data)
    assert n > 300
    assert abs(missing / n - 0.2) < 0.06
    # a swap needs a day that reads as a month; among those, the rate is swap / (1 - missing)
    assert abs(swapped / swappable - 0.2 / 0.8) < 0.1
    # no typos configured: the latin names of English persons come out exactly
    for i, r in enumerate(data, start=2):
        person = truth[mentions[str(i)]]
        if person["nationality"] == "GB":
            assert (r["first_name"], r["last_name"]) == (
                person["given_name"],
                person["family_name"],
            )


def test_scale_parsing() -> None:
    assert parse_scale("tiny") == 30_000
    assert parse_scale("10M") == 10_000_000
    assert parse_scale("250k") == 250_000
    assert parse_scale(1) == 30_000  # below the tiny case: the tiny case
    assert parse_scale("1e6") == 1_000_000
    with pytest.raises(PalermoError):
        parse_scale("lots")
    with pytest.raises(PalermoError):
        simulate("no-such-scenario", "tiny", 1, "unused")


def test_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PalermoError, match="not empty"):
        simulate("labour-agri", "tiny", 1, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_identifiers_are_valid_for_their_country() -> None:
    """Phones follow each country's numbering plan and IBANs carry valid check digits, so the
    sources ingest as real ones would."""
    from datetime import date

    import numpy as np
    from schwifty import IBAN

    from palermo.simulate.world import IBAN_BBAN, MOBILE, World, _bank_code, iban

    world = World(date(2024, 1, 1), 18)
    rng = np.random.default_rng(3)
    for country in MOBILE:
        for _ in range(200):
            number = phonenumbers.parse(world.phone(country, rng))
            assert phonenumbers.is_valid_number(number), (country, number)
    for country, (_pattern, digits) in IBAN_BBAN.items():
        code = _bank_code(country, rng)
        for _ in range(50):
            account = "".join(str(d) for d in rng.integers(0, 10, digits))
            IBAN(iban(country, code, account))  # raises if invalid


def test_byte_identical_across_processes(tmp_path: Path) -> None:
    """Python's hash seed (set order) must not leak into the output: two processes with
    different PYTHONHASHSEED write the same bytes (Faker's it_IT city list is built from a set)."""
    import os
    import subprocess
    import sys

    code = "import sys; from palermo.simulate import simulate; simulate(sys.argv[1], 'tiny', 4, sys.argv[2])"
    for n in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": n}
        subprocess.run(
            [sys.executable, "-c", code, "sexual-exploit", str(tmp_path / n)], env=env, check=True
        )
    assert digest(tmp_path / "1") == digest(tmp_path / "2")
