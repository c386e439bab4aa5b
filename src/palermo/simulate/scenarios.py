"""Scenarios: who the traffickers are, where they recruit and exploit, and how big the world around
them is. A scenario is data (countries, forms of exploitation, sectors, rates); the generator reads it.
Every rate that shapes the output is a field here, so ``docs/simulator.md`` and the tests can name it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from palermo.errors import PalermoError

#: Exploitation settings: form (model.ExploitationForm value) and sector (HTCDS ForcedLabourIndustry
#: spirit), the kind of front company, and the ads it needs.
LABOUR_SECTORS: dict[str, str] = {
    "agriculture": "farm",
    "construction": "construction subcontractor",
    "food_processing": "food processing plant",
    "car_wash": "car wash",
    "nail_bar": "nail bar",
    "hospitality": "hotel",
    "textiles": "garment workshop",
    "fishing": "fishing company",
}


@dataclass(frozen=True)
class Exploitation:
    form: str  # forced_labour | sexual_exploitation | domestic_servitude | forced_begging | ...
    sector: str  # agriculture, construction, ..., "sex" for sexual exploitation, "domestic", ...
    weight: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    origins: tuple[str, ...]  # ISO alpha-2 of origin countries (victims and recruiters)
    transits: tuple[str, ...]
    destinations: tuple[str, ...]
    exploitations: tuple[Exploitation, ...]
    months: int = 18
    start: str = "2024-01-01"
    # crime
    victims_per_network: tuple[int, int] = (18, 45)
    cells_per_network: tuple[int, int] = (4, 7)
    share_victims_documents_retained: float = 0.7
    share_victims_registered: float = 0.5  # declared to the employment register by the front
    share_wages_to_controlled_account: float = 0.75  # others are paid into the controller's own
    victim_allowance: float = 0.12  # share of earnings left to the victim
    reporting_threshold: float = 10_000.0  # cash reporting threshold, local units (structuring)
    # background (per person and month; a person is an adult with a bank account)
    card_payments_per_month: float = 11.0
    transfers_per_month: float = 1.2
    calls_per_month: float = 3.0
    crossings_per_year: float = 0.4
    share_migrants: float = 0.08  # foreign-born residents of a destination who remit home
    # noise in observed records (see simulate/noise.py)
    typo_rate: float = 0.03
    transliteration_variant_rate: float = 0.5  # of names written in another script
    dob_swap_rate: float = 0.02
    missing_rate: float = 0.05
    broken_row_rate: float = 0.0002  # deliberately broken rows (listed in truth/broken_rows.csv)
    extra: dict[str, float] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="labour-agri",
            description=(
                "Labour exploitation: recruiters in Romania, Bulgaria and Moldova advertise farm and "
                "building-site jobs; workers travel by coach through Hungary and Austria to farms, "
                "packhouses and construction subcontractors in the UK and Germany; wages go to "
                "accounts the gangmasters control and are remitted home."
            ),
            origins=("RO", "BG", "MD"),
            transits=("HU", "AT"),
            destinations=("GB", "DE"),
            exploitations=(
                Exploitation("forced_labour", "agriculture", 3.0),
                Exploitation("forced_labour", "construction", 2.0),
                Exploitation("forced_labour", "food_processing", 1.0),
            ),
        ),
        Scenario(
            name="sexual-exploit",
            description=(
                "Sexual exploitation sold through escort ads: women recruited in Romania, Bulgaria "
                "and Nigeria by 'lover boys' and false job offers, moved through Italy, exploited "
                "in flats rotated between cities in the UK, Italy and Spain; clients pay cash and "
                "cards, mules deposit the cash below the reporting threshold."
            ),
            origins=("RO", "BG", "NG"),
            transits=("IT", "FR"),
            destinations=("GB", "IT", "ES"),
            exploitations=(Exploitation("sexual_exploitation", "sex", 1.0),),
        ),
        Scenario(
            name="mixed-transnational",
            description=(
                "A loose network of specialised cells from Romania, Bulgaria, Ukraine, Nigeria and "
                "Vietnam supplying farms, car washes, nail bars, building sites, domestic work and "
                "brothels in the UK, Germany, Italy and the Netherlands; cells cooperate for a "
                "while and drop each other; proceeds buy flats and companies at home."
            ),
            origins=("RO", "BG", "UA", "NG", "VN"),
            transits=("HU", "PL", "FR"),
            destinations=("GB", "DE", "IT", "NL"),
            exploitations=(
                Exploitation("forced_labour", "agriculture", 2.0),
                Exploitation("forced_labour", "construction", 1.5),
                Exploitation("forced_labour", "car_wash", 1.0),
                Exploitation("forced_labour", "nail_bar", 1.0),
                Exploitation("sexual_exploitation", "sex", 2.0),
                Exploitation("domestic_servitude", "domestic", 0.5),
                Exploitation("forced_begging", "begging", 0.5),
                Exploitation("forced_criminality", "criminality", 0.4),
                Exploitation("forced_labour", "hospitality", 0.6),
            ),
        ),
    )
}

PRESETS: dict[str, int] = {
    "tiny": 30_000,
    "small": 100_000,
    "medium": 300_000,
    "large": 1_000_000,
    "huge": 10_000_000,
}
MIN_TRANSACTIONS = PRESETS["tiny"]
MAX_TRANSACTIONS = 100_000_000


def parse_scale(text: str | int | float) -> int:
    """``--scale``: a preset (tiny, small, medium, large, huge) or the approximate number of bank
    transactions, with an optional k/M suffix (``250k``, ``10M``, ``1e6``). Sizes below the tiny
    case are raised to it: a network needs a minimum world around it."""
    raw = str(text).strip()
    if raw.lower() in PRESETS:
        return PRESETS[raw.lower()]
    match = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmM]?)", raw)
    if not match:
        known = ", ".join(PRESETS)
        raise PalermoError(
            f"--scale {raw!r}: give a preset ({known}) or a number of transactions (e.g. 250k, 10M)"
        )
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    if value > MAX_TRANSACTIONS:
        raise PalermoError(f"--scale {raw}: at most {MAX_TRANSACTIONS:,} transactions")
    return max(MIN_TRANSACTIONS, int(value))


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise PalermoError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None


@dataclass(frozen=True)
class Size:
    """How many of everything, derived from the target number of bank transactions."""

    transactions: int
    persons: int  # background adults with a bank account
    companies: int
    networks: int
    card_payments_per_month: float  # per person: the knob that makes the target volume


def size_for(scenario: Scenario, transactions: int) -> Size:
    # A background adult makes about a salary, rent, bills, cash withdrawals, transfers and card
    # payments a month (fixed: all but the cards, plus their share of companies' invoices and
    # cash deposits); migrants add about 5% to the population. The population is what makes
    # the target number of transactions; below the smallest population, fewer card payments.
    fixed = 4.6 + (scenario.transfers_per_month - 1.2)
    per_person_month = (fixed + scenario.card_payments_per_month) * 1.05
    persons = max(300, int(transactions / (scenario.months * per_person_month)))
    card = max(1.0, transactions / (scenario.months * persons * 1.05) - fixed)
    companies = max(40, persons // 12)
    # networks grow slowly with the world: the base rate of crime falls as the world grows
    networks = max(1, round(math.log2(transactions / MIN_TRANSACTIONS) / 1.5) + 1)
    return Size(transactions, persons, companies, networks, card)


def with_overrides(scenario: Scenario, **changes: Any) -> Scenario:
    """The scenario with some parameters changed (``typo_rate=0.1``, ``months=12``, ...)."""
    return replace(scenario, **changes)
