"""The order of a simulation: the world, the crime (day by day), then the sources month by month
(background generated and written a month at a time: memory stays bounded whatever the scale),
then the smaller sources, the manifest and the ground truth."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from palermo import __version__
from palermo.errors import PalermoError
from palermo.simulate.background import PT, Background
from palermo.simulate.banks import BankWriter, layout_for
from palermo.simulate.crime import CrimeSim
from palermo.simulate.scenarios import Scenario, get_scenario, parse_scale, size_for
from palermo.simulate.sources import Recorder, Sources
from palermo.simulate.truth import write_truth
from palermo.simulate.world import RATE, World

#: Which criminal transactions a bank reports to its FIU, and how often (the rest go unreported).
REPORT_RATE = {
    "structuring": 0.35,
    "to_mule": 0.15,
    "mule_remittance": 0.2,
    "remittance_home": 0.2,
    "pooled_wage": 0.05,
}


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").exists():
            raise PalermoError(
                f"{out} exists and is not empty (and holds no earlier simulation): choose another --out"
            )
        for sub in ("observed", "truth"):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / "manifest.json").unlink()
        (out / "fx_rates.csv").unlink(missing_ok=True)
    (out / "observed").mkdir(parents=True, exist_ok=True)


def simulate(
    scenario: str | Scenario = "mixed-transnational",
    scale: str | int = "tiny",
    seed: int = 1,
    out: str | Path = "simulated-case",
    *,
    progress: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Simulate a case (a scenario by name, or a ``Scenario`` with changed parameters); returns
    a summary (also written into the manifest)."""
    say = progress or (lambda _msg, _fraction=None: None)
    sc = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    transactions = parse_scale(scale)
    size = size_for(sc, transactions)
    out = Path(out)
    _prepare(out)
    observed = out / "observed"
    started = time.perf_counter()
    root = np.random.SeedSequence(seed)
    s_pop, s_crime, s_months, s_sources, s_noise = root.spawn(5)
    month_seeds = s_months.spawn(sc.months)

    say(f"population of about {size.persons:,} people and {size.companies:,} companies")
    world = World(date.fromisoformat(sc.start), sc.months)
    bg = Background(world, sc, size, np.random.default_rng(s_pop))
    bg.populate()
    say(f"{size.networks} trafficking network(s), day by day")
    crime = CrimeSim(world, sc, size, np.random.default_rng(s_crime), bg.by_country)
    crime.build()
    crime.run()

    # criminal transactions and calls, by month
    months = Background.month_starts(world.start, sc.months)
    month_index = {ym: i for i, ym in enumerate(months)}

    def month_of(ts: int) -> int:
        t = time.gmtime(ts)
        return min(month_index.get((t.tm_year, t.tm_mon), len(months) - 1), len(months) - 1)

    tx_by_month: list[list[int]] = [[] for _ in months]
    for i, row in enumerate(crime.obs.tx):
        tx_by_month[month_of(row[0])].append(i)
    calls_by_month: list[list[tuple[int, str, str, int, str]]] = [[] for _ in months]
    for call in crime.obs.calls:
        calls_by_month[month_of(call[0])].append(call)
    crime_refs = np.array([bg.ref(row[5]) for row in crime.obs.tx], dtype=np.int64)
    noise_rng = np.random.default_rng(s_noise)
    bank = BankWriter(world, observed, bg.refs, sc.broken_row_rate, noise_rng)
    rec = Recorder()
    src = Sources(world, crime, sc, observed, np.random.default_rng(s_sources), rec)
    src.open_cdr()
    destination_banks = np.array([b.country in sc.destinations for b in world.banks])
    threshold_eur = np.array([sc.reporting_threshold / RATE[b.currency] for b in world.banks])
    acc_bank = np.array(world.acc_bank, dtype=np.int64)
    trips = []
    written = 0
    for m, (year, month) in enumerate(months):
        rng = np.random.default_rng(month_seeds[m])
        batch = bg.month(year, month, rng)
        idx = tx_by_month[m]
        rows = [crime.obs.tx[i] for i in idx]
        payer = np.concatenate([batch.payer, np.array([r[1] for r in rows], dtype=np.int64)])
        payee = np.concatenate([batch.payee, np.array([r[2] for r in rows], dtype=np.int64)])
        ts = np.concatenate([batch.ts, np.array([r[0] for r in rows], dtype=np.int64)])
        eur = np.concatenate([batch.eur, np.array([r[3] for r in rows], dtype=np.float64)])
        ptype = np.concatenate([batch.ptype, np.array([PT[r[4]] for r in rows], dtype=np.int8)])
        ref = np.concatenate([batch.ref, crime_refs[idx] if idx else np.array([], dtype=np.int64)])
        crime_row = np.concatenate([np.full(len(batch.payer), -1), np.array(idx, dtype=np.int64)])
        # what the banks of the destination countries report to their FIU
        u = rng.random(len(payer))
        rate = np.zeros(len(payer))
        rate[len(batch.payer) :] = [REPORT_RATE.get(r[7], 0.0) for r in rows]
        big_cash = (ptype == PT["cash_deposit"]) & (eur >= 0.6 * threshold_eur[acc_bank[payer]])
        rate[: len(batch.payer)] = np.where(big_cash[: len(batch.payer)], 0.5, 0.0)
        reportable = (u < rate) & destination_banks[acc_bank[payer]]
        bank.write_month(payer, payee, ts, eur, ptype, ref, crime_row, reportable)
        written += len(payer)
        src.write_cdr_month(bg.calls(year, month, rng), calls_by_month[m])
        trips.append(bg.crossings(year, month, rng))
        say(f"month {m + 1}/{len(months)}: {written:,} transactions", (m + 1) / len(months))
    bank.close()
    src.close_cdr()
    say("registries, border records, ads, reports and notes")
    bank_entries = []
    for b, name in sorted(bank.files.items(), key=lambda x: x[1]):
        entry = {"path": f"observed/{name}", **layout_for(world, b).manifest_entry()}
        entry["compartment"] = "fiu"
        entry["description"] = (
            f"account statements exported by {world.banks[b].name} ({world.banks[b].country})"
        )
        bank_entries.append(entry)
    src.write_companies()
    src.write_land()
    src.write_employment()
    src.write_borders(trips)
    src.write_ads()
    src.write_notes()
    src.write_goaml(bank.str_rows, sc.reporting_threshold)
    say("ground truth")
    summary = write_truth(out / "truth", world, crime, bank, rec)
    summary.update(
        {
            "transactions": written,
            "persons": len(world.p_id),
            "companies": len(world.c_id),
            "accounts": len(world.acc_id),
        }
    )
    manifest = {
        "palermo_manifest": 1,
        "description": f"Simulated case: {sc.description}",
        "generator": {
            "tool": "palermo simulate",
            "version": __version__,
            "scenario": sc.name,
            "scale": transactions,
            "seed": seed,
        },
        "period": {"start": world.start.isoformat(), "months": sc.months},
        "summary": summary,
        "files": [*bank_entries, *rec.manifest],
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    # the fixed exchange rates the simulated banks used, for `palermo finance trace --rates`
    # (a real investigation takes its central bank's reference rates)
    (out / "fx_rates.csv").write_text(
        "currency,units_per_eur\n" + "".join(f"{c},{r}\n" for c, r in sorted(RATE.items())),
        encoding="utf-8",
    )
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary
