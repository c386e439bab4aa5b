"""The legitimate world around the crime, many times larger: people who are paid, pay rent and bills,
shop by card, send money to friends and to family abroad, phone each other and travel; companies
that pay suppliers and bank their cash takings. Generated a month at a time with numpy (no Python
loop per event), so ten million transactions stream to disk in bounded memory.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from palermo.simulate.scenarios import Scenario, Size
from palermo.simulate.world import WAGE_LEVEL, World

PAYMENT_TYPES = (
    "salary",
    "transfer",
    "card",
    "direct_debit",
    "remittance",
    "cash_deposit",
    "cash_withdrawal",
    "invoice",
)
PT = {name: i for i, name in enumerate(PAYMENT_TYPES)}

SECTORS = (  # (sector, share of companies, pays wages, takes cards, cash-intensive)
    ("retail", 0.30, True, True, True),
    ("restaurant", 0.15, True, True, True),
    ("construction", 0.10, True, False, False),
    ("agriculture", 0.07, True, False, False),
    ("logistics", 0.08, True, False, False),
    ("services", 0.15, True, True, False),
    ("real_estate", 0.08, False, False, False),
    ("utilities", 0.02, True, False, False),
    ("health", 0.05, True, True, False),
)
TRANSFER_WORDS = ("", "thanks", "dinner", "birthday", "loan", "share of bills", "for mum", "gift")


@dataclass
class MonthBatch:
    payer: np.ndarray  # account indices
    payee: np.ndarray
    ts: np.ndarray  # int64 seconds UTC
    eur: np.ndarray  # float64
    ptype: np.ndarray  # int8 codes into PAYMENT_TYPES
    ref: np.ndarray  # int32 codes into Background.refs


class Background:
    def __init__(self, world: World, scenario: Scenario, size: Size, rng: np.random.Generator):
        self.w, self.s, self.size, self.rng = world, scenario, size, rng
        self.refs: list[str] = []
        self._ref_code: dict[str, int] = {}
        self.by_country: dict[str, list[int]] = {}  # country -> background persons living there
        self.companies_by_country: dict[str, list[int]] = {}

    def ref(self, text: str) -> int:
        code = self._ref_code.get(text)
        if code is None:
            code = self._ref_code[text] = len(self.refs)
            self.refs.append(text)
        return code

    # -- population ---------------------------------------------------------------------------
    def populate(self) -> None:
        s, rng, w = self.s, self.rng, self.w
        share: dict[str, float] = {}  # a country can be both transit and destination
        for group, total in ((s.destinations, 0.6), (s.origins, 0.35), (s.transits, 0.05)):
            for c in group:
                share[c] = share.get(c, 0.0) + total / len(group)
        countries = list(share)
        weights = np.array([share[c] for c in countries])
        counts = rng.multinomial(self.size.persons, weights / weights.sum())
        w.add_banks(countries, rng)
        for i, (country, n) in enumerate(zip(countries, counts, strict=True)):
            n = max(int(n), 40)
            addresses = w.add_addresses(
                country, max(20, n // 2), seed=int(rng.integers(0, 2**31)) + i
            )
            people = w.add_persons(n, country, country, "background", rng, addresses=addresses)
            if country in s.destinations:  # migrants: born in an origin country, living here
                k = int(n * s.share_migrants)
                for j, origin in enumerate(s.origins):
                    m = k // len(s.origins) + (1 if j < k % len(s.origins) else 0)
                    people += w.add_persons(
                        m, origin, country, "background", rng, addresses=addresses
                    )
            self.by_country[country] = people
        total_people = sum(len(v) for v in self.by_country.values())
        for country, people in self.by_country.items():
            n_comp = max(8, int(self.size.companies * len(people) / total_people))
            comp = []
            shares = np.array([x[1] for x in SECTORS])
            sectors = rng.choice(len(SECTORS), size=n_comp, p=shares / shares.sum())
            sectors[0] = [x[0] for x in SECTORS].index("utilities")
            from faker import Faker

            from palermo.simulate.names import LOCALES

            fake = Faker(LOCALES.get(country, "en_GB"))
            fake.seed_instance(int(rng.integers(0, 2**31)))
            for k in range(n_comp):
                director = people[int(rng.integers(0, len(people)))]
                comp.append(
                    w.add_company(
                        country,
                        SECTORS[int(sectors[k])][0],
                        fake.company(),
                        rng,
                        director=director,
                        address=w.p_address[director],
                        owner_person=director,
                    )
                )
            self.companies_by_country[country] = comp
            for p in people:
                w.open_account(p, rng)
        self._arrays()

    def _arrays(self) -> None:
        """Per-person arrays for vectorised months: account, country, employer, rent, contacts."""
        w, rng, s = self.w, self.rng, self.s
        people = np.array([p for ps in self.by_country.values() for p in ps], dtype=np.int64)
        self.people = people
        self.p_acc = np.array([w.p_account[p] for p in people], dtype=np.int64)
        countries = sorted(self.by_country)
        self.countries = countries
        cidx = {c: i for i, c in enumerate(countries)}
        self.p_cidx = np.array([cidx[w.p_residence[p]] for p in people], dtype=np.int64)
        self.level = np.array([WAGE_LEVEL[c] for c in countries])
        n = len(people)
        # employment: 80% employed by a company of their country that pays wages
        self.employer = np.full(n, -1, dtype=np.int64)
        self.wage = rng.lognormal(np.log(1900.0), 0.3, n) * self.level[self.p_cidx]
        payers = {
            c: [
                k
                for k in self.companies_by_country[c]
                if dict((x[0], x[2]) for x in SECTORS)[w.c_sector[k]]
            ]
            for c in countries
        }
        self.merchants: dict[int, np.ndarray] = {}
        self.cash_businesses: list[int] = []
        utilities: dict[int, int] = {}
        for c in countries:
            ci = cidx[c]
            comp = self.companies_by_country[c]
            self.merchants[ci] = np.array(
                [w.c_account[k] for k in comp if dict((x[0], x[3]) for x in SECTORS)[w.c_sector[k]]]
                or [w.c_account[comp[0]]],
                dtype=np.int64,
            )
            self.cash_businesses += [
                k for k in comp if dict((x[0], x[4]) for x in SECTORS)[w.c_sector[k]]
            ]
            utilities[ci] = w.c_account[comp[0]]
            mask = np.flatnonzero(self.p_cidx == ci)
            employed = mask[rng.random(len(mask)) < 0.8]
            pay = np.array(payers[c] or comp, dtype=np.int64)
            self.employer[employed] = pay[rng.integers(0, len(pay), len(employed))]
        for i in np.flatnonzero(self.employer >= 0):
            w.p_employer[int(people[i])] = int(self.employer[i])
        self.employer_acc = np.where(
            self.employer >= 0, np.array(w.c_account)[np.maximum(self.employer, 0)], -1
        )
        # housing: 55% rent from another person of the same country
        self.landlord_acc = np.full(n, -1, dtype=np.int64)
        self.rent = rng.lognormal(np.log(750.0), 0.3, n) * self.level[self.p_cidx]
        for ci in range(len(countries)):
            mask = np.flatnonzero(self.p_cidx == ci)
            renters = mask[rng.random(len(mask)) < 0.55]
            owners = mask[rng.random(len(mask)) < 0.1]
            if len(owners):
                self.landlord_acc[renters] = self.p_acc[
                    owners[rng.integers(0, len(owners), len(renters))]
                ]
        self.utility_acc = np.array([utilities[ci] for ci in self.p_cidx], dtype=np.int64)
        # contacts: 6 people of the same country; migrants also phone and pay family at home
        self.contacts = np.zeros((n, 6), dtype=np.int64)
        for ci in range(len(countries)):
            mask = np.flatnonzero(self.p_cidx == ci)
            self.contacts[mask] = mask[rng.integers(0, len(mask), (len(mask), 6))]
        nationality = np.array([w.p_country[p] for p in people])
        residence = np.array([w.p_residence[p] for p in people])
        self.migrant = np.flatnonzero(nationality != residence)
        self.family_acc = np.full(n, -1, dtype=np.int64)
        for i in self.migrant:
            home = self.by_country.get(str(nationality[i]))
            if home:
                rel = home[int(rng.integers(0, len(home)))]
                self.family_acc[i] = w.p_account[rel]
        # card payments make up the rest of the target volume (the expected count of every other
        # kind of payment is known from the arrays above)
        ncomp = len(w.c_id)
        per_country = np.unique(np.array(w.c_country), return_counts=True)[1]
        fixed = (
            (self.employer_acc >= 0).sum()
            + (self.landlord_acc >= 0).sum()
            + 0.9 * n
            + s.transfers_per_month * n
            + 0.8 * n
            + 0.8 * (self.family_acc >= 0).sum()
            + 4 * len(self.cash_businesses)
            + 2 * ncomp * float(((per_country / ncomp) ** 2).sum())
        )
        self.card_rate = max(0.5, (self.size.transactions / s.months - fixed) / n)
        self.salary_ref = {m: self.ref(f"SALARY {m:02d}") for m in range(1, 13)}
        self.rent_ref = self.ref("RENT")
        self.util_ref = self.ref("DIRECT DEBIT ENERGY")
        self.cash_ref = self.ref("cash deposit")
        self.atm_ref = self.ref("ATM")
        self.remit_ref = self.ref("family support")
        self.transfer_refs = np.array([self.ref(t) for t in TRANSFER_WORDS], dtype=np.int64)
        self.invoice_ref = self.ref("invoice")
        self.merchant_ref = {
            acc: self.ref("POS " + w.c_name[w.acc_holder[int(acc)]][:24].upper())
            for arr in self.merchants.values()
            for acc in arr
        }

    # -- a month of payments --------------------------------------------------------------------
    def month(self, year: int, month: int, rng: np.random.Generator) -> MonthBatch:
        days = calendar.monthrange(year, month)[1]
        t0 = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
        n = len(self.people)
        parts: list[tuple[np.ndarray, ...]] = []

        def add(
            payer: np.ndarray,
            payee: np.ndarray,
            day_lo: int,
            day_hi: int,
            eur: np.ndarray,
            ptype: str,
            ref: np.ndarray | int,
        ) -> None:
            k = len(payer)
            if not k:
                return
            day = rng.integers(day_lo, min(day_hi, days), k)
            ts = t0 + day * 86400 + rng.integers(6 * 3600, 22 * 3600, k)
            refs = np.broadcast_to(np.asarray(ref, dtype=np.int64), (k,))
            parts.append((payer, payee, ts, np.round(eur, 2), np.full(k, PT[ptype], np.int8), refs))

        emp = np.flatnonzero(self.employer_acc >= 0)
        add(
            self.employer_acc[emp],
            self.p_acc[emp],
            24,
            28,
            self.wage[emp] * rng.uniform(0.98, 1.03, len(emp)),
            "salary",
            self.salary_ref[month],
        )
        ren = np.flatnonzero(self.landlord_acc >= 0)
        add(
            self.p_acc[ren], self.landlord_acc[ren], 0, 4, self.rent[ren], "transfer", self.rent_ref
        )
        util = np.flatnonzero(rng.random(n) < 0.9)
        add(
            self.p_acc[util],
            self.utility_acc[util],
            2,
            10,
            rng.lognormal(np.log(70.0), 0.4, len(util)) * self.level[self.p_cidx[util]],
            "direct_debit",
            self.util_ref,
        )
        # card payments at merchants of the payer's country
        k = int(rng.poisson(self.card_rate * n))
        payer = rng.integers(0, n, k)
        payee = np.empty(k, dtype=np.int64)
        for ci, merchants in self.merchants.items():
            mask = self.p_cidx[payer] == ci
            payee[mask] = merchants[rng.integers(0, len(merchants), int(mask.sum()))]
        ref = self._merchant_refs(payee)
        add(
            self.p_acc[payer],
            payee,
            0,
            days,
            rng.lognormal(np.log(28.0), 0.8, k) * self.level[self.p_cidx[payer]],
            "card",
            ref,
        )
        # transfers to friends
        k = int(rng.poisson(self.s.transfers_per_month * n))
        payer = rng.integers(0, n, k)
        friend = self.contacts[payer, rng.integers(0, 6, k)]
        keep = friend != payer
        add(
            self.p_acc[payer[keep]],
            self.p_acc[friend[keep]],
            0,
            days,
            rng.lognormal(np.log(60.0), 1.0, int(keep.sum()))
            * self.level[self.p_cidx[payer[keep]]],
            "transfer",
            self.transfer_refs[rng.integers(0, len(self.transfer_refs), int(keep.sum()))],
        )
        # migrants send money home (the legitimate twin of the criminals' remittances)
        mig = self.migrant[self.family_acc[self.migrant] >= 0]
        mig = mig[rng.random(len(mig)) < 0.8]
        add(
            self.p_acc[mig],
            self.family_acc[mig],
            0,
            days,
            rng.lognormal(np.log(250.0), 0.5, len(mig)),
            "remittance",
            self.remit_ref,
        )
        cash_acc = np.array(
            [self.w.cash_account[b] for b in range(len(self.w.banks))], dtype=np.int64
        )
        bank_of = np.array(self.w.acc_bank, dtype=np.int64)
        # cash-intensive businesses bank their takings weekly; some deposits come near the threshold
        if self.cash_businesses:
            biz = np.repeat(np.array(self.cash_businesses, dtype=np.int64), 4)
            accs = np.array(self.w.c_account, dtype=np.int64)[biz]
            levels = np.array([WAGE_LEVEL[self.w.c_country[int(c)]] for c in biz])
            add(
                cash_acc[bank_of[accs]],
                accs,
                0,
                days,
                rng.lognormal(np.log(2500.0), 0.7, len(biz)) * levels,
                "cash_deposit",
                self.cash_ref,
            )
        # cash machines
        k = int(rng.poisson(0.8 * n))
        who = rng.integers(0, n, k)
        accs = self.p_acc[who]
        add(
            accs,
            cash_acc[bank_of[accs]],
            0,
            days,
            rng.choice([20.0, 50.0, 100.0, 200.0], k),
            "cash_withdrawal",
            self.atm_ref,
        )
        # companies pay suppliers
        comp_acc = np.array(self.w.c_account, dtype=np.int64)
        comp_country = np.array(self.w.c_country)
        ncomp = len(comp_acc)
        k = ncomp * 2
        a = rng.integers(0, ncomp, k)
        b = rng.integers(0, ncomp, k)
        same = (comp_country[a] == comp_country[b]) & (a != b)
        add(
            comp_acc[a[same]],
            comp_acc[b[same]],
            0,
            days,
            rng.lognormal(np.log(1800.0), 1.0, int(same.sum())),
            "invoice",
            self.invoice_ref,
        )
        cols = list(zip(*parts, strict=True))
        return MonthBatch(*(np.concatenate(c) for c in cols))

    def _merchant_refs(self, payee: np.ndarray) -> np.ndarray:
        keys = np.array(sorted(self.merchant_ref), dtype=np.int64)
        vals = np.array([self.merchant_ref[int(k)] for k in keys], dtype=np.int64)
        return vals[np.searchsorted(keys, payee)]

    # -- calls and crossings --------------------------------------------------------------------
    def calls(self, year: int, month: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        days = calendar.monthrange(year, month)[1]
        t0 = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
        n = len(self.people)
        k = int(rng.poisson(self.s.calls_per_month * n))
        caller = rng.integers(0, n, k)
        callee = self.contacts[caller, rng.integers(0, 6, k)]
        keep = caller != callee
        caller, callee = self.people[caller[keep]], self.people[callee[keep]]
        k = len(caller)
        ts = t0 + rng.integers(0, days * 86400, k)
        sms = rng.random(k) < 0.3
        duration = np.where(sms, 0, rng.gamma(1.5, 90.0, k).astype(np.int64) + 3)
        return caller, callee, ts, duration

    def crossings(self, year: int, month: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Trips abroad and back: (person, ts out, ts back, destination-border country index)."""
        days = calendar.monthrange(year, month)[1]
        t0 = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
        n = len(self.people)
        k = int(rng.poisson(self.s.crossings_per_year / 12 * n))
        who = rng.integers(0, n, k)
        out = t0 + rng.integers(0, days * 86400, k)
        back = out + rng.integers(2, 21, k) * 86400 + rng.integers(0, 86400, k)
        return self.people[who], out, back

    @staticmethod
    def month_starts(start: date, months: int) -> list[tuple[int, int]]:
        out = []
        y, m = start.year, start.month
        for _ in range(months):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
