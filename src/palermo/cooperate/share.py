"""Sharing packages between workspaces (``palermo share``, ``receive``, ``revoke``).

A package is a ZIP of Parquet tables (statements, payments, calls, findings, the evidence
records and entity keys: the store's own rows, so every value keeps the sender's file, row and
hash), a manifest (what, from which compartment, to whom, under which legal basis and policy,
the SHA-256 of every table) and, when the policy says so, the evidence files; sealed by
``envelope`` for one partner. Everything that leaves or arrives is in the disclosure log
(``palermo packages``) and the audit chain of the workspace concerned."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from palermo import __version__
from palermo.cooperate import envelope, keys
from palermo.cooperate.envelope import PackageRefused
from palermo.store import packages as store_packages
from palermo.store.packages import SharingError, SharingPolicy
from palermo.store.workspace import Store

PAYLOAD_FORMAT = "palermo-share/1"
MAX_MEMBER = 4 << 30  # a member larger than this is refused (a zip bomb, or not ours)


def read_policy(path: Path | None) -> SharingPolicy:
    if path is None:
        return SharingPolicy()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SharingError(f"{path}: cannot read the sharing policy ({exc})") from None
    if not isinstance(data, dict):
        raise SharingError(f"{path}: a sharing policy is a mapping of fields")
    data.setdefault("name", Path(path).stem)
    return SharingPolicy.from_dict(data, str(path))


def _partners_by_fingerprint(store: Store) -> dict[str, keys.PublicKeys]:
    out = {}
    for p in store_packages.partners(store):
        k = keys.PublicKeys.from_raw(p["name"], keys.unb64(p["signing_key"], p["name"]),
                                     keys.unb64(p["encryption_key"], p["name"]))  # fmt: skip
        out[k.fingerprint] = k
    return out


def _partner(store: Store, name: str) -> keys.PublicKeys:
    for k in _partners_by_fingerprint(store).values():
        if k.name == name:
            return k
    raise SharingError(f"no partner {name!r}: import its public key first (palermo keys import)")


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def share(store: Store, compartment: str, to: str, legal_basis: str, out: Path,
          reference: str | None = None, policy: SharingPolicy | None = None,
          answers: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Build, seal and write a package of ``compartment`` for partner ``to``; record it. With
    ``answers``, the package answers that pending request of ``to``'s."""
    if not legal_basis.strip():
        raise SharingError(
            "share: give the legal basis (--legal-basis), e.g. 'JIT agreement RO-UK 2026/3'"
        )
    if answers:
        store_packages.pending_from(store, answers, to)
    policy = policy or SharingPolicy()
    own = keys.load(store.root)
    recipient = _partner(store, to)
    shared = store_packages.select(store, compartment, policy)
    package_id = str(uuid.uuid4())
    created = datetime.now(UTC).isoformat(timespec="seconds")
    members: dict[str, bytes] = {f"{n}.parquet": _parquet(t) for n, t in shared.tables.items()}
    files = []
    if policy.evidence_files:
        for sha in shared.tables["evidence"].column("sha256").to_pylist():
            path = store.evidence_path(sha)
            if path.is_file():
                members[f"evidence/{sha}"] = path.read_bytes()
                files.append(sha)
    counts = {n: t.num_rows for n, t in shared.tables.items()}
    manifest = {
        "format": PAYLOAD_FORMAT, "package_id": package_id, "from": own.name, "to": to,
        "compartment": compartment, "legal_basis": legal_basis, "reference": reference,
        "policy": policy.to_dict(), "created_at": created, "code_version": __version__,
        "counts": counts, "withheld": shared.withheld, "pseudonymised": shared.pseudonymised,
        "evidence_files": files,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())},
        "entities": sorted(set(shared.tables["statements"].column("entity_id").to_pylist())),
        "answers": answers,
    }  # fmt: skip
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        for name, data in sorted(members.items()):
            z.writestr(name, data)
    body = payload.getvalue()
    manifest["payload_sha256"] = hashlib.sha256(body).hexdigest()
    header = {"kind": "package", "package_id": package_id, "created_at": created}
    sealed = envelope.seal(header, body, own, recipient)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(sealed)
    digest = hashlib.sha256(sealed).hexdigest()
    store_packages.record_sent(store, package_id, to, compartment, legal_basis, reference, policy,
                               manifest, digest, created)  # fmt: skip
    if answers:
        store_packages.close_request(store, answers, "answered", package_id, None,
                                     direction="received")  # fmt: skip
    tmp.replace(out)
    return {"package_id": package_id, "to": to, "compartment": compartment, "out": str(out),
            "sha256": digest, "counts": counts, "withheld": shared.withheld,
            "pseudonymised": shared.pseudonymised, "evidence_files": len(files),
            "answers": answers}  # fmt: skip


def revoke(store: Store, package_id: str, out: Path, reason: str = "") -> dict[str, Any]:
    """A signed notice that a package sent from here is revoked, for its recipient to apply
    (``palermo receive NOTICE`` removes the package's data there)."""
    own = keys.load(store.root)
    p = store_packages.mark_revoked(store, package_id, reason)
    header = {"kind": "revocation", "package_id": package_id,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    body = json.dumps({"package_id": package_id, "reason": reason, "to": p["partner"]}).encode()
    Path(out).write_bytes(envelope.seal(header, body, own, None))
    return {"package_id": package_id, "to": p["partner"], "out": str(out), "reason": reason}


def receive(store: Store, path: Path) -> dict[str, Any]:
    """Check, open and import a package (or apply a revocation notice) from a partner."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackageRefused(f"{path}: cannot read it ({exc})") from None
    partners = _partners_by_fingerprint(store)
    head = data.split(b"\n", 2)
    kind = None
    if len(head) == 3 and head[0] == envelope.MAGIC:
        try:
            kind = json.loads(head[1]).get("kind")
        except (ValueError, AttributeError):
            kind = None
    if kind in ("request", "decline"):
        return _receive_request(store, data, path, kind, partners)
    if kind == "revocation":
        opened = envelope.open_sealed(data, str(path), partners, None)
        notice = json.loads(opened.payload)
        if notice.get("package_id") != opened.header.get("package_id"):
            raise PackageRefused(f"{path}: the notice names two packages")
        result = store_packages.withdraw(store, str(opened.header["package_id"]),
                                         opened.sender.fingerprint, str(notice.get("reason") or ""))  # fmt: skip
        return {"kind": "revocation", "from": opened.sender.name, **result}
    opened = envelope.open_sealed(data, str(path), partners, lambda: keys.load(store.root))
    manifest, tables, blobs = _unpack(opened.payload, str(path))
    if manifest.get("package_id") != opened.header.get("package_id"):
        raise PackageRefused(f"{path}: the manifest and the header name different packages")
    manifest["payload_sha256"] = hashlib.sha256(opened.payload).hexdigest()
    stored_file = store.receive_file(path)  # the package as received: the evidence of it
    files: dict[str, str] = {}
    kept: list[Any] = []
    try:
        for sha, blob in blobs.items():
            with tempfile.NamedTemporaryFile(dir=store.tmp_dir, delete=False) as fh:
                fh.write(blob)
            got = store.receive_file(Path(fh.name))
            Path(fh.name).unlink()
            if got.sha256 != sha:
                store.discard_file(got)
                raise PackageRefused(f"{path}: evidence file {sha[:12]}... does not match its hash")
            kept.append(got)
            files[sha] = str(store.evidence_path(sha).relative_to(store.root))
        rel = str(store.evidence_path(stored_file.sha256).relative_to(store.root))
        stored_file.durable()
        for got in kept:
            got.durable()
        result = store_packages.import_received(
            store,
            opened.header,
            opened.sender.name,
            manifest,
            tables,
            stored_file.sha256,
            path.name,
            stored_file.size,
            rel,
            files,
        )
    except BaseException:
        store.discard_file(stored_file)
        for got in kept:
            store.discard_file(got)
        raise
    store.settle_file(stored_file)
    for got in kept:
        store.settle_file(got)
    answered = manifest.get("answers")
    note = None
    if answered:
        try:  # the package is in; a request unknown here does not undo that
            _close_sent(store, str(answered), opened.sender.name, "answered",
                        str(opened.header["package_id"]), None)  # fmt: skip
        except (PackageRefused, SharingError) as exc:
            note = str(exc)
    return {"kind": "package", **result, "answers": answered, "answers_note": note, "legal_basis": manifest.get("legal_basis"),
            "reference": manifest.get("reference"), "policy": manifest.get("policy"),
            "withheld": manifest.get("withheld"), "evidence_files": len(files)}  # fmt: skip


def _unpack(
    payload: bytes, source: str
) -> tuple[dict[str, Any], dict[str, pa.Table], dict[str, bytes]]:
    try:
        z = zipfile.ZipFile(io.BytesIO(payload))
        if any(i.file_size > MAX_MEMBER for i in z.infolist()):
            raise PackageRefused(f"{source}: a member is larger than {MAX_MEMBER >> 30} GiB")
        manifest = json.loads(z.read("manifest.json"))
        if manifest.get("format") != PAYLOAD_FORMAT:
            raise PackageRefused(
                f"{source}: payload format {manifest.get('format')!r}, expected {PAYLOAD_FORMAT}"
            )
        members = {n: z.read(n) for n in z.namelist() if n != "manifest.json"}
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise PackageRefused(f"{source}: the payload is damaged ({exc})") from None
    expected = manifest.get("sha256", {})
    if set(expected) != set(members):
        raise PackageRefused(f"{source}: the payload's files differ from its manifest")
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != expected[name]:
            raise PackageRefused(f"{source}: {name} does not match its hash in the manifest")
    tables = {}
    for name in store_packages.TABLES:
        if f"{name}.parquet" in members:
            tables[name] = pq.read_table(io.BytesIO(members[f"{name}.parquet"]))
    if "statements" not in tables or "evidence" not in tables or "entity_keys" not in tables:
        raise PackageRefused(f"{source}: the payload lacks its statements, evidence or keys")
    blobs = {
        n.removeprefix("evidence/"): d for n, d in members.items() if n.startswith("evidence/")
    }
    return manifest, tables, blobs


def request(store: Store, to: str, compartment: str, subject: str, legal_basis: str, out: Path,
            reference: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A signed request, readable only by partner ``to``, to share ``subject`` into the JIT's
    ``compartment``; pending here until the partner answers it with a package or declines."""
    if not subject.strip():
        raise SharingError("request: say what is asked for (--about)")
    if not legal_basis.strip():
        raise SharingError("request: give the legal basis (--legal-basis)")
    own = keys.load(store.root)
    recipient = _partner(store, to)
    request_id = str(uuid.uuid4())
    created = datetime.now(UTC).isoformat(timespec="seconds")
    header = {"kind": "request", "request_id": request_id, "created_at": created}
    body = {"request_id": request_id, "from": own.name, "to": to, "compartment": compartment,
            "subject": subject, "legal_basis": legal_basis, "reference": reference,
            "created_at": created}  # fmt: skip
    sealed = envelope.seal(header, json.dumps(body).encode(), own, recipient)
    store_packages.record_request(store, request_id, "sent", to, compartment, subject,
                                  legal_basis, reference, created)  # fmt: skip
    Path(out).write_bytes(sealed)
    return {"request_id": request_id, "to": to, "compartment": compartment, "out": str(out)}


def decline(store: Store, request_id: str, reason: str, out: Path) -> dict[str, Any]:
    """Decline a partner's pending request, with the reason; a signed notice for the partner."""
    if not reason.strip():
        raise SharingError("decline: give the reason (--reason)")
    r = store_packages.request(store, request_id)
    r = store_packages.pending_from(store, request_id, r["partner"])
    own = keys.load(store.root)
    recipient = _partner(store, r["partner"])
    header = {"kind": "decline", "request_id": request_id,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    body = json.dumps({"request_id": request_id, "reason": reason}).encode()
    sealed = envelope.seal(header, body, own, recipient)
    store_packages.close_request(store, request_id, "declined", None, reason, direction="received")
    Path(out).write_bytes(sealed)
    return {"request_id": request_id, "to": r["partner"], "out": str(out), "reason": reason}


def _receive_request(store: Store, data: bytes, path: Path, kind: str,
                     partners: dict[str, keys.PublicKeys]) -> dict[str, Any]:  # fmt: skip
    opened = envelope.open_sealed(data, str(path), partners, lambda: keys.load(store.root))
    if "recipient" not in opened.header:
        raise PackageRefused(f"{path}: a {kind} must be addressed to this workspace's key")
    body = json.loads(opened.payload)
    request_id = str(opened.header.get("request_id"))
    if body.get("request_id") != request_id:
        raise PackageRefused(f"{path}: the header and the body name different requests")
    sender = opened.sender.name
    if kind == "request":
        store_packages.record_request(store, request_id, "received", sender,
                                      str(body.get("compartment")), str(body.get("subject")),
                                      str(body.get("legal_basis")), body.get("reference"),
                                      str(body.get("created_at")))  # fmt: skip
        return {"kind": "request", "from": sender, **store_packages.request(store, request_id)}
    _close_sent(store, request_id, sender, "declined", None, str(body.get("reason") or ""))
    return {"kind": "decline", "from": sender, **store_packages.request(store, request_id)}


def _close_sent(store: Store, request_id: str, sender: str, status: str, package_id: str | None,
                answer: str | None) -> None:  # fmt: skip
    r = store_packages.request(store, request_id)
    if r["direction"] != "sent" or r["partner"] != sender:
        raise PackageRefused(f"request {request_id} was not sent from here to {sender}")
    if r["status"] != "pending":
        raise PackageRefused(f"request {request_id} is already {r['status']}")
    store_packages.close_request(store, request_id, status, package_id, answer, direction="sent")
