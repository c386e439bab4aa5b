"""Reads for the web application and the REST API: search, the entity page, an entity's events and
the audit log; each within the caller's compartments (``Scope.sql_filter``), in SQL.

**Victims.** A person that a finding names as a possible victim (``victims.*``,
``network.role.victim``) or who has a victim case is *protected*: for a caller who does not see
victims' names (``Scope.sees_victim_names``) its identifying values (``PROTECTED_PROPS``) are
neither shown nor searchable, and its label is its pseudonym. For a caller who does, every showing
is audited (``victims.reveal``). Who is protected is decided over the whole workspace, not the
caller's compartments: a victim named in another agency's findings is still a victim."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pyarrow as pa
from anyascii import anyascii

from palermo.errors import AccessDenied, PalermoError
from palermo.model import entity_key
from palermo.store import audit
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
        names: dict[str, str] = {}
        for eid, value in store.engine.rows(
            "SELECT entity_id, value FROM statements WHERE prop IN ('name', 'alias', 'weakAlias',"
            " 'previousName') AND entity_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(protected)],
        ):
            if len(value.strip()) >= 4:
                names.setdefault(value.strip().casefold(), pseudonym(store, eid))
        if names:
            pattern = re.compile(
                "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.IGNORECASE
            )
            # the alternation of every name is slow on long texts: only texts that hold a word
            # some name begins with are searched (most are ids, times, amounts)
            firsts = {re.findall(r"\w+", n)[0] for n in names if re.findall(r"\w+", n)}
            words = re.compile(r"\w+")

            def fn(text: str) -> str:
                if len(text) < 4 or firsts.isdisjoint(words.findall(text.casefold())):
                    return text
                return pattern.sub(lambda m: names.get(m.group(0).casefold(), "V-?"), text)

    store._redact = fn  # type: ignore[attr-defined]
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
    shown to who may not see it), else its schema and id."""
    if not ids:
        return {}
    cond, params = store.scope.sql_filter("compartment")
    rows = store.engine.rows(
        "SELECT entity_id, any_value(schema), mode(value) FILTER (WHERE prop = 'name'),"
        " min(value) FILTER (WHERE prop IN ('accountNumber', 'iban', 'phone', 'email'))"
        f" FROM statements WHERE entity_id IN (SELECT unnest(?::VARCHAR[])) AND {cond}"
        " GROUP BY entity_id",
        [sorted(set(ids)), *params],
    )
    out = {}
    for eid, schema, name, ident in rows:
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


def name_words(store: Store) -> pa.Table:
    """Every word of every name statement, lower-case ASCII (the transliteration), one row per
    (statement, word), with its entity, property, value and compartment; every search filters
    it by its caller's compartments. Split once (kept on the open store; the server shares it
    until the workspace changes): splitting every name at every search was half its cost."""
    cached: pa.Table | None = getattr(store, "_name_words", None)
    if cached is not None:
        return cached
    names = ", ".join(f"'{p}'" for p in NAME_PROPS)
    table = store.engine.arrow(
        f"""SELECT * FROM (
          SELECT id AS sid, entity_id, schema, prop, value, compartment,
            unnest(regexp_split_to_array(lower(coalesce(translit, value)), '[^a-z0-9]+')) AS word
          FROM statements WHERE prop IN ({names})
        ) WHERE word <> ''"""
    )
    store._name_words = table  # type: ignore[attr-defined]
    return table


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
    store.engine.register("_name_words", name_words(store))
    try:
        rows = store.engine.rows(
            rf"""WITH q AS (SELECT unnest(?::VARCHAR[]) AS qw), best AS (
              SELECT w.sid, w.entity_id, w.schema, w.prop, w.value, q.qw,
                max(jaro_winkler_similarity(q.qw, w.word)) AS b
              FROM _name_words w CROSS JOIN q WHERE {cond} GROUP BY ALL
            ), hit AS (
              SELECT entity_id, schema, prop, value, avg(b) AS score FROM best
              GROUP BY sid, entity_id, schema, prop, value
              UNION ALL
              SELECT entity_id, schema, prop, value, 1.0 AS score
              FROM statements WHERE ? AND prop IN ({idents})
                AND contains(lower(regexp_replace(value, '[\s\-./()]', '', 'g')), ?) AND {cond}
            )
            SELECT entity_id, any_value(schema), max(score) AS best,
              arg_max(prop || '=' || value, score) AS matched,
              list(DISTINCT prop) AS props
            FROM hit WHERE score >= ? GROUP BY entity_id ORDER BY best DESC, entity_id LIMIT ?""",
            [words, *params, by_id, compact, *params, SEARCH_THRESHOLD, limit * 3],
        )
    finally:
        store.engine.unregister("_name_words")
    hits = []
    for eid, schema, score, matched, props in rows:
        if hides(store, eid) and set(props) <= PROTECTED_PROPS:
            continue  # found only by what the caller may not see of a victim
        hits.append({"id": eid, "schema": schema, "score": round(float(score), 4),
                     "matched": None if hides(store, eid) else matched})  # fmt: skip
        if len(hits) >= limit:
            break
    labels = captions(store, [h["id"] for h in hits])
    for h in hits:
        h["caption"] = labels.get(h["id"], h["id"])
        h["protected"] = h["id"] in protected_entities(store)
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "search", None,
                     {"q": q[:200], "hits": len(hits)})  # fmt: skip
    return {"q": q, "words": words, "threshold": SEARCH_THRESHOLD, "hits": hits}


def require_entity(store: Store, entity_id: str) -> None:
    """``NotFound`` unless something of this entity is within the caller's compartments."""
    cond, params = store.scope.sql_filter("compartment")
    if not store.engine.rows(
        f"SELECT 1 FROM statements WHERE entity_id = ? AND {cond} LIMIT 1", [entity_id, *params]
    ):
        raise NotFound(f"no entity {entity_id!r}")


def entity(store: Store, entity_id: str, same_node: list[str] | None = None) -> dict[str, Any]:
    """Everything the caller may see of one entity: each value with its provenance (file, row,
    compartment, ingest run), the entities resolved with it, the entities it links to and that
    link to it, its payments and calls, and the findings about it. ``same_node``: entities the
    network takes for the same node (a bank's holder named like this one person,
    ``store.graph``), whose payments are this entity's too. ``NotFound`` when nothing of it is
    within the caller's compartments (as for an id that does not exist)."""
    cond, params = store.scope.sql_filter("s.compartment")
    rows = store.engine.rows(
        "SELECT s.schema, s.prop, s.value, s.original, s.compartment, ev.original_name,"
        " s.source_row, s.run_id, s.evidence_sha256 FROM statements s"
        " JOIN evidence ev ON ev.sha256 = s.evidence_sha256"
        f" WHERE s.entity_id = ? AND {cond} ORDER BY s.prop, s.value, ev.original_name, s.source_row",
        [entity_id, *params],
    )
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
    scond, sparams = store.scope.sql_filter("s.compartment")
    # entities this one names in a property (an owner, an employer) that the caller may see
    linked_out = store.engine.rows(
        "SELECT DISTINCT s.entity_id, s.schema FROM statements s WHERE s.prop = 'id'"
        f" AND s.entity_id IN (SELECT unnest(?::VARCHAR[])) AND {scond}",
        [sorted(refs), *sparams],
    )
    # entities that name this one (an Ownership, an Employment, a Note, a Trip...)
    linked_in = store.engine.rows(
        "SELECT DISTINCT s.entity_id, s.schema, s.prop FROM statements s"
        f" WHERE s.value = ? AND s.entity_id <> ? AND {scond} ORDER BY 1 LIMIT 500",
        [entity_id, entity_id, *sparams],
    )
    same = store.engine.rows(
        "SELECT r2.entity_id, r1.decided_by, r2.match_probability FROM resolution r1"
        " JOIN resolution r2 ON r2.cluster_id = r1.cluster_id AND r2.entity_id <> r1.entity_id"
        f" WHERE r1.entity_id = ? AND EXISTS (SELECT 1 FROM statements s WHERE"
        f" s.entity_id = r2.entity_id AND {scond}) ORDER BY 1",
        [entity_id, *sparams],
    )
    from palermo.store import findings as findings_store

    cluster = [entity_id, *(r[0] for r in same)]
    also = sorted(set(same_node or []) - set(cluster))
    found = findings_store.read(store, subjects=cluster)
    ids = [r[0] for r in linked_out] + [r[0] for r in linked_in] + [r[0] for r in same]
    labels = captions(store, [entity_id, *ids, *(same_node or [])])
    if entity_id in protected_entities(store) and not hidden:
        reveal(store, [entity_id], "web: entity page")
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "entity.read", entity_id,
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
    cond, params = store.scope.sql_filter("p.compartment")
    keys = [entity_key(i) for i in ids]
    # the matching payments first (one scan of four key columns), their labels and files after
    pay = store.engine.rows(
        f"""WITH hit AS (
          SELECT * FROM payments p WHERE (list_contains(?::BIGINT[], p.payer_key)
            OR list_contains(?::BIGINT[], p.payee_key) OR list_contains(?::BIGINT[], p.payer_account_key)
            OR list_contains(?::BIGINT[], p.payee_account_key)) AND {cond}
          ORDER BY p.occurred_at DESC LIMIT ?
        )
        SELECT p.id, strftime(p.occurred_at, '%Y-%m-%dT%H:%M:%SZ'), kp.entity_id, p.payer_account,
          ke.entity_id, p.payee_account, p.amount::DOUBLE, p.currency, p.payment_type,
          p.reference, ev.original_name, p.source_row, p.compartment
        FROM hit p JOIN evidence ev ON ev.sha256 = p.evidence_sha256
        LEFT JOIN entity_keys kp ON kp.key = p.payer_key
        LEFT JOIN entity_keys ke ON ke.key = p.payee_key
        ORDER BY p.occurred_at DESC""",
        [keys, keys, keys, keys, *params, limit],
    )
    scond, sparams = store.scope.sql_filter("s.compartment")
    phones = [
        r[0]
        for r in store.engine.rows(
            "SELECT DISTINCT value FROM statements s WHERE prop = 'phone'"
            f" AND entity_id IN (SELECT unnest(?::VARCHAR[])) AND {scond}",
            [ids, *sparams],
        )
    ]
    ccond, cparams = store.scope.sql_filter("c.compartment")
    calls = store.engine.rows(
        "WITH hit AS (SELECT * FROM calls c WHERE (list_contains(?::VARCHAR[], c.caller)"
        f" OR list_contains(?::VARCHAR[], c.callee)) AND {ccond} ORDER BY c.started_at DESC LIMIT ?)"
        " SELECT c.id, strftime(c.started_at, '%Y-%m-%dT%H:%M:%SZ'), c.caller, c.callee,"
        " c.duration_s, c.call_type, ev.original_name, c.source_row, c.compartment FROM hit c"
        " JOIN evidence ev ON ev.sha256 = c.evidence_sha256 ORDER BY c.started_at DESC",
        [phones, phones, *cparams, limit],
    )
    tcond, tparams = store.scope.sql_filter("t.compartment")
    trips = store.engine.rows(
        f"""WITH mine AS (
          SELECT DISTINCT entity_id FROM statements t WHERE schema = 'Trip' AND prop = 'involved'
            AND list_contains(?::VARCHAR[], value) AND {tcond}
        )
        SELECT t.entity_id, any_value(t.value) FILTER (WHERE t.prop = 'startDate'),
          any_value(t.value) FILTER (WHERE t.prop = 'name'),
          any_value(t.value) FILTER (WHERE t.prop = 'location'),
          any_value(ev.original_name), min(t.source_row), any_value(t.compartment)
        FROM statements t JOIN mine USING (entity_id)
        JOIN evidence ev ON ev.sha256 = t.evidence_sha256 WHERE {tcond}
        GROUP BY t.entity_id ORDER BY 2 DESC LIMIT ?""",
        [ids, *tparams, *tparams, limit],
    )
    have = known or {}
    parties = [p for r in pay for p in (r[2], r[4]) if p and p not in have]
    labels = {**have, **captions(store, parties)}
    return {
        "trips": [
            {"id": r[0], "at": r[1], "what": r[2], "location": r[3], "file": r[4], "row": r[5],
             "compartment": r[6]}
            for r in trips
        ],
        "payments": [
            {"id": r[0], "at": r[1], "payer": r[2], "payer_caption": labels.get(r[2] or ""),
             "payer_account": r[3], "payee": r[4], "payee_caption": labels.get(r[4] or ""),
             "payee_account": r[5], "amount": r[6], "currency": r[7], "type": r[8],
             "reference": r[9], "file": r[10], "row": r[11], "compartment": r[12]}
            for r in pay
        ],
        "calls": [
            {"id": r[0], "at": r[1], "caller": r[2], "callee": r[3], "duration_s": r[4],
             "type": r[5], "file": r[6], "row": r[7], "compartment": r[8]}
            for r in calls
        ],
        "limit": limit,
    }  # fmt: skip


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
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "audit.read", None, {"rows": len(rows)})
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
