"""The store's side of victims' cases (National Referral Mechanism): cases, their append-only
events and the directory of service providers. Within the caller's compartments: a case is seen
by who holds every compartment it was opened under. Every read is audited (``victims.case.read``),
every write too, in the same transaction as the write.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from palermo.errors import PalermoError
from palermo.store import audit
from palermo.store.findings import compartment_label
from palermo.store.workspace import Store


def _visible(store: Store) -> tuple[str, list[Any]]:
    comps = store.scope.compartments
    if comps is None:
        return "TRUE", []
    return "list_has_all(?::VARCHAR[], string_split(compartment, '+'))", [sorted(comps)]


def open_case(store: Store, person: str, effective: date) -> str:
    e = store.engine
    with e.transaction():
        n = int(e.rows("SELECT count(*) FROM victim_cases")[0][0]) + 1
        case_id = f"VC-{n:06d}"
        e.execute(
            "INSERT INTO victim_cases VALUES (?, ?, ?, ?, ?)",
            [case_id, person, compartment_label(store), datetime.now(UTC), store.scope.actor],
        )
        _event(store, case_id, effective, "stage", "detected", {})
        audit.append(e, store.scope.actor, "victims.case.open", case_id, {"person": person})
    return case_id


def add_event(
    store: Store, case_id: str, effective: date, kind: str, value: str | None,
    details: dict[str, Any],
) -> int:  # fmt: skip
    case(store, case_id, audit_read=False)  # visible to the caller, else refused
    with store.engine.transaction():
        seq = _event(store, case_id, effective, kind, value, details)
        audit.append(store.engine, store.scope.actor, f"victims.case.{kind}", case_id,
                     {"value": value, "effective": effective.isoformat(), **details})  # fmt: skip
    return seq


def _event(
    store: Store, case_id: str, effective: date, kind: str, value: str | None,
    details: dict[str, Any],
) -> int:  # fmt: skip
    e = store.engine
    seq = int(e.rows("SELECT coalesce(max(seq), 0) FROM victim_case_events WHERE case_id = ?",
                     [case_id])[0][0]) + 1  # fmt: skip
    e.execute(
        "INSERT INTO victim_case_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [case_id, seq, datetime.now(UTC), effective, store.scope.actor, kind, value,
         json.dumps(details, ensure_ascii=False)],
    )  # fmt: skip
    return seq


def case(store: Store, case_id: str, audit_read: bool = True) -> dict[str, Any]:
    """The case and its events in order; a case outside the caller's compartments is 'no case'."""
    cond, params = _visible(store)
    rows = store.engine.rows(
        f"SELECT case_id, person, compartment, opened_at, opened_by FROM victim_cases"
        f" WHERE case_id = ? AND {cond}",
        [case_id, *params],
    )
    if not rows:
        raise PalermoError(f"no case {case_id!r} (or not in your compartments)")
    c = rows[0]
    events = [
        {"seq": r[0], "recorded_at": str(r[1]), "effective": r[2].isoformat(), "actor": r[3],
         "kind": r[4], "value": r[5], "details": json.loads(r[6]) if r[6] else {}}
        for r in store.engine.rows(
            "SELECT seq, recorded_at, effective, actor, kind, value, details"
            " FROM victim_case_events WHERE case_id = ? ORDER BY seq", [case_id])
    ]  # fmt: skip
    if audit_read:
        with store.engine.transaction():
            audit.append(store.engine, store.scope.actor, "victims.case.read", case_id,
                         {"role": store.scope.role})  # fmt: skip
    return {"case_id": c[0], "person": c[1], "compartment": c[2], "opened_at": str(c[3]),
            "opened_by": c[4], "events": events}  # fmt: skip


def case_ids(store: Store) -> list[str]:
    cond, params = _visible(store)
    return [str(r[0]) for r in store.engine.rows(
        f"SELECT case_id FROM victim_cases WHERE {cond} ORDER BY case_id", params)]  # fmt: skip


def add_provider(
    store: Store, name: str, services: list[str], area: str | None, contact: str | None
) -> None:
    e = store.engine
    if e.rows("SELECT 1 FROM service_providers WHERE name = ?", [name]):
        raise PalermoError(f"provider {name!r} is in the directory already")
    with e.transaction():
        e.execute(
            "INSERT INTO service_providers VALUES (?, ?, ?, ?, ?, ?)",
            [name, services, area, contact, datetime.now(UTC), store.scope.actor],
        )
        audit.append(e, store.scope.actor, "victims.provider.add", name, {"services": services})


def providers(store: Store, service: str | None = None) -> list[dict[str, Any]]:
    rows = store.engine.rows(
        "SELECT name, services, area, contact FROM service_providers"
        " WHERE ? IS NULL OR list_contains(services, ?) ORDER BY name",
        [service, service],
    )
    return [{"name": r[0], "services": list(r[1]), "area": r[2], "contact": r[3]} for r in rows]
