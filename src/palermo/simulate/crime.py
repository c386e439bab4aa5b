"""The trafficking operation as an agent-based model, run day by day.

Networks are loose sets of specialised cells (recruitment, transport, documents, exploitation,
money); *contracts* tie an exploitation cell to a recruitment, a transport and a money cell for a
while, after which the cells drop each other and find new partners (the field describes linkages
as transactional; see ../shared/DOMAIN.md §8). Victims are recruited under a contract, moved,
housed many to an address, exploited, and leave (identified, escaped, or still there at the end).
Their earnings enter the ``Ledger`` tagged with them and are swept, placed, layered through mules
and remitted home, where they buy flats and companies.

Everything the model does that a source would record is appended to the ``Observations`` lists
(bank transactions, calls, crossings, ads, notes, registry rows); everything else is truth only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from palermo.simulate.ledger import OWN, Ledger
from palermo.simulate.scenarios import LABOUR_SECTORS, Exploitation, Scenario, Size
from palermo.simulate.world import RATE, WAGE_LEVEL, World

T = TypeVar("T")
DAY = 86_400
#: Forms of exploitation whose proceeds are cash collected from the victims every day.
CASH_FORMS = ("sexual_exploitation", "forced_begging", "forced_criminality")
NICKNAMES = (
    "Tiger",
    "Doctor",
    "Bebe",
    "Lupu",
    "Cobra",
    "Nash",
    "Kolya",
    "Big Man",
    "Chief",
    "Mamma",
)

# -- what a victim's situation reveals in an interview ----------------------------------------------
# facts -> ILO forced-labour indicators (2012, the 11) and HTCDS MethodsOfControl
ILO_FL = {
    "vulnerability": "abuse_of_vulnerability",
    "deceived": "deception",
    "movement_restricted": "restriction_of_movement",
    "isolated": "isolation",
    "violence": "physical_and_sexual_violence",
    "threats": "intimidation_and_threats",
    "documents_retained": "retention_of_identity_documents",
    "wages_withheld": "withholding_of_wages",
    "debt": "debt_bondage",
    "bad_conditions": "abusive_working_and_living_conditions",
    "excessive_hours": "excessive_overtime",
}
HTCDS = {
    "deceived": "FalsePromises",
    "violence": "PhysicalAbuse",
    "threats": "PhysicalThreats",
    "documents_retained": "WithholdsDocuments",
    "wages_withheld": "TakesEarnings",
    "debt": "DebtBondage",
    "excessive_hours": "ExcessiveWorkingHours",
    "movement_restricted": "RestrictsMovement",
    "threat_authorities": "ThreatsLawEnforcement",
    "psychological": "PsychologicalAbuse",
}
# facts -> EU/ILO operational indicators, adult labour list (codes as in DOMAIN.md §2). The sexual
# lists are not verified there, so sexual exploitation victims carry ILO/HTCDS indicators only.
EU_ILO_LABOUR = {
    "deceived": ("al_dr_s_nature_of_job", "al_dr_m_wages", "al_dr_m_work_conditions"),
    "documents_retained": ("al_cd_s_documents",),
    "debt": ("al_cd_s_debt_bondage",),
    "isolated": ("al_cd_s_isolation",),
    "violence": ("al_cd_s_violence",),
    "threats": ("al_cd_m_violence_threat",),
    "threat_authorities": ("al_cd_m_denunciation_threat",),
    "wages_withheld": ("al_cd_m_wages_withheld", "al_ex_m_low_pay"),
    "excessive_hours": ("al_ex_s_excessive_hours",),
    "bad_conditions": ("al_ex_m_living_conditions", "al_ex_m_work_conditions"),
    "illegal_status": ("al_vr_m_illegal_status",),
    "vulnerability": ("al_vr_m_economic", "al_vd_m_exploiter_dependency"),
}


def child_code(code: str) -> str:
    """The child-labour list uses the adult slugs with strength letters of its own (DOMAIN §2)."""
    strong = {
        "nature_of_job",
        "violence",
        "violence_threat",
        "debt_bondage",
        "excessive_hours",
        "documents",
        "isolation",
    }
    _, dim, _, slug = code.split("_", 3)
    return f"cl_{dim}_{'s' if slug in strong else 'm'}_{slug}"


@dataclass
class Cell:
    id: str
    network: int
    function: str  # recruitment | transport | documents | exploitation | money
    country: str
    members: list[int]
    leader: int
    form: str = ""
    sector: str = ""
    front: int = -1  # company index
    houses: list[int] = field(default_factory=list)  # address indices
    vehicles: list[str] = field(default_factory=list)
    work_phone: str = ""  # the number in the ads, held by the leader
    mules: list[int] = field(default_factory=list)
    remitter: int = -1  # company index of the money-transfer front


@dataclass
class Contract:
    id: str
    exploitation: Cell
    recruitment: Cell
    transport: Cell
    money: Cell
    documents: Cell | None
    start: int  # day
    end: int


@dataclass
class Victim:
    person: int
    network: int
    contract: Contract
    form: str
    sector: str
    recruited: int
    travel: int
    arrival: int
    exit: int
    exit_reason: str
    house: int
    controller: int
    paid_into: str  # victim_account | controller_account | cash | none
    account: int = -1
    registered: bool = False
    forged_document: str = ""
    debt_eur: float = 0.0
    facts: set[str] = field(default_factory=set)
    weekly_eur: float = 0.0  # what the work is paid (labour) / earns (clients, begging)
    declared_monthly_eur: float = 0.0
    earned: float = 0.0
    kept: float = 0.0


@dataclass
class Observations:
    """What the sources record, before formatting (times in seconds since the epoch, UTC)."""

    # (ts, payer account, payee account, amount EUR, payment type, reference, flow id, label)
    tx: list[tuple[int, int, int, float, str, str, int, str]] = field(default_factory=list)
    # (ts, caller phone, callee phone, duration s, label)
    calls: list[tuple[int, str, str, int, str]] = field(default_factory=list)
    # (ts, person, direction, border country, from, to, carrier, vehicle, document, doc country,
    #  label)
    crossings: list[tuple[int, int, str, str, str, str, str, str, str, str, str]] = field(
        default_factory=list
    )
    ads: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    employment: list[dict[str, Any]] = field(default_factory=list)
    land: list[dict[str, Any]] = field(default_factory=list)
    ownership_changes: list[dict[str, Any]] = field(default_factory=list)


JOB_ADS = {
    "ro": (
        "Angajam {n} muncitori {job} in {country}. Salariu {wage} {cur}/luna, cazare si transport "
        "asigurate, fara experienta, plecare imediata. Sunati {phone}",
        "Locuri de munca {job} {country}: {wage} {cur} pe luna, masa si cazare gratuite. "
        "Nu este nevoie de limba engleza. Tel {phone}",
    ),
    "bg": (
        "Търсим {n} работници за {job} в {country}. Заплата {wage} {cur}, осигурени квартира и "
        "транспорт, без опит. Тел. {phone}",
    ),
    "uk": (
        "Робота {job} у {country}: {wage} {cur}/міс, житло та дорога за рахунок роботодавця, "
        "документи оформлюємо. Тел. {phone}",
    ),
    "en": (
        "{n} workers needed for {job} in {country}. {wage} {cur} a month, accommodation and travel "
        "paid, no experience or documents needed. Call {phone}",
    ),
    "vi": (
        "Tuyen {n} nguoi lam {job} tai {country}, luong {wage} {cur}/thang, bao an o, lo giay to. "
        "Lien he {phone}",
    ),
}
AD_LANG = {"RO": "ro", "MD": "ro", "BG": "bg", "UA": "uk", "NG": "en", "VN": "vi"}
JOB_WORDS = {
    "agriculture": "agricultura / farm",
    "construction": "constructii / construction",
    "food_processing": "fabrica / packing",
    "car_wash": "spalatorie auto / car wash",
    "nail_bar": "salon / nails",
    "domestic": "menaj / housekeeping",
    "begging": "vanzari / sales",
    "criminality": "depozit / warehouse",
    "sex": "hostess / dancer",
    "hospitality": "hotel",
    "textiles": "croitorie / sewing",
    "fishing": "pescuit / fishing",
}
ESCORT_ADS = (
    "{alias}, {age}, new in town! {city} only this week. Sweet and discreet, 24/7, incall/outcall. "
    "{phone}",
    "NEW NEW NEW {alias} {age}y just arrived in {city}, young and friendly, call {phone} "
    "(no withheld numbers)",
    "{alias} - {age} - {city} centre. Real photos. Available now, text {phone}",
)
COUNTRY_WORDS = {
    "GB": "Anglia / UK",
    "DE": "Germania",
    "IT": "Italia",
    "ES": "Spania",
    "NL": "Olanda",
    "AT": "Austria",
    "FR": "Franta",
}


class CrimeSim:
    def __init__(
        self,
        world: World,
        scenario: Scenario,
        size: Size,
        rng: np.random.Generator,
        background: dict[str, list[int]],
    ) -> None:
        self.w = world
        self.s = scenario
        self.size = size
        self.rng = rng
        self.bg = background  # country -> background person indices living there
        self.days = (self._add_months(world.start, scenario.months) - world.start).days
        self.epoch = int(datetime.combine(world.start, datetime.min.time(), UTC).timestamp())
        self.cells: list[Cell] = []
        self.contracts: list[Contract] = []
        self.victims: list[Victim] = []
        self.members: dict[int, tuple[str, int, str]] = {}  # person -> (cell id, network, role)
        self.bosses: list[int] = []
        self.relatives: dict[int, list[int]] = {}  # boss -> nominees at home
        self.home_company: dict[int, int] = {}  # network -> company owning the assets
        self.officials: dict[int, int] = {}  # network -> corrupt official
        self.assets: list[dict[str, Any]] = []
        self.ledger = Ledger()
        self.obs = Observations()
        self.flow_tx: dict[int, int] = {}  # flow id -> index in obs.tx
        self._sites: dict[str, int] = {}
        self._addresses: dict[str, list[int]] = {}
        for a, c in enumerate(world.a_country):
            self._addresses.setdefault(c, []).append(a)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _add_months(d: date, months: int) -> date:
        y, m = divmod(d.month - 1 + months, 12)
        return date(d.year + y, m + 1, 1)

    def ts(self, day: int, hour_lo: int = 8, hour_hi: int = 20) -> int:
        return self.epoch + day * DAY + int(self.rng.integers(hour_lo * 3600, hour_hi * 3600))

    def iso(self, day: int) -> str:
        return (self.w.start + timedelta(days=day)).isoformat()

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.rng.integers(0, len(seq)))]

    def local(self, country: str) -> int:
        return int(self.pick(self.bg[country]))

    def person(self, country: str, residence: str, role: str, *, female: float = 0.3) -> int:
        i = self.w.add_persons(
            1,
            country,
            residence,
            role,
            self.rng,
            addresses=self._addresses[residence],
            age=(22, 60),
            female_share=female,
        )[0]
        self.w.open_account(i, self.rng)
        return i

    def tx(
        self,
        day: int,
        payer: int,
        payee: int,
        eur: float,
        ptype: str,
        reference: str,
        label: str,
        flow: int = -1,
        ts: int | None = None,
    ) -> None:
        t = ts if ts is not None else self.ts(day)
        self.obs.tx.append((t, payer, payee, round(eur, 2), ptype, reference, flow, label))
        if flow >= 0:
            self.flow_tx[flow] = len(self.obs.tx) - 1

    def call(self, day: int, a: int | str, b: int | str, label: str, *, sms: bool = False) -> None:
        pa = a if isinstance(a, str) else self.w.p_phone[a]
        pb = b if isinstance(b, str) else self.w.p_phone[b]
        if pa == pb:
            return
        duration = 0 if sms else int(self.rng.gamma(2.0, 60.0)) + 5
        self.obs.calls.append((self.ts(day, 7, 23), pa, pb, duration, label))

    def move(
        self,
        day: int,
        src: str,
        dst: str,
        eur: float,
        stage: str,
        *,
        observed: tuple[int, int, str, str, str] | None = None,
    ) -> None:
        """A ledger flow; ``observed`` = (payer acc, payee acc, type, reference, label) if a bank
        records it."""
        flow = self.ledger.move(self.ts(day), src, dst, eur, stage, observed is not None)
        if observed:
            payer, payee, ptype, ref, label = observed
            self.tx(day, payer, payee, eur, ptype, ref, label, flow, ts=self.ledger.flows[flow].ts)

    def acc(self, person: int) -> int:
        return self.w.p_account[person]

    # -- building the networks --------------------------------------------------------------------
    def build(self) -> None:
        for n in range(self.size.networks):
            self._network(n)
        self._nicknames()
        self._contracts_and_victims()

    def _cell(
        self,
        n: int,
        function: str,
        country: str,
        residence: str,
        roles: list[str],
        female: float = 0.3,
    ) -> Cell:
        members = [self.person(country, residence, r, female=female) for r in roles]
        cell = Cell(
            f"N{n + 1}-{function[:3].upper()}{len(self.cells) + 1}",
            n,
            function,
            residence,
            members,
            members[0],
        )
        for m, role in zip(members, roles, strict=True):
            self.members[m] = (cell.id, n, role)
        self.cells.append(cell)
        return cell

    def _front(
        self, n: int, cell: Cell, country: str, sector: str, director: int, owner: int, kind: str
    ) -> int:
        from faker import Faker

        fake = Faker("en_GB")
        fake.seed_instance(int(self.rng.integers(0, 2**31)))
        word = fake.last_name()
        suffix = {
            "GB": "Ltd",
            "DE": "GmbH",
            "IT": "S.r.l.",
            "NL": "B.V.",
            "ES": "S.L.",
            "RO": "SRL",
            "BG": "EOOD",
            "MD": "SRL",
            "UA": "TOV",
            "AT": "GmbH",
            "NG": "Ltd",
            "VN": "Co.",
        }.get(country, "Ltd")
        name = f"{word} {kind.title()} {suffix}"
        address = self.pick(self._addresses[country])
        return self.w.add_company(
            country,
            sector,
            name,
            self.rng,
            director=director,
            address=int(address),
            owner_person=owner,
            front=cell.id,
            incorporated=(
                self.w.start - timedelta(days=int(self.rng.integers(60, 900)))
            ).isoformat(),
        )

    def _network(self, n: int) -> None:
        s, rng = self.s, self.rng
        origin = s.origins[n % len(s.origins)]
        dests = list(s.destinations)
        home_dest = dests[n % len(dests)]
        boss = self.person(origin, home_dest if rng.random() < 0.7 else origin, "boss", female=0.15)
        self.members[boss] = (f"N{n + 1}-BOSS", n, "boss")
        self.bosses.append(boss)
        self.w.open_account(boss, rng, purpose="personal", country=origin)  # an account at home
        rel = [self.person(origin, origin, "relative", female=0.6) for _ in range(2)]
        for r in rel:
            self.w.p_family[r] = self.w.p_family[boss]
        self.relatives[boss] = rel
        holding = self.w.add_company(
            origin,
            "real_estate",
            self._holding_name(origin),
            rng,
            director=rel[0],
            address=self.w.p_address[rel[0]],
            owner_person=rel[1],
            front=f"N{n + 1}-BOSS",
        )
        self.home_company[n] = holding
        rec = self._cell(
            n, "recruitment", origin, origin, ["recruiter"] * int(rng.integers(2, 4)), female=0.4
        )
        rec.front = self._front(
            n, rec, origin, "employment_agency", rec.leader, rec.leader, "recruitment agency"
        )
        trn = self._cell(n, "transport", origin, origin, ["transporter"] * int(rng.integers(1, 3)))
        trn.vehicles = [self._plate(origin) for _ in range(len(trn.members))]
        if rng.random() < 0.6:
            self._cell(n, "documents", origin, origin, ["document_forger"])
        mon = self._cell(n, "money", origin, home_dest, ["money_handler"], female=0.3)
        mon.mules = [
            self.person(self.pick([origin, home_dest]), home_dest, "mule", female=0.4)
            for _ in range(int(rng.integers(3, 7)))
        ]
        for m in mon.mules:
            self.members[m] = (mon.id, n, "money_handler")
        mon.remitter = self._front(
            n, mon, home_dest, "money_transfer", mon.leader, boss, "money transfer"
        )
        # recruitment, transport and money cells are there already (documents in some networks);
        # the rest exploit, the first in the scenario's main form, the others in any
        k = int(rng.integers(s.cells_per_network[0], s.cells_per_network[1] + 1)) - 3
        for j in range(max(2, k)):
            ex = self._pick_exploitation() if j else max(s.exploitations, key=lambda e: e.weight)
            dest = home_dest if rng.random() < 0.6 else str(self.pick(dests))
            roles = ["exploiter"] + ["enforcer"] * int(rng.integers(0, 3))
            cell = self._cell(n, "exploitation", origin, dest, roles)
            cell.form, cell.sector = ex.form, ex.sector
            kind = LABOUR_SECTORS.get(
                ex.sector,
                {"sex": "massage parlour", "domestic": "cleaning", "begging": "services"}.get(
                    ex.sector, "services"
                ),
            )
            straw = rel[0] if rng.random() < 0.5 else cell.leader
            cell.front = self._front(n, cell, dest, ex.sector, straw, boss, kind)
            houses = self._addresses[dest]
            cell.houses = [
                int(h) for h in rng.choice(houses, size=min(len(houses), 3), replace=False)
            ]
            if ex.form == "sexual_exploitation":
                cell.work_phone = self.w.phone(dest, rng)
        if rng.random() < 0.5:
            off = self.person(home_dest, home_dest, "corrupt_official", female=0.3)
            self.members[off] = (f"N{n + 1}-OFF", n, "corrupt_official")
            self.officials[n] = off

    def _nicknames(self) -> None:
        for p in sorted(self.members):
            if self.members[p][2] not in ("relative",) and self.rng.random() < 0.35:
                self.w.p_alias[p] = str(self.pick(list(NICKNAMES)))

    def _holding_name(self, country: str) -> str:
        stems = ("Imobiliare", "Invest", "Construct", "Grup", "Trans", "Agro")
        suffix = {"RO": "SRL", "MD": "SRL", "BG": "ООД", "UA": "ТОВ", "NG": "Ltd", "VN": "Co."}
        a, b = self.pick(list(stems)), self.pick(list(stems))
        return f"{a} {b} {int(self.rng.integers(1, 99))} {suffix.get(country, 'Ltd')}"

    def _plate(self, country: str) -> str:
        letters = "".join(chr(65 + int(x)) for x in self.rng.integers(0, 26, 3))
        digits = int(self.rng.integers(10, 99))
        return {
            "RO": f"B {digits} {letters}",
            "BG": f"CA {digits}{digits} {letters[:2]}",
            "MD": f"C {letters} {digits}{digits % 10}",
            "UA": f"AA{digits}{digits}{letters[:2]}",
        }.get(country, f"{letters}{digits}{letters[:1]}")

    def _pick_exploitation(self) -> Exploitation:
        ex = self.s.exploitations
        w = np.array([e.weight for e in ex])
        return ex[int(self.rng.choice(len(ex), p=w / w.sum()))]

    def _contracts_and_victims(self) -> None:
        rng, s = self.rng, self.s

        def by(n: int, function: str) -> list[Cell]:
            return [c for c in self.cells if c.network == n and c.function == function]

        for cell in [c for c in self.cells if c.function == "exploitation"]:
            n = cell.network
            segments = int(rng.integers(1, 4))
            start = int(rng.integers(0, max(1, self.days // 6)))
            cuts = (
                sorted(int(x) for x in rng.integers(start + 60, self.days, segments - 1))
                if segments > 1
                else []
            )
            end_all = (
                self.days
                if rng.random() < 0.75
                else int(rng.integers(self.days * 2 // 3, self.days))
            )
            bounds = [start, *cuts, end_all]
            for a, b in itertools.pairwise(bounds):
                if b - a < 45:
                    continue
                other = [c for c in self.cells if c.function == "recruitment" and c.network != n]
                rec = (
                    self.pick(other)
                    if other and rng.random() < 0.3
                    else self.pick(by(n, "recruitment"))
                )
                trs = [c for c in self.cells if c.function == "transport"]
                trn = self.pick(trs) if rng.random() < 0.3 else self.pick(by(n, "transport"))
                docs = by(n, "documents")
                con = Contract(
                    f"K{len(self.contracts) + 1}",
                    cell,
                    rec,
                    trn,
                    self.pick(by(n, "money")),
                    docs[0] if docs else None,
                    a,
                    b,
                )
                self.contracts.append(con)
        lo, hi = s.victims_per_network
        for n in range(self.size.networks):
            total = int(rng.integers(lo, hi + 1))
            mine = [c for c in self.contracts if c.exploitation.network == n]
            if not mine:
                continue
            weights = np.array([c.end - c.start for c in mine], dtype=float)
            counts = rng.multinomial(total, weights / weights.sum())
            for con, k in zip(mine, counts, strict=True):
                for _ in range(int(k)):
                    self._victim(con)

    def _victim(self, con: Contract) -> None:
        rng, s = self.rng, self.s
        cell = con.exploitation
        origin = con.recruitment.country
        female = {
            "sexual_exploitation": 0.95,
            "domestic_servitude": 0.85,
            "forced_begging": 0.5,
            "forced_criminality": 0.3,
        }.get(cell.form, 0.25)
        child = rng.random() < (
            0.08
            if cell.form in ("sexual_exploitation", "forced_begging", "forced_criminality")
            else 0.02
        )
        age = (15, 18) if child else ((18, 30) if cell.form == "sexual_exploitation" else (18, 55))
        v = self.w.add_persons(
            1,
            origin,
            origin,
            "victim",
            rng,
            addresses=self._addresses[origin],
            age=age,
            female_share=female,
        )[0]
        last = max(con.start + 1, con.end - 45)
        recruited = int(rng.integers(con.start, last))
        travel = recruited + int(rng.integers(7, 26))
        arrival = travel + int(rng.integers(1, 3))
        stay = int(rng.exponential(260)) + 30
        exit_day = min(self.days, arrival + stay)
        reason = (
            "still_exploited"
            if exit_day >= self.days
            else ("identified" if rng.random() < 0.6 else "escaped")
        )
        level = WAGE_LEVEL[cell.country]
        weekly = {
            "forced_labour": 380.0 * level,
            "sexual_exploitation": 6 * 3.5 * 90.0 * level,
            "forced_begging": 6 * 45.0 * level,
            "forced_criminality": 6 * 70.0 * level,  # shoplifting, cannabis farms: cash
            "domestic_servitude": 0.0,
        }.get(cell.form, 300.0) * float(rng.uniform(0.8, 1.2))
        facts = {"deceived", "vulnerability", "wages_withheld", "bad_conditions"}
        if rng.random() < s.share_victims_documents_retained:
            facts.add("documents_retained")
        if rng.random() < 0.6:
            facts.add("debt")
        for fact, p in (
            ("isolated", 0.4),
            ("violence", 0.25),
            ("threats", 0.6),
            ("excessive_hours", 0.7 if cell.form != "sexual_exploitation" else 0.5),
            ("movement_restricted", 0.4),
            ("threat_authorities", 0.3),
            ("psychological", 0.3),
        ):
            if rng.random() < p:
                facts.add(fact)
        if origin in ("UA", "MD", "NG", "VN") and cell.country not in ("RO", "BG"):
            facts.add("illegal_status")
        paid = "none"
        if cell.form == "forced_labour":
            paid = (
                "victim_account"
                if rng.random() < s.share_wages_to_controlled_account
                else "controller_account"
            )
        elif cell.form in CASH_FORMS:
            paid = "cash"
        victim = Victim(
            person=v,
            network=cell.network,
            contract=con,
            form=cell.form,
            sector=cell.sector,
            recruited=recruited,
            travel=travel,
            arrival=arrival,
            exit=exit_day,
            exit_reason=reason,
            house=int(self.pick(cell.houses)),
            controller=cell.leader,
            paid_into=paid,
            registered=cell.form == "forced_labour" and rng.random() < s.share_victims_registered,
            debt_eur=float(rng.uniform(800, 4000)) if "debt" in facts else 0.0,
            facts=facts,
            weekly_eur=weekly,
            declared_monthly_eur=1850.0 * level,
        )
        if con.documents is not None and "illegal_status" in facts and rng.random() < 0.7:
            victim.forged_document = (
                f"{'RO' if origin in ('MD', 'UA') else 'BG'}{int(rng.integers(10**6, 10**7))}"
            )
        self.w.p_address[v] = victim.house  # where they will live; their home is in the truth
        self.victims.append(victim)

    # -- running the world day by day ----------------------------------------------------------------
    def run(self) -> None:
        for v in self.victims:
            self._recruit(v)
        by_arrival = sorted(self.victims, key=lambda v: v.arrival)
        for d in range(self.days):
            active = [v for v in by_arrival if v.arrival <= d < v.exit]
            weekday = (self.w.start + timedelta(days=d)).weekday()
            self._cell_life(d)
            if weekday == 4:  # Friday: pay day on farms and building sites
                for v in active:
                    if v.form == "forced_labour":
                        self._pay_labour(d, v)
            for v in active:
                if v.form in CASH_FORMS and weekday != 6:
                    self._street_earnings(d, v)
                if weekday == 0 and self.rng.random() < 0.5:
                    self.call(d, v.controller, v.person, "control")
            if weekday == 1:
                self._cash_to_mules(d)
            if weekday in (2, 4):
                self._layering(d)
            if (self.w.start + timedelta(days=d)).day == 1:
                self._monthly(d, active)
            for v in active:
                if v.exit == d + 1:
                    self._exit(d, v)
        self._integration(self.days - 1, final=True)

    def _recruit(self, v: Victim) -> None:
        con, rng = v.contract, self.rng
        recruiter = int(self.pick(con.recruitment.members))
        d0 = max(0, v.recruited - 10)
        self._job_ad(d0, con, recruiter)
        for k in range(int(rng.integers(2, 6))):
            self.call(min(v.recruited + k * 2, v.travel), recruiter, v.person, "recruitment")
        self.call(v.recruited, v.person, recruiter, "recruitment")
        transporter = int(self.pick(con.transport.members))
        self.call(v.travel - 1, transporter, v.person, "transport", sms=True)
        vehicle = str(self.pick(con.transport.vehicles))
        dest, origin = con.exploitation.country, con.recruitment.country
        transit = self.pick(list(self.s.transits)) if self.s.transits else origin
        doc = v.forged_document or self.w.p_passport[v.person]
        doc_country = doc[:2] if v.forged_document else origin
        t = self.ts(v.arrival, 4, 9)
        self.obs.crossings.append(
            (
                t,
                v.person,
                "entry",
                dest,
                str(transit),
                dest,
                "coach",
                vehicle,
                doc,
                doc_country,
                "victim_transport",
            )
        )
        self.obs.crossings.append(
            (
                t + int(rng.integers(0, 600)),
                transporter,
                "entry",
                dest,
                str(transit),
                dest,
                "coach",
                vehicle,
                self.w.p_passport[transporter],
                origin,
                "transporter",
            )
        )
        self.w.p_residence[v.person] = dest
        if v.paid_into == "victim_account":
            bank_pick = self.w.bank_by_country[dest]
            bank = int(self.pick(bank_pick))
            v.account = self.w.add_account(
                bank,
                "person",
                v.person,
                self.iso(v.arrival + 3),
                "controlled",
                rng,
                controlled_by=v.controller,
            )
            self.w.p_account[v.person] = v.account
        if v.registered:
            self.obs.employment.append({"victim": v, "day": v.arrival + int(rng.integers(2, 20))})

    def _job_ad(self, day: int, con: Contract, recruiter: int) -> None:
        rng = self.rng
        lang = AD_LANG.get(con.recruitment.country, "en")
        template = str(self.pick(list(JOB_ADS[lang])))
        dest = con.exploitation.country
        cur = {"GB": "GBP"}.get(dest, "EUR")
        wage = int(round(2200 * WAGE_LEVEL[dest] * float(rng.uniform(0.9, 1.3)), -2))
        body = template.format(
            n=int(rng.integers(5, 40)),
            job=JOB_WORDS.get(con.exploitation.sector, "munca"),
            country=COUNTRY_WORDS.get(dest, dest),
            wage=wage,
            cur=cur,
            phone=self.w.p_phone[recruiter],
        )
        self.obs.ads.append(
            {
                "day": day,
                "site": "joburi-anunturi.example" if lang == "ro" else "rabota-abroad.example",
                "category": "job",
                "title": body.split(".")[0][:70],
                "body": body,
                "phone": self.w.p_phone[recruiter],
                "email": "",
                "location": con.recruitment.country,
                "country": con.recruitment.country,
                "price": "",
                "images": "",
                "poster": recruiter,
                "label": f"deceptive_job_ad:{con.id}",
            }
        )

    def _pay_labour(self, d: int, v: Victim) -> None:
        front = v.contract.exploitation.front
        front_acc = self.w.c_account[front]
        eur = round(v.weekly_eur * float(self.rng.uniform(0.85, 1.1)), 2)
        name = f"{self.w.p_given[v.person]} {self.w.p_family[v.person]}"
        if v.paid_into == "victim_account":
            dst = f"acc:{v.account}"
            t = self.ts(d)
            f = self.ledger.earn(t, v.person, dst, eur, "earnings", True)
            self.tx(
                d, front_acc, v.account, eur, "salary", f"WAGES WK{d // 7 + 1}", "wage", f, ts=t
            )
            v.earned += eur
            keep = round(eur * self.s.victim_allowance, 2)
            if self.rng.random() < 0.3:  # the controller takes the card to a cash machine
                cash = self.w.cash_account[self.w.acc_bank[v.account]]
                self.move(
                    d + 1,
                    dst,
                    f"cash:{v.controller}",
                    eur - keep,
                    "sweep",
                    observed=(v.account, cash, "cash_withdrawal", "ATM", "sweep_atm"),
                )
            else:
                self.move(
                    d + 1,
                    dst,
                    f"acc:{self.acc(v.controller)}",
                    eur - keep,
                    "sweep",
                    observed=(
                        v.account,
                        self.acc(v.controller),
                        "transfer",
                        str(self.pick(["rent", "loan", "chirie", "datorie", "transport"])),
                        "sweep",
                    ),
                )
            self._allowance(self.ts(d + 1), v, dst, keep)
        else:  # pooled: the payroll names the worker, the money goes to the gangmaster
            dst = f"acc:{self.acc(v.controller)}"
            t = self.ts(d)
            f = self.ledger.earn(t, v.person, dst, eur, "earnings", True)
            self.tx(
                d,
                front_acc,
                self.acc(v.controller),
                eur,
                "salary",
                f"WAGES {name.upper()}",
                "pooled_wage",
                f,
                ts=t,
            )
            v.earned += eur
            keep = round(eur * self.s.victim_allowance, 2)
            ctrl = self.acc(v.controller)
            cash = self.w.cash_account[self.w.acc_bank[ctrl]]
            f = self.ledger.move_own(
                self.ts(d),
                dst,
                f"cash:{v.controller}",
                v.person,
                keep,
                "allowance_withdrawal",
                True,
            )
            self.tx(
                d,
                ctrl,
                cash,
                keep,
                "cash_withdrawal",
                "ATM",
                "allowance_withdrawal",
                f,
                ts=self.ledger.flows[f].ts,
            )
            self._allowance(self.ts(d + 1), v, f"cash:{v.controller}", keep)

    def _allowance(self, ts: int, v: Victim, src: str, keep: float) -> None:
        """What the victim is left of their own earnings (out of their money only)."""
        self.ledger.move_own(ts, src, f"kept:{v.person}", v.person, keep, "kept", False)
        v.kept += keep

    def _street_earnings(self, d: int, v: Victim) -> None:
        rng = self.rng
        daily = v.weekly_eur / 6 * float(rng.uniform(0.5, 1.5))
        if daily <= 0:
            return
        t = self.ts(d, 12, 23)
        card = 0.0
        cell = v.contract.exploitation
        if v.form == "sexual_exploitation" and rng.random() < 0.35:
            card = round(float(rng.uniform(60, 160)) * WAGE_LEVEL[cell.country], 2)
            client = self.local(cell.country)
            if self.w.p_account[client] >= 0:
                f = self.ledger.earn(
                    t, v.person, f"acc:{self.w.c_account[cell.front]}", card, "earnings", True
                )
                self.tx(
                    d,
                    self.w.p_account[client],
                    self.w.c_account[cell.front],
                    card,
                    "card",
                    "POS " + self.w.c_name[cell.front][:20].upper(),
                    "client_card",
                    f,
                    ts=t,
                )
                v.earned += card
            else:
                card = 0.0
        if v.form == "sexual_exploitation":
            for _ in range(int(rng.integers(1, 4))):  # clients call the number in the ads
                self.call(d, self.local(cell.country), cell.work_phone, "client")
        cash = round(daily - card, 2)
        if cash > 0:
            self.ledger.earn(t, v.person, f"cash:{v.controller}", cash, "earnings", False)
            v.earned += cash
            keep = round(cash * self.s.victim_allowance * 0.5, 2)
            if keep > 0:
                self._allowance(t + 60, v, f"cash:{v.controller}", keep)

    def _cash_to_mules(self, d: int) -> None:
        """Placement: cash in hand goes to mules, who deposit it below the reporting threshold."""
        rng, s = self.rng, self.s
        for cell in self.cells:
            if cell.function != "exploitation":
                continue
            node = f"cash:{cell.leader}"
            held = self.ledger.balance.get(node, 0.0)
            if held < 800:
                continue
            con = self._contract_on(cell, d)
            money = con.money if con else None
            if money is None or not money.mules:
                continue
            left = held * float(rng.uniform(0.7, 0.95))
            while left > 200:
                mule = int(self.pick(money.mules))
                acc = self.acc(mule)
                cur = self.w.banks[self.w.acc_bank[acc]].currency
                cap = s.reporting_threshold / RATE[cur]  # the threshold is in local units
                chunk = min(left, cap * float(rng.uniform(0.55, 0.97)))
                chunk = round(chunk, -1) if rng.random() < 0.5 else round(chunk, 2)
                if chunk <= 0:
                    break
                day = d + int(rng.integers(0, 3))
                if rng.random() < 0.3:  # mixed into the front's takings (a cash business)
                    front = self.w.c_account[cell.front]
                    chunk = round(min(chunk, cap * float(rng.uniform(0.08, 0.3))), 2)
                    self._cash_deposit(day, node, front, chunk, "takings", "front_takings")
                    left -= chunk
                    continue
                self.ledger.move(self.ts(day), node, f"cash:{mule}", chunk, "handover", False)
                self._cash_deposit(day, f"cash:{mule}", acc, chunk, "cash deposit", "structuring")
                left -= chunk
            self.call(d, cell.leader, money.leader, "money")

    def _cash_deposit(
        self, day: int, src: str, acc: int, amount: float, reference: str, label: str
    ) -> None:
        """Cash paid in over the counter of ``acc``'s bank (placement)."""
        cash = self.w.cash_account[self.w.acc_bank[acc]]
        self.move(day, src, f"acc:{acc}", amount, "placement",
                  observed=(cash, acc, "cash_deposit", reference, label))  # fmt: skip

    def _contract_on(self, cell: Cell, d: int) -> Contract | None:
        for con in self.contracts:
            if con.exploitation is cell and con.start <= d < con.end:
                return con
        mine = [c for c in self.contracts if c.exploitation is cell]
        return mine[-1] if mine else None

    def _layering(self, d: int) -> None:
        """Controllers' accounts and the fronts pay the mules; the mules pass the money on fast,
        to the remittance front or straight home."""
        rng = self.rng
        for cell in self.cells:
            if cell.function != "exploitation":
                continue
            con = self._contract_on(cell, d)
            if con is None or not con.money.mules:
                continue
            for node, payer in (
                (f"acc:{self.acc(cell.leader)}", self.acc(cell.leader)),
                (f"acc:{self.w.c_account[cell.front]}", self.w.c_account[cell.front]),
            ):
                held = self.ledger.balance.get(node, 0.0)
                if held < 1000:
                    continue
                amount = held * float(rng.uniform(0.6, 0.9))
                if rng.random() < 0.4:
                    amount = max(500.0, round(amount, -2))  # round amounts
                mule = int(self.pick(con.money.mules))
                ref = str(
                    self.pick(["loan", "car", "invoice 2231", "services", "gift", "împrumut"])
                )
                self.move(
                    d,
                    node,
                    f"acc:{self.acc(mule)}",
                    amount,
                    "layering",
                    observed=(payer, self.acc(mule), "transfer", ref, "to_mule"),
                )
        for cell in self.cells:
            if cell.function != "money":
                continue
            for mule in cell.mules:
                node = f"acc:{self.acc(mule)}"
                held = self.ledger.balance.get(node, 0.0)
                if held < 300:
                    continue
                day = d + int(rng.integers(0, 3))  # rapid pass-through: out within days
                out = held * float(rng.uniform(0.95, 0.99))
                self.move(day, node, f"fee:{mule}", held - out, "mule_fee")
                boss = self.bosses[cell.network]
                if rng.random() < 0.6:
                    remit = self.w.c_account[cell.remitter]
                    self.move(
                        day,
                        node,
                        f"acc:{remit}",
                        out,
                        "layering",
                        observed=(
                            self.acc(mule),
                            remit,
                            "transfer",
                            "family support",
                            "to_remitter",
                        ),
                    )
                    self._remit_home(
                        day + int(rng.integers(0, 2)), cell, f"acc:{remit}", remit, boss
                    )
                else:
                    home = self._home_account(boss)
                    self.move(
                        day,
                        node,
                        f"acc:{home}",
                        out,
                        "remittance",
                        observed=(
                            self.acc(mule),
                            home,
                            "remittance",
                            "family support",
                            "mule_remittance",
                        ),
                    )

    def _home_account(self, boss: int) -> int:
        rel = self.relatives[boss]
        person = rel[int(self.rng.integers(0, len(rel)))] if self.rng.random() < 0.6 else boss
        origin = self.w.p_country[boss]
        found = self.w.person_accounts.get((person, origin))
        return found if found is not None else self.w.open_account(person, self.rng, country=origin)

    def _remit_home(self, d: int, cell: Cell, node: str, remit: int, boss: int) -> None:
        held = self.ledger.balance.get(node, 0.0)
        if held < 500:
            return
        # the remittance front splits the sum over several transfers to several home accounts
        parts = int(self.rng.integers(1, 4))
        for _ in range(parts):
            home = self._home_account(boss)
            amount = round(held / parts, 2)
            self.move(
                d,
                node,
                f"acc:{home}",
                amount,
                "remittance",
                observed=(
                    remit,
                    home,
                    "remittance",
                    "MT " + str(int(self.rng.integers(10**9, 10**10))),
                    "remittance_home",
                ),
            )

    def _cell_life(self, d: int) -> None:
        rng = self.rng
        if d % 3 == 0:
            for cell in self.cells:
                for m in cell.members[1:]:
                    if rng.random() < 0.5:
                        self.call(d, cell.leader, m, "cell")
        if d % 7 == 0:
            for n, boss in enumerate(self.bosses):
                for cell in self.cells:
                    if cell.network == n and rng.random() < 0.6:
                        self.call(d, boss, cell.leader, "boss")
                for r in self.relatives[boss]:
                    if rng.random() < 0.3:
                        self.call(d, boss, r, "family")
            for con in self.contracts:
                if con.start <= d < con.end:  # partners talk while the deal lasts
                    e = con.exploitation.leader
                    for other in (con.recruitment.leader, con.transport.leader, con.money.leader):
                        if rng.random() < 0.7:
                            self.call(d, e, other, "partner")
        if d % 4 == 0:  # escort ads are re-posted every few days
            for cell in self.cells:
                if cell.form == "sexual_exploitation":
                    self._escort_ads(d, cell)

    def _escort_ads(self, d: int, cell: Cell) -> None:
        working = [
            v for v in self.victims if v.contract.exploitation is cell and v.arrival <= d < v.exit
        ]
        if not working:
            return
        from faker import Faker

        cities = sorted({self.w.a_city[h] for h in cell.houses})
        for v in working:
            rng = self.rng
            if not self.w.p_alias[v.person]:
                fake = Faker("en_GB")
                fake.seed_instance(v.person)
                self.w.p_alias[v.person] = fake.first_name_female()
            city = cities[(d // 30 + v.person) % len(cities)]  # rotated between cities monthly
            age = int((self.w.start - date.fromisoformat(self.w.p_birth[v.person])).days // 365)
            body = str(self.pick(list(ESCORT_ADS))).format(
                alias=self.w.p_alias[v.person], age=max(18, age), city=city, phone=cell.work_phone
            )
            self.obs.ads.append(
                {
                    "day": d,
                    "site": str(
                        self.pick(["adultwork.example", "vivastreet.example", "escortes.example"])
                    ),
                    "category": "escort",
                    "title": f"{self.w.p_alias[v.person]} new in {city}",
                    "body": body,
                    "phone": cell.work_phone,
                    "email": "",
                    "location": city,
                    "country": cell.country,
                    "price": f"{int(rng.integers(8, 20)) * 10}/h",
                    "images": f"img{v.person:07x};img{cell.leader:07x}",
                    "poster": cell.leader,
                    "label": f"escort_ad:{cell.id}:{self.w.p_id[v.person]}",
                }
            )
            # the ad costs money: small repeated payments to the site (FINTRAC/FinCEN red flag)
            site = self._site_company(cell.country)
            self.move(
                d,
                f"acc:{self.acc(cell.leader)}",
                "cost:ads",
                round(float(rng.uniform(8, 35)), 2),
                "cost",
                observed=(
                    self.acc(cell.leader),
                    self.w.c_account[site],
                    "card",
                    "ONLINE ADS",
                    "ad_payment",
                ),
            )

    def _site_company(self, country: str) -> int:
        key = f"adsite:{country}"
        if key not in self._sites:
            owner = self.local(country)
            addr = self.w.p_address[owner]
            self._sites[key] = self.w.add_company(
                country,
                "online_advertising",
                f"Classifieds {country} Ltd",
                self.rng,
                director=owner,
                address=addr,
                owner_person=owner,
            )
        return int(self._sites[key])

    def _monthly(self, d: int, active: list[Victim]) -> None:
        rng = self.rng
        for cell in self.cells:
            if cell.function != "exploitation":
                continue
            n_here = sum(1 for v in active if v.contract.exploitation is cell)
            if not n_here:
                continue
            # one payer, rent for several houses (FinCEN red flag F6)
            for h in cell.houses:
                landlord = self.local(cell.country)
                if self.w.p_account[landlord] < 0:
                    continue
                rent = round(900 * WAGE_LEVEL[cell.country] * float(rng.uniform(0.8, 1.4)), 0)
                self.move(
                    d + 1,
                    f"acc:{self.acc(cell.leader)}",
                    "cost:rent",
                    rent,
                    "cost",
                    observed=(
                        self.acc(cell.leader),
                        self.w.p_account[landlord],
                        "transfer",
                        f"rent {self.w.a_street[h][:30]}",
                        "rent",
                    ),
                )
            # fees to the partners of the month's contract
            con = self._contract_on(cell, d)
            if con is not None:
                recruited = sum(
                    1 for v in self.victims if v.contract is con and d - 31 <= v.recruited < d
                )
                if recruited:
                    fee = 450.0 * recruited
                    rec = con.recruitment.leader
                    self.move(
                        d + 2,
                        f"acc:{self.acc(cell.leader)}",
                        f"acc:{self._home_acc_of(rec)}",
                        fee,
                        "fee",
                        observed=(
                            self.acc(cell.leader),
                            self._home_acc_of(rec),
                            "remittance",
                            "commission",
                            "recruiter_fee",
                        ),
                    )
                    trn = con.transport.leader
                    self.move(
                        d + 2,
                        f"acc:{self.acc(cell.leader)}",
                        f"acc:{self._home_acc_of(trn)}",
                        180.0 * recruited,
                        "fee",
                        observed=(
                            self.acc(cell.leader),
                            self._home_acc_of(trn),
                            "transfer",
                            "transport",
                            "transport_fee",
                        ),
                    )
                    if con.documents is not None:
                        forged = sum(
                            1
                            for v in self.victims
                            if v.contract is con and v.forged_document and d - 31 <= v.recruited < d
                        )
                        if forged:
                            forger = con.documents.leader
                            self.move(
                                d + 3,
                                f"acc:{self._home_acc_of(rec)}",
                                f"cash:{forger}",
                                350.0 * forged,
                                "fee",
                                observed=(
                                    self._home_acc_of(rec),
                                    self.w.cash_account[self.w.acc_bank[self._home_acc_of(rec)]],
                                    "cash_withdrawal",
                                    "ATM",
                                    "forger_fee",
                                ),
                            )
        for n, off in self.officials.items():
            if (self.w.start + timedelta(days=d)).month % 3 == 0:
                boss = self.bosses[n]
                home = self._home_account(boss)
                cash = self.w.cash_account[self.w.acc_bank[home]]
                self.move(
                    d,
                    f"acc:{home}",
                    f"cash:{boss}",
                    1500.0,
                    "bribe_cash",
                    observed=(home, cash, "cash_withdrawal", "ATM", "bribe_withdrawal"),
                )
                self.ledger.move(
                    self.ts(d + 1), f"cash:{boss}", f"cash:{off}", 1500.0, "bribe", False
                )
                self.call(d, boss, off, "official")
        self._integration(d)

    def _home_acc_of(self, person: int) -> int:
        origin = self.w.p_country[person]
        for acc in (self.w.p_account[person],):
            if self.w.banks[self.w.acc_bank[acc]].country == origin:
                return acc
        return self.w.p_account[person]

    def _integration(self, d: int, final: bool = False) -> None:
        """Money at home buys flats, land and companies, registered to relatives or the holding."""
        rng = self.rng
        for n, boss in enumerate(self.bosses):
            origin = self.w.p_country[boss]
            nodes = [
                self.w.person_accounts[(p, origin)]
                for p in (boss, *self.relatives[boss])
                if (p, origin) in self.w.person_accounts
            ]
            for acc in nodes:
                held = self.ledger.balance.get(f"acc:{acc}", 0.0)
                victims_part = sum(
                    v for t, v in self.ledger.shares[f"acc:{acc}"].items() if t != OWN
                )
                price = float(rng.uniform(25_000, 70_000)) * max(0.3, WAGE_LEVEL[origin] * 2)
                if held < price and not (final and victims_part > 20_000):
                    continue
                price = min(price, held)
                buy_company = rng.random() < 0.25
                seller = self.local(origin)
                if self.w.p_account[seller] < 0:
                    continue
                asset_id = f"AS{len(self.assets) + 1:04d}"
                title = f"{origin}-{int(rng.integers(10**5, 10**6))}"
                nominee = int(self.pick(self.relatives[boss])) if rng.random() < 0.7 else boss
                self.move(
                    d,
                    f"acc:{acc}",
                    f"asset:{asset_id}",
                    round(price, 2),
                    "integration",
                    observed=(
                        acc,
                        self.w.p_account[seller],
                        "transfer",
                        "contract vanzare-cumparare"
                        if not buy_company
                        else "cesiune parti sociale",
                        "asset_purchase",
                    ),
                )
                holder_acc_person = self.w.acc_holder[acc]
                asset = {
                    "asset_id": asset_id,
                    "kind": "company_shares" if buy_company else "real_estate",
                    "country": origin,
                    "day": d,
                    "price_eur": round(price, 2),
                    "network": n,
                    "beneficial_owner": boss,
                    "registered_owner": nominee,
                    "paid_from_account": acc,
                    "paid_by": holder_acc_person,
                    "seller": seller,
                    "title": title,
                }
                if buy_company:
                    company = self.w.add_company(
                        origin,
                        "hospitality",
                        self._holding_name(origin),
                        rng,
                        director=seller,
                        address=self.w.p_address[seller],
                        owner_person=seller,
                    )
                    asset["company"] = company
                    self.obs.ownership_changes.append(
                        {
                            "company": company,
                            "owner_company": self.home_company[n],
                            "day": d,
                            "share": 100.0,
                        }
                    )
                else:
                    self.obs.land.append(
                        {"asset": asset, "owner": nominee, "day": d + int(rng.integers(5, 40))}
                    )
                self.assets.append(asset)

    def _exit(self, d: int, v: Victim) -> None:
        """Identified victims leave a trace in a hotline report, an inspection or police notes."""
        if v.exit_reason != "identified":
            return
        agency = str(self.pick(["hotline", "inspection", "police"]))
        if v.form != "forced_labour" and agency == "inspection":
            agency = "police"
        self.obs.notes.append(
            {"day": d, "kind": agency, "victim": v, "cell": v.contract.exploitation}
        )

    # -- summary figures --------------------------------------------------------------------------
    def taken(self, victim: int) -> float:
        """What the network holds of ``victim``'s earnings at the end, wherever it is."""
        return sum(
            sh.get(victim, 0.0)
            for node, sh in self.ledger.shares.items()
            if not node.startswith("kept:")
        )
