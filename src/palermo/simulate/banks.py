"""Bank statements as banks export them: one file per bank, each bank with its own columns, decimal
mark, date format and time zone, written a month at a time with Arrow (vectorised formatting), plus
the goAML suspicious-transaction reports the banks file with their FIU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from palermo.simulate.background import PAYMENT_TYPES
from palermo.simulate.world import RATE, World

CANONICAL = (
    "transaction_id",
    "timestamp",
    "from_account",
    "to_account",
    "amount",
    "currency",
    "from_name",
    "to_name",
    "from_bank",
    "to_bank",
    "from_country",
    "to_country",
    "payment_type",
    "reference",
)


@dataclass(frozen=True)
class Layout:
    name: str
    headers: tuple[str, ...]  # one per CANONICAL field, "" = the bank does not export it
    delimiter: str = ","
    decimal_comma: bool = False
    time_format: str = "%Y-%m-%dT%H:%M:%SZ"
    timezone: str = "UTC"
    surname_first: bool = False  # "POPESCU Ion" instead of "Ion Popescu"

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"mapping": "payments"}
        columns = {f: h for f, h in zip(CANONICAL, self.headers, strict=True) if h and h != f}
        if columns:
            entry["columns"] = columns
        options: dict[str, Any] = {}
        if self.decimal_comma:
            options["decimal_comma"] = True
        if self.time_format != "%Y-%m-%dT%H:%M:%SZ":
            options["datetime_formats"] = [self.time_format]
        if self.timezone != "UTC":
            options["timezone"] = self.timezone
        if options:
            entry["options"] = options
        if self.delimiter != ",":
            entry["delimiter"] = self.delimiter
        return entry


LAYOUTS: dict[str, Layout] = {
    "canonical": Layout("canonical", CANONICAL),
    "uk_building_society": Layout(
        "uk_building_society",
        (
            "transaction_id",
            "timestamp",
            "from_account",
            "to_account",
            "amount",
            "currency",
            "from_name",
            "to_name",
            "",
            "",
            "from_country",
            "to_country",
            "payment_type",
            "reference",
        ),
        surname_first=True,
    ),
    "de": Layout(
        "de",
        (
            "Buchungsreferenz",
            "Buchungszeit",
            "Auftraggeberkonto",
            "Empfaengerkonto",
            "Betrag",
            "Waehrung",
            "Auftraggeber",
            "Empfaenger",
            "",
            "Empfaengerbank",
            "",
            "Empfaengerland",
            "Zahlungsart",
            "Verwendungszweck",
        ),
        delimiter=";",
        decimal_comma=True,
        time_format="%d.%m.%Y %H:%M:%S",
        timezone="Europe/Berlin",
    ),
    "ro": Layout(
        "ro",
        (
            "ID tranzactie",
            "Data si ora",
            "Cont platitor",
            "Cont beneficiar",
            "Suma",
            "Moneda",
            "Nume platitor",
            "Nume beneficiar",
            "",
            "Banca beneficiar",
            "",
            "Tara beneficiar",
            "Tip",
            "Detalii",
        ),
        delimiter=";",
        decimal_comma=True,
        time_format="%d.%m.%Y %H:%M",
        timezone="Europe/Bucharest",
        surname_first=True,
    ),
    "it": Layout(
        "it",
        (
            "Riferimento",
            "Data operazione",
            "IBAN ordinante",
            "IBAN beneficiario",
            "Importo",
            "Divisa",
            "Ordinante",
            "Beneficiario",
            "",
            "Banca beneficiario",
            "",
            "Paese beneficiario",
            "Tipo",
            "Causale",
        ),
        delimiter=";",
        decimal_comma=True,
        time_format="%d/%m/%Y %H:%M",
        timezone="Europe/Rome",
    ),
}
COUNTRY_LAYOUT = {"DE": "de", "AT": "de", "RO": "ro", "MD": "ro", "IT": "it"}


def layout_for(world: World, bank: int) -> Layout:
    b = world.banks[bank]
    if b.code == "gb2":
        return LAYOUTS["uk_building_society"]
    return LAYOUTS[COUNTRY_LAYOUT.get(b.country, "canonical")]


@dataclass
class BrokenRow:
    file: str
    row: int
    field: str
    written: str
    why: str


@dataclass
class BankWriter:
    """Streams every bank's statement file; remembers where each crime transaction landed."""

    world: World
    out: Path  # the observed/ folder
    refs: list[str]
    broken_rate: float
    rng: np.random.Generator
    files: dict[int, str] = field(default_factory=dict)  # bank -> file name
    counts: dict[int, int] = field(default_factory=dict)
    located: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # crime row -> where
    broken: list[BrokenRow] = field(default_factory=list)
    str_rows: list[dict[str, Any]] = field(default_factory=list)  # rows the banks report (goAML)
    _writers: dict[int, pacsv.CSVWriter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        w = self.world
        self.acc_ids = pa.array(w.acc_id, pa.string())
        self.acc_bank = np.array(w.acc_bank, dtype=np.int64)
        self.bank_names = pa.array([b.name for b in w.banks], pa.string())
        self.bank_country = pa.array([b.country for b in w.banks], pa.string())
        self.ref_arr = pa.array(self.refs, pa.string())
        self.types = pa.array(PAYMENT_TYPES, pa.string())
        self.names_home, self.names_abroad, self.surname_first = self._names()
        self.bank_cc = np.array([b.country for b in w.banks])

    def _names(self) -> tuple[pa.Array, pa.Array, tuple[pa.Array, pa.Array]]:
        """The holder's name as the holder's own bank writes it, and as a bank abroad writes it
        (a clerk's romanisation, dropped diacritics, the odd typo)."""
        from palermo.simulate.names import as_written

        w = self.world
        home, abroad, home_sf, abroad_sf = [], [], [], []
        for acc in range(len(w.acc_id)):
            kind, h = w.acc_holder_kind[acc], w.acc_holder[acc]
            if kind == "person":
                country = w.p_country[h]
                given, family = w.p_given[h], w.p_family[h]
                bank_country = w.banks[w.acc_bank[acc]].country
                script = "native" if bank_country == country else "latin"
                g1, f1, _ = as_written(
                    given,
                    family,
                    country,
                    script=script,
                    rng=self.rng,
                    typo_rate=0.0,
                    variant_rate=0.3,
                )
                g2, f2, _ = as_written(
                    given,
                    family,
                    country,
                    script="latin",
                    rng=self.rng,
                    typo_rate=0.05,
                    variant_rate=0.6,
                )
                home.append(f"{g1} {f1}")
                abroad.append(f"{g2} {f2}")
                home_sf.append(f"{f1.upper()} {g1}")
                abroad_sf.append(f"{f2.upper()} {g2}")
                continue
            name = w.c_name[h] if kind == "company" else ""
            home.append(name)
            abroad.append(name.upper())
            home_sf.append(name)
            abroad_sf.append(name.upper())
        arr = [pa.array(x, pa.string()) for x in (home, abroad, home_sf, abroad_sf)]
        return arr[0], arr[1], (arr[2], arr[3])

    def file_for(self, bank: int) -> str:
        if bank not in self.files:
            b = self.world.banks[bank]
            self.files[bank] = f"bank_{b.code}_{b.name.lower().replace(' ', '_')}.csv"
            self.counts[bank] = 0
        return self.files[bank]

    def write_month(
        self,
        payer: np.ndarray,
        payee: np.ndarray,
        ts: np.ndarray,
        eur: np.ndarray,
        ptype: np.ndarray,
        ref: np.ndarray,
        crime_row: np.ndarray,  # index into the crime tx list, -1 for background
        reportable: np.ndarray,  # bool: the bank would file an STR on it
    ) -> None:
        order = np.lexsort((crime_row, payee, payer, ts))
        payer, payee, ts, eur = payer[order], payee[order], ts[order], eur[order]
        ptype, ref, crime_row, reportable = (
            ptype[order],
            ref[order],
            crime_row[order],
            reportable[order],
        )
        bank = self.acc_bank[payer]
        for b in np.unique(bank):
            sel = np.flatnonzero(bank == b)
            self._write(
                int(b),
                payer[sel],
                payee[sel],
                ts[sel],
                eur[sel],
                ptype[sel],
                ref[sel],
                crime_row[sel],
                reportable[sel],
            )

    def _write(
        self,
        b: int,
        payer: np.ndarray,
        payee: np.ndarray,
        ts: np.ndarray,
        eur: np.ndarray,
        ptype: np.ndarray,
        ref: np.ndarray,
        crime_row: np.ndarray,
        reportable: np.ndarray,
    ) -> None:
        w = self.world
        name = self.file_for(b)
        layout = layout_for(w, b)
        bank = w.banks[b]
        n = len(payer)
        first = self.counts[b]
        self.counts[b] += n
        seq = np.arange(first + 1, first + n + 1)
        tx_id = pc.binary_join_element_wise(
            pa.scalar(bank.code.upper() + "-"),
            pc.utf8_lpad(pa.array(seq).cast(pa.string()), 9, "0"),
            "",
        )
        cents = np.rint(eur * RATE[bank.currency] * 100).astype(np.int64)
        cents = np.maximum(cents, 1)
        sep = "," if layout.decimal_comma else "."
        amount = pc.binary_join_element_wise(
            pa.array(cents // 100).cast(pa.string()),
            pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0"),
            sep,
        )
        when = pa.array(ts, pa.timestamp("s", tz=layout.timezone))
        stamp = pc.strftime(when, format=layout.time_format)
        payee_home = pa.array(self.bank_cc[self.acc_bank[payee]] == bank.country)
        home, abroad = self.names_home, self.names_abroad
        if layout.surname_first:
            home, abroad = self.surname_first
        to_name = pc.if_else(payee_home, home.take(payee), abroad.take(payee))
        from_name = home.take(payer)
        cols: dict[str, pa.Array] = {
            "transaction_id": tx_id,
            "timestamp": stamp,
            "from_account": self.acc_ids.take(payer),
            "to_account": self.acc_ids.take(payee),
            "amount": amount,
            "currency": pa.array([bank.currency] * n, pa.string()),
            "from_name": from_name,
            "to_name": to_name,
            "from_bank": self.bank_names.take(self.acc_bank[payer]),
            "to_bank": self.bank_names.take(self.acc_bank[payee]),
            "from_country": self.bank_country.take(self.acc_bank[payer]),
            "to_country": self.bank_country.take(self.acc_bank[payee]),
            "payment_type": self.types.take(ptype.astype(np.int64)),
            "reference": self.ref_arr.take(ref),
        }
        # deliberately broken rows (background only), listed in truth/broken_rows.csv
        k = int(self.rng.binomial(n, self.broken_rate)) if n > 50 else 0
        if k:
            candidates = np.flatnonzero(crime_row < 0)
            picks = np.sort(
                self.rng.choice(candidates, size=min(k, len(candidates)), replace=False)
            )
            for i in picks:
                fld, text, why = _break(self.rng, cols, int(i), layout)
                arr = cols[fld].to_pylist()
                arr[i] = text
                cols[fld] = pa.array(arr, pa.string())
                header = layout.headers[CANONICAL.index(fld)]
                self.broken.append(BrokenRow(name, first + int(i) + 2, header, text, why))
        table = pa.table({h: cols[f] for f, h in zip(CANONICAL, layout.headers, strict=True) if h})
        writer = self._writers.get(b)
        if writer is None:
            writer = pacsv.CSVWriter(
                self.out / name,
                table.schema,
                write_options=pacsv.WriteOptions(
                    delimiter=layout.delimiter, quoting_style="needed"
                ),
            )
            self._writers[b] = writer
        writer.write_table(table)
        ids = tx_id.to_pylist() if (crime_row >= 0).any() or reportable.any() else []
        for i in np.flatnonzero(crime_row >= 0):
            self.located[int(crime_row[i])] = (name, first + int(i) + 2, ids[i])
        for i in np.flatnonzero(reportable):
            self.str_rows.append(
                {
                    "bank": b,
                    "transaction_id": ids[i],
                    "ts": int(ts[i]),
                    "payer": int(payer[i]),
                    "payee": int(payee[i]),
                    "amount": int(cents[i]),
                    "ptype": PAYMENT_TYPES[int(ptype[i])],
                    "reference": self.refs[int(ref[i])],
                    "crime_row": int(crime_row[i]),
                }
            )

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def _break(
    rng: np.random.Generator, cols: dict[str, pa.Array], i: int, layout: Layout
) -> tuple[str, str, str]:
    kind = int(rng.integers(0, 4))
    if kind == 0:
        amount = str(cols["amount"][i].as_py())
        return (
            "amount",
            amount.replace("0", "O", 1) if "0" in amount else amount + "O",
            "letter O for zero in the amount",
        )
    if kind == 1:
        return (
            "timestamp",
            "31.02.2024 25:61" if layout.decimal_comma else "2024-02-31T25:61:00Z",
            "impossible date and time",
        )
    if kind == 2:
        return "to_account", "", "receiving account missing"
    return (
        "reference",
        '=HYPERLINK("http://example.invalid/x","click")',
        "spreadsheet formula in the reference",
    )
