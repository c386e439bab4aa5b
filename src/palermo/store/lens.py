"""Reads for the web application and the REST API: search, the entity page, an entity's events and
the audit log; each within the caller's compartments (``Scope.sql_filter``), in SQL.

**Victims.** A person that a finding names as a possible victim (``victims.*``,
``network.role.victim``) or who has a victim case is *protected*: for a caller who does not see
victims' names (``Scope.sees_victim_names``) its identifying values (``PROTECTED_PROPS``) are
neither shown nor searchable, and its label is its pseudonym. For a caller who does, every showing
is audited (``victims.reveal``). Who is protected is decided over the whole workspace, not the
caller's compartments: a victim named in another agency's findings is still a victim."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from anyascii import anyascii

from palermo.errors import AccessDenied, PalermoError
from palermo.model import entity_key
from palermo.store import audit
from palermo.store.index import allowed_of, read_index
from palermo.store.victims import pseudonym, reveal
from palermo.store.workspace import Store

NAME_PROPS = ("name", "alias", "weakAlias", "previousName", "firstName", "lastName", "middleName")
ID_PROPS = ("phone", "email", "iban", "accountNumber", "idNumber", "passportNumber",
            "registrationNumber", "taxNumber", "number", "website")  # fmt: skip
#: what identifies a person: hidden for a protected person from who may not see victims' names
PROTECTED_PROPS = frozenset(
    {*NAME_PROPS, "birthDate", "birthPlace", "idNumber", "passportNumber", "taxNumber",
     "phone", "email", "address", "addressEntity", "socialSecurityNumber", "innCode"}
)  # fmt: skip
VICTIM_KINDS = "(starts_with(kind, 'victims.') OR kind = 'network.role.victim')"
SEARCH_THRESHOLD = 0.88  # mean over the query's words of the best Jaro-Winkler against a name's
MAX_LIMIT = 200
_T = TypeVar("_T")


class NotFound(PalermoError):
    """Nothing of that id within the caller's compartments (said the same way as no such id)."""


def protected_entities(store: Store) -> frozenset[str]:
    """Entities that stand for a possible victim: a person that is a finding's subject or a
    victim case's person, and every entity resolved into the same cluster. Kept on the open store (one request)."""
    cached: frozenset[str] | None = getattr(store, "_protected", None)
    if cached is not None:
        return cached
    rows = store.engine.rows(
        f"""WITH v0 AS (
          SELECT DISTINCT subject_ids[1] AS id FROM findings WHERE {VICTIM_KINDS}
          UNION SELECT person FROM victim_cases
        ), v AS (  -- persons only: a role model's 'victim' on a shop's account is no person
          SELECT id FROM v0 WHERE id IN (SELECT entity_id FROM statements WHERE schema = 'Person')
        ), c AS (
          SELECT DISTINCT coalesce(r.cluster_id, v.id) AS cluster FROM v
          LEFT JOIN resolution r ON r.entity_id = v.id
        )
        SELECT id FROM v
        UNION SELECT r.entity_id FROM resolution r JOIN c ON c.cluster = r.cluster_id"""
    )
    found = frozenset(str(r[0]) for r in rows)
    store._protected = found  # type: ignore[attr-defined]
    return found


def redactor(store: Store) -> Callable[[str], str]:
    """For a caller who may not see victims' names: a function that replaces every protected
    person's name (as written in any source, any case) in a text with that person's pseudonym;
    notes and messages name victims in free text. For everyone else: the identity."""
    cached: Callable[[str], str] | None = getattr(store, "_redact", None)
    if cached is not None:
        return cached
    fn: Callable[[str], str] = lambda text: text  # noqa: E731
    protected = protected_entities(store)
    if not store.scope.sees_victim_names and protected:
        fn = name_redactor(store, {eid: pseudonym(store, eid) for eid in protected})
    store._redact = fn  # type: ignore[attr-defined]
    return fn


def name_redactor(store: Store, labels: dict[str, str]) -> Callable[[str], str]:
    """A function replacing the names of these entities (as written in any source of the
    workspace, any case, at least 4 characters) in a text with their label."""
    names: dict[str, str] = {}
    for eid, value in store.engine.rows(
        "SELECT entity_id, value FROM statements WHERE prop IN ('name', 'alias', 'weakAlias',"
        " 'previousName') AND entity_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
        [sorted(labels)],
    ):
        if len(value.strip()) >= 4:
            names.setdefault(value.strip().casefold(), labels[eid])
    if not names:
        return lambda text: text
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.IGNORECASE
    )
    # the alternation of every name is slow: only texts holding a word that some name begins
    # with are searched, and a text without a space only when a name has none (most texts are
    # ids, times, amounts); a text seen before is not searched again
    firsts = {re.findall(r"\w+", n)[0] for n in names if re.findall(r"\w+", n)}
    one_word = any(not re.search(r"\s", n) for n in names)
    words, space = re.compile(r"\w+"), re.compile(r"\s")

    @functools.lru_cache(maxsize=65536)
    def fn(text: str) -> str:
        if len(text) < 4 or (not one_word and not space.search(text)):
            return text
        if firsts.isdisjoint(words.findall(text.casefold())):
            return text
        return pattern.sub(lambda m: names.get(m.group(0).casefold(), "V-?"), text)

    return fn


def redact_json(store: Store, data: _T) -> _T:
    """``redactor`` applied to every string inside lists and dicts."""
    return cast(_T, _redact(redactor(store), data))


def _redact(fn: Callable[[str], str], data: Any) -> Any:
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, list):
        return [_redact(fn, x) for x in data]
    if isinstance(data, dict):
        return {k: _redact(fn, v) for k, v in data.items()}
    return data


def hides(store: Store, entity_id: str) -> bool:
    """Whether this caller must not see who this entity is."""
    return not store.scope.sees_victim_names and entity_id in protected_entities(store)


def captions(store: Store, ids: list[str]) -> dict[str, str]:
    """A label for each entity: its most frequent name (or a pseudonym, for a protected person
    shown to who may not see it), else its least account, phone or e-mail, else its schema and
    id; only what the caller's compartments hold (entities wholly outside them get none)."""
    if not ids:
        return {}
    index, allowed = read_index(store), allowed_of(store)
    out = {}
    for eid in sorted(set(ids)):
        parts = index.caption_parts(eid, allowed)
        if parts is None:
            continue
        schema, name, ident = parts
        if hides(store, eid):
            out[eid] = pseudonym(store, eid)
        else:
            out[eid] = name or ident or f"{schema} {eid[:12]}"
    shown = [i for i in out if i in protected_entities(store)]
    reveal(store, shown, "web: entity labels")
    return out


def _query_words(q: str) -> list[str]:
    words = re.findall(r"\w+", anyascii(q).lower())
    return [w for w in words if w][:8]


def search(store: Store, q: str, limit: int = 50) -> dict[str, Any]:
    """Entities whose names match ``q`` across alphabets and spelling (each word of the query
    against the best word of a name, Jaro-Winkler on ASCII transliterations: "popesku" finds
    "Попеску" and "Popescu"), or whose identifiers (phone, e-mail, account, document numbers)
    contain it. Audited (``search``) with the query and the number of hits."""
    words = _query_words(q)
    if not words:
        raise PalermoError("search: give at least one letter or digit")
    limit = max(1, min(int(limit), MAX_LIMIT))
    cond, params = store.scope.sql_filter("compartment")
    compact = re.sub(r"[\s\-./()]", "", q).lower()
    idents = ", ".join(f"'{p}'" for p in ID_PROPS)
    # identifiers (phones, accounts, e-mails, document numbers) only for a query that could be
    # one: a scan of every identifier costs as much as the names' search itself
    by_id = len(compact) >= 3 and bool(re.search(r"[0-9@.]", q))
    found: dict[str, list[Any]] = {}  # entity -> [schema, best, matched, props]

    def add(eid: str, schema: str, prop: str, value: str, score: float) -> None:
        seen = found.get(eid)
        if seen is None:
            found[eid] = [schema, score, f"{prop}={value}", {prop}]
            return
        if score > seen[1]:
            seen[1], seen[2] = score, f"{prop}={value}"
        seen[3].add(prop)

    for eid, schema, prop, value, score in read_index(store).search_names(
        words, allowed_of(store), SEARCH_THRESHOLD
    ):
        add(eid, schema, prop, value, score)
    if by_id:
        for eid, schema, prop, value in store.engine.rows(
            rf"""SELECT entity_id, schema, prop, value FROM statements WHERE prop IN ({idents})
              AND contains(lower(regexp_replace(value, '[\s\-./()]', '', 'g')), ?) AND {cond}
            ORDER BY entity_id, prop, value""",
            [compact, *params],
        ):
            add(eid, schema, prop, value, 1.0)
    rows = sorted(((e, *v) for e, v in found.items()), key=lambda r: (-r[2], r[0]))
    hits = []
    for eid, schema, score, matched, props in rows:
        if hides(store, eid) and props <= PROTECTED_PROPS:
            continue  # found only by what the caller may not see of a victim
        hits.append({"id": eid, "schema": schema, "score": round(float(score), 4),
                     "matched": None if hides(store, eid) else matched})  # fmt: skip
        if len(hits) >= limit:
            break
    labels = captions(store, [h["id"] for h in hits])
    for h in hits:
        h["caption"] = labels.get(h["id"], h["id"])
        h["protected"] = h["id"] in protected_entities(store)
    audit.record_read(store.engine, store.scope.actor, "search", None,
                      {"q": q[:200], "hits": len(hits)})  # fmt: skip
    return {"q": q, "words": words, "threshold": SEARCH_THRESHOLD, "hits": hits}


def require_entity(store: Store, entity_id: str) -> None:
    """``NotFound`` unless something of this entity is within the caller's compartments."""
    if not read_index(store).visible(entity_id, allowed_of(store)):
        raise NotFound(f"no entity {entity_id!r}")


def entity(store: Store, entity_id: str, same_node: list[str] | None = None) -> dict[str, Any]:
    """Everything the caller may see of one entity: each value with its provenance (file, row,
    compartment, ingest run), the entities resolved with it, the entities it links to and that
    link to it, its payments and calls, and the findings about it. ``same_node``: entities the
    network takes for the same node (a bank's holder named like this one person,
    ``store.graph``), whose payments are this entity's too. ``NotFound`` when nothing of it is
    within the caller's compartments (as for an id that does not exist)."""
    index, allowed = read_index(store), allowed_of(store)
    rows = index.statements(entity_id, allowed)
    if not rows:
        raise NotFound(f"no entity {entity_id!r}")
    hidden = hides(store, entity_id)
    values = []
    withheld = 0
    refs: set[str] = set()
    for _schema, prop, value, original, comp, file, row, run, sha in rows:
        if prop == "id":
            continue
        if hidden and prop in PROTECTED_PROPS:
            withheld += 1
            continue
        values.append({"prop": prop, "value": value, "original": original, "compartment": comp,
                       "file": file, "row": row, "run_id": run, "sha256": sha})  # fmt: skip
        if prop not in ID_PROPS and prop not in NAME_PROPS and _looks_like_id(value):
            refs.add(value)
    schema = rows[0][0]
    # entities this one names in a property (an owner, an employer) that the caller may see
    linked_out = [(r, schema) for r in sorted(refs) for schema in index.id_schemas(r, allowed)]
    # entities that name this one (an Ownership, an Employment, a Note, a Trip...)
    linked_in = index.naming(entity_id, allowed)
    same = index.cluster(entity_id, allowed)
    from palermo.store import findings as findings_store

    cluster = [entity_id, *(r[0] for r in same)]
    also = sorted(set(same_node or []) - set(cluster))
    found = [
        f for f in index.findings_about(cluster) if findings_store.visible(store, f["compartment"])
    ]
    findings_store.audit_victims(store, found, "*")
    ids = [r[0] for r in linked_out] + [r[0] for r in linked_in] + [r[0] for r in same]
    labels = captions(store, [entity_id, *ids, *(same_node or [])])
    if entity_id in protected_entities(store) and not hidden:
        reveal(store, [entity_id], "web: entity page")
    audit.record_read(store.engine, store.scope.actor, "entity.read", entity_id,
                      {"protected": entity_id in protected_entities(store)})  # fmt: skip
    return redact_json(
        store,
        {
            "id": entity_id,
            "schema": schema,
            "caption": labels.get(entity_id, entity_id),
            "protected": entity_id in protected_entities(store),
            "withheld": withheld,
            "values": values,
            "same_as": [
                {
                    "id": r[0],
                    "caption": labels.get(r[0], r[0]),
                    "decided_by": r[1],
                    "probability": r[2],
                }
                for r in same
            ],
            "links": [
                {"id": r[0], "schema": r[1], "caption": labels.get(r[0], r[0]), "direction": "out"}
                for r in linked_out
            ]
            + [
                {
                    "id": r[0],
                    "schema": r[1],
                    "caption": labels.get(r[0], r[0]),
                    "prop": r[2],
                    "direction": "in",
                }
                for r in linked_in
            ],
            "same_node": [{"id": i, "caption": labels.get(i, i)} for i in also],
            "events": events_of(store, cluster + also, known=labels),
            "findings": found,
        },
    )


def _looks_like_id(value: str) -> bool:
    # entity ids are 40-hex (or prefixed) keys made by the mappings; a name never looks like one
    return bool(re.fullmatch(r"[A-Za-z0-9_.:-]{16,80}", value)) and not value.isdigit()


def events_of(
    store: Store, ids: list[str], limit: int = 200, known: dict[str, str] | None = None
) -> dict[str, Any]:
    """Payments from or to these entities (or accounts they hold), calls from or to their
    phones and border crossings they are on, newest first, with the file and row of each
    (``known``: captions already read)."""
    index, allowed = read_index(store), allowed_of(store)
    payments = index.payments_of([entity_key(i) for i in ids], allowed, limit)
    calls = index.calls_of(index.phones_of(ids, allowed), allowed, limit)
    have = known or {}
    parties = [p for r in payments for p in (r["payer"], r["payee"]) if p and p not in have]
    labels = {**have, **captions(store, parties)}
    for r in payments:
        r["payer_caption"] = labels.get(r["payer"] or "")
        r["payee_caption"] = labels.get(r["payee"] or "")
    return {
        "trips": index.trips(ids, allowed, limit),
        "payments": payments,
        "calls": calls,
        "limit": limit,
    }


def cell_timeline(store: Store, cell: str, node_entities: dict[str, list[str]]) -> dict[str, Any]:
    """The events of a criminal cell (a ``network.cell`` finding the caller may see): its
    members' payments, calls and crossings, newest first, with the finding behind the cell."""
    from palermo.store import findings as findings_store

    found = [f for f in findings_store.read(store, prefix="network.cell") if f["id"] == cell]
    if not found:
        raise NotFound(f"no cell {cell!r}")
    members = found[0]["subject_ids"]
    ids = sorted({e for m in members for e in node_entities.get(m, [m])})
    labels = captions(store, members)
    return redact_json(store, {
        "cell": cell, "explanation": found[0]["explanation"],
        "members": [{"id": m, "caption": labels.get(m, m)} for m in members],
        "events": events_of(store, ids, limit=500, known=labels),
    })  # fmt: skip


def audit_log(store: Store, limit: int = 200, before: int | None = None) -> list[dict[str, Any]]:
    """The audit chain, newest first (admins and the local owner only; reading it is audited)."""
    if store.scope.role not in (None, "admin"):
        raise AccessDenied(f"{store.scope.actor}: only an admin reads the audit log")
    rows = store.engine.rows(
        "SELECT seq, strftime(\"at\", '%Y-%m-%dT%H:%M:%S.%fZ'), actor, action, target, details,"
        " hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        [before or 2**62, max(1, min(limit, 1000))],
    )
    audit.record_read(store.engine, store.scope.actor, "audit.read", None, {"rows": len(rows)})
    return [
        {"seq": r[0], "at": r[1], "actor": r[2], "action": r[3], "target": r[4],
         "details": json.loads(r[5]) if r[5] else None, "hash": r[6]}
        for r in rows
    ]  # fmt: skip


def movements(
    store: Store, rates: list[Any] | None = None, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    """Cross-border flows for the map, within the caller's compartments: payments between
    countries (the payer's and the payee's bank country; sums per currency, and in EUR at the
    latest rate given, else the ingest's EUR amount) and journeys (a border record's start and
    end country), each pair with its count and the files it comes from."""
    import pycountry

    cond, params = store.scope.sql_filter("p.compartment")
    window, wparams = [], []
    for column, value, op in (("p.occurred_at", since, ">="), ("p.occurred_at", until, "<")):
        if value:
            window.append(f"{column} {op} ?::TIMESTAMPTZ")
            wparams.append(value)
    where = " AND ".join([cond, *window])
    money = store.engine.rows(
        "SELECT p.payer_country, p.payee_country, p.currency, count(*), sum(p.amount)::DOUBLE,"
        " sum(p.amount_eur)::DOUBLE, list(DISTINCT ev.original_name)"
        " FROM payments p JOIN evidence ev ON ev.sha256 = p.evidence_sha256"
        f" WHERE p.payer_country IS NOT NULL AND p.payee_country IS NOT NULL AND {where}"
        " GROUP BY ALL",
        [*params, *wparams],
    )
    latest: dict[str, float] = {}
    for r in sorted(rates or [], key=lambda r: str(r.valid_from or "")):
        latest[r.currency] = r.units_per_eur
    flows: dict[tuple[str, str], dict[str, Any]] = {}
    unconverted: set[str] = set()
    for a, b, currency, n, amount, amount_eur, files in money:
        f = flows.setdefault((a, b), {"from": a, "to": b, "payments": 0, "amount_eur": 0.0,
                                      "by_currency": {}, "files": set()})  # fmt: skip
        f["payments"] += n
        f["by_currency"][currency] = round(f["by_currency"].get(currency, 0.0) + amount, 2)
        f["files"].update(files)
        if currency == "EUR":
            f["amount_eur"] += amount
        elif currency in latest:
            f["amount_eur"] += amount / latest[currency]
        elif amount_eur is not None:
            f["amount_eur"] += amount_eur
        else:
            unconverted.add(currency)
    scond, sparams = store.scope.sql_filter("t.compartment")
    trips = store.engine.rows(
        f"""WITH t AS (
          SELECT t.entity_id, any_value(t.value) FILTER (WHERE t.prop = 'startLocation') AS a,
            any_value(t.value) FILTER (WHERE t.prop = 'endLocation') AS b,
            any_value(t.value) FILTER (WHERE t.prop = 'startDate') AS day,
            any_value(ev.original_name) AS file
          FROM statements t JOIN evidence ev ON ev.sha256 = t.evidence_sha256
          WHERE t.schema = 'Trip' AND {scond} GROUP BY t.entity_id
        ), c AS (
          SELECT entity_id, min(value) AS country FROM statements t
          WHERE schema = 'Address' AND prop = 'country' AND {scond} GROUP BY entity_id
        )
        SELECT ca.country, cb.country, count(*), list(DISTINCT t.file)
        FROM t JOIN c ca ON ca.entity_id = t.a JOIN c cb ON cb.entity_id = t.b
        WHERE ca.country <> cb.country AND (?::VARCHAR IS NULL OR t.day >= ?)
          AND (?::VARCHAR IS NULL OR t.day < ?)
        GROUP BY ALL""",
        [*sparams, *sparams, since, since, until, until],
    )

    def numeric(code: str) -> str | None:
        c = pycountry.countries.get(alpha_2=code.upper()) if code else None
        return str(c.numeric) if c is not None else None

    codes = {c for f in flows for c in f} | {c for r in trips for c in r[:2]}
    return {
        "money": [
            {**f, "amount_eur": round(f["amount_eur"], 2), "files": sorted(f["files"])}
            for f in sorted(flows.values(), key=lambda f: -f["amount_eur"])
        ],
        "travel": [
            {"from": a, "to": b, "journeys": n, "files": sorted(files)}
            for a, b, n, files in sorted(trips, key=lambda r: -r[2])
        ],
        "numeric": {c: numeric(c) for c in sorted(codes)},
        "unconverted_currencies": sorted(unconverted),
    }
