"""``palermo victims leads``: possible victims found in the workspace's data without an interview,
each with the signals that point to them and the rows behind every signal (for outreach by
victim-support and labour inspectors, never an accusation).

Signals (kind, strength: strong 3, medium 2, weak 1 point; a kind counts once per person):

- ``note_indicators``: a note (NGO hotline, labour inspection, police) names the person and its
  text says what an interview would ask: passport kept, debt, wages taken ... Each phrase maps to
  an ILO/EC operational indicator (``phrases.yml``); the person's indicators from all notes are
  screened with the combination rule (``screen.py``, adult labour list): ``victim`` -> strong,
  ``possible`` -> medium, else weak when a note calls the person a possible victim.
- ``wages_for_another``: a salary paid into an account held by someone else whose reference names
  the person (pooled wages, FATF F1): strong.
- ``wages_passed_on``: most (``pass_share``) of a salary paid into the person's own account goes
  to one other person within ``pass_days`` days, at least twice: medium (the account is used
  by someone else: a controller).
- ``travelled_with_suspect``: the person crossed a border in the same vehicle on the same day as
  a suspect (an offender role in the network findings or a police note, or the holder of others'
  wages above), in a group of at most ``travel_max_group``: medium.
- ``network_role_victim``: the network's role model (``palermo network analyze``) calls the
  person a victim (finding ``network.role.victim``): medium.
- ``below_minimum_wage``: registered by an employer of a high-risk sector
  (``network.roles.HIGH_RISK_SECTORS``) at a declared wage below the full-time statutory minimum
  in force when the registration started (``wages.py``; part-time work is lawful, hence not
  strong): medium.
- ``shared_contact_phone``: the person is registered as an employee with a phone that at least
  ``phone_min`` registered employees give (a gangmaster's, as inspectors find): medium.
- ``crowded_address``: the person is registered as an employee at an address where at least
  ``address_min`` employees are registered: weak.

Lead: at least ``min_score`` points (default 3: one strong signal, or two kinds). A person with an
offender role (network role findings, a police note's role) and a lead is flagged for
**non-punishment** (Palermo Protocol art. 26 of the CoE Convention: a victim is not to be
punished for offences they were compelled to commit): the investigator and prosecutor should
check before charging.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from palermo.errors import PalermoError
from palermo.finance.proceeds import SALARY, _words
from palermo.network.roles import HIGH_RISK_SECTORS
from palermo.params import numeric_params
from palermo.store import findings as F
from palermo.store.money import money_tables
from palermo.store.victims import pseudonym, reveal, shown_label, victim_tables
from palermo.store.workspace import Store
from palermo.victims.screen import screen
from palermo.victims.wages import full_time_monthly_minimum, monthly

PHRASES = Path(__file__).with_name("phrases.yml")
POINTS = {"strong": 3, "medium": 2, "weak": 1}
#: offender roles of the role model and of police notes (victims are not among them)
OFFENDER_ROLES = (
    "boss", "recruiter", "transporter", "exploiter", "enforcer", "money_handler",
    "document_forger", "official", "mule", "controller", "subject",
)  # fmt: skip
SHOWN = 20  # evidence rows kept per signal in a finding
SIGNALS = ("note_indicators", "wages_for_another", "wages_passed_on", "travelled_with_suspect",
           "network_role_victim", "below_minimum_wage", "shared_contact_phone",
           "crowded_address")  # fmt: skip


@dataclass(frozen=True)
class LeadParams:
    min_score: int = 3
    address_min: int = 4  # registered employees at one address
    pass_share: float = 0.7  # of a salary, to one other person
    pass_days: int = 3
    pass_times: int = 2  # salaries passed on
    travel_max_group: int = 9  # travellers in one vehicle on one day (more: a coach, a ferry)
    phone_min: int = 3  # registered employees giving one phone

    @classmethod
    def parse(cls, values: dict[str, str]) -> LeadParams:
        return cls(**numeric_params(cls, values, positive=True))  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def phrase_rules() -> dict[str, list[re.Pattern[str]]]:
    with PHRASES.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return {code: [re.compile(p, re.I) for p in pats] for code, pats in data["codes"].items()}


def indicators_in(text: str | None) -> list[tuple[str, str]]:
    """(code, the words that matched) for every indicator a note's text shows."""
    found = []
    for code, pats in phrase_rules().items():
        for p in pats:
            m = p.search(text or "")
            if m:
                found.append((code, m.group(0)))
                break
    return found


def find_leads(
    store: Store, *, out: Path | None = None, params: LeadParams | None = None
) -> dict[str, Any]:
    p = params or LeadParams()
    vt = victim_tables(store, "victims.leads")
    label = {r["node"]: r["label"] for r in vt.labels.to_pylist()}
    signals: dict[str, list[dict[str, Any]]] = defaultdict(list)  # person -> signal rows

    def add(person: str, kind: str, strength: str, evidence: str | None, detail: str) -> None:
        signals[person].append(
            {"signal": kind, "strength": strength, "evidence": evidence, "detail": detail}
        )

    # -- notes: phrases -> indicators -> the combination rule ------------------------------------
    codes: dict[str, dict[str, list[str]]] = defaultdict(dict)  # person -> code -> refs
    offender_notes: dict[str, set[str]] = defaultdict(set)
    named_victim: dict[str, list[str]] = defaultdict(list)
    for m in vt.mentions.to_pylist():
        role = (m["role"] or "").strip().lower()
        if role.replace(" ", "_") in OFFENDER_ROLES and role != "subject":
            offender_notes[m["person"]].add(role)
        if "victim" in role:
            named_victim[m["person"]].append(m["evidence"])
        for code, words in indicators_in(m["text"]):
            codes[m["person"]].setdefault(code, []).append(m["evidence"])
            add(m["person"], "note_phrase", "-", m["evidence"], f"{code}: {words!r}")
    screened: dict[str, dict[str, Any]] = {}
    for person in set(codes) | set(named_victim):
        found = sorted(codes.get(person, {}))
        s = screen("labour", found)
        screened[person] = s
        strength = {"victim": "strong", "possible": "medium"}.get(s["decision"])
        if strength is None and person in named_victim:
            strength = "weak"
        if strength:
            refs = sorted({r for c in found for r in codes[person][c]} | set(named_victim[person]))
            add(person, "note_indicators", strength, ";".join(refs[:SHOWN]),
                f"screening {s['decision']} ({', '.join(found) or 'no indicator'}"
                + ("; a note calls them a possible victim" if person in named_victim else "")
                + ")")  # fmt: skip
    # -- money: wages named for another, wages passed on -----------------------------------------
    tables = money_tables(store, [])
    controllers: dict[str, str] = {}  # node -> why (the holder of others' wages)
    acc_node = {a["account"]: a["node"] for a in tables.accounts.to_pylist() if a["node"]}
    persons = set(label)
    words_of: dict[str, set[str]] = defaultdict(set)
    for r in tables.names.to_pylist():
        if r["node"] in persons:
            words_of[r["node"]] |= _words(r["name"]) | _words(r["translit"])
    by_word: dict[str, set[str]] = defaultdict(set)
    for node, ws in words_of.items():
        for w in ws:
            by_word[w].add(node)
    pay = tables.payments.to_pylist()
    salaries = [
        x for x in pay if SALARY.search(f"{x['payment_type'] or ''} {x['reference'] or ''}")
    ]
    for x in salaries:
        holder = acc_node.get(x["dst"])
        ref_words = _words(x["reference"])
        cands: dict[str, int] = defaultdict(int)
        for w in ref_words:
            for node in by_word.get(w, ()):
                cands[node] += 1
        # the reference names a person when it carries every word of their name (two or more)
        hit = [
            n
            for n, k in cands.items()
            if k >= 2 and n != holder and len(words_of[n]) >= 2 and words_of[n] <= ref_words
        ]
        if len({frozenset(words_of[n]) for n in hit}) == 1 and len(hit) > 1:
            hit = [min(hit)]  # the same name left apart by resolution: one person
        if len(hit) == 1 and holder is not None:
            controllers[holder] = "receives wages named for others"
            # the reference itself is not repeated: it carries the person's name
            add(hit[0], "wages_for_another", "strong", x["evidence"],
                f"salary {x['amount']} {x['currency']} paid into {x['dst']}, held by"
                f" {label.get(holder, holder)}; its reference names the person")  # fmt: skip
    for person, rows in _passed_on(tables, acc_node, p).items():
        for r in rows:
            add(person, "wages_passed_on", "medium", r["evidence"], r["detail"])
            controllers.setdefault(r["to"], "receives most of another person's wages")
    # -- registrations: a high-risk sector declaring less than the full-time minimum -----------
    for e in vt.employments.to_pylist():
        why = _below_minimum(e)
        if why:
            add(e["employee"], "below_minimum_wage", "medium", e["evidence"], why)
    # -- registrations: many workers giving one phone (a gangmaster's) --------------------------
    by_phone: dict[str, dict[str, str]] = defaultdict(dict)
    for e in vt.employments.to_pylist():
        if e["phone"]:
            by_phone[str(e["phone"])][e["employee"]] = e["evidence"]
    for phone, people in by_phone.items():
        if len(people) >= p.phone_min:
            for person, ev in people.items():
                add(person, "shared_contact_phone", "medium", ev,
                    f"{len(people)} registered employees give the phone {phone}")  # fmt: skip
    # -- registrations: many employees at one address -------------------------------------------
    at: dict[str, dict[str, str]] = defaultdict(dict)
    for e in vt.employments.to_pylist():
        key = _address_key(e["address"])
        if key:
            at[key][e["employee"]] = e["evidence"]
    for people in at.values():
        if len(people) >= p.address_min:
            for person, ev in people.items():
                add(person, "crowded_address", "weak", ev,
                    f"{len(people)} registered employees at this address")  # fmt: skip
    # -- roles: offenders among the leads (non-punishment) --------------------------------------
    roles_read = F.read(store, "network.role.")
    role_findings = {
        f["subject_ids"][0]: f["kind"].split(".")[-1]
        for f in roles_read
        if not f["kind"].endswith(".victim")
    }
    for f in roles_read:  # the role model (palermo network analyze) calls them a victim
        if f["kind"].endswith(".victim"):
            add(f["subject_ids"][0], "network_role_victim", "medium", None,
                f"network role model: victim (p {float(f['score'] or 0):.2f}; finding"
                f" {f['id']})")  # fmt: skip
    # -- travel: crossed a border in the same vehicle on the same day as a suspect ---------------
    suspects = {n: f"named as {r} (network roles)" for n, r in role_findings.items()}
    suspects |= {n: f"named as {', '.join(sorted(r))} in a note" for n, r in offender_notes.items()}
    for n, why in controllers.items():
        suspects.setdefault(n, why)
    trips: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    plate: dict[str, str] = {}
    for t in vt.trips.to_pylist():
        trips[(t["vehicle"], t["day"])][t["person"]] = t["evidence"]
        plate[t["vehicle"]] = t["plate"]
    for (vehicle, day), people in sorted(trips.items()):
        if len(people) > p.travel_max_group:
            continue
        with_ = [x for x in people if x in suspects]
        for person, ev in people.items():
            others = [x for x in with_ if x != person]
            if others and person not in suspects:
                s0 = others[0]
                add(person, "travelled_with_suspect", "medium",
                    ";".join([ev, people[s0]]),
                    f"crossed on {day} in vehicle {plate[vehicle]} with {label.get(s0, s0)}"
                    f" ({suspects[s0]})")  # fmt: skip
    rows = []
    for person, sig in signals.items():
        kinds: dict[str, str] = {}
        for x in sig:
            if x["strength"] in POINTS and POINTS[x["strength"]] > POINTS.get(
                kinds.get(x["signal"], ""), 0
            ):
                kinds[x["signal"]] = x["strength"]
        score = sum(POINTS[v] for v in kinds.values())
        roles = sorted(
            offender_notes.get(person, set())
            | ({role_findings[person]} if person in role_findings else set())
        )
        sc = screened.get(person)
        rows.append({
            "person": person, "label": shown_label(store, person, label.get(person)),
            "score": score,
            "lead": score >= p.min_score,
            "signals": ";".join(f"{k}:{v}" for k, v in sorted(kinds.items())),
            "screening": sc["decision"] if sc else "",
            "indicators": ";".join(i["code"] for i in sc["indicators"]) if sc else "",
            "offender_roles": ";".join(roles),
            "non_punishment": score >= p.min_score and bool(roles),
            "evidence_rows": sum(1 for x in sig if x["evidence"]),
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["score"], r["label"], r["person"]))
    leads = [r for r in rows if r["lead"]]
    reveal(store, [r["person"] for r in rows], "victims.leads")
    stored = [
        _lead_finding(r, pseudonym(store, r["person"]), signals[r["person"]],
                      screened.get(r["person"]), p)
        for r in leads
    ]  # fmt: skip
    F.replace(store, "victims.lead", stored, {"leads": len(stored), "params": asdict(p)})
    result = {
        "persons_with_signals": len(rows),
        "leads": len(leads),
        "non_punishment": sum(1 for r in leads if r["non_punishment"]),
        "by_signal": {k: sum(1 for r in leads if f"{k}:" in r["signals"]) for k in SIGNALS},
        "params": asdict(p),
        "top": leads[:10],
        "notes": vt.notes,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _write(out / "leads.csv", rows)
        shown = {r["person"]: r["label"] for r in rows}
        _write(out / "signals.csv", [
            {"person": person, "label": shown[person], **s}
            for person, sig in sorted(signals.items()) for s in sig
        ])  # fmt: skip
        (out / "summary.json").write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return result


def _passed_on(
    tables: Any, acc_node: dict[str, str], p: LeadParams
) -> dict[str, list[dict[str, Any]]]:
    """Salaries into a person's own account of which ``pass_share`` goes to one other person
    within ``pass_days`` days (SQL over the payments)."""
    con = duckdb.connect()
    try:
        con.register("pay", tables.payments)
        con.register("acc", tables.accounts)
        rows = (
            con.sql(
                f"""WITH sal AS (
              SELECT p.tid, p.ts, p.dst AS account, a.node, p.amount, p.currency, p.evidence
              FROM pay p JOIN acc a ON a.account = p.dst
              WHERE a.node IS NOT NULL AND NOT a.company
                AND regexp_matches(coalesce(p.payment_type, '') || ' ' || coalesce(p.reference, ''),
                  '{SALARY.pattern}', 'i')
            ), outs AS (
              SELECT s.tid, s.node, s.account, s.amount AS salary, s.currency, s.evidence, s.ts,
                b.node AS to_node, sum(o.amount) AS passed, list(o.evidence) AS out_evidence
              FROM sal s JOIN pay o ON o.src = s.account AND o.ts >= s.ts
                AND o.ts <= s.ts + INTERVAL {int(p.pass_days)} DAY
              JOIN acc b ON b.account = o.dst
              WHERE b.node IS NOT NULL AND b.node <> s.node AND NOT b.cash
              GROUP BY ALL
            ), hit AS (
              SELECT * FROM outs WHERE passed >= {float(p.pass_share)} * salary
            )
            SELECT node, to_node, tid, ts::VARCHAR AS ts, salary, currency, passed, evidence,
              out_evidence, count(*) OVER (PARTITION BY node, to_node) AS times
            FROM hit ORDER BY node, ts"""
            )
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["times"] >= p.pass_times:
            out[r["node"]].append({
                "to": r["to_node"],
                "evidence": ";".join([r["evidence"], *r["out_evidence"][:5]]),
                "detail": f"salary {r['salary']:.2f} {r['currency']} on {r['ts'][:10]}:"
                f" {r['passed']:.2f} to {r['to_node']} within {p.pass_days} days"
                f" ({r['times']} times)",
            })  # fmt: skip
    return out


def _address_key(address: str | None) -> str | None:
    if not address:
        return None
    key = " ".join(re.split(r"[^\w]+", address.casefold())).strip()
    return key or None


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        if not rows:
            f.write("")
            return
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def screen_person(store: Store, person: str) -> dict[str, Any]:
    """Screen one workspace person (node id, entity id or name) on what the notes naming them
    say: the indicators their phrases show, through the combination rule, with the note rows."""
    vt = victim_tables(store, f"victims.screen {person}")
    labels = vt.labels.to_pylist()
    node = find_person(store, person, labels)
    evidence: dict[str, list[dict[str, str]]] = defaultdict(list)
    for m in vt.mentions.to_pylist():
        if m["person"] != node:
            continue
        for code, words in indicators_in(m["text"]):
            evidence[code].append({"evidence": m["evidence"], "words": words,
                                   "publisher": m["publisher"] or "", "at": m["created"] or ""})  # fmt: skip
    result = screen("labour", sorted(evidence))
    result["person"] = node
    result["label"] = shown_label(
        store, node, next(r["label"] for r in labels if r["node"] == node)
    )
    reveal(store, [node], "victims.screen")
    result["evidence"] = dict(evidence)
    result["source_of_indicators"] = (
        "notes naming the person, read by the phrase rules of palermo/victims/phrases.yml"
    )
    return result


def _lead_finding(
    r: dict[str, Any],
    alias: str,
    sig: list[dict[str, Any]],
    sc: dict[str, Any] | None,
    p: LeadParams,
) -> F.Finding:
    # the stored text names the person by pseudonym: a finding outlives who wrote it, and its
    # readers may not be entitled to the name (the subject id leads to it for those who are)
    text = f"Possible victim for outreach: {alias} ({r['score']} points: {r['signals']})"
    if r["screening"]:
        text += f"; screening of notes: {r['screening']}"
    if r["non_punishment"]:
        text += f". Non-punishment: also named as {r['offender_roles']}; check before charging"
    return F.Finding(
        "victims.lead", [r["person"]], float(r["score"]), text + ".",
        [{"signals": sig[: SHOWN * 4], "screening": sc}],
        {"params": asdict(p), "module": "palermo.victims.leads", "points": POINTS,
         "phrases": "palermo/victims/phrases.yml"},
    )  # fmt: skip


def find_person(store: Store, person: str, labels: list[dict[str, Any]]) -> str:
    """A person's node from its node id, its pseudonym (V-...) or, for the roles that see
    victims' names, its name (the same words, in any order and alphabet)."""
    node = next((r["node"] for r in labels if r["node"] == person), None)
    if node is None and person.startswith("V-"):
        node = next((r["node"] for r in labels if pseudonym(store, r["node"]) == person), None)
    if node is None and not store.scope.sees_victim_names:
        raise PalermoError(
            f"no person {person!r}: your role sees victims by pseudonym (V-...) or node id only"
        )
    if node is None:
        wanted = _words(person)
        matches = sorted({r["node"] for r in labels if wanted and _words(r["label"]) == wanted})
        if len(matches) > 1:
            raise PalermoError(
                f"{person!r} names {len(matches)} persons: give one of {', '.join(matches[:10])}"
            )
        node = matches[0] if matches else None
    if node is None:
        raise PalermoError(f"no person {person!r} in this workspace (or not in your compartments)")
    return str(node)


def _below_minimum(e: dict[str, Any]) -> str | None:
    """A registration in a high-risk sector declaring a monthly wage below the full-time
    statutory minimum in force when it started (the detail), else None."""
    if (e["sector"] or "") not in HIGH_RISK_SECTORS or not e["declared"] or not e["start_date"]:
        return None
    parts = str(e["declared"]).split()
    if len(parts) != 3:
        return None
    try:
        amount = float(parts[0])
        start = date.fromisoformat(str(e["start_date"])[:10])
    except ValueError:
        return None
    per_month = monthly(amount, parts[2])
    floor = full_time_monthly_minimum(str(e["employer_country"] or ""), start)
    if per_month is None or floor is None or floor[1] != parts[1].upper():
        return None
    if per_month >= floor[0]:
        return None
    return (
        f"declared {per_month:,.2f} {floor[1]} a month in {e['sector']}, below the full-time"
        f" minimum of {floor[0]:,.2f} ({floor[2]})"
    )
