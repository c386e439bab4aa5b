"""The in-memory read index (store/index.py) answers what the SQL it replaced answers: each read
below is the SQL the lens ran before, side by side with the index, for the local owner and for
callers holding one compartment, over a sample of the demo workspace's entities."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import Served
from palermo.model import entity_key
from palermo.store import findings as findings_store
from palermo.store.access import Scope
from palermo.store.index import allowed_of, read_index
from palermo.store.lens import NAME_PROPS, SEARCH_THRESHOLD
from palermo.store.workspace import Store

SCOPES = [
    Scope("owner"),
    Scope("police", frozenset({"police"}), "analyst"),
    Scope("osint", frozenset({"osint"}), "analyst"),
    Scope("none", frozenset(), "analyst"),
]


@pytest.fixture(scope="module")
def copy(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("index") / "ws"
    shutil.copytree(served.root, dest)
    return dest


def _sample(store: Store, n: int = 60) -> list[str]:
    ids = [r[0] for r in store.engine.rows("SELECT DISTINCT entity_id FROM statements ORDER BY 1")]
    rng = random.Random(7)
    busy = [r[0] for r in store.engine.rows(
        "SELECT k.entity_id FROM payments p JOIN entity_keys k ON k.key = p.payer_key"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10")]  # fmt: skip
    return sorted(set(rng.sample(ids, min(n, len(ids))) + busy))


def _sql_statements(store: Store, eid: str) -> list[tuple[Any, ...]]:
    cond, params = store.scope.sql_filter("s.compartment")
    return store.engine.rows(
        "SELECT s.schema, s.prop, s.value, s.original, s.compartment, ev.original_name,"
        " s.source_row, s.run_id, s.evidence_sha256 FROM statements s"
        " JOIN evidence ev ON ev.sha256 = s.evidence_sha256"
        f" WHERE s.entity_id = ? AND {cond} ORDER BY s.prop, s.value, ev.original_name, s.source_row",
        [eid, *params],
    )


def _sql_payments(store: Store, ids: list[str], limit: int) -> list[tuple[Any, ...]]:
    cond, params = store.scope.sql_filter("p.compartment")
    keys = [entity_key(i) for i in ids]
    return store.engine.rows(
        f"""SELECT p.id, strftime(p.occurred_at, '%Y-%m-%dT%H:%M:%SZ'), kp.entity_id,
          p.payer_account, ke.entity_id, p.payee_account, p.amount::DOUBLE, p.currency,
          p.payment_type, p.reference, ev.original_name, p.source_row, p.compartment
        FROM payments p JOIN evidence ev ON ev.sha256 = p.evidence_sha256
        LEFT JOIN entity_keys kp ON kp.key = p.payer_key
        LEFT JOIN entity_keys ke ON ke.key = p.payee_key
        WHERE (list_contains(?::BIGINT[], p.payer_key) OR list_contains(?::BIGINT[], p.payee_key)
          OR list_contains(?::BIGINT[], p.payer_account_key)
          OR list_contains(?::BIGINT[], p.payee_account_key)) AND {cond}
        ORDER BY p.occurred_at DESC, p.id LIMIT ?""",
        [keys, keys, keys, keys, *params, limit],
    )


def _sql_calls(store: Store, ids: list[str], limit: int) -> list[tuple[Any, ...]]:
    scond, sparams = store.scope.sql_filter("s.compartment")
    phones = [r[0] for r in store.engine.rows(
        "SELECT DISTINCT value FROM statements s WHERE prop = 'phone'"
        f" AND entity_id IN (SELECT unnest(?::VARCHAR[])) AND {scond}", [ids, *sparams])]  # fmt: skip
    ccond, cparams = store.scope.sql_filter("c.compartment")
    return store.engine.rows(
        "SELECT c.id, strftime(c.started_at, '%Y-%m-%dT%H:%M:%SZ'), c.caller, c.callee,"
        " c.duration_s, c.call_type, ev.original_name, c.source_row, c.compartment FROM calls c"
        " JOIN evidence ev ON ev.sha256 = c.evidence_sha256 WHERE (list_contains(?::VARCHAR[],"
        f" c.caller) OR list_contains(?::VARCHAR[], c.callee)) AND {ccond}"
        " ORDER BY c.started_at DESC, c.id LIMIT ?",
        [phones, phones, *cparams, limit],
    )


def _sql_search(store: Store, words: list[str]) -> set[tuple[str, str, str, float]]:
    cond, params = store.scope.sql_filter("compartment")
    names = ", ".join(f"'{p}'" for p in NAME_PROPS)
    rows = store.engine.rows(
        f"""WITH w AS (
          SELECT * FROM (SELECT id AS sid, entity_id, prop, value, compartment,
            unnest(regexp_split_to_array(lower(coalesce(translit, value)), '[^a-z0-9]+')) AS word
          FROM statements WHERE prop IN ({names})) WHERE word <> '' AND {cond}
        ), q AS (SELECT unnest(?::VARCHAR[]) AS qw), best AS (
          SELECT sid, entity_id, prop, value, qw, max(jaro_winkler_similarity(qw, word)) AS b
          FROM w CROSS JOIN q GROUP BY ALL
        )
        SELECT entity_id, prop, value, avg(b) FROM best GROUP BY sid, entity_id, prop, value
        HAVING avg(b) >= ?""",
        [*params, words, SEARCH_THRESHOLD],
    )
    return {(e, p, v, round(s, 9)) for e, p, v, s in rows}


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.actor)
def test_index_answers_as_the_sql(copy: Path, scope: Scope) -> None:
    with Store.open(copy, scope) as store:
        index, allowed = read_index(store), allowed_of(store)
        sample = _sample(store)
        some_events = 0
        for eid in sample:
            assert index.statements(eid, allowed) == _sql_statements(store, eid)
            assert index.visible(eid, allowed) == bool(_sql_statements(store, eid))
            for limit in (200, 3):
                got = [
                    tuple(r.values()) for r in index.payments_of([entity_key(eid)], allowed, limit)
                ]
                assert got == _sql_payments(store, [eid], limit)
                got_calls = [
                    tuple(r.values())
                    for r in index.calls_of(index.phones_of([eid], allowed), allowed, limit)
                ]
                assert got_calls == _sql_calls(store, [eid], limit)
                some_events += len(got) + len(got_calls)
            cond, params = store.scope.sql_filter("s.compartment")
            assert index.naming(eid, allowed) == [tuple(r) for r in store.engine.rows(
                "SELECT DISTINCT s.entity_id, s.schema, s.prop FROM statements s"
                f" WHERE s.value = ? AND s.entity_id <> ? AND {cond} ORDER BY ALL LIMIT 500",
                [eid, eid, *params])]  # fmt: skip
            assert [r[:2] for r in index.cluster(eid, allowed)] == [tuple(r) for r in store.engine.rows(
                "SELECT r2.entity_id, r1.decided_by FROM resolution r1 JOIN resolution r2"
                " ON r2.cluster_id = r1.cluster_id AND r2.entity_id <> r1.entity_id"
                " WHERE r1.entity_id = ? AND EXISTS (SELECT 1 FROM statements s WHERE"
                f" s.entity_id = r2.entity_id AND {cond}) ORDER BY 1", [eid, *params])]  # fmt: skip
            tcond, tparams = store.scope.sql_filter("t.compartment")
            trips = store.engine.rows(
                f"""WITH mine AS (SELECT DISTINCT entity_id FROM statements t WHERE schema = 'Trip'
                  AND prop = 'involved' AND value = ? AND {tcond})
                SELECT t.entity_id, any_value(t.value) FILTER (WHERE t.prop = 'startDate')
                FROM statements t JOIN mine USING (entity_id) WHERE {tcond}
                GROUP BY t.entity_id ORDER BY 2 DESC, 1 DESC""",
                [eid, *tparams, *tparams],
            )  # fmt: skip
            assert [(t["id"], t["at"]) for t in index.trips([eid], allowed, 200)] == trips
            caption = store.engine.rows(
                "SELECT any_value(schema), list(value ORDER BY value) FILTER (WHERE prop = 'name'),"
                " min(value) FILTER (WHERE prop IN ('accountNumber', 'iban', 'phone', 'email'))"
                f" FROM statements s WHERE entity_id = ? AND {cond} HAVING count(*) > 0",
                [eid, *params],
            )
            parts = index.caption_parts(eid, allowed)
            assert (parts is None) == (not caption)
            if parts is not None:
                names = caption[0][1] or []
                top = max((names.count(n) for n in names), default=0)
                assert parts[1] == min((n for n in names if names.count(n) == top), default=None)
                assert parts[2] == caption[0][2]
            mine = [
                f
                for f in index.findings_about([eid])
                if findings_store.visible(store, f["compartment"])
            ]
            assert mine == findings_store.read(store, subjects=[eid])
        # several entities at once, as a cell's timeline asks
        got = [
            tuple(r.values())
            for r in index.payments_of([entity_key(e) for e in sample], allowed, 500)
        ]
        assert got == _sql_payments(store, sample, 500)
        if scope.compartments is None:
            assert some_events > 0  # the sample is not all quiet entities
        names = [r[0] for r in store.engine.rows(
            "SELECT DISTINCT lower(coalesce(translit, value)) FROM statements WHERE prop = 'name'"
            " ORDER BY 1 LIMIT 40")]  # fmt: skip
        for q in [*names, "popesku", "ion popesku", "mariaa", "zzzz", "a b c"]:
            words = [w for w in q.replace("-", " ").split() if w.isalnum()][:8]
            if not words:
                continue
            got_names = {(e, p, v, round(s, 9)) for e, _sc, p, v, s in
                         index.search_names(words, allowed, SEARCH_THRESHOLD)}  # fmt: skip
            assert got_names == _sql_search(store, words), q
