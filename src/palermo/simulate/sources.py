"""The other sources an investigation holds: call-detail records, border crossings, company and land
registries, employment registrations, job and escort ads, goAML reports, police intelligence, NGO
hotline reports and labour inspections. Each row that names someone is recorded in ``mentions``
(file, row, role, true id), so the ground truth says who every record is really about.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from lxml import etree

from palermo.simulate.crime import CrimeSim, Victim
from palermo.simulate.names import as_written, swap_day_month
from palermo.simulate.scenarios import Scenario
from palermo.simulate.world import CURRENCY, MOBILE, RATE, WAGE_LEVEL, World
from palermo.victims.wages import full_time_monthly_minimum

BORDER_POINTS = {
    "GB": ("Dover", "Heathrow T2", "Stansted", "Folkestone Eurotunnel"),
    "DE": ("Frankfurt/Main Flughafen", "Waidhaus", "München Flughafen"),
    "IT": ("Roma Fiumicino", "Trieste Fernetti", "Milano Malpensa"),
    "NL": ("Schiphol", "Hoek van Holland"),
    "ES": ("Madrid-Barajas", "La Jonquera"),
}
CALL_LAYOUTS = {  # operator country -> headers for caller, callee, start_time, duration_s, caller_cell, call_type
    "RO": ("apelant", "apelat", "data_ora", "durata_sec", "celula_apelant", "tip"),
}
CALL_FIELDS = ("caller", "callee", "start_time", "duration_s", "caller_cell", "call_type")
FACT_TEXT = {
    "documents_retained": "passport kept by the boss",
    "debt": "says she/he owes money for travel and housing",
    "isolated": "not allowed to leave the house alone",
    "violence": "shows injuries, describes beatings",
    "threats": "threatened with harm to family",
    "wages_withheld": "wages taken by the supervisor",
    "excessive_hours": "works 12-14 hours a day, 7 days a week",
    "bad_conditions": "lives with many others in one house",
    "deceived": "was promised a different job and pay",
    "movement_restricted": "driven to and from work, no keys",
    "threat_authorities": "told police would deport them",
    "illegal_status": "has no valid papers",
}


@dataclass
class Recorder:
    """Mentions and broken rows of the non-bank sources (bank rows are traced by account)."""

    mentions: list[tuple[str, str, str, str]] = field(default_factory=list)  # file, row, role, id
    manifest: list[dict[str, Any]] = field(default_factory=list)

    def listed(self, name: str, mapping: str, compartment: str, description: str) -> None:
        """Name an observed file in the manifest, with the mapping that ingests it."""
        self.manifest.append(
            {
                "path": f"observed/{name}",
                "mapping": mapping,
                "compartment": compartment,
                "description": description,
            }
        )

    def mention(self, file: str, row: int | str, role: str, true_id: str) -> None:
        if true_id:
            self.mentions.append((file, str(row), role, true_id))


def write_csv(
    path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]], delimiter: str = ","
) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(list(header))
        n = 0
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            n += 1
    return n


def iso_ts(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sources:
    def __init__(
        self,
        world: World,
        crime: CrimeSim,
        scenario: Scenario,
        out: Path,
        rng: np.random.Generator,
        rec: Recorder,
    ) -> None:
        self.w, self.crime, self.s, self.out, self.rng, self.rec = (
            world,
            crime,
            scenario,
            out,
            rng,
            rec,
        )

    # -- noise ------------------------------------------------------------------------------------
    def name(
        self, p: int, script: str = "latin", typo: float | None = None
    ) -> tuple[str, str, list[str]]:
        w = self.w
        return as_written(
            w.p_given[p],
            w.p_family[p],
            w.p_country[p],
            script=script,
            rng=self.rng,
            typo_rate=self.s.typo_rate if typo is None else typo,
            variant_rate=self.s.transliteration_variant_rate,
        )

    def dob(self, p: int) -> str:
        r = self.rng.random()
        if r < self.s.missing_rate:
            return ""
        if r < self.s.missing_rate + self.s.dob_swap_rate:
            return swap_day_month(self.w.p_birth[p])
        return self.w.p_birth[p]

    def maybe(self, value: str) -> str:
        return "" if self.rng.random() < self.s.missing_rate else value

    # -- call-detail records ------------------------------------------------------------------------
    def open_cdr(self) -> None:
        self.cdr_countries = sorted({*self.s.destinations, *self.s.origins})
        self.cdr_writers: dict[str, pacsv.CSVWriter] = {}
        w = self.w
        self.phone_arr = np.array(w.p_phone, dtype=object)
        self.cell_arr = np.array(
            [f"{w.p_residence[p]}-{w.p_address[p] % 7919:04d}" for p in range(len(w.p_id))],
            dtype=object,
        )
        self.phone_owner = {ph: i for i, ph in enumerate(w.p_phone)}
        for cell in self.crime.cells:
            if cell.work_phone:
                self.phone_owner[cell.work_phone] = cell.leader
        prefixes = sorted(((MOBILE[c][0], c) for c in MOBILE), key=lambda x: -len(x[0]))
        self._prefixes = prefixes

    def country_of(self, phone: str) -> str:
        for cc, country in self._prefixes:
            if phone.startswith("+" + cc):
                return country
        return ""

    def write_cdr_month(
        self, bg: tuple[np.ndarray, ...], crime_calls: list[tuple[int, str, str, int, str]]
    ) -> None:
        caller, callee, ts, duration = bg
        a = self.phone_arr[caller]
        b = self.phone_arr[callee]
        cells = self.cell_arr[caller]
        if crime_calls:
            ca = np.array([c[1] for c in crime_calls], dtype=object)
            cb = np.array([c[2] for c in crime_calls], dtype=object)
            a, b = np.concatenate([a, ca]), np.concatenate([b, cb])
            ts = np.concatenate([ts, np.array([c[0] for c in crime_calls], dtype=np.int64)])
            duration = np.concatenate(
                [duration, np.array([c[3] for c in crime_calls], dtype=np.int64)]
            )
            owner_cells = np.array([self.cell_arr[self.phone_owner[p]] for p in ca], dtype=object)
            cells = np.concatenate([cells, owner_cells])
        order = np.lexsort((duration, ts))
        a, b, ts, duration, cells = a[order], b[order], ts[order], duration[order], cells[order]
        country = self._countries(a)
        for c in self.cdr_countries:
            sel = np.flatnonzero(country == c)
            if not len(sel):
                continue
            headers = CALL_LAYOUTS.get(c, CALL_FIELDS)
            caller_s, callee_s = pa.array(a[sel], pa.string()), pa.array(b[sel], pa.string())
            cc = "+" + MOBILE[c][0]
            caller_s, callee_s = _national(caller_s, cc), _national(callee_s, cc)
            when = pa.array(
                ts[sel], pa.timestamp("s", tz="Europe/Bucharest" if c == "RO" else "UTC")
            )
            fmt = "%d.%m.%Y %H:%M:%S" if c == "RO" else "%Y-%m-%dT%H:%M:%SZ"
            table = pa.table(
                {
                    headers[0]: caller_s,
                    headers[1]: callee_s,
                    headers[2]: pc.strftime(when, format=fmt),
                    headers[3]: pa.array(duration[sel]).cast(pa.string()),
                    headers[4]: pa.array(cells[sel], pa.string()),
                    headers[5]: pc.if_else(
                        pc.equal(pa.array(duration[sel]), 0), pa.scalar("sms"), pa.scalar("voice")
                    ),
                }
            )
            writer = self.cdr_writers.get(c)
            if writer is None:
                name = f"cdr_{c.lower()}_operator.csv"
                writer = self.cdr_writers[c] = pacsv.CSVWriter(self.out / name, table.schema)
                entry: dict[str, Any] = {
                    "path": f"observed/{name}",
                    "mapping": "calls",
                    "options": {"phone_region": c},
                    "description": f"call-detail records of a {c} mobile operator (calls made by its subscribers)",
                }
                if c in CALL_LAYOUTS:
                    entry["columns"] = dict(zip(CALL_FIELDS, headers, strict=True))
                    entry["options"]["datetime_formats"] = [fmt]
                    entry["options"]["timezone"] = "Europe/Bucharest"
                self.rec.manifest.append(entry | {"compartment": "police"})
            writer.write_table(table)

    def _countries(self, phones: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(phones.astype(str), return_inverse=True)
        return np.array([self.country_of(p) for p in uniq])[inv]

    def close_cdr(self) -> None:
        for writer in self.cdr_writers.values():
            writer.close()

    # -- border crossings ---------------------------------------------------------------------------
    def write_borders(self, background_trips: list[tuple[np.ndarray, ...]]) -> None:
        w, rng = self.w, self.rng
        rows: dict[str, list[tuple[Any, ...]]] = {c: [] for c in self.s.destinations}
        dests = list(self.s.destinations)
        for people, out_ts, back_ts in background_trips:
            for p, t_out, t_back in zip(people, out_ts, back_ts, strict=True):
                p = int(p)
                home = w.p_residence[p]
                if home in rows:
                    abroad = str(rng.choice([c for c in [*self.s.origins, *dests] if c != home]))
                    rows[home].append(
                        (int(t_out), p, "exit", home, home, abroad, None, None, "background")
                    )
                    rows[home].append(
                        (int(t_back), p, "entry", home, abroad, home, None, None, "background")
                    )
                else:
                    visit = dests[int(rng.integers(0, len(dests)))]
                    rows[visit].append(
                        (int(t_out), p, "entry", visit, home, visit, None, None, "background")
                    )
                    rows[visit].append(
                        (int(t_back), p, "exit", visit, visit, home, None, None, "background")
                    )
        forged: dict[tuple[int, str], str] = {}
        for (
            t,
            p,
            direction,
            border,
            frm,
            to,
            carrier,
            vehicle,
            doc,
            doc_country,
            label,
        ) in self.crime.obs.crossings:
            if border in rows:
                rows[border].append(
                    (
                        t,
                        p,
                        direction,
                        border,
                        frm,
                        to,
                        (carrier, vehicle),
                        (doc, doc_country),
                        label,
                    )
                )
                if doc != w.p_passport[p]:
                    forged[(p, doc)] = doc_country
        for country, items in rows.items():
            items.sort(key=lambda r: (r[0], r[1]))
            name = f"border_crossings_{country.lower()}.csv"
            points = BORDER_POINTS.get(country, (f"{country} border",))

            def render(
                items: list[tuple[Any, ...]] = items,
                name: str = name,
                points: tuple[str, ...] = points,
                country: str = country,
            ) -> Iterable[list[Any]]:
                for row, (t, p, direction, border, frm, to, travel, doc, _label) in enumerate(
                    items, start=2
                ):
                    given, family, _ = self.name(p, "latin", typo=self.s.typo_rate / 2)
                    if travel:
                        carrier, vehicle = travel
                        point = points[0]
                    else:
                        kind = int(rng.integers(0, 3))
                        carrier = ("air", "ferry", "car")[kind]
                        vehicle = (
                            f"{''.join(chr(65 + int(x)) for x in rng.integers(0, 26, 2))}{int(rng.integers(100, 9999))}"
                            if kind == 0
                            else ""
                            if kind == 1
                            else self.crime._plate(w.p_country[p])
                        )
                        point = points[int(rng.integers(0, len(points)))]
                    document, doc_country = doc if doc else (w.p_passport[p], w.p_country[p])
                    nationality = doc_country if (p, document) in forged else w.p_country[p]
                    self.rec.mention(name, row, "traveller", w.p_id[p])
                    yield [
                        f"{country}-X{row - 1:08d}",
                        iso_ts(t),
                        direction,
                        point,
                        border,
                        frm,
                        to,
                        given.upper(),
                        family.upper(),
                        "" if (p, document) in forged else self.dob(p),
                        w.p_sex[p],
                        nationality,
                        "passport",
                        document,
                        doc_country,
                        carrier,
                        vehicle,
                    ]

            write_csv(self.out / name, TRAVEL_HEADER, render())
            self.rec.listed(name, "travel", "border", f"{country} border force: entries and exits")

    # -- registries ---------------------------------------------------------------------------------
    def write_companies(self) -> None:
        w = self.w
        owner_company = {
            int(c["company"]): int(c["owner_company"]) for c in self.crime.obs.ownership_changes
        }
        countries = sorted({*self.s.destinations, *self.s.origins})
        for country in countries:
            name = f"company_registry_{country.lower()}.csv"

            def render(country: str = country, name: str = name) -> Iterable[list[Any]]:
                row = 1
                for c in range(len(w.c_id)):
                    if w.c_country[c] != country:
                        continue
                    base = [
                        w.c_reg[c],
                        w.c_name[c],
                        country,
                        w.c_incorporated[c],
                        "Ltd" if country == "GB" else "",
                        w.address_text(w.c_address[c]),
                        "active",
                        w.c_sector[c],
                    ]
                    d = w.c_director[c]
                    script = "native" if w.p_country[d] == country else "latin"
                    g, f, _ = self.name(d, script)
                    row += 1
                    self.rec.mention(name, row, "company", w.c_id[c])
                    self.rec.mention(name, row, "officer", w.p_id[d])
                    yield [
                        *base,
                        f"{g} {f}",
                        "director",
                        self.dob(d),
                        w.p_country[d],
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                    oc = owner_company.get(c, w.c_owner_company[c])
                    row += 1
                    self.rec.mention(name, row, "company", w.c_id[c])
                    if oc >= 0:
                        self.rec.mention(name, row, "owner", w.c_id[oc])
                        yield [
                            *base,
                            "",
                            "",
                            "",
                            "",
                            w.c_name[oc],
                            "company",
                            w.c_reg[oc],
                            w.c_country[oc],
                            "100",
                        ]
                    else:
                        o = w.c_owner_person[c]
                        g, f, _ = self.name(o, "native" if w.p_country[o] == country else "latin")
                        self.rec.mention(name, row, "owner", w.p_id[o])
                        yield [
                            *base,
                            "",
                            "",
                            "",
                            "",
                            f"{g} {f}",
                            "person",
                            "",
                            w.p_country[o],
                            "100",
                        ]

            write_csv(self.out / name, COMPANY_HEADER, render())
            self.rec.listed(
                name,
                "companies",
                "public",
                f"{country} company registry extract (officers and owners)",
            )

    def write_land(self) -> None:
        w, rng = self.w, self.rng
        for country in self.s.origins:
            name = f"land_registry_{country.lower()}.csv"
            rows: list[list[Any]] = []
            people = [
                p
                for p in range(len(w.p_id))
                if w.p_residence[p] == country and w.p_role[p] == "background"
            ]
            owners = (
                [
                    people[int(i)]
                    for i in rng.choice(len(people), size=max(1, len(people) // 5), replace=False)
                ]
                if people
                else []
            )
            cur = CURRENCY[country]
            for p in owners:
                day = -int(rng.integers(100, 6000))
                price = float(rng.uniform(20_000, 120_000)) * max(0.3, WAGE_LEVEL[country] * 2)
                rows.append(
                    [
                        p,
                        "person",
                        day,
                        price,
                        f"{country}-{int(rng.integers(10**5, 10**6))}",
                        "background",
                    ]
                )
            for item in self.crime.obs.land:
                asset = item["asset"]
                if asset["country"] != country:
                    continue
                rows.append(
                    [
                        int(item["owner"]),
                        "person",
                        int(item["day"]),
                        float(asset["price_eur"]),
                        str(asset["title"]),
                        str(asset["asset_id"]),
                    ]
                )
            rows.sort(key=lambda r: (r[2], r[4]))

            def render(
                rows: list[list[Any]] = rows,
                name: str = name,
                cur: str = cur,
                country: str = country,
            ) -> Iterable[list[Any]]:
                for row, (p, _kind, day, price, title, label) in enumerate(rows, start=2):
                    g, f, _ = self.name(p, "native", typo=self.s.typo_rate / 3)
                    a = w.p_address[p]
                    self.rec.mention(name, row, "owner", w.p_id[p])
                    if label != "background":
                        self.rec.mention(name, row, "asset", label)
                    when = (w.start + timedelta(days=day)).isoformat()
                    yield [
                        title,
                        country,
                        "",
                        w.a_city[a] if a >= 0 else "",
                        w.address_text(a) if a >= 0 else "",
                        str(rng.choice(["apartment", "house", "land"])),
                        int(rng.integers(35, 140)),
                        when,
                        f"{price * RATE[cur]:.2f}",
                        cur,
                        f"{g} {f}",
                        "person",
                        self.dob(p),
                        w.p_natid[p],
                        "",
                        "100",
                    ]

            write_csv(self.out / name, LAND_HEADER, render())
            self.rec.listed(
                name, "land", "public", f"{country} land and real-estate registry extract"
            )

    def write_employment(self) -> None:
        w, rng = self.w, self.rng
        by_country: dict[str, list[tuple[int, int, str, Victim | None]]] = {
            c: [] for c in self.s.destinations
        }
        for p in range(len(w.p_id)):
            e = w.p_employer[p]
            if e >= 0 and w.c_country[e] in by_country and w.p_role[p] == "background":
                start = (w.start - timedelta(days=int(rng.integers(30, 4000)))).isoformat()
                by_country[w.c_country[e]].append((p, e, start, None))
        for item in self.crime.obs.employment:
            v: Victim = item["victim"]
            front = v.contract.exploitation.front
            by_country[w.c_country[front]].append(
                (v.person, front, self.crime.iso(int(item["day"])), v)
            )
        for country, rows in by_country.items():
            rows.sort(key=lambda r: (r[2], r[0]))
            name = f"employment_register_{country.lower()}.csv"
            cur = "GBP" if country == "GB" else "EUR"

            def render(
                rows: list[tuple[int, int, str, Victim | None]] = rows,
                name: str = name,
                cur: str = cur,
                country: str = country,
            ) -> Iterable[list[Any]]:
                for row, (p, e, start, v) in enumerate(rows, start=2):
                    g, f, _ = self.name(p, "latin")
                    phone = (
                        w.p_phone[v.controller] if v else w.p_phone[p]
                    )  # one phone for many workers
                    address = w.address_text(v.house) if v else w.address_text(w.p_address[p])
                    wage = self._declared_wage(p, e, v, cur)
                    self.rec.mention(name, row, "employee", w.p_id[p])
                    self.rec.mention(name, row, "employer", w.c_id[e])
                    yield [
                        f"{country}-E{row - 1:07d}",
                        w.c_reg[e],
                        w.c_name[e],
                        w.c_country[e],
                        w.address_text(w.c_address[e]),
                        self.maybe(w.p_natid[p]),
                        g,
                        f,
                        "",
                        self.dob(p),
                        w.p_sex[p],
                        w.p_country[p],
                        phone,
                        address,
                        start,
                        "",
                        "farm worker"
                        if v and v.sector == "agriculture"
                        else "operative"
                        if v
                        else "employee",
                        f"{wage:.2f}",
                        cur,
                        "month",
                    ]

            write_csv(self.out / name, EMPLOYMENT_HEADER, render())
            self.rec.listed(
                name, "employment", "labour-inspectorate", f"{country} employment registrations"
            )

    def _declared_wage(self, p: int, e: int, v: Victim | None, cur: str) -> float:
        """The monthly wage a registration declares, in ``cur``: employers declare at least the
        full-time statutory minimum where there is one; the fronts declare seven in ten of their
        victims below it (part-time on paper), the rest at it. Derived from the person's index,
        not drawn, so that the other records stay as they were."""
        w = self.w
        base = (v.declared_monthly_eur if v else 1900 * WAGE_LEVEL[w.c_country[e]]) * RATE[cur]
        start = w.start.date() if isinstance(w.start, datetime) else w.start
        floor = full_time_monthly_minimum(w.c_country[e], start)
        if floor is None or floor[1] != cur:
            return float(base)
        frac = ((p * 2654435761) % 4096) / 4096
        if v is None:
            return max(float(base), floor[0] * (1.02 + 0.3 * frac))
        return floor[0] * (0.5 + 0.5 * frac) if frac < 0.7 else max(float(base), floor[0])

    # -- ads --------------------------------------------------------------------------------------
    def write_ads(self) -> None:
        w, rng, crime = self.w, self.rng, self.crime
        ads = list(crime.obs.ads)
        days = crime.days
        for country in self.s.destinations:
            people = [
                p
                for p in range(len(w.p_id))
                if w.p_residence[p] == country and w.p_role[p] == "background"
            ]
            comps = [
                c for c in range(len(w.c_id)) if w.c_country[c] == country and not w.c_front[c]
            ]
            for _ in range(max(5, len(comps) // 3)):  # legitimate job ads
                c = comps[int(rng.integers(0, len(comps)))]
                d = w.c_director[c]
                body = (
                    f"{w.c_name[c]} is hiring: {rng.choice(['warehouse operative', 'chef', 'driver', 'cleaner', 'picker'])}. "
                    f"Full time, {int(rng.integers(11, 16))}.{int(rng.integers(0, 99)):02d}/hour, contract and holiday pay. Apply with CV."
                )
                ads.append(
                    {
                        "day": int(rng.integers(0, days)),
                        "site": "jobs-board.example",
                        "category": "job",
                        "title": body[:60],
                        "body": body,
                        "phone": w.p_phone[d],
                        "email": w.p_email[d],
                        "location": w.a_city[w.c_address[c]],
                        "country": country,
                        "price": "",
                        "images": "",
                        "poster": d,
                        "label": "background",
                    }
                )
            independents = [
                people[int(i)]
                for i in rng.choice(len(people), size=max(2, len(people) // 200), replace=False)
            ]
            for p in independents:  # independent escorts: one phone, one city, few ads
                city = w.a_city[w.p_address[p]]
                for _ in range(int(rng.integers(1, 6))):
                    body = f"Mature independent lady in {city}, by appointment only. Call {w.p_phone[p]}"
                    ads.append(
                        {
                            "day": int(rng.integers(0, days)),
                            "site": "adultwork.example",
                            "category": "escort",
                            "title": f"Independent in {city}",
                            "body": body,
                            "phone": w.p_phone[p],
                            "email": "",
                            "location": city,
                            "country": country,
                            "price": "100/h",
                            "images": f"img{p:07x}",
                            "poster": p,
                            "label": "background",
                        }
                    )
        # untrusted text: markup and script from a spammer, kept as written (never rendered)
        p = int(rng.integers(0, len(w.p_id)))
        ads.append(
            {
                "day": 3,
                "site": "jobs-board.example",
                "category": "job",
                "title": "<b>EASY MONEY</b>",
                "body": "Work from home <script>alert('x')</script> <img src=x onerror=alert(1)>",
                "phone": "",
                "email": "spam@mail.example",
                "location": "",
                "country": self.s.destinations[0],
                "price": "",
                "images": "",
                "poster": p,
                "label": "untrusted_markup",
            }
        )
        ads.sort(key=lambda a: (int(a["day"]), str(a["phone"]), str(a["body"])))
        name = "ads.csv"

        def render() -> Iterable[list[Any]]:
            for row, ad in enumerate(ads, start=2):
                t = crime.epoch + int(ad["day"]) * 86400 + int(rng.integers(6 * 3600, 23 * 3600))
                self.rec.mention(name, row, "poster", w.p_id[int(ad["poster"])])
                self.rec.mention(name, row, "ad_label", str(ad["label"]))
                yield [
                    f"AD{row - 1:07d}",
                    iso_ts(t),
                    ad["site"],
                    ad["category"],
                    ad["title"],
                    ad["body"],
                    ad["phone"],
                    ad["email"],
                    ad["location"],
                    ad["country"],
                    ad["price"],
                    ad["images"],
                ]

        write_csv(self.out / name, ADS_HEADER, render())
        self.rec.listed(name, "ads", "osint", "job and escort ads collected from classified sites")

    # -- notes: police intelligence, NGO hotline, labour inspections ---------------------------------
    def write_notes(self) -> None:
        w, rng, crime = self.w, self.rng, self.crime
        police: list[list[Any]] = []
        hotline: list[list[Any]] = []
        inspections: list[list[Any]] = []
        for p, (_cell_id, n, role) in sorted(crime.members.items()):
            if rng.random() > 0.6:
                continue
            day = int(rng.integers(0, crime.days))
            alias = w.p_alias[p]
            known_as = alias or " ".join(self.name(p, "latin")[:2])
            origin = w.p_country[crime.bosses[n]]
            text = (
                f"Subject {known_as} believed to act as {role.replace('_', ' ')} for a group bringing"
                f" people from {origin}. Uses phone {w.p_phone[p]}."
            )
            police.append(
                [
                    day,
                    "intelligence",
                    str(rng.choice(["B2", "C3", "B3", "C2", "E4"])),
                    f"Intelligence report on {known_as}",
                    text,
                    p,
                    role,
                    -1,
                    w.address_text(w.p_address[p]),
                    w.p_id[p],
                ]
            )
        bg = [p for p in range(len(w.p_id)) if w.p_role[p] == "background"]
        for _ in range(max(3, len(police) // 3)):  # false leads
            p = bg[int(rng.integers(0, len(bg)))]
            police.append(
                [
                    int(rng.integers(0, crime.days)),
                    "intelligence",
                    "E4",
                    "Anonymous information",
                    "Caller alleges the subject is involved in exploitation of workers; unverified.",
                    p,
                    "subject",
                    -1,
                    w.address_text(w.p_address[p]),
                    w.p_id[p],
                ]
            )
        for item in crime.obs.notes:
            v: Victim = item["victim"]
            cell = item["cell"]
            facts = "; ".join(FACT_TEXT[f] for f in sorted(v.facts) if f in FACT_TEXT)
            text = f"{facts}."
            front = cell.front
            row = [
                int(item["day"]),
                item["kind"],
                "",
                "",
                text,
                v.person,
                "possible victim",
                front,
                w.address_text(v.house),
                w.p_id[v.person],
            ]
            if item["kind"] == "hotline":
                row[3] = "Hotline call about workers/women at an address"
                hotline.append(row)
            elif item["kind"] == "inspection":
                row[3] = "Inspection: unregistered workers found"
                inspections.append(row)
            else:
                row[1], row[2], row[3] = (
                    "intelligence",
                    "A1",
                    "Safeguarding referral after police visit",
                )
                police.append(row)
        comps = [
            c
            for c in range(len(w.c_id))
            if w.c_country[c] in self.s.destinations and not w.c_front[c]
        ]
        for _ in range(max(5, len(comps) // 20)):  # routine inspections, mostly nothing found
            c = comps[int(rng.integers(0, len(comps)))]
            inspections.append(
                [
                    int(rng.integers(0, crime.days)),
                    "inspection",
                    "",
                    "Routine inspection",
                    str(
                        rng.choice(
                            [
                                "No breaches found.",
                                "Minor record-keeping breach.",
                                "Missing payslips for two workers.",
                            ]
                        )
                    ),
                    -1,
                    "",
                    c,
                    w.address_text(w.c_address[c]),
                    "",
                ]
            )
        for cell in crime.cells:  # fronts inspected while nobody was found (the ones that got away)
            if (
                cell.function == "exploitation"
                and rng.random() < 0.4
                and cell.form == "forced_labour"
            ):
                inspections.append(
                    [
                        int(rng.integers(0, crime.days)),
                        "inspection",
                        "",
                        "Routine inspection",
                        "Workers absent at the time of the visit; records incomplete.",
                        -1,
                        "",
                        cell.front,
                        w.address_text(w.c_address[cell.front]),
                        "",
                    ]
                )
        for name, rows, compartment, source in (
            ("police_intelligence.csv", police, "police", "police intelligence unit"),
            (
                "ngo_hotline_reports.csv",
                hotline,
                "victim-support",
                "anti-trafficking hotline (NGO)",
            ),
            ("labour_inspections.csv", inspections, "labour-inspectorate", "labour inspectorate"),
        ):
            rows.sort(key=lambda r: (r[0], r[9], r[7]))

            def render(
                rows: list[list[Any]] = rows, name: str = name, source: str = source
            ) -> Iterable[list[Any]]:
                for row, (day, kind, grading, title, text, p, role, c, address, _pid) in enumerate(
                    rows, start=2
                ):
                    t = crime.epoch + int(day) * 86400 + int(rng.integers(8 * 3600, 20 * 3600))
                    if p >= 0:
                        if kind == "hotline":  # a caller knows first names only
                            pname = self.name(p, "latin")[0]
                        elif kind == "intelligence" and w.p_alias[p] and rng.random() < 0.5:
                            pname = w.p_alias[p]  # known on the street by a nickname only
                        else:
                            g, f, _ = self.name(p, "latin")
                            pname = f"{g} {f}"
                        self.rec.mention(name, row, "person", w.p_id[p])
                    if c >= 0:
                        self.rec.mention(name, row, "organisation", w.c_id[c])
                    yield [
                        f"{name[:3].upper()}-{row - 1:06d}",
                        iso_ts(t),
                        source,
                        kind,
                        grading,
                        title,
                        text,
                        pname if p >= 0 else "",
                        self.dob(p) if p >= 0 and kind != "hotline" else "",
                        w.p_country[p] if p >= 0 else "",
                        w.p_phone[p] if p >= 0 and kind == "intelligence" else "",
                        role,
                        w.c_name[c] if c >= 0 else "",
                        w.c_reg[c] if c >= 0 else "",
                        address,
                        "",
                        w.c_country[c] if c >= 0 else (w.p_residence[p] if p >= 0 else ""),
                    ]

            write_csv(self.out / name, NOTES_HEADER, render())
            self.rec.listed(name, "notes", compartment, source)

    # -- goAML ------------------------------------------------------------------------------------
    def write_goaml(self, str_rows: list[dict[str, Any]], threshold: float) -> None:
        w = self.w
        by_bank: dict[int, list[dict[str, Any]]] = {}
        for r in str_rows:
            by_bank.setdefault(int(r["bank"]), []).append(r)
        for b, rows in sorted(by_bank.items()):
            bank = w.banks[b]
            name = f"goaml_str_{bank.code}.xml"
            root = etree.Element("report")
            for tag, text in (
                ("rentity_id", str(1000 + b)),
                ("rentity_branch", "Head office"),
                ("submission_code", "E"),
                ("report_code", "STR"),
                ("entity_reference", f"{bank.code.upper()}-FCU-{len(rows):04d}"),
                ("submission_date", iso_ts(max(r["ts"] for r in rows))[:19]),
                ("currency_code_local", bank.currency),
            ):
                etree.SubElement(root, tag).text = text
            etree.SubElement(root, "reason").text = (
                f"Cash deposits just below {threshold:,.0f}, third-party credits moved out within days and "
                "remittances abroad inconsistent with the customers' profiles."
            )
            for r in rows:
                tx = etree.SubElement(root, "transaction")
                etree.SubElement(tx, "transactionnumber").text = r["transaction_id"]
                etree.SubElement(tx, "transaction_description").text = r["reference"]
                etree.SubElement(tx, "date_transaction").text = iso_ts(r["ts"])[:19]
                etree.SubElement(tx, "transmode_code").text = (
                    "K" if r["ptype"] == "cash_deposit" else "A"
                )
                etree.SubElement(tx, "amount_local").text = f"{r['amount'] / 100:.2f}"
                self._party(
                    tx,
                    "from",
                    r["payer"],
                    cash_by=r["payee"] if r["ptype"] == "cash_deposit" else -1,
                )
                self._party(tx, "to", r["payee"])
                self.rec.mention(name, r["transaction_id"], "payer", w.holder_id(r["payer"]))
                self.rec.mention(name, r["transaction_id"], "payee", w.holder_id(r["payee"]))
            etree.ElementTree(root).write(
                str(self.out / name), xml_declaration=True, encoding="UTF-8", pretty_print=True
            )
            self.rec.listed(
                name, "goaml", "fiu", f"suspicious-transaction reports filed by {bank.name}"
            )

    def _party(self, tx: Any, side: str, acc: int, cash_by: int = -1) -> None:
        w = self.w
        node = etree.SubElement(tx, f"t_{side}_my_client")
        etree.SubElement(node, f"{side}_funds_code").text = "K" if cash_by >= 0 else "A"
        if cash_by >= 0:  # the person who brought the cash: the account holder
            h = w.acc_holder[cash_by]
            if w.acc_holder_kind[cash_by] == "person":
                self._person(etree.SubElement(node, f"{side}_person"), h, cash_by)
            etree.SubElement(node, f"{side}_country").text = w.banks[w.acc_bank[cash_by]].country
            return
        account = etree.SubElement(node, f"{side}_account")
        bank = w.banks[w.acc_bank[acc]]
        etree.SubElement(account, "institution_name").text = bank.name
        etree.SubElement(account, "swift").text = bank.bic
        etree.SubElement(account, "account").text = w.acc_id[acc]
        etree.SubElement(account, "currency_code").text = bank.currency
        if w.acc_holder_kind[acc] == "person":
            h = w.acc_holder[acc]
            g, f, _ = self.name(h, "latin", typo=0.0)
            etree.SubElement(account, "account_name").text = f"{g[:1]} {f.upper()}"
            sig = etree.SubElement(etree.SubElement(account, "signatory"), "t_person")
            self._person(sig, h, acc)
        elif w.acc_holder_kind[acc] == "company":
            c = w.acc_holder[acc]
            ent = etree.SubElement(account, "t_entity")
            etree.SubElement(ent, "name").text = w.c_name[c]
            etree.SubElement(ent, "incorporation_number").text = w.c_reg[c]
            etree.SubElement(ent, "incorporation_country_code").text = w.c_country[c]
        etree.SubElement(node, f"{side}_country").text = bank.country

    def _person(self, el: Any, p: int, acc: int) -> None:
        w = self.w
        g, f, _ = self.name(p, "latin", typo=0.0)
        etree.SubElement(el, "gender").text = "F" if w.p_sex[p] == "female" else "M"
        etree.SubElement(el, "first_name").text = g
        etree.SubElement(el, "last_name").text = f.upper()
        etree.SubElement(el, "birthdate").text = w.p_birth[p] + "T00:00:00"
        etree.SubElement(el, "passport_number").text = w.p_passport[p]
        etree.SubElement(el, "nationality1").text = w.p_country[p]
        # the KYC phone: a controlled account carries its controller's number
        controller = w.acc_controlled_by[acc]
        phone = w.p_phone[controller] if controller >= 0 else w.p_phone[p]
        ph = etree.SubElement(etree.SubElement(el, "phones"), "phone")
        etree.SubElement(ph, "tph_number").text = phone
        ad = etree.SubElement(etree.SubElement(el, "addresses"), "address")
        a = w.p_address[p]
        if a >= 0:
            etree.SubElement(ad, "address").text = w.a_street[a]
            etree.SubElement(ad, "city").text = w.a_city[a]
            etree.SubElement(ad, "country_code").text = w.a_country[a]


_NATIONAL: dict[str, str] = {}


def _national(phones: pa.Array, cc: str) -> pa.Array:
    """The operator writes its own subscribers' numbers in the national format (with the trunk
    prefix where the country has one: 07700 in the UK, 0740 in Romania, none in Spain).
    phonenumbers formats each distinct number once (the cache lives for the process)."""
    import phonenumbers

    uniq = pc.unique(phones).to_pylist()
    for number in uniq:
        if number.startswith(cc) and number not in _NATIONAL:
            parsed = phonenumbers.parse(number)
            text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
            _NATIONAL[number] = "".join(ch for ch in text if ch.isdigit())
    own = [n for n in uniq if n.startswith(cc)]
    keys = pa.array(own, pa.string())
    values = pa.array([_NATIONAL[n] for n in own], pa.string())
    idx = pc.index_in(phones, value_set=keys)
    mapped = pc.take(values, idx)
    return pc.if_else(pc.is_null(idx), phones, mapped)


TRAVEL_HEADER = (
    "record_id",
    "crossed_at",
    "direction",
    "border_point",
    "country",
    "from_country",
    "to_country",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "nationality",
    "document_type",
    "document_number",
    "document_country",
    "carrier",
    "vehicle",
)
COMPANY_HEADER = (
    "registration_number",
    "company_name",
    "jurisdiction",
    "incorporation_date",
    "legal_form",
    "address",
    "status",
    "sector",
    "officer_name",
    "officer_role",
    "officer_birth_date",
    "officer_nationality",
    "owner_name",
    "owner_type",
    "owner_registration_number",
    "owner_country",
    "share_pct",
)
LAND_HEADER = (
    "title_number",
    "country",
    "region",
    "city",
    "address",
    "property_type",
    "area_m2",
    "registered_at",
    "price",
    "currency",
    "owner_name",
    "owner_type",
    "owner_birth_date",
    "owner_id_number",
    "owner_registration_number",
    "share_pct",
)
EMPLOYMENT_HEADER = (
    "registration_id",
    "employer_registration_number",
    "employer_name",
    "employer_country",
    "employer_address",
    "employee_id_number",
    "first_name",
    "last_name",
    "full_name",
    "date_of_birth",
    "gender",
    "nationality",
    "phone",
    "address",
    "start_date",
    "end_date",
    "occupation",
    "declared_wage",
    "wage_currency",
    "wage_period",
)
ADS_HEADER = (
    "ad_id",
    "posted_at",
    "site",
    "category",
    "title",
    "body",
    "phone",
    "email",
    "location",
    "country",
    "price",
    "image_hashes",
)
NOTES_HEADER = (
    "note_id",
    "recorded_at",
    "source",
    "note_type",
    "grading",
    "title",
    "text",
    "person_name",
    "person_birth_date",
    "person_nationality",
    "person_phone",
    "person_role",
    "organisation_name",
    "organisation_registration_number",
    "address",
    "city",
    "country",
)
