"""Exports. ``ftm``: entities back out as FollowTheMoney JSON lines, built with the
``followthemoney`` package (so they validate with it), plus one Payment entity per payment event
and one Call entity per call. Every export is audited with what left and where."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from followthemoney import model
from followthemoney.exc import InvalidData

from palermo.store import audit, reads
from palermo.store.lens import PROTECTED_PROPS, protected_entities, redactor
from palermo.store.victims import pseudonym
from palermo.store.workspace import Store


@dataclass
class ExportReport:
    entities: int = 0
    payments: int = 0
    calls: int = 0
    skipped: list[str] = field(default_factory=list)


def _entity(rows: list[tuple[Any, ...]], report: ExportReport) -> dict[str, Any] | None:
    eid = rows[0][0]
    schemas = {r[1] for r in rows}
    schema = None
    try:
        for name in sorted(schemas):
            schema = model.get(name) if schema is None else model.common_schema(schema, name)
    except InvalidData as exc:
        report.skipped.append(f"{eid}: schemas {sorted(schemas)} do not combine ({exc})")
        return None
    proxy = model.make_entity(schema)
    proxy.id = eid
    for _, _, prop, value in rows:
        if prop != "id":
            proxy.add(prop, value, cleaned=True, quiet=True)
    missing = [p for p in proxy.schema.required if not proxy.get(p)]
    if missing:
        report.skipped.append(f"{eid}: {proxy.schema.name} lacks required {', '.join(missing)}")
        return None
    return dict(proxy.to_dict())


def _payment(event: dict[str, Any], report: ExportReport) -> dict[str, Any] | None:
    if not event["payer_id"] or not event["payee_id"]:
        report.skipped.append(f"payment {event['id']}: payer or beneficiary unknown")
        return None
    proxy = model.make_entity("Payment")
    proxy.id = event["id"]
    proxy.add("payer", event["payer_id"])
    proxy.add("beneficiary", event["payee_id"])
    proxy.add("payerAccount", event["payer_account_id"])
    proxy.add("beneficiaryAccount", event["payee_account_id"])
    proxy.add("amount", str(event["amount"]))
    proxy.add("currency", event["currency"])
    if event["amount_eur"] is not None:
        proxy.add("amountEur", str(event["amount_eur"]))
    proxy.add("date", event["occurred_at"].isoformat())
    proxy.add("purpose", event["reference"])
    proxy.add("recordId", event["source_id"])
    return dict(proxy.to_dict())


def _call(event: dict[str, Any]) -> dict[str, Any]:
    proxy = model.make_entity("Call")
    proxy.id = event["id"]
    proxy.add("callerNumber", event["caller"])
    proxy.add("receiverNumber", event["callee"])
    proxy.add("date", event["started_at"].isoformat())
    if event["duration_s"] is not None:
        proxy.add("duration", str(event["duration_s"]))
    return dict(proxy.to_dict())


def _redact_props(data: dict[str, Any], redact: Callable[[str], str]) -> None:
    data["properties"] = {k: [redact(v) for v in vals] for k, vals in data["properties"].items()}


def iter_ftm(store: Store, report: ExportReport) -> Iterator[dict[str, Any]]:
    entity_ids_as_payment: set[str] = set()
    # read before the statements stream: no other query may run on the store while it does
    protected = protected_entities(store) if not store.scope.sees_victim_names else frozenset()
    if protected:
        pseudonym(store, "")
    redact = redactor(store)
    for rows in reads.entity_statements(store):
        data = _entity(rows, report)
        if data is None:
            continue
        if data["schema"] == "Payment":
            entity_ids_as_payment.add(data["id"])
        if data["id"] in protected:  # a possible victim, for who may not see who it is
            props = data["properties"]
            for prop in [p for p in props if p in PROTECTED_PROPS]:
                del props[prop]
            props["name"] = [pseudonym(store, data["id"])]
        if protected:  # and their names wherever a note or message writes them
            _redact_props(data, redact)
        report.entities += 1
        yield data
    for event in reads.events(store, "payments"):
        if event["id"] in entity_ids_as_payment:
            continue  # an FtM Payment already exported as itself
        data = _payment(event, report)
        if data is not None and protected:  # a reference may say 'WAGES <victim's name>'
            _redact_props(data, redact)
        if data is not None:
            report.payments += 1
            yield data
    for event in reads.events(store, "calls"):
        report.calls += 1
        yield _call(event)


def export_ftm(store: Store, out: TextIO, destination: str) -> ExportReport:
    report = ExportReport()
    for data in iter_ftm(store, report):
        out.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
    with store.engine.transaction():
        audit.append(
            store.engine,
            store.scope.actor,
            "export.ftm",
            destination,
            {
                "entities": report.entities,
                "payments": report.payments,
                "calls": report.calls,
                "skipped": len(report.skipped),
                "compartments": sorted(store.scope.compartments)
                if store.scope.compartments
                else "all",
            },
        )
    return report
