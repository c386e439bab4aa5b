"""An in-memory index of the workspace for point reads: one entity's statements, the entities
that name it, its resolution cluster, its payments, calls and crossings, and the name search.

Why by hand: DuckDB answers these reads by scanning (its ART indexes serve single ``=`` lookups,
not the key lists and ORs an entity page needs), about 1-13 ms a query on the demo workspace,
and a page needs a dozen. A web server under load needs them in microseconds, so the server
keeps, per workspace state (``api.auth.Server``), the rows sorted by key in Arrow and NumPy
and slices them. Built in one pass of SQL (0.6 s and about 165 MB for the 70k statements and 306k
payments of the medium demo, see ``benchmarks/api.py``); it answers exactly what the SQL it
replaces answered (tests/store/test_index.py holds both side by side).

Compartments are applied here, row by row, as ``Scope.sql_filter`` applies them in SQL: every
method takes ``allowed`` (the caller's compartments, ``None`` for all) and returns only rows of
those compartments."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from palermo.store.workspace import Store

NAME_PROPS = ("name", "alias", "weakAlias", "previousName", "firstName", "lastName", "middleName")
CAPTION_IDS = ("accountNumber", "iban", "phone", "email")
STATEMENT_COLUMNS = ("schema", "prop", "value", "original", "compartment", "file", "source_row",
                     "run_id", "sha256")  # fmt: skip
PAYMENT_COLUMNS = ("id", "at", "payer", "payer_account", "payee", "payee_account", "amount",
                   "currency", "type", "reference", "file", "row", "compartment")  # fmt: skip
CALL_COLUMNS = ("id", "at", "caller", "callee", "duration_s", "type", "file", "row",
                "compartment")  # fmt: skip
Allowed = frozenset[str] | None


def allowed_of(store: Store) -> Allowed:
    """The compartments this store's caller may read, ``None`` for all."""
    scope = store.scope
    return None if scope.compartments is None or scope.covers_all else scope.compartments


def read_index(store: Store) -> ReadIndex:
    """The index of this store's workspace (kept on the open store; the server shares it until
    the workspace changes)."""
    cached: ReadIndex | None = getattr(store, "_index", None)
    if cached is None:
        cached = ReadIndex.build(store)
        store._index = cached  # type: ignore[attr-defined]
    return cached


class _Sorted:
    """Row positions by an integer key: ``positions(keys)`` gives every row holding one of them."""

    def __init__(self, keys: np.ndarray) -> None:
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def positions(self, keys: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.keys, keys, side="left")
        hi = np.searchsorted(self.keys, keys, side="right")
        if not len(keys) or not (hi > lo).any():
            return np.empty(0, dtype=np.int64)
        return np.concatenate([self.order[a:b] for a, b in zip(lo, hi, strict=True) if b > a])


def _codes(column: pa.ChunkedArray | pa.Array, dictionary: pa.Array) -> np.ndarray:
    found = pc.index_in(column, value_set=dictionary)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class ReadIndex:
    compartments: list[str]  # code -> compartment
    stmts: dict[str, list[Any]]  # STATEMENT_COLUMNS, each a Python list, sorted by entity
    spans: dict[str, tuple[int, int]]  # entity -> its statements [start, end)
    entity_compartments: dict[str, frozenset[str]]
    named_by: dict[str, list[tuple[str, str, str, str]]]  # value -> (entity, schema, prop, comp)
    clusters: dict[str, list[tuple[str, str, Any]]]  # entity -> the others in its cluster
    trips_of: dict[str, list[tuple[str, str]]]  # person -> (trip, compartment of the link)
    payments: pa.Table  # PAYMENT_COLUMNS, newest first
    payment_comp: np.ndarray
    payment_keys: list[_Sorted]  # payer, payee, payer account, payee account
    calls: pa.Table  # CALL_COLUMNS, newest first
    call_comp: np.ndarray
    call_parties: _Sorted  # by phone code, callers and callees (position mod n: the call)
    phones: dict[str, int]
    # the name search: name statements, the distinct words, and word -> statements (CSR)
    name_entity: np.ndarray
    name_rows: pa.Table  # entity_id, schema, prop, value
    name_comp: np.ndarray
    vocabulary: list[str]
    word_start: np.ndarray
    word_stmt: np.ndarray
    findings: list[dict[str, Any]]  # as findings.read gives them, in its order
    findings_of: dict[str, list[int]]  # subject -> positions in findings
    built_s: float

    @classmethod
    def build(cls, store: Store) -> ReadIndex:
        t0 = time.perf_counter()
        e = store.engine
        comps = sorted(
            str(r[0])
            for r in e.rows(
                "SELECT compartment FROM statements UNION SELECT compartment FROM payments"
                " UNION SELECT compartment FROM calls"
            )
        )
        comp_array = pa.array(comps, pa.string())
        st = e.arrow(
            "SELECT s.entity_id, s.schema, s.prop, s.value, s.original, s.compartment,"
            " ev.original_name AS file, s.source_row, s.run_id, s.evidence_sha256 AS sha256"
            " FROM statements s JOIN evidence ev ON ev.sha256 = s.evidence_sha256"
            " ORDER BY s.entity_id, s.prop, s.value, ev.original_name, s.source_row"
        )
        ids = st.column("entity_id").to_pylist()
        stmts = {c: st.column(c).to_pylist() for c in STATEMENT_COLUMNS}
        spans: dict[str, tuple[int, int]] = {}
        start = 0
        for i in range(1, len(ids) + 1):
            if i == len(ids) or ids[i] != ids[start]:
                spans[ids[start]] = (start, i)
                start = i
        ecomps = {eid: frozenset(stmts["compartment"][a:b]) for eid, (a, b) in spans.items()}
        named_by: dict[str, list[tuple[str, str, str, str]]] = {}
        for value, eid, schema, prop, comp in e.rows(
            "SELECT s.value, s.entity_id, s.schema, s.prop, s.compartment FROM statements s"
            " WHERE s.value IN (SELECT entity_id FROM statements) AND s.value <> s.entity_id"
            " ORDER BY s.value, s.entity_id, s.prop"
        ):
            named_by.setdefault(value, []).append((eid, schema, prop, comp))
        clusters: dict[str, list[tuple[str, str, Any]]] = {}
        for a, b, decided, prob in e.rows(
            "SELECT r1.entity_id, r2.entity_id, r1.decided_by, r2.match_probability"
            " FROM resolution r1 JOIN resolution r2 ON r2.cluster_id = r1.cluster_id"
            " AND r2.entity_id <> r1.entity_id ORDER BY 1, 2"
        ):
            clusters.setdefault(a, []).append((b, decided, prob))
        trips: dict[str, list[tuple[str, str]]] = {}
        for person, trip, comp in e.rows(
            "SELECT DISTINCT value, entity_id, compartment FROM statements"
            " WHERE schema = 'Trip' AND prop = 'involved' ORDER BY 1, 2"
        ):
            trips.setdefault(person, []).append((trip, comp))
        pay = e.arrow(
            """SELECT p.id, strftime(p.occurred_at, '%Y-%m-%dT%H:%M:%SZ') AS at,
              kp.entity_id AS payer, p.payer_account, ke.entity_id AS payee, p.payee_account,
              p.amount::DOUBLE AS amount, p.currency, p.payment_type AS type, p.reference,
              ev.original_name AS file, p.source_row AS row, p.compartment,
              p.payer_key, p.payee_key, p.payer_account_key, p.payee_account_key
            FROM payments p JOIN evidence ev ON ev.sha256 = p.evidence_sha256
            LEFT JOIN entity_keys kp ON kp.key = p.payer_key
            LEFT JOIN entity_keys ke ON ke.key = p.payee_key
            ORDER BY p.occurred_at DESC, p.id"""
        )
        keys = []
        for c in ("payer_key", "payee_key", "payer_account_key", "payee_account_key"):
            col = pay.column(c).fill_null(0).to_numpy()
            keys.append(_Sorted(np.asarray(col, dtype=np.int64)))
        calls = e.arrow(
            """SELECT c.id, strftime(c.started_at, '%Y-%m-%dT%H:%M:%SZ') AS at, c.caller,
              c.callee, c.duration_s, c.call_type AS type, ev.original_name AS file,
              c.source_row AS row, c.compartment
            FROM calls c JOIN evidence ev ON ev.sha256 = c.evidence_sha256
            ORDER BY c.started_at DESC, c.id"""
        )
        phone_list = pc.unique(
            pa.chunked_array(calls.column("caller").chunks + calls.column("callee").chunks)
        )
        phone_dict = pa.array(phone_list.to_pylist(), pa.string())
        parties = np.concatenate(
            [_codes(calls.column("caller"), phone_dict), _codes(calls.column("callee"), phone_dict)]
        )
        names = ", ".join(f"'{p}'" for p in NAME_PROPS)
        words = e.arrow(
            f"""SELECT * FROM (
              SELECT id AS sid, entity_id, schema, prop, value, compartment,
                unnest(regexp_split_to_array(lower(coalesce(translit, value)), '[^a-z0-9]+'))
                  AS word
              FROM statements WHERE prop IN ({names})
            ) WHERE word <> '' ORDER BY sid"""
        )
        sid = pc.dictionary_encode(words.column("sid")).combine_chunks()
        first = np.unique(np.asarray(sid.indices.to_numpy()), return_index=True)[1]
        name_rows = (
            words.select(["entity_id", "schema", "prop", "value"])
            .take(pa.array(first))
            .combine_chunks()
        )
        word = pc.dictionary_encode(words.column("word")).combine_chunks()
        word_ids = np.asarray(word.indices.to_numpy(), dtype=np.int64)
        order = np.argsort(word_ids, kind="stable")
        vocabulary = word.dictionary.to_pylist()
        from palermo.store import findings as findings_store

        found = [findings_store.as_dict(r) for r in e.rows(
            f"SELECT {findings_store.COLUMNS} FROM findings ORDER BY {findings_store.ORDER}")]  # fmt: skip
        findings_of: dict[str, list[int]] = {}
        for i, f in enumerate(found):
            for subject in dict.fromkeys(f["subject_ids"]):
                findings_of.setdefault(subject, []).append(i)
        return cls(
            compartments=comps,
            stmts=stmts,
            spans=spans,
            entity_compartments=ecomps,
            named_by=named_by,
            clusters=clusters,
            trips_of=trips,
            payments=pay.select(list(PAYMENT_COLUMNS)).combine_chunks(),
            payment_comp=_codes(pay.column("compartment"), comp_array),
            payment_keys=keys,
            calls=calls.combine_chunks(),
            call_comp=_codes(calls.column("compartment"), comp_array),
            call_parties=_Sorted(parties),
            phones={p: i for i, p in enumerate(phone_dict.to_pylist())},
            name_entity=np.asarray(name_rows.column("entity_id").to_pylist(), dtype=object),
            name_rows=name_rows,
            name_comp=_codes(words.column("compartment").take(pa.array(first)), comp_array),
            vocabulary=vocabulary,
            word_start=np.searchsorted(word_ids[order], np.arange(len(vocabulary) + 1)),
            word_stmt=np.asarray(sid.indices.to_numpy(), dtype=np.int64)[order],
            findings=found,
            findings_of=findings_of,
            built_s=time.perf_counter() - t0,
        )

    # -- statements ------------------------------------------------------------------------

    def visible(self, entity_id: str, allowed: Allowed) -> bool:
        """Whether anything of this entity is in the allowed compartments."""
        comps = self.entity_compartments.get(entity_id)
        return comps is not None and (allowed is None or not comps.isdisjoint(allowed))

    def statements(self, entity_id: str, allowed: Allowed) -> list[tuple[Any, ...]]:
        """(schema, prop, value, original, compartment, file, source_row, run_id, sha256), in
        the order of prop, value, file, row."""
        a, b = self.spans.get(entity_id, (0, 0))
        cols = [self.stmts[c][a:b] for c in STATEMENT_COLUMNS]
        rows = list(zip(*cols, strict=True))
        if allowed is None:
            return rows
        return [r for r in rows if r[4] in allowed]

    def _props(self, entity_id: str, allowed: Allowed, props: tuple[str, ...]) -> list[str]:
        a, b = self.spans.get(entity_id, (0, 0))
        prop, value, comp = self.stmts["prop"], self.stmts["value"], self.stmts["compartment"]
        return [value[i] for i in range(a, b)
                if prop[i] in props and (allowed is None or comp[i] in allowed)]  # fmt: skip

    def caption_parts(
        self, entity_id: str, allowed: Allowed
    ) -> tuple[str, str | None, str | None] | None:
        """(schema, its most frequent name, its least identifier) as the caller may see them;
        None when nothing of it is visible."""
        if not self.visible(entity_id, allowed):
            return None
        a, _b = self.spans[entity_id]
        names = self._props(entity_id, allowed, ("name",))
        ident = self._props(entity_id, allowed, CAPTION_IDS)
        schema = next(
            s
            for s, c in zip(
                self.stmts["schema"][a:_b], self.stmts["compartment"][a:_b], strict=True
            )
            if allowed is None or c in allowed
        )
        name = Counter(names).most_common(1)[0][0] if names else None
        return schema, name, min(ident) if ident else None

    def id_schemas(self, entity_id: str, allowed: Allowed) -> list[str]:
        """The schemas under which the caller sees this entity itself (its ``id`` statements)."""
        a, b = self.spans.get(entity_id, (0, 0))
        prop, schema, comp = self.stmts["prop"], self.stmts["schema"], self.stmts["compartment"]
        return sorted({schema[i] for i in range(a, b)
                       if prop[i] == "id" and (allowed is None or comp[i] in allowed)})  # fmt: skip

    def phones_of(self, ids: list[str], allowed: Allowed) -> list[str]:
        return sorted({p for i in ids for p in self._props(i, allowed, ("phone",))})

    def naming(
        self, entity_id: str, allowed: Allowed, limit: int = 500
    ) -> list[tuple[str, str, str]]:
        """(entity, schema, prop) of the entities that name this one in a property."""
        rows = sorted({(e, s, p) for e, s, p, c in self.named_by.get(entity_id, [])
                       if allowed is None or c in allowed})  # fmt: skip
        return rows[:limit]

    def cluster(self, entity_id: str, allowed: Allowed) -> list[tuple[str, str, Any]]:
        """The others resolved into this entity's cluster that the caller may see."""
        return [r for r in self.clusters.get(entity_id, []) if self.visible(r[0], allowed)]

    def trips(self, ids: list[str], allowed: Allowed, limit: int) -> list[dict[str, Any]]:
        """Border crossings these entities are on, newest first."""
        mine = {
            t for i in ids for t, c in self.trips_of.get(i, []) if allowed is None or c in allowed
        }
        out = []
        for trip in mine:
            rows = self.statements(trip, allowed)
            if not rows:
                continue
            first: dict[str, str] = {}
            for r in rows:
                first.setdefault(r[1], r[2])
            out.append({"id": trip, "at": first.get("startDate"), "what": first.get("name"),
                        "location": first.get("location"), "file": rows[0][5],
                        "row": min((r[6] for r in rows if r[6] is not None), default=None),
                        "compartment": rows[0][4]})  # fmt: skip
        out.sort(key=lambda t: (t["at"] is not None, t["at"] or "", t["id"]), reverse=True)
        return out[:limit]

    def findings_about(self, subjects: list[str]) -> list[dict[str, Any]]:
        """Findings naming any of these subjects (copies), in ``findings.read``'s order; the
        caller filters them by compartment (``findings.visible``)."""
        pos = sorted({i for s in subjects for i in self.findings_of.get(s, [])})
        return [dict(self.findings[i]) for i in pos]

    # -- events ----------------------------------------------------------------------------

    def _allowed_codes(self, allowed: Allowed) -> np.ndarray | None:
        if allowed is None:
            return None
        return np.array(
            [i for i, c in enumerate(self.compartments) if c in allowed], dtype=np.int64
        )

    def _take(
        self, table: pa.Table, columns: tuple[str, ...], pos: np.ndarray
    ) -> list[dict[str, Any]]:
        rows = table.take(pa.array(pos, pa.int64()))
        cols = [rows.column(c).to_pylist() for c in columns]
        return [dict(zip(columns, r, strict=True)) for r in zip(*cols, strict=True)]

    def _newest(
        self, pos: np.ndarray, comp: np.ndarray, allowed: Allowed, limit: int
    ) -> np.ndarray:
        pos = np.unique(pos)  # ascending: the tables are newest first
        codes = self._allowed_codes(allowed)
        if codes is not None:
            pos = pos[np.isin(comp[pos], codes)]
        return pos[:limit]

    def payments_of(self, keys: list[int], allowed: Allowed, limit: int) -> list[dict[str, Any]]:
        """Payments from or to these entity keys (the entities or their accounts), newest first."""
        k = np.asarray(sorted(set(keys)), dtype=np.int64)
        pos = np.concatenate([s.positions(k) for s in self.payment_keys])
        return self._take(self.payments, PAYMENT_COLUMNS,
                          self._newest(pos, self.payment_comp, allowed, limit))  # fmt: skip

    def calls_of(self, phones: list[str], allowed: Allowed, limit: int) -> list[dict[str, Any]]:
        """Calls from or to these numbers, newest first."""
        codes = np.asarray(
            sorted({self.phones[p] for p in phones if p in self.phones}), dtype=np.int64
        )
        pos = self.call_parties.positions(codes) % max(1, self.calls.num_rows)
        return self._take(
            self.calls, CALL_COLUMNS, self._newest(pos, self.call_comp, allowed, limit)
        )

    # -- the name search -------------------------------------------------------------------

    def search_names(
        self, words: list[str], allowed: Allowed, threshold: float
    ) -> list[tuple[str, str, str, str, float]]:
        """Name statements matching the query's words: each word against the statement's best
        word (Jaro-Winkler), averaged over the query's words, at least ``threshold``:
        (entity, schema, prop, value, score). Scored over the distinct words only: a statement
        whose best word for one query word is below ``1 - n (1 - threshold)`` cannot average
        ``threshold`` over n words, so those words are never expanded."""
        from rapidfuzz import process
        from rapidfuzz.distance import JaroWinkler

        n = len(words)
        if not n or not self.vocabulary:
            return []
        scores = process.cdist(words, self.vocabulary, scorer=JaroWinkler.normalized_similarity,
                               dtype=np.float64, workers=1)  # fmt: skip
        bound = 1.0 - n * (1.0 - threshold) - 1e-12
        stmt_parts, qw_parts, score_parts = [], [], []
        for i in range(n):
            hit = np.nonzero(scores[i] >= bound)[0]
            if not len(hit):
                return []  # one query word matches no word well enough: no statement averages enough
            counts = self.word_start[hit + 1] - self.word_start[hit]
            starts = np.repeat(self.word_start[hit], counts)
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            stmt_parts.append(self.word_stmt[starts + offsets])
            qw_parts.append(np.full(int(counts.sum()), i, dtype=np.int64))
            score_parts.append(np.repeat(scores[i][hit], counts))
        stmt = np.concatenate(stmt_parts)
        codes = self._allowed_codes(allowed)
        qw, sc = np.concatenate(qw_parts), np.concatenate(score_parts)
        if codes is not None:
            keep = np.isin(self.name_comp[stmt], codes)
            stmt, qw, sc = stmt[keep], qw[keep], sc[keep]
        if not len(stmt):
            return []
        key = stmt * n + qw
        order = np.argsort(key, kind="stable")
        uniq, first = np.unique(key[order], return_index=True)
        best = np.maximum.reduceat(sc[order], first)  # per (statement, query word)
        owner = uniq // n
        stmts, start, count = np.unique(owner, return_index=True, return_counts=True)
        mean = np.add.reduceat(best, start) / n
        ok = (count == n) & (mean >= threshold)
        chosen, mean = stmts[ok], mean[ok]
        rows = self.name_rows.take(pa.array(chosen, pa.int64()))
        cols = [rows.column(c).to_pylist() for c in ("entity_id", "schema", "prop", "value")]
        return [(*r, float(m)) for *r, m in zip(*cols, mean.tolist(), strict=True)]
