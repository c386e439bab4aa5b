"""The ground truth, in ``DIR/truth/`` (never mixed into ``observed/``): who everyone really is,
the networks, cells, contracts and roles, every victim with the indicators an interview would reveal
and what they earned, kept and had taken, every criminal money flow and where each victim's money
ended, the assets bought, the proceeds per offender, and which rows were broken on purpose.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from palermo.simulate.banks import BankWriter
from palermo.simulate.crime import EU_ILO_LABOUR, HTCDS, ILO_FL, CrimeSim, child_code
from palermo.simulate.ledger import OWN
from palermo.simulate.sources import Recorder, iso_ts, write_csv
from palermo.simulate.world import World

README = """# Ground truth of a simulated case

Written by `palermo simulate` beside `observed/` (the files an investigation would receive) and
`manifest.json`. Nothing here is in `observed/`. Ids: persons `P…`, companies `C…`, addresses `A…`,
networks `N<n>`, cells `N<n>-<FUNCTION><k>`, contracts `K…`, assets `AS…`; accounts by their number.
Amounts are EUR unless a column says otherwise; times are UTC; days count from the start of the period.

| file | one row per | columns |
|---|---|---|
| `persons.csv` | person (background, offenders, victims, relatives) | person_id, role (background, victim, boss, recruiter, transporter, document_forger, exploiter, enforcer, money_handler, mule, corrupt_official, relative), network, cell, given_name, family_name (as the person writes them, native script), sex, birth_date, nationality, residence (at the end), passport, national_id, phone, email, address_id, alias, employer_id |
| `addresses.csv` | address | address_id, street, postcode, city, country |
| `companies.csv` | company | company_id, name, country, registration_number, sector, front_of (cell id for fronts and holdings), director_id, owner_person_id, owner_company_id, account |
| `accounts.csv` | bank account (and each bank's cash pseudo-account `CASH-…`) | account, bank, bank_country, currency, holder_kind (person, company, cash), holder_id, controlled_by (person id of who really uses it), purpose, opened |
| `phones.csv` | phone number | phone, person_id, kind (personal, work: the number in the ads) |
| `networks.csv` | network | network, boss_id, origin, holding_company_id, official_id |
| `cells.csv` | cell | cell_id, network, function (recruitment, transport, documents, exploitation, money), country, form, sector, leader_id, front_company_id, houses (address ids), vehicles, work_phone |
| `members.csv` | offender | person_id, network, cell_id, role |
| `contracts.csv` | deal between cells | contract_id, exploitation_cell, recruitment_cell, transport_cell, money_cell, documents_cell, start_day, end_day, start, end |
| `victims.csv` | victim | person_id, network, cell_id, contract_id, form, sector, origin, destination, recruited, travelled, arrived, exited, exit_reason (identified, escaped, still_exploited), house_id, controller_id, paid_into (victim_account, controller_account, cash, none), account, registered (in the employment register), forged_document, child (under 18 when recruited), debt_eur, earned_eur, kept_eur, taken_eur (= earned − kept), facts, ilo_indicators, htcds_methods_of_control, eu_ilo_indicators (`;`-separated) |
| `money_flows.csv` | criminal money flow (observed by a bank or not) | flow_id, time, source, target (ledger nodes: `acc:<account>`, `cash:<person>`, `kept:<victim>`, `fee:<mule>`, `asset:<id>`, `cost:<kind>`, `earned:<victim>`, `own`), amount_eur, stage (earnings, sweep, kept, allowance_withdrawal, handover, placement, layering, remittance, integration, fee, cost, mule_fee, bribe_cash, bribe, own_funds), observed, victim_id (earnings), victims_eur (the part that is victims' earnings), file, row, transaction_id |
| `money_holdings.csv` | (ledger node, victim) at the end | node, holder_id, victim_id (or `own`), eur — where each victim's money ended (proportional attribution) |
| `assets.csv` | asset bought with proceeds | asset_id, kind (real_estate, company_shares), country, bought, price_eur, network, beneficial_owner_id, registered_owner_id, paid_from_account, seller_id, title_number, company_id, from_victims_eur |
| `proceeds.csv` | offender | person_id, role, network, received_eur (criminal money into their accounts and cash), passed_on_eur, held_eur (at the end, incl. fees kept), assets_eur (assets they own beneficially) |
| `transactions.csv` | observed criminal transaction | file, row, transaction_id, label (wage, pooled_wage, sweep, sweep_atm, client_card, structuring, to_mule, to_remitter, remittance_home, mule_remittance, rent, ad_payment, recruiter_fee, transport_fee, forger_fee, asset_purchase, allowance_withdrawal), flow_id |
| `mentions.csv` | (row of a non-bank source, entity it names) | file, row (goAML: transaction number), role, true_id (person, company or asset id, or the ad's label) |
| `broken_rows.csv` | row broken on purpose (expected in the quarantine) | file, row, field, written, why |

Bank rows are traced through `accounts.csv` (every account in a bank file is there) and
`transactions.csv` (the criminal ones); call records through `phones.csv`.
"""


def _j(values: Any) -> str:
    return ";".join(sorted(str(v) for v in values))


def write_truth(
    out: Path, world: World, crime: CrimeSim, bank: BankWriter, rec: Recorder
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(README, encoding="utf-8")
    w = world
    members = crime.members
    write_csv(
        out / "persons.csv",
        (
            "person_id",
            "role",
            "network",
            "cell",
            "given_name",
            "family_name",
            "sex",
            "birth_date",
            "nationality",
            "residence",
            "passport",
            "national_id",
            "phone",
            "email",
            "address_id",
            "alias",
            "employer_id",
        ),
        (
            [
                w.p_id[p],
                members[p][2] if p in members else w.p_role[p],
                f"N{members[p][1] + 1}" if p in members else "",
                members[p][0] if p in members else "",
                w.p_given[p],
                w.p_family[p],
                w.p_sex[p],
                w.p_birth[p],
                w.p_country[p],
                w.p_residence[p],
                w.p_passport[p],
                w.p_natid[p],
                w.p_phone[p],
                w.p_email[p],
                w.a_id[w.p_address[p]] if w.p_address[p] >= 0 else "",
                w.p_alias[p],
                w.c_id[w.p_employer[p]] if w.p_employer[p] >= 0 else "",
            ]
            for p in range(len(w.p_id))
        ),
    )
    write_csv(
        out / "addresses.csv",
        ("address_id", "street", "postcode", "city", "country"),
        (
            [w.a_id[a], w.a_street[a], w.a_postcode[a], w.a_city[a], w.a_country[a]]
            for a in range(len(w.a_id))
        ),
    )
    write_csv(
        out / "companies.csv",
        (
            "company_id",
            "name",
            "country",
            "registration_number",
            "sector",
            "front_of",
            "director_id",
            "owner_person_id",
            "owner_company_id",
            "account",
        ),
        (
            [
                w.c_id[c],
                w.c_name[c],
                w.c_country[c],
                w.c_reg[c],
                w.c_sector[c],
                w.c_front[c],
                w.p_id[w.c_director[c]],
                w.p_id[w.c_owner_person[c]] if w.c_owner_person[c] >= 0 else "",
                w.c_id[w.c_owner_company[c]] if w.c_owner_company[c] >= 0 else "",
                w.acc_id[w.c_account[c]],
            ]
            for c in range(len(w.c_id))
        ),
    )
    write_csv(
        out / "accounts.csv",
        (
            "account",
            "bank",
            "bank_country",
            "currency",
            "holder_kind",
            "holder_id",
            "controlled_by",
            "purpose",
            "opened",
        ),
        (
            [
                w.acc_id[a],
                w.banks[w.acc_bank[a]].name,
                w.banks[w.acc_bank[a]].country,
                w.banks[w.acc_bank[a]].currency,
                w.acc_holder_kind[a],
                w.holder_id(a),
                w.p_id[w.acc_controlled_by[a]] if w.acc_controlled_by[a] >= 0 else "",
                w.acc_purpose[a],
                w.acc_opened[a],
            ]
            for a in range(len(w.acc_id))
        ),
    )
    phones = [[w.p_phone[p], w.p_id[p], "personal"] for p in range(len(w.p_id))]
    phones += [[c.work_phone, w.p_id[c.leader], "work"] for c in crime.cells if c.work_phone]
    write_csv(out / "phones.csv", ("phone", "person_id", "kind"), phones)
    write_csv(
        out / "networks.csv",
        ("network", "boss_id", "origin", "holding_company_id", "official_id"),
        (
            [
                f"N{n + 1}",
                w.p_id[b],
                w.p_country[b],
                w.c_id[crime.home_company[n]],
                w.p_id[crime.officials[n]] if n in crime.officials else "",
            ]
            for n, b in enumerate(crime.bosses)
        ),
    )
    write_csv(
        out / "cells.csv",
        (
            "cell_id",
            "network",
            "function",
            "country",
            "form",
            "sector",
            "leader_id",
            "front_company_id",
            "houses",
            "vehicles",
            "work_phone",
        ),
        (
            [
                c.id,
                f"N{c.network + 1}",
                c.function,
                c.country,
                c.form,
                c.sector,
                w.p_id[c.leader],
                w.c_id[c.front] if c.front >= 0 else "",
                _j(w.a_id[h] for h in c.houses),
                _j(c.vehicles),
                c.work_phone,
            ]
            for c in crime.cells
        ),
    )
    write_csv(
        out / "members.csv",
        ("person_id", "network", "cell_id", "role"),
        ([w.p_id[p], f"N{n + 1}", cell, role] for p, (cell, n, role) in sorted(members.items())),
    )
    write_csv(
        out / "contracts.csv",
        (
            "contract_id",
            "exploitation_cell",
            "recruitment_cell",
            "transport_cell",
            "money_cell",
            "documents_cell",
            "start_day",
            "end_day",
            "start",
            "end",
        ),
        (
            [
                k.id,
                k.exploitation.id,
                k.recruitment.id,
                k.transport.id,
                k.money.id,
                k.documents.id if k.documents else "",
                k.start,
                k.end,
                crime.iso(k.start),
                crime.iso(k.end),
            ]
            for k in crime.contracts
        ),
    )

    # where each victim's money is at the end (proportional attribution through every flow)
    holdings = []
    taken: dict[int, float] = defaultdict(float)
    held_by_node: dict[str, float] = defaultdict(float)
    for node, shares in sorted(crime.ledger.shares.items()):
        for tag, eur in sorted(shares.items()):
            if eur <= 0.005:
                continue
            holdings.append(
                [
                    node,
                    _node_holder(w, node, crime),
                    "own" if tag == OWN else w.p_id[tag],
                    f"{eur:.2f}",
                ]
            )
            held_by_node[node] += eur
            if tag != OWN and not node.startswith("kept:"):
                taken[tag] += eur
    write_csv(out / "money_holdings.csv", ("node", "holder_id", "victim_id", "eur"), holdings)

    rows = []
    for v in crime.victims:
        facts = v.facts
        eu = (
            sorted({c for f in facts for c in EU_ILO_LABOUR.get(f, ())})
            if v.form == "forced_labour"
            else []
        )
        child = (date_of(crime.iso(v.recruited)) - date_of(w.p_birth[v.person])).days < 18 * 365.25
        if child and eu:
            eu = sorted({child_code(c) for c in eu})
        rows.append(
            [
                w.p_id[v.person],
                f"N{v.network + 1}",
                v.contract.exploitation.id,
                v.contract.id,
                v.form,
                v.sector,
                v.contract.recruitment.country,
                v.contract.exploitation.country,
                crime.iso(v.recruited),
                crime.iso(v.travel),
                crime.iso(v.arrival),
                crime.iso(min(v.exit, crime.days - 1)),
                v.exit_reason,
                w.a_id[v.house],
                w.p_id[v.controller],
                v.paid_into,
                w.acc_id[v.account] if v.account >= 0 else "",
                int(v.registered),
                v.forged_document,
                int(child),
                f"{v.debt_eur:.2f}",
                f"{v.earned:.2f}",
                f"{v.kept:.2f}",
                f"{v.earned - v.kept:.2f}",
                _j(facts),
                _j(ILO_FL[f] for f in facts if f in ILO_FL),
                _j(HTCDS[f] for f in facts if f in HTCDS),
                _j(eu),
            ]
        )
    write_csv(
        out / "victims.csv",
        (
            "person_id",
            "network",
            "cell_id",
            "contract_id",
            "form",
            "sector",
            "origin",
            "destination",
            "recruited",
            "travelled",
            "arrived",
            "exited",
            "exit_reason",
            "house_id",
            "controller_id",
            "paid_into",
            "account",
            "registered",
            "forged_document",
            "child",
            "debt_eur",
            "earned_eur",
            "kept_eur",
            "taken_eur",
            "facts",
            "ilo_indicators",
            "htcds_methods_of_control",
            "eu_ilo_indicators",
        ),
        rows,
    )

    # flows, with the bank row that shows each observed one
    flow_rows = []
    received: dict[int, float] = defaultdict(float)
    passed: dict[int, float] = defaultdict(float)
    for f in crime.ledger.flows:
        where: tuple[str, ...] = ("", "", "")
        tx_index = crime.flow_tx.get(f.flow_id)
        if tx_index is not None and tx_index in bank.located:
            where = tuple(str(x) for x in bank.located[tx_index])
        flow_rows.append(
            [
                f.flow_id,
                iso_ts(f.ts),
                f.src,
                f.dst,
                f"{f.amount_eur:.2f}",
                f.stage,
                int(f.observed),
                w.p_id[f.victim] if f.victim != OWN else "",
                f"{f.victims_eur:.2f}",
                *where,
            ]
        )
        for node, book in ((f.dst, received), (f.src, passed)):
            owner = _node_person(w, node, crime)
            if owner >= 0 and owner in members:
                book[owner] += f.amount_eur
    write_csv(
        out / "money_flows.csv",
        (
            "flow_id",
            "time",
            "source",
            "target",
            "amount_eur",
            "stage",
            "observed",
            "victim_id",
            "victims_eur",
            "file",
            "row",
            "transaction_id",
        ),
        flow_rows,
    )

    assets_by_owner: dict[int, float] = defaultdict(float)
    asset_rows = []
    for a in crime.assets:
        node = f"asset:{a['asset_id']}"
        from_victims = sum(v for t, v in crime.ledger.shares.get(node, {}).items() if t != OWN)
        assets_by_owner[int(a["beneficial_owner"])] += float(a["price_eur"])
        company = a.get("company")
        asset_rows.append(
            [
                a["asset_id"],
                a["kind"],
                a["country"],
                crime.iso(int(a["day"])),
                f"{float(a['price_eur']):.2f}",
                f"N{int(a['network']) + 1}",
                w.p_id[int(a["beneficial_owner"])],
                w.p_id[int(a["registered_owner"])],
                w.acc_id[int(a["paid_from_account"])],
                w.p_id[int(a["seller"])],
                a["title"],
                w.c_id[int(company)] if company is not None else "",
                f"{from_victims:.2f}",
            ]
        )
    write_csv(
        out / "assets.csv",
        (
            "asset_id",
            "kind",
            "country",
            "bought",
            "price_eur",
            "network",
            "beneficial_owner_id",
            "registered_owner_id",
            "paid_from_account",
            "seller_id",
            "title_number",
            "company_id",
            "from_victims_eur",
        ),
        asset_rows,
    )

    held: dict[int, float] = defaultdict(float)
    for node, eur in held_by_node.items():
        if node.startswith("asset:"):
            continue  # counted in assets_eur
        owner = _node_person(w, node, crime)
        if owner >= 0:
            held[owner] += eur
    write_csv(
        out / "proceeds.csv",
        ("person_id", "role", "network", "received_eur", "passed_on_eur", "held_eur", "assets_eur"),
        (
            [
                w.p_id[p],
                role,
                f"N{n + 1}",
                f"{received[p]:.2f}",
                f"{passed[p]:.2f}",
                f"{held[p]:.2f}",
                f"{assets_by_owner[p]:.2f}",
            ]
            for p, (_cell, n, role) in sorted(members.items())
        ),
    )

    tx_rows = []
    for i, row in enumerate(crime.obs.tx):
        if i in bank.located:
            file, line, tx_id = bank.located[i]
            tx_rows.append([file, line, tx_id, row[7], row[6] if row[6] >= 0 else ""])
    tx_rows.sort(key=lambda r: (r[0], r[1]))
    write_csv(
        out / "transactions.csv", ("file", "row", "transaction_id", "label", "flow_id"), tx_rows
    )
    write_csv(out / "mentions.csv", ("file", "row", "role", "true_id"), rec.mentions)
    write_csv(
        out / "broken_rows.csv",
        ("file", "row", "field", "written", "why"),
        ([f"observed/{b.file}", b.row, b.field, b.written, b.why] for b in bank.broken),
    )
    return {
        "victims": len(crime.victims),
        "offenders": len(members),
        "networks": len(crime.bosses),
        "cells": len(crime.cells),
        "assets": len(crime.assets),
        "criminal_transactions": len(tx_rows),
        "broken_rows": len(bank.broken),
        "victims_earned_eur": round(sum(v.earned for v in crime.victims), 2),
        "victims_taken_eur": round(sum(taken.values()), 2),
    }


def date_of(iso: str) -> Any:
    from datetime import date

    return date.fromisoformat(iso)


def _node_person(w: World, node: str, crime: CrimeSim) -> int:
    kind, _, rest = node.partition(":")
    if kind in ("cash", "fee"):
        return int(rest)
    if kind == "acc":
        acc = int(rest)
        if w.acc_controlled_by[acc] >= 0:
            return w.acc_controlled_by[acc]
        if w.acc_holder_kind[acc] == "person":
            return w.acc_holder[acc]
        if w.acc_holder_kind[acc] == "company":  # a front's money is its boss's
            front = w.c_front[w.acc_holder[acc]]
            for cell in crime.cells:
                if cell.id == front:
                    return cell.leader
            if front.endswith("-BOSS"):
                return crime.bosses[int(front[1:].split("-")[0]) - 1]
    if kind == "asset":
        for a in crime.assets:
            if a["asset_id"] == rest:
                return int(a["beneficial_owner"])
    return -1


def _node_holder(w: World, node: str, crime: CrimeSim) -> str:
    p = _node_person(w, node, crime)
    if p >= 0:
        return w.p_id[p]
    kind, _, rest = node.partition(":")
    if kind == "kept":
        return w.p_id[int(rest)]
    return ""
