"""``palermo victims case``: a victim's path through the National Referral Mechanism, recorded as
events and checked at every step (``../shared/DOMAIN.md`` section 9, OSCE/ODIHR NRM Handbook):

    detected -> screened -> referred -> rg_positive | rg_negative
    rg_positive (the recovery and reflection period starts) -> cg_positive | cg_negative
    cg_positive -> assistance -> residence | return -> proceedings -> compensation -> closed

A stage may only follow the stages listed for it in ``NEXT`` (a negative decision may be
reconsidered: back to ``referred``; a case may be closed from any stage and reopened to
``screened``). A referral to a service provider needs the person's **consent**, recorded and
not revoked since; revoking it stops further referrals (the history stays). Deadlines derived
from the events:

- reasonable-grounds decision due 5 working days after the referral (the UK's target; a
  target, not a law elsewhere: said so);
- recovery and reflection period from a positive reasonable-grounds decision: at least 30 days
  (Council of Europe Convention, art. 13; no removal during it), longer if the case sets it.

The state of a case is derived from its events (nothing overwritten); every read and write is
audited by the store (``store.referral``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from palermo.errors import PalermoError
from palermo.store import referral as R
from palermo.store.victims import reveal, shown_label, victim_tables
from palermo.store.workspace import Store
from palermo.victims.leads import find_person

NEXT: dict[str, tuple[str, ...]] = {
    "detected": ("screened",),
    "screened": ("referred",),
    "referred": ("rg_positive", "rg_negative"),
    "rg_negative": ("referred",),
    "rg_positive": ("cg_positive", "cg_negative"),
    "cg_negative": ("referred",),
    "cg_positive": ("assistance", "residence", "return", "proceedings", "compensation"),
    "assistance": ("residence", "return", "proceedings", "compensation"),
    "residence": ("proceedings", "compensation"),
    "return": ("proceedings", "compensation"),
    "proceedings": ("compensation",),
    "compensation": (),
    "closed": ("screened",),
}
STAGES = tuple(NEXT)
REFLECTION_DAYS = 30  # CoE Convention art. 13: at least 30 days
RG_WORKING_DAYS = 5  # UK target for the reasonable-grounds decision
NEXT_STEP = {
    "detected": "screen with the indicators (palermo victims screen) and seek consent",
    "screened": "refer to the competent authority (first responder), with consent",
    "referred": "reasonable-grounds decision",
    "rg_negative": "reconsideration may be asked (back to referred), or close",
    "rg_positive": "offer assistance and shelter during the reflection period; no removal;"
    " conclusive-grounds decision",
    "cg_negative": "reconsideration may be asked (back to referred), or close",
    "cg_positive": "assistance, residence permit or safe return; support in proceedings",
    "assistance": "residence or return; proceedings; compensation claim (palermo victims wages)",
    "residence": "proceedings; compensation claim (palermo victims wages)",
    "return": "proceedings; compensation claim (palermo victims wages)",
    "proceedings": "compensation claim (palermo victims wages)",
    "compensation": "close when paid or refused",
    "closed": "reopen (to screened) if needed",
}


def _working_days_after(day: date, n: int) -> date:
    d = day
    while n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def state(c: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """Stage, consent, referrals and deadlines of a case from its events."""
    today = today or date.today()
    stage, consent, consent_at = "detected", "none", None
    stages, referrals, deadlines = [], [], []
    reflection_days = REFLECTION_DAYS
    for ev in c["events"]:
        if ev["kind"] == "stage":
            stage = ev["value"]
            stages.append({"stage": stage, "on": ev["effective"], "by": ev["actor"],
                           **ev["details"]})  # fmt: skip
            if stage == "rg_positive":
                reflection_days = int(ev["details"].get("reflection_days") or REFLECTION_DAYS)
        elif ev["kind"] == "consent":
            consent, consent_at = ev["value"], ev["effective"]
        elif ev["kind"] == "referral":
            referrals.append({"provider": ev["value"], "on": ev["effective"], **ev["details"]})
    last = {s["stage"]: date.fromisoformat(s["on"]) for s in stages}
    if stage == "referred":
        due = _working_days_after(last["referred"], RG_WORKING_DAYS)
        deadlines.append({"what": "reasonable-grounds decision", "due": due.isoformat(),
                          "overdue": today > due,
                          "basis": f"UK target of {RG_WORKING_DAYS} working days after referral"
                                   " (a target, not a rule everywhere)"})  # fmt: skip
    if "rg_positive" in last and stage in ("rg_positive", "cg_positive", "cg_negative"):
        until = last["rg_positive"] + timedelta(days=reflection_days)
        deadlines.append({"what": "recovery and reflection period: no removal",
                          "until": until.isoformat(), "running": today <= until,
                          "basis": f"{reflection_days} days from the positive reasonable-grounds"
                                   " decision (CoE Convention art. 13: at least 30)"})  # fmt: skip
    return {
        "stage": stage,
        "next": list(NEXT[stage]) + ([] if stage == "closed" else ["closed"]),
        "next_step": NEXT_STEP[stage],
        "consent": consent,
        "consent_since": consent_at,
        "stages": stages,
        "referrals": referrals,
        "deadlines": deadlines,
    }


def _names(store: Store, purpose: str) -> dict[str, str]:
    return {r["node"]: r["label"] for r in victim_tables(store, purpose).labels.to_pylist()}


def _case_view(
    store: Store, c: dict[str, Any], today: date | None, names: dict[str, str] | None = None
) -> dict[str, Any]:
    names = names if names is not None else _names(store, f"victims.case {c['case_id']}")
    reveal(store, [c["person"]], f"victims.case {c['case_id']}")
    return {**c, "label": shown_label(store, c["person"], names.get(c["person"])),
            **state(c, today)}  # fmt: skip


def open_case(store: Store, person: str, on: date | None = None) -> dict[str, Any]:
    vt = victim_tables(store, "victims.case.open")
    node = find_person(store, person, vt.labels.to_pylist())
    case_id = R.open_case(store, node, on or date.today())
    return show(store, case_id)


def set_stage(
    store: Store, case_id: str, stage: str, on: date | None = None, *,
    by: str | None = None, note: str | None = None, reflection_days: int | None = None,
    today: date | None = None,
) -> dict[str, Any]:  # fmt: skip
    if stage not in STAGES:
        raise PalermoError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    c = R.case(store, case_id, audit_read=False)
    now = state(c, today)
    if stage not in now["next"]:
        raise PalermoError(
            f"{case_id} is {now['stage']}: it can go to {', '.join(now['next'])}, not {stage}"
        )
    on = on or date.today()
    if c["events"] and on < date.fromisoformat(c["events"][-1]["effective"]):
        raise PalermoError(
            f"{case_id}: {on} is before the case's last event ({c['events'][-1]['effective']})"
        )
    details: dict[str, Any] = {}
    if by:
        details["decided_by"] = by
    if note:
        details["note"] = note
    if reflection_days is not None:
        if stage != "rg_positive":
            raise PalermoError("a reflection period is set with the rg_positive decision")
        if reflection_days < REFLECTION_DAYS:
            raise PalermoError(
                f"reflection period {reflection_days} days: the CoE Convention (art. 13) asks for"
                f" at least {REFLECTION_DAYS}"
            )
        details["reflection_days"] = reflection_days
    R.add_event(store, case_id, on, "stage", stage, details)
    return show(store, case_id, today)


def set_consent(
    store: Store, case_id: str, given: bool, on: date | None = None, note: str | None = None
) -> dict[str, Any]:
    details = {"note": note} if note else {}
    R.add_event(store, case_id, on or date.today(), "consent",
                "given" if given else "revoked", details)  # fmt: skip
    return show(store, case_id)


def refer(
    store: Store, case_id: str, provider: str, on: date | None = None,
    service: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    known = {p["name"]: p for p in R.providers(store)}
    if provider not in known:
        raise PalermoError(
            f"no provider {provider!r} in the directory (palermo victims provider add ...)"
        )
    if service and service not in known[provider]["services"]:
        raise PalermoError(
            f"{provider} offers {', '.join(known[provider]['services'])}, not {service}"
        )
    now = state(R.case(store, case_id, audit_read=False))
    if now["consent"] != "given":
        raise PalermoError(
            f"{case_id}: no consent to a referral"
            + (" (revoked)" if now["consent"] == "revoked" else " recorded")
            + ": record it first (palermo victims case consent CASE --give)"
        )
    details = {"service": service} if service else {}
    R.add_event(store, case_id, on or date.today(), "referral", provider, details)
    return show(store, case_id)


def show(store: Store, case_id: str, today: date | None = None) -> dict[str, Any]:
    return _case_view(store, R.case(store, case_id), today)


def list_cases(store: Store, today: date | None = None) -> list[dict[str, Any]]:
    names = _names(store, "victims.case list")  # once for every case, not once per case
    out = []
    for cid in R.case_ids(store):
        v = _case_view(store, R.case(store, cid), today, names)
        out.append({k: v[k] for k in ("case_id", "label", "stage", "consent", "deadlines",
                                      "next_step")})  # fmt: skip
    return out
