"""The people, companies, bank accounts, phones and addresses of the simulated world (legitimate
and criminal alike), kept columnar. Identifiers are made valid for their country (IBAN check digits,
E.164 numbering plans) so that the sources ingest as real ones would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import phonenumbers

from palermo.simulate.names import LOCALES, draw_names, latin, strip_diacritics

#: Money: EUR per unit of local currency is 1 / rate; the wage level scales amounts by country.
CURRENCY: dict[str, str] = {
    "GB": "GBP",
    "DE": "EUR",
    "AT": "EUR",
    "IT": "EUR",
    "ES": "EUR",
    "NL": "EUR",
    "FR": "EUR",
    "RO": "RON",
    "MD": "MDL",
    "BG": "BGN",
    "UA": "UAH",
    "NG": "NGN",
    "VN": "VND",
    "HU": "HUF",
    "PL": "PLN",
}
RATE: dict[str, float] = {  # local units per EUR (fixed for the simulated period)
    "EUR": 1.0,
    "GBP": 0.85,
    "RON": 4.97,
    "MDL": 19.3,
    "BGN": 1.9558,
    "UAH": 44.0,
    "NGN": 1650.0,
    "VND": 27000.0,
    "HUF": 390.0,
    "PLN": 4.3,
}
WAGE_LEVEL: dict[str, float] = {
    "GB": 1.0,
    "DE": 1.0,
    "AT": 1.0,
    "NL": 1.05,
    "FR": 0.9,
    "IT": 0.8,
    "ES": 0.75,
    "PL": 0.45,
    "HU": 0.4,
    "RO": 0.35,
    "BG": 0.3,
    "MD": 0.2,
    "UA": 0.15,
    "NG": 0.08,
    "VN": 0.1,
}

#: Mobile numbering: (country calling code, national prefixes, digits after the prefix).
MOBILE: dict[str, tuple[str, tuple[str, ...], int]] = {
    "GB": ("44", ("74", "75", "77", "78", "79"), 8),
    "DE": ("49", ("151", "152", "157", "160", "170", "171", "176"), 8),
    "AT": ("43", ("664", "676", "699"), 7),
    "IT": ("39", ("320", "328", "333", "340", "347", "380"), 7),
    "ES": ("34", ("6",), 8),
    "NL": ("31", ("61", "62", "63", "64", "65"), 7),
    "FR": ("33", ("61", "62", "63", "64", "65", "66", "67", "68"), 7),
    "RO": ("40", ("72", "74", "75", "76"), 7),
    "MD": ("373", ("68", "69", "79"), 6),
    "BG": ("359", ("87", "88", "89"), 7),
    "UA": ("380", ("50", "66", "67", "68", "97"), 7),
    "NG": ("234", ("803", "806", "813", "816", "703"), 7),
    "VN": ("84", ("32", "33", "34", "35", "36"), 7),
    "HU": ("36", ("20", "30", "70"), 7),
    "PL": ("48", ("50", "51", "60", "66", "69"), 7),
}

#: Countries whose accounts are IBANs: (bank code length and kind, account digits).
IBAN_BBAN: dict[str, tuple[str, int]] = {
    "GB": ("AAAA666666", 8),
    "DE": ("88888888", 10),
    "AT": ("55555", 11),
    "IT": ("A5555555555", 12),
    "ES": ("88888888", 12),
    "NL": ("AAAA", 10),
    "FR": ("5555555555", 13),
    "RO": ("AAAA", 16),
    "MD": ("AA", 18),
    "BG": ("AAAA666622", 8),
    "UA": ("666666", 19),
    "HU": ("55555555", 16),
    "PL": ("88888888", 16),
}


def iban(country: str, bank_code: str, account: str) -> str:
    """A valid IBAN (ISO 13616 mod-97 check digits) from a bank code and an account number."""
    bban = bank_code + account
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@dataclass(frozen=True)
class Bank:
    code: str  # short id, also the file name stem
    name: str
    country: str
    bic: str
    bank_code: str  # the part of the BBAN that names the bank (IBAN countries)

    @property
    def currency(self) -> str:
        return CURRENCY[self.country]


def _bank_code(country: str, rng: np.random.Generator) -> str:
    pattern = IBAN_BBAN.get(country, ("", 0))[0]
    out = []
    for ch in pattern:
        if ch == "A":
            out.append(chr(65 + int(rng.integers(0, 26))))
        else:
            out.append(str(int(rng.integers(1 if not out else 0, 10))))
    return "".join(out)


BANK_NAMES: dict[str, tuple[str, ...]] = {
    "GB": ("Albion Bank", "Northern Counties Building Society"),
    "DE": ("Rheinische Volksbank",),
    "AT": ("Alpenländische Sparkasse",),
    "IT": ("Banca Padana",),
    "ES": ("Banco del Tajo",),
    "NL": ("Polderbank",),
    "FR": ("Banque de la Loire",),
    "RO": ("Banca Carpatica", "Banca Dunarea"),
    "MD": ("Banca Nistru",),
    "BG": ("Balkan Commercial Bank",),
    "UA": ("Dnipro Bank",),
    "NG": ("Lagoon Bank",),
    "VN": ("Song Hong Bank",),
    "HU": ("Duna Bank",),
    "PL": ("Bank Wisła",),
}


@dataclass
class World:
    """Columnar registers of everyone and everything. Index = row in every list."""

    start: date
    months: int
    # persons
    p_id: list[str] = field(default_factory=list)
    p_country: list[str] = field(default_factory=list)  # nationality
    p_residence: list[str] = field(default_factory=list)
    p_sex: list[str] = field(default_factory=list)
    p_given: list[str] = field(default_factory=list)  # as the person writes it (native script)
    p_family: list[str] = field(default_factory=list)
    p_birth: list[str] = field(default_factory=list)  # ISO date
    p_passport: list[str] = field(default_factory=list)
    p_natid: list[str] = field(default_factory=list)
    p_phone: list[str] = field(default_factory=list)  # E.164
    p_email: list[str] = field(default_factory=list)
    p_address: list[int] = field(default_factory=list)  # index into a_*
    p_role: list[str] = field(default_factory=list)  # background | victim | <Role>
    p_account: list[int] = field(default_factory=list)  # primary account, -1 if none
    p_employer: list[int] = field(default_factory=list)  # company index, -1 if none
    p_alias: list[str] = field(default_factory=list)
    # companies
    c_id: list[str] = field(default_factory=list)
    c_name: list[str] = field(default_factory=list)
    c_country: list[str] = field(default_factory=list)
    c_reg: list[str] = field(default_factory=list)
    c_sector: list[str] = field(default_factory=list)
    c_address: list[int] = field(default_factory=list)
    c_incorporated: list[str] = field(default_factory=list)
    c_director: list[int] = field(default_factory=list)  # person index
    c_owner_person: list[int] = field(default_factory=list)  # -1 if owned by a company
    c_owner_company: list[int] = field(default_factory=list)
    c_account: list[int] = field(default_factory=list)
    c_front: list[str] = field(default_factory=list)  # network cell id for fronts, "" otherwise
    # accounts
    acc_id: list[str] = field(default_factory=list)
    acc_bank: list[int] = field(default_factory=list)  # index into banks
    acc_holder_kind: list[str] = field(default_factory=list)  # person | company | cash
    acc_holder: list[int] = field(default_factory=list)
    acc_opened: list[str] = field(default_factory=list)
    acc_controlled_by: list[int] = field(default_factory=list)  # person index, -1 if the holder
    acc_purpose: list[str] = field(default_factory=list)
    # addresses
    a_id: list[str] = field(default_factory=list)
    a_street: list[str] = field(default_factory=list)
    a_city: list[str] = field(default_factory=list)
    a_country: list[str] = field(default_factory=list)
    a_postcode: list[str] = field(default_factory=list)
    banks: list[Bank] = field(default_factory=list)
    bank_by_country: dict[str, list[int]] = field(default_factory=dict)
    cash_account: dict[int, int] = field(default_factory=dict)  # bank -> its cash pseudo-account
    person_accounts: dict[tuple[int, str], int] = field(default_factory=dict)  # first per country
    _used_phones: set[str] = field(default_factory=set)

    # -- banks, addresses ---------------------------------------------------------------------
    def add_banks(self, countries: list[str], rng: np.random.Generator) -> None:
        for country in countries:
            for n, name in enumerate(BANK_NAMES.get(country, (f"Bank of {country}",))):
                code = f"{country.lower()}{n + 1}"
                bic = (
                    "".join(w[0] for w in strip_diacritics(name).upper().split())[:4].ljust(4, "X")
                    + country
                    + "22"
                )
                self.banks.append(Bank(code, name, country, bic, _bank_code(country, rng)))
                self.bank_by_country.setdefault(country, []).append(len(self.banks) - 1)
        for b in range(len(self.banks)):
            self.cash_account[b] = self.add_account(
                b, "cash", -1, self.start.isoformat(), "cash", account=f"CASH-{self.banks[b].code}"
            )

    def add_addresses(self, country: str, n: int, seed: int) -> list[int]:
        from faker import Faker

        fake = Faker(LOCALES.get(country, "en_GB"))
        fake.seed_instance(seed)
        # some locales (it_IT) build their city list from a set at import: its order changes with
        # Python's hash seed, so draw from it sorted, or the output would differ between runs
        provider = fake.provider("faker.providers.address")
        cities = sorted(getattr(provider, "cities", None) or [])
        out = []
        for _ in range(n):
            idx = len(self.a_id)
            self.a_id.append(f"A{idx:07d}")
            street = fake.street_address().replace("\n", ", ")
            self.a_street.append(street)
            self.a_city.append(str(fake.random_element(cities)) if cities else fake.city())
            self.a_postcode.append(fake.postcode())
            self.a_country.append(country)
            out.append(idx)
        return out

    def address_text(self, a: int) -> str:
        return f"{self.a_street[a]}, {self.a_postcode[a]} {self.a_city[a]}"

    # -- persons --------------------------------------------------------------------------------
    def phone(self, country: str, rng: np.random.Generator) -> str:
        cc, prefixes, digits = MOBILE[country]
        while True:
            prefix = prefixes[int(rng.integers(0, len(prefixes)))]
            number = f"+{cc}{prefix}{int(rng.integers(10 ** (digits - 1), 10**digits))}"
            # a few ranges inside a prefix belong elsewhere (Crown dependencies, Mayotte, ...)
            if number not in self._used_phones and phonenumbers.is_valid_number(
                phonenumbers.parse(number)
            ):
                self._used_phones.add(number)
                return number

    def add_persons(
        self,
        n: int,
        country: str,
        residence: str,
        role: str,
        rng: np.random.Generator,
        *,
        addresses: list[int] | None = None,
        age: tuple[int, int] = (18, 70),
        female_share: float = 0.5,
    ) -> list[int]:
        sexes = ["female" if u < female_share else "male" for u in rng.random(n)]
        given, family = draw_names(rng, country, sexes)
        ages = rng.integers(age[0] * 365, age[1] * 365, n)
        out = []
        for i in range(n):
            idx = len(self.p_id)
            self.p_id.append(f"P{idx:07d}")
            self.p_country.append(country)
            self.p_residence.append(residence)
            self.p_sex.append(sexes[i])
            self.p_given.append(given[i])
            self.p_family.append(family[i])
            self.p_birth.append((self.start - timedelta(days=int(ages[i]))).isoformat())
            self.p_passport.append(
                f"{country}{int(rng.integers(1_000_000, 9_999_999))}"
                if country not in ("GB", "NG")
                else f"{int(rng.integers(100_000_000, 999_999_999))}"
            )
            self.p_natid.append(f"{int(rng.integers(10**9, 10**10))}")
            self.p_phone.append(self.phone(residence, rng))
            user = strip_diacritics(latin(f"{given[i]}.{family[i]}")).lower().replace(" ", "")
            user = "".join(ch for ch in user if ch.isalnum() or ch == ".")
            domain = ("mail.example", "post.example", "inbox.example")[int(rng.integers(0, 3))]
            self.p_email.append(f"{user}{int(rng.integers(1, 99))}@{domain}")
            pick = addresses[int(rng.integers(0, len(addresses)))] if addresses else -1
            self.p_address.append(pick)
            self.p_role.append(role)
            self.p_account.append(-1)
            self.p_employer.append(-1)
            self.p_alias.append("")
            out.append(idx)
        return out

    # -- accounts and companies -------------------------------------------------------------------
    def add_account(
        self,
        bank: int,
        holder_kind: str,
        holder: int,
        opened: str,
        purpose: str,
        rng: np.random.Generator | None = None,
        *,
        account: str | None = None,
        controlled_by: int = -1,
    ) -> int:
        b = self.banks[bank]
        if account is None:
            assert rng is not None
            if b.country in IBAN_BBAN:
                digits = IBAN_BBAN[b.country][1]
                number = "".join(str(d) for d in rng.integers(0, 10, digits))
                account = iban(b.country, b.bank_code, number)
            else:  # NUBAN-like and other national account numbers
                account = "".join(
                    str(d) for d in rng.integers(0, 10, 10 if b.country == "NG" else 12)
                )
        idx = len(self.acc_id)
        self.acc_id.append(account)
        self.acc_bank.append(bank)
        self.acc_holder_kind.append(holder_kind)
        self.acc_holder.append(holder)
        self.acc_opened.append(opened)
        self.acc_controlled_by.append(controlled_by)
        self.acc_purpose.append(purpose)
        if holder_kind == "person":
            self.person_accounts.setdefault((holder, b.country), idx)
        return idx

    def open_account(
        self, person: int, rng: np.random.Generator, *, purpose: str = "personal", country: str = ""
    ) -> int:
        country = country or self.p_residence[person]
        choices = self.bank_by_country[country]
        bank = choices[int(rng.integers(0, len(choices)))]
        opened = (self.start - timedelta(days=int(rng.integers(30, 3000)))).isoformat()
        acc = self.add_account(bank, "person", person, opened, purpose, rng)
        if self.p_account[person] < 0:
            self.p_account[person] = acc
        return acc

    def add_company(
        self,
        country: str,
        sector: str,
        name: str,
        rng: np.random.Generator,
        *,
        director: int,
        address: int,
        owner_person: int = -1,
        owner_company: int = -1,
        front: str = "",
        incorporated: str | None = None,
    ) -> int:
        idx = len(self.c_id)
        self.c_id.append(f"C{idx:06d}")
        self.c_name.append(name)
        self.c_country.append(country)
        self.c_reg.append(company_number(country, idx, rng))
        self.c_sector.append(sector)
        self.c_address.append(address)
        self.c_incorporated.append(
            incorporated or (self.start - timedelta(days=int(rng.integers(200, 9000)))).isoformat()
        )
        self.c_director.append(director)
        self.c_owner_person.append(owner_person if owner_company < 0 else -1)
        self.c_owner_company.append(owner_company)
        choices = self.bank_by_country[country]
        bank = choices[int(rng.integers(0, len(choices)))]
        acc = self.add_account(bank, "company", idx, self.c_incorporated[-1], "business", rng)
        self.c_account.append(acc)
        self.c_front.append(front)
        return idx

    def holder_name(self, acc: int) -> str:
        kind, h = self.acc_holder_kind[acc], self.acc_holder[acc]
        if kind == "person":
            return f"{self.p_given[h]} {self.p_family[h]}"
        if kind == "company":
            return self.c_name[h]
        return ""

    def holder_id(self, acc: int) -> str:
        kind, h = self.acc_holder_kind[acc], self.acc_holder[acc]
        return self.p_id[h] if kind == "person" else self.c_id[h] if kind == "company" else ""


def company_number(country: str, idx: int, rng: np.random.Generator) -> str:
    """A registration number in the country's style, unique per company (idx * 7919 is a
    bijection modulo 10**k, 7919 being prime to 10)."""
    n = (idx * 7919 + 1_000_003) % 10**7
    if country == "GB":
        return f"{n:08d}"
    if country in ("RO", "MD"):
        return f"J{int(rng.integers(1, 41)):02d}/{n}/{2005 + idx % 19}"
    if country in ("DE", "AT"):
        return f"HRB {n}"
    if country == "BG":
        return f"{200000000 + n}"
    return f"{country}{n:07d}"
