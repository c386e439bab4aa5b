"""The store's side of sharing (issue 11): what of a compartment leaves under a sharing policy,
what comes in from a partner (under the sender's compartment and provenance, as one ingest run),
its withdrawal, the partners' public keys, and the disclosure log (table ``packages`` and the
audit chain). Sealing, signatures and files are ``palermo.cooperate``'s."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from followthemoney import model

from palermo import __version__
from palermo.errors import PalermoError
from palermo.store import audit
from palermo.store.access import check_compartment_name
from palermo.store.lens import PROTECTED_PROPS, name_redactor, protected_entities
from palermo.store.victims import pseudonym
from palermo.store.workspace import Store

TABLES = ("statements", "payments", "calls", "findings", "evidence", "entity_keys")
VICTIMS = ("pseudonyms", "withhold", "names")
PERSONS = ("names", "pseudonyms")


class SharingError(PalermoError):
    """A sharing request that cannot be carried out as asked."""


@dataclass(frozen=True)
class SharingPolicy:
    """What may leave. ``victims``: possible victims as pseudonyms (their identifying values
    withheld, their names replaced in every text), withheld altogether, or named. ``persons``:
    ``pseudonyms`` does the same for every person. ``withhold_gradings``: intelligence notes
    graded so (glob patterns on the Note's keywords, e.g. ``*x*x5``: handling code 5 of the
    5x5x5 system, no dissemination) do not leave, nor the links to them. ``events``: payments
    and calls; ``findings``: the compartment's findings; ``evidence_files``: the raw files
    themselves (else only their hashes, names and the rows values came from)."""

    name: str = "default"
    victims: str = "pseudonyms"
    persons: str = "names"
    withhold_gradings: tuple[str, ...] = ("*x*x5",)
    events: bool = True
    findings: bool = True
    evidence_files: bool = False

    def __post_init__(self) -> None:
        if self.victims not in VICTIMS:
            raise SharingError(f"policy {self.name}: victims must be one of {', '.join(VICTIMS)}")
        if self.persons not in PERSONS:
            raise SharingError(f"policy {self.name}: persons must be one of {', '.join(PERSONS)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> SharingPolicy:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SharingError(
                f"{source}: unknown policy field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "withhold_gradings" in values:
            grades = values["withhold_gradings"] or []
            if not isinstance(grades, list) or not all(isinstance(g, str) for g in grades):
                raise SharingError(f"{source}: withhold_gradings must be a list of patterns")
            values["withhold_gradings"] = tuple(grades)
        for flag in ("events", "findings", "evidence_files"):
            if flag in values and not isinstance(values[flag], bool):
                raise SharingError(f"{source}: {flag} must be true or false")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["withhold_gradings"] = list(self.withhold_gradings)
        return data


@dataclass
class Shared:
    """The tables that leave, and what the policy did."""

    tables: dict[str, pa.Table]
    withheld: dict[str, int] = field(default_factory=dict)
    pseudonymised: int = 0


# -- what leaves ---------------------------------------------------------------------------


def select(store: Store, compartment: str, policy: SharingPolicy) -> Shared:
    """The rows of ``compartment`` that ``policy`` lets leave (the caller must hold it)."""
    check_compartment_name(compartment)
    store.scope.require(compartment)
    e = store.engine
    st = e.arrow(
        "SELECT * FROM statements WHERE compartment = ? ORDER BY entity_id, prop, value, id",
        [compartment],
    )
    if st.num_rows == 0:
        raise SharingError(f"compartment {compartment!r} holds no data to share")
    ids = st.column("entity_id").to_pylist()
    schemas = st.column("schema").to_pylist()
    props = st.column("prop").to_pylist()
    values = st.column("value").to_pylist()
    schema_of = dict(zip(ids, schemas, strict=True))
    withheld: dict[str, int] = {}
    # notes graded "do not disseminate", and the links that point at them
    held = {i for i, s, p, v in zip(ids, schemas, props, values, strict=True)
            if s == "Note" and p == "keywords"
            and any(fnmatch.fnmatchcase(v, g) for g in policy.withhold_gradings)}  # fmt: skip
    withheld["graded notes"] = len(held)
    protected = protected_entities(store) & set(ids)
    persons = {i for i in ids if schema_of[i] == "Person"}
    labels: dict[str, str] = {}
    if policy.persons == "pseudonyms":
        labels.update({i: "P-" + pseudonym(store, i)[2:] for i in persons})
    if policy.victims == "pseudonyms":
        labels.update({i: pseudonym(store, i) for i in protected})
    elif policy.victims == "withhold":
        held |= protected
        withheld["possible victims"] = len(protected)
        labels.update({i: "[withheld]" for i in protected})
    links = {
        i for i, v in zip(ids, values, strict=True) if v in held and not _is_thing(schema_of[i])
    }
    withheld["links to withheld entities"] = len(links - held)
    held |= links
    keep = [
        i not in held and v not in held and not (i in labels and p in PROTECTED_PROPS)
        for i, p, v in zip(ids, props, values, strict=True)
    ]
    st = st.filter(pa.array(keep))
    redact = name_redactor(store, labels) if labels else (lambda text: text)
    st = _redacted(st, ("value", "original", "normalised", "translit"), redact)
    st = pa.concat_tables([st, _pseudonym_rows(st, labels, held)]).combine_chunks()
    tables: dict[str, pa.Table] = {"statements": st}
    shipped = set(st.column("entity_id").to_pylist())
    if policy.events:
        tables["payments"] = _redacted(
            e.arrow("SELECT * FROM payments WHERE compartment = ? ORDER BY id", [compartment]),
            ("reference",), redact,
        )  # fmt: skip
        tables["calls"] = e.arrow(
            "SELECT * FROM calls WHERE compartment = ? ORDER BY id", [compartment]
        )
    if policy.findings:
        found = e.arrow("SELECT * FROM findings WHERE compartment = ? ORDER BY id", [compartment])
        victim_kind = [k.startswith("victims.") or k == "network.role.victim"
                       for k in found.column("kind").to_pylist()]  # fmt: skip
        ok = [not (set(subjects) & held) and not (vk and policy.victims == "withhold")
              for subjects, vk in zip(found.column("subject_ids").to_pylist(), victim_kind, strict=True)]  # fmt: skip
        withheld["findings"] = ok.count(False)
        tables["findings"] = _redacted(found.filter(pa.array(ok, pa.bool_())),
                                       ("explanation", "evidence"), redact)  # fmt: skip
    shas = set(st.column("evidence_sha256").to_pylist())
    for name in ("payments", "calls"):
        if name in tables:
            shas |= set(tables[name].column("evidence_sha256").to_pylist())
    tables["evidence"] = e.arrow(
        "SELECT sha256, original_name, size_bytes FROM evidence WHERE sha256 IN"
        " (SELECT unnest(?::VARCHAR[])) ORDER BY sha256",
        [sorted(shas)],
    )
    keys: set[int] = set()
    for c in ("payer_key", "payee_key", "payer_account_key", "payee_account_key"):
        if "payments" in tables:
            keys |= {k for k in tables["payments"].column(c).to_pylist() if k is not None}
    tables["entity_keys"] = e.arrow(
        "SELECT key, entity_id FROM entity_keys WHERE (entity_id IN (SELECT unnest(?::VARCHAR[]))"
        " OR key IN (SELECT unnest(?::BIGINT[]))) AND entity_id NOT IN (SELECT unnest(?::VARCHAR[]))"
        " ORDER BY key",
        [sorted(shipped), sorted(keys), sorted(held)],
    )
    withheld = {k: v for k, v in withheld.items() if v}
    return Shared(tables, withheld, len([i for i in labels if i not in held]))


def _is_thing(schema: str) -> bool:
    found = model.get(schema)
    return found is not None and found.is_a("Thing")


def _redacted(table: pa.Table, columns: tuple[str, ...], redact: Callable[[str], str]) -> pa.Table:
    for c in columns:
        i = table.schema.get_field_index(c)
        column = table.column(c)
        # str(): a JSON column (findings' evidence) is redacted as its text
        new = pa.array(
            [None if v is None else redact(str(v)) for v in column.to_pylist()], column.type
        )
        table = table.set_column(i, table.schema.field(i), new)
    return table


def _pseudonym_rows(st: pa.Table, labels: dict[str, str], held: set[str]) -> pa.Table:
    """One ``name`` statement per pseudonymised entity, from its first remaining statement's
    evidence (the value itself is the sender's policy, said in ``original``)."""
    first: dict[str, dict[str, Any]] = {}
    for row in st.to_pylist():
        first.setdefault(row["entity_id"], row)
    rows = []
    for eid in sorted(labels):
        if eid in held or eid not in first:
            continue
        r = dict(first[eid])
        r.update(id=f"pseudonym:{eid}", prop="name", value=labels[eid], normalised=labels[eid],
                 translit=labels[eid], original="(pseudonym: the sender's sharing policy)")  # fmt: skip
        rows.append(r)
    return pa.Table.from_pylist(rows, schema=st.schema)


# -- partners' keys ------------------------------------------------------------------------


def add_partner(store: Store, name: str, fingerprint: str, signing: str, encryption: str) -> None:
    e = store.engine
    if e.rows(
        "SELECT name FROM partner_keys WHERE name = ? OR fingerprint = ?", [name, fingerprint]
    ):
        raise SharingError(
            f"a partner named {name!r} or with this key is already known (palermo keys list)"
        )
    with e.transaction():
        e.execute("INSERT INTO partner_keys VALUES (?, ?, ?, ?, now(), ?)",
                  [name, fingerprint, signing, encryption, store.scope.actor])  # fmt: skip
        audit.append(e, store.scope.actor, "keys.import", name, {"fingerprint": fingerprint})


def partners(store: Store) -> list[dict[str, Any]]:
    return [
        {"name": r[0], "fingerprint": r[1], "signing_key": r[2], "encryption_key": r[3],
         "imported_at": str(r[4]), "imported_by": r[5]}
        for r in store.engine.rows("SELECT * FROM partner_keys ORDER BY name")
    ]  # fmt: skip


# -- the disclosure log --------------------------------------------------------------------


def record_sent(store: Store, package_id: str, partner: str, compartment: str, legal_basis: str,
                reference: str | None, policy: SharingPolicy, manifest: dict[str, Any],
                package_sha256: str, created_at: str) -> None:  # fmt: skip
    """The package is in the disclosure log and the audit chain with its manifest."""
    e = store.engine
    with e.transaction():
        e.execute(
            "INSERT INTO packages VALUES (?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMPTZ, now(), ?, NULL, 'sent', NULL)",
            [package_id, partner, compartment, legal_basis, reference, json.dumps(policy.to_dict()),
             json.dumps(manifest), package_sha256, created_at, store.scope.actor],
        )  # fmt: skip
        audit.append(e, store.scope.actor, "share.sent", package_id,
                     {"to": partner, "compartment": compartment, "legal_basis": legal_basis,
                      "reference": reference, "policy": policy.to_dict(), "sha256": package_sha256,
                      "counts": manifest.get("counts"), "withheld": manifest.get("withheld")})  # fmt: skip


def package(store: Store, package_id: str) -> dict[str, Any]:
    rows = store.engine.rows(
        "SELECT package_id, direction, partner, compartment, legal_basis, reference, policy,"
        " manifest, package_sha256, created_at, recorded_at, recorded_by, run_id, status, closed_at"
        " FROM packages WHERE package_id = ?",
        [package_id],
    )
    if not rows:
        raise SharingError(f"no package {package_id!r} in this workspace (palermo packages)")
    r = rows[0]
    return {"package_id": r[0], "direction": r[1], "partner": r[2], "compartment": r[3],
            "legal_basis": r[4], "reference": r[5], "policy": json.loads(r[6]),
            "manifest": json.loads(r[7]), "package_sha256": r[8], "created_at": str(r[9]),
            "recorded_at": str(r[10]), "recorded_by": r[11], "run_id": r[12], "status": r[13],
            "closed_at": str(r[14]) if r[14] else None}  # fmt: skip


def packages(store: Store) -> list[dict[str, Any]]:
    ids = [
        r[0]
        for r in store.engine.rows(
            "SELECT package_id FROM packages ORDER BY recorded_at, package_id"
        )
    ]
    out = []
    for i in ids:
        p = package(store, i)
        if (
            store.scope.compartments is not None
            and p["compartment"] not in store.scope.compartments
        ):
            continue
        p["manifest"] = {
            k: v for k, v in p["manifest"].items() if k in ("counts", "withheld", "evidence_files")
        }
        out.append(p)
    return out


def mark_revoked(store: Store, package_id: str, reason: str) -> dict[str, Any]:
    p = package(store, package_id)
    if p["direction"] != "sent":
        raise SharingError(
            f"package {package_id} was received, not sent: only its sender revokes it"
        )
    if p["status"] == "revoked":
        raise SharingError(f"package {package_id} is already revoked")
    e = store.engine
    with e.transaction():
        e.execute(
            "UPDATE packages SET status = 'revoked', closed_at = now() WHERE package_id = ?",
            [package_id],
        )
        audit.append(
            e,
            store.scope.actor,
            "share.revoked",
            package_id,
            {"to": p["partner"], "reason": reason},
        )
    return p


# -- what comes in -------------------------------------------------------------------------


def import_received(
    store: Store, header: dict[str, Any], partner: str, manifest: dict[str, Any],
    tables: dict[str, pa.Table], package_sha256: str, package_name: str, size: int,
    stored_path: str, files: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    """Store a received package in one transaction: its rows under the sender's compartment,
    with the sender's provenance (evidence hashes, file names, rows), as one ingest run of
    kind ``receive``; ``files``: evidence files received (sha256 -> stored path)."""
    e = store.engine
    package_id = str(header["package_id"])
    compartment = check_compartment_name(str(manifest["compartment"]))
    if e.rows("SELECT 1 FROM packages WHERE package_id = ?", [package_id]):
        raise SharingError(f"package {package_id} was already received (palermo packages)")
    started = datetime.now(UTC)
    run_id = int(e.rows("SELECT coalesce(max(run_id), 0) + 1 FROM ingest_runs")[0][0])
    counts: dict[str, int] = {}
    with e.transaction():
        if not e.rows("SELECT 1 FROM evidence WHERE sha256 = ?", [package_sha256]):
            e.execute("INSERT INTO evidence VALUES (?, ?, ?, ?, ?, now(), ?)",
                      [package_sha256, package_name, f"package {package_id} from {partner}", size,
                       stored_path, store.scope.actor])  # fmt: skip
        ev = tables["evidence"]
        known = {r[0] for r in e.rows("SELECT sha256 FROM evidence")}
        added = [r for r in ev.to_pylist() if r["sha256"] not in known]
        for r in added:
            e.execute("INSERT INTO evidence VALUES (?, ?, ?, ?, ?, now(), ?)",
                      [r["sha256"], r["original_name"], f"{partner}: package {package_id}",
                       r["size_bytes"], files.get(r["sha256"], f"(held by {partner})"),
                       store.scope.actor])  # fmt: skip
        for name in ("statements", "payments", "calls", "findings"):
            if name not in tables:
                continue
            t = tables[name]
            if t.num_rows and set(pc.unique(t.column("compartment")).to_pylist()) != {compartment}:
                raise SharingError(
                    f"package {package_id}: {name} outside compartment {compartment}"
                )
            e.register("_pkg", t)
            try:
                before = e.rows(f"SELECT count(*) FROM {name}")[0][0]
                # a row the workspace holds already (the same id) is not stored twice
                e.execute(f"INSERT INTO {name} BY NAME SELECT * REPLACE (?::BIGINT AS run_id) FROM _pkg p"
                          f" WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE t.id = p.id)", [run_id])  # fmt: skip
                counts[name] = e.rows(f"SELECT count(*) FROM {name}")[0][0] - before
            finally:
                e.unregister("_pkg")
        from palermo.store.loader import register_entity_keys

        e.register("_pkg_keys", tables["entity_keys"])
        try:
            register_entity_keys(e, "SELECT entity_id FROM _pkg_keys")
        finally:
            e.unregister("_pkg_keys")
        rows = sum(
            t.num_rows
            for n, t in tables.items()
            if n in ("statements", "payments", "calls", "findings")
        )
        stored = sum(counts.values())
        e.execute(
            "INSERT INTO ingest_runs VALUES (?, 'receive', ?, 'package', ?, ?, ?, ?, ?, now(), ?, ?, ?, 0, ?, ?, ?)",
            [run_id, package_sha256, f"package:{package_id}", manifest.get("payload_sha256", ""),
             compartment, store.scope.actor, started, rows, stored, rows - stored,
             counts.get("statements", 0), json.dumps({"from": partner, "package_id": package_id}),
             __version__],
        )  # fmt: skip
        record = {**manifest, "received": counts, "added_evidence": [r["sha256"] for r in added],
                  "sender_fingerprint": header["sender"]}  # fmt: skip
        e.execute(
            "INSERT INTO packages VALUES (?, 'received', ?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMPTZ, now(), ?, ?, 'received', NULL)",
            [package_id, partner, compartment, manifest.get("legal_basis", ""), manifest.get("reference"),
             json.dumps(manifest.get("policy", {})), json.dumps(record), package_sha256,
             header["created_at"], store.scope.actor, run_id],
        )  # fmt: skip
        audit.append(e, store.scope.actor, "share.received", package_id,
                     {"from": partner, "compartment": compartment, "sha256": package_sha256,
                      "legal_basis": manifest.get("legal_basis"), "reference": manifest.get("reference"),
                      "counts": counts, "run_id": run_id})  # fmt: skip
    return {"package_id": package_id, "from": partner, "compartment": compartment, "run_id": run_id,
            "stored": counts, "duplicates": rows - stored}  # fmt: skip


def withdraw(store: Store, package_id: str, sender_fingerprint: str, reason: str) -> dict[str, Any]:
    """Remove every row a received package brought (its ingest run), the evidence records only
    it brought, and mark it withdrawn; the audit chain keeps that it came and went."""
    p = package(store, package_id)
    if p["direction"] != "received":
        raise SharingError(f"package {package_id} was sent from here: revoke it (palermo revoke)")
    if p["manifest"].get("sender_fingerprint") != sender_fingerprint:
        raise SharingError(f"the revocation of {package_id} is not signed by the package's sender")
    if p["status"] == "withdrawn":
        raise SharingError(f"package {package_id} is already withdrawn")
    e = store.engine
    run = p["run_id"]
    removed: dict[str, int] = {}
    with e.transaction():
        for name in ("statements", "payments", "calls", "findings"):
            removed[name] = e.rows(f"SELECT count(*) FROM {name} WHERE run_id = ?", [run])[0][0]
            e.execute(f"DELETE FROM {name} WHERE run_id = ?", [run])
        e.execute(
            "DELETE FROM resolution WHERE entity_id NOT IN (SELECT entity_id FROM statements)"
        )
        added = p["manifest"].get("added_evidence", [])
        gone = [r[0] for r in e.rows(
            "SELECT sha256 FROM evidence WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))"
            " AND sha256 NOT IN (SELECT evidence_sha256 FROM statements UNION"
            " SELECT evidence_sha256 FROM payments UNION SELECT evidence_sha256 FROM calls)",
            [added])]  # fmt: skip
        paths = [r[0] for r in e.rows(
            "SELECT stored_path FROM evidence WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))",
            [[*gone, p["package_sha256"]]])]  # fmt: skip
        e.execute("DELETE FROM evidence WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [gone])
        # the package file itself goes too; its record stays (its ingest run refers to it)
        e.execute(
            "UPDATE evidence SET stored_path = '(withdrawn)' WHERE sha256 = ?",
            [p["package_sha256"]],
        )
        e.execute(
            "UPDATE packages SET status = 'withdrawn', closed_at = now() WHERE package_id = ?",
            [package_id],
        )
        audit.append(e, store.scope.actor, "share.withdrawn", package_id,
                     {"from": p["partner"], "reason": reason, "removed": removed, "evidence_removed": len(gone)})  # fmt: skip
    for path in paths:
        target = store.root / path
        if path and not path.startswith("(") and target.is_file():
            target.chmod(0o644)
            target.unlink()
    return {"package_id": package_id, "removed": removed, "evidence_removed": len(gone)}


# -- requests between agencies --------------------------------------------------------------


def record_request(store: Store, request_id: str, direction: str, partner: str,
                   compartment: str, subject: str, legal_basis: str, reference: str | None,
                   created_at: str) -> None:  # fmt: skip
    """A request sent from here or received here, pending, in the log and the audit chain."""
    e = store.engine
    if e.rows("SELECT 1 FROM requests WHERE request_id = ?", [request_id]):
        raise SharingError(f"request {request_id} is already recorded here (palermo requests)")
    with e.transaction():
        e.execute(
            "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMPTZ, now(), ?, 'pending',"
            " NULL, NULL, NULL)",
            [request_id, direction, partner, compartment, subject, legal_basis, reference,
             created_at, store.scope.actor],
        )  # fmt: skip
        audit.append(e, store.scope.actor, f"request.{direction}", request_id,
                     {"partner": partner, "compartment": compartment, "subject": subject,
                      "legal_basis": legal_basis, "reference": reference})  # fmt: skip


def request(store: Store, request_id: str) -> dict[str, Any]:
    rows = store.engine.rows(
        "SELECT request_id, direction, partner, compartment, subject, legal_basis, reference,"
        " created_at, recorded_at, recorded_by, status, package_id, answer, closed_at"
        " FROM requests WHERE request_id = ?",
        [request_id],
    )
    if not rows:
        raise SharingError(f"no request {request_id!r} in this workspace (palermo requests)")
    r = rows[0]
    return {"request_id": r[0], "direction": r[1], "partner": r[2], "compartment": r[3],
            "subject": r[4], "legal_basis": r[5], "reference": r[6], "created_at": str(r[7]),
            "recorded_at": str(r[8]), "recorded_by": r[9], "status": r[10], "package_id": r[11],
            "answer": r[12], "closed_at": str(r[13]) if r[13] else None}  # fmt: skip


def requests(store: Store) -> list[dict[str, Any]]:
    """Requests about the caller's compartments, pending first, then newest first."""
    ids = [r[0] for r in store.engine.rows(
        "SELECT request_id FROM requests ORDER BY status <> 'pending', recorded_at DESC, request_id"
    )]  # fmt: skip
    found = [request(store, i) for i in ids]
    allowed = store.scope.compartments
    return [r for r in found if allowed is None or r["compartment"] in allowed]


def pending_from(store: Store, request_id: str, partner: str) -> dict[str, Any]:
    """The request ``partner`` sent here and still waits for (to answer or decline it)."""
    r = request(store, request_id)
    if r["direction"] != "received":
        raise SharingError(f"request {request_id} was sent from here: the partner answers it")
    if r["status"] != "pending":
        raise SharingError(f"request {request_id} is already {r['status']}")
    if r["partner"] != partner:
        raise SharingError(f"request {request_id} came from {r['partner']}, not {partner}")
    return r


def close_request(store: Store, request_id: str, status: str, package_id: str | None,
                  answer: str | None, *, direction: str) -> None:  # fmt: skip
    """Mark a request answered (by ``package_id``) or declined (``answer``: the reason)."""
    e = store.engine
    with e.transaction():
        e.execute(
            "UPDATE requests SET status = ?, package_id = ?, answer = ?, closed_at = now()"
            " WHERE request_id = ? AND direction = ?",
            [status, package_id, answer, request_id, direction],
        )
        audit.append(e, store.scope.actor, f"request.{status}", request_id,
                     {"package_id": package_id, "answer": answer, "direction": direction})  # fmt: skip
