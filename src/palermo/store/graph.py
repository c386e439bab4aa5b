"""The store's side of network building: the workspace's ties as tables, in SQL, within the caller's
compartments. ``palermo.network.workspace`` turns them into an igraph graph.

Nodes are *resolved* entities: a Person, Company, Organization or LegalEntity stands for its
resolution cluster (``resolution.cluster_id``; named by the smallest entity id of the cluster
that the caller may see, so no id from another compartment leaks). Identifiers that several
sources share are mapped onto those nodes:

- a **bank account** is its holder: the person a goAML report names with it, else the holder
  the bank names. A holder the bank names with a person's name is that person when exactly one
  person node in the workspace carries that name (transliterated, word order ignored), the rule
  ``holder = unique person of that name``; otherwise it stays a node of its own;
- a **phone number** is its holder's node when exactly one node holds it (Person or LegalEntity
  ``phone``), else a node ``phone:+E164`` of its own, tied to each holder (``shared_phone``).
  An ad poster known only by its phone (the ``ads`` mapping) is that phone;
- cash pseudo-accounts (account numbers starting ``CASH``: a bank's counter) are not nodes (they
  would tie every customer of the bank); their amounts are counted in the node features.

Layers (``LAYERS``): calls, payments, shared_address, shared_phone, vehicle, co_travel, ownership
(Ownership of companies and real estate, Directorship), employment, family (FtM Family),
associates (FtM Associate / UnknownLink, persons named in the same note) and ads (posters sharing
an e-mail or an image). A shared identifier held by more than ``HUB_LIMIT`` nodes becomes a hub
node (``address:...``, ``vehicle:...``, ``trip:...``) with a tie to each, not a clique.
Time windows apply to what has a time (calls, payments, trips, employment starts, ads, notes);
registries and shared identifiers have none and are always in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from palermo.errors import PalermoError
from palermo.store.workspace import Store

LAYERS = (
    "calls",
    "payments",
    "shared_address",
    "shared_phone",
    "vehicle",
    "co_travel",
    "ownership",
    "employment",
    "family",
    "associates",
    "ads",
)
HUB_LIMIT = 25  # above this many holders, a shared identifier is a hub node, not a clique
ACTORS = "('Person', 'Company', 'Organization', 'LegalEntity')"
EVIDENCE_REFS = 5  # evidence rows kept per tie (file:row), the earliest first


@dataclass
class GraphTables:
    nodes: pa.Table  # node, kind, label, countries, sectors, entities
    edges: pa.Table  # a, b, layer, n, amount, duration_s, first, last, evidence
    flows: pa.Table  # payer, payee, n, amount (directed money between nodes)
    node_events: pa.Table  # node: per-node counts and sums from events (role features)
    node_facts: pa.Table  # node: trips, ads, employment, ownership, notes (role features)
    entity_nodes: pa.Table  # entity_id, node: which entities each node stands for
    identifiers: pa.Table  # node, kind (phone | account), value: what each node holds
    notes: list[str]


def parse_layers(text: str | None) -> list[str]:
    if not text or text == "all":
        return list(LAYERS)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in LAYERS]
    if unknown:
        raise PalermoError(f"unknown layer {', '.join(unknown)} (known: {', '.join(LAYERS)}, all)")
    return chosen


def _window(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    cond, params = [], []
    if since is not None:
        cond.append(f"{column} >= ?::TIMESTAMPTZ")
        params.append(since.isoformat())
    if until is not None:
        cond.append(f"{column} < ?::TIMESTAMPTZ")
        params.append(until.isoformat())
    return (" AND ".join(cond) or "TRUE"), params


def graph_tables(
    store: Store,
    layers: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> GraphTables:
    """The ties of the chosen layers between resolved nodes, the money flows between them and
    per-node event counts, all within the caller's compartments."""
    e = store.engine
    notes = prepare_nodes(store)
    prepare_payments(store, since, until)
    sql_edges: dict[str, tuple[str, list[Any]]] = {}
    ecnd, eparams = store.scope.sql_filter("c.compartment")
    wc, wparams = _window("c.started_at", since, until)
    sql_edges["calls"] = (
        f"""SELECT coalesce(pa.node, 'phone:' || c.caller) AS a,
          coalesce(pb.node, 'phone:' || c.callee) AS b, 1 AS n, NULL::DOUBLE AS amount,
          c.duration_s::DOUBLE AS duration_s, c.started_at AS t,
          ev.original_name || ':' || coalesce(c.source_row::VARCHAR, '?') AS ref
        FROM calls c JOIN evidence ev ON ev.sha256 = c.evidence_sha256
        LEFT JOIN g_phone pa ON pa.phone = c.caller LEFT JOIN g_phone pb ON pb.phone = c.callee
        WHERE {ecnd} AND {wc}""",
        [*eparams, *wparams],
    )
    sql_edges["payments"] = (
        """SELECT coalesce(aa.node, 'account:' || p.payer_account) AS a,
          coalesce(ab.node, 'account:' || p.payee_account) AS b, 1 AS n, p.amount,
          NULL::DOUBLE AS duration_s, p.occurred_at AS t, p.ref
        FROM g_pay p LEFT JOIN g_acct aa ON aa.acct = p.payer_account_key
        LEFT JOIN g_acct ab ON ab.acct = p.payee_account_key
        WHERE upper(coalesce(p.payer_account, '')) NOT LIKE 'CASH%'
          AND upper(coalesce(p.payee_account, '')) NOT LIKE 'CASH%'""",
        [],
    )
    # -- shared identifiers: address, phone, vehicle, co-travel ----------------------------------
    sql_edges["shared_address"] = (
        _shared(
            """SELECT coalesce(ar.address_id, lower(s.value)) AS k, n.node, s.ref, NULL AS t
            FROM g_st s JOIN g_node n USING (entity_id)
            LEFT JOIN address_resolution ar ON ar.address = s.value
            WHERE s.prop = 'address' AND s.schema IN """
            + ACTORS,
            "address:",
        ),
        [],
    )
    sql_edges["shared_phone"] = (
        """SELECT h.node AS a, p.node AS b, 1 AS n, NULL::DOUBLE AS amount,
          NULL::DOUBLE AS duration_s, NULL::TIMESTAMPTZ AS t, 'phone ' || p.phone AS ref
        FROM g_phone p JOIN g_phone_holders h USING (phone) WHERE p.holders > 1""",
        [],
    )
    wt, wtparams = _window("t.t", since, until)
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_trip AS
        SELECT s.entity_id AS trip,
          any_value(s.value) FILTER (WHERE s.prop = 'vehicle') AS vehicle,
          list(DISTINCT s.value) FILTER (WHERE s.prop = 'involved') AS involved,
          try_cast(any_value(s.value) FILTER (WHERE s.prop = 'startDate') AS TIMESTAMPTZ) AS t,
          any_value(s.ref) AS ref
        FROM g_st s WHERE s.schema = 'Trip' GROUP BY s.entity_id"""
    )
    travellers = f"""SELECT t.vehicle, t.t, t.ref, n.node FROM g_trip t, unnest(t.involved) AS u(p)
        JOIN g_node n ON n.entity_id = u.p WHERE t.vehicle IS NOT NULL AND {wt}"""
    sql_edges["vehicle"] = (
        _shared(f"SELECT vehicle AS k, node, ref, t FROM ({travellers})", "vehicle:"),
        wtparams,
    )
    sql_edges["co_travel"] = (
        _shared(
            f"SELECT vehicle || '@' || strftime(t, '%Y-%m-%d') AS k, node, ref, t"
            f" FROM ({travellers}) WHERE t IS NOT NULL",
            "trip:",
        ),
        wtparams,
    )
    # -- links between entities (FtM interval schemas) -------------------------------------------
    sql_edges["ownership"] = (
        _link(
            "('Ownership', 'Directorship')",
            "('owner', 'director')",
            "('asset', 'organization')",
            "AND NOT starts_with(o.value, 'bankaccount-')",
        ),
        [],
    )
    sql_edges["employment"] = (_link("('Employment')", "('employee')", "('employer')"), [])
    sql_edges["family"] = (_link("('Family')", "('person')", "('relative')"), [])
    wn, wnparams = _window("nt.t", since, until)
    sql_edges["associates"] = (
        _union(
            _link("('Associate')", "('person')", "('associate')"),
            _link(
                "('UnknownLink')",
                "('subject')",
                "('object')",
                "AND NOT starts_with(o.value, 'note-')",
            ),
            _shared(
                f"""WITH nt AS (
              SELECT entity_id AS note, try_cast(any_value(value) FILTER (WHERE prop = 'createdAt')
                AS TIMESTAMPTZ) AS t FROM g_st WHERE schema = 'Note' GROUP BY entity_id
            ), mention AS (
              SELECT o.value AS note, s.value AS who, s.ref FROM g_st s
              JOIN g_st o ON o.entity_id = s.entity_id AND o.prop = 'object'
              WHERE s.schema = 'UnknownLink' AND s.prop = 'subject'
              UNION SELECT entity_id, value, ref FROM g_st WHERE schema = 'Note' AND prop = 'entity'
            )
            SELECT m.note AS k, n.node, m.ref, nt.t FROM mention m JOIN nt USING (note)
            JOIN g_node n ON n.entity_id = m.who WHERE {wn}""",
                "note:",
            ),
        ),
        wnparams,
    )
    wa, waparams = _window("a.t", since, until)
    sql_edges["ads"] = (
        _shared(
            f"""WITH a AS (
              SELECT entity_id AS ad, any_value(value) FILTER (WHERE prop = 'sender') AS sender,
                try_cast(any_value(value) FILTER (WHERE prop = 'publishedAt') AS TIMESTAMPTZ) AS t,
                list(DISTINCT value) FILTER (WHERE prop = 'emailMentioned') AS emails,
                flatten(list(string_split(value, ';')) FILTER (WHERE prop = 'keywords')) AS kw,
                any_value(ref) AS ref
              FROM g_st WHERE schema = 'Message' GROUP BY entity_id
            )
            SELECT k, n.node, a.ref, a.t FROM a, unnest(list_concat(
                list_transform(coalesce(a.emails, []), lambda x: 'email ' || lower(x)),
                list_transform(list_filter(coalesce(a.kw, []), lambda x: length(x) >= 16),
                               lambda x: 'image ' || x))) AS u(k)
            JOIN g_node n ON n.entity_id = a.sender WHERE {wa}""",
            "ad:",
            hubs=False,
        ),
        waparams,
    )
    # -- union of the chosen layers, aggregated per pair and layer ------------------------------
    unions = []
    all_params: list[Any] = []
    for layer in layers:
        sql, lp = sql_edges[layer]
        unions.append(f"SELECT '{layer}' AS layer, * FROM ({sql})")
        all_params.extend(lp)
    e.execute(
        "CREATE OR REPLACE TEMP TABLE g_edge AS "
        + " UNION ALL ".join(
            unions
            or [
                "SELECT NULL::VARCHAR AS layer, NULL::VARCHAR AS a,"
                " NULL::VARCHAR AS b, 0 AS n, NULL::DOUBLE AS amount,"
                " NULL::DOUBLE AS duration_s, NULL::TIMESTAMPTZ AS t,"
                " NULL::VARCHAR AS ref WHERE FALSE"
            ]
        ),
        all_params,
    )
    edges = e.arrow(
        f"""SELECT least(a, b) AS a, greatest(a, b) AS b, layer, sum(n)::BIGINT AS n,
          sum(amount) AS amount, sum(duration_s) AS duration_s, min(t) AS first, max(t) AS last,
          list(ref ORDER BY t NULLS LAST, ref)[1:{EVIDENCE_REFS}] AS evidence
        FROM g_edge WHERE a IS NOT NULL AND b IS NOT NULL AND a <> b
        GROUP BY ALL ORDER BY a, b, layer"""
    )
    dropped_cash = e.rows(
        "SELECT count(*) FROM g_pay WHERE upper(coalesce(payer_account, '')) LIKE 'CASH%'"
        " OR upper(coalesce(payee_account, '')) LIKE 'CASH%'"
    )[0][0]
    if dropped_cash and "payments" in layers:
        notes.append(
            f"{dropped_cash} cash deposit(s)/withdrawal(s) (CASH pseudo-accounts) kept out of the"
            " graph, counted in the nodes' cash features"
        )
    raw = e.rows(
        "SELECT raw_currency, count(*) FROM g_pay WHERE raw_currency IS NOT NULL"
        " AND raw_currency <> 'EUR' GROUP BY ALL ORDER BY 2 DESC, 1"
    )
    if raw and "payments" in layers:
        notes.append(
            f"{sum(n for _, n in raw)} payment(s) without a EUR value are summed in their own"
            f" currency ({', '.join(f'{c} {n}' for c, n in raw[:8])}): money figures mix"
            " currencies until the store converts them"
        )
    flows = e.arrow(
        """SELECT coalesce(aa.node, 'account:' || p.payer_account) AS payer,
          coalesce(ab.node, 'account:' || p.payee_account) AS payee, count(*) AS n,
          sum(p.amount) AS amount
        FROM g_pay p LEFT JOIN g_acct aa ON aa.acct = p.payer_account_key
        LEFT JOIN g_acct ab ON ab.acct = p.payee_account_key
        WHERE upper(coalesce(p.payer_account, '')) NOT LIKE 'CASH%'
          AND upper(coalesce(p.payee_account, '')) NOT LIKE 'CASH%'
        GROUP BY ALL ORDER BY ALL"""
    )
    nodes = _nodes(store)
    node_events = _node_events(store, since, until)
    entity_nodes = e.arrow("SELECT entity_id, node FROM g_node ORDER BY entity_id")
    identifiers = e.arrow(
        """SELECT node, 'phone' AS kind, phone AS value FROM g_phone
        UNION SELECT h.node, 'phone', h.phone FROM g_phone_holders h
        UNION SELECT a.node, 'account', k.value FROM g_acct a
          JOIN entity_keys ek ON ek.key = a.acct
          JOIN g_st k ON k.entity_id = ek.entity_id AND k.prop = 'accountNumber'
        ORDER BY ALL"""
    )
    return GraphTables(
        nodes, edges, flows, node_events, _node_facts(store), entity_nodes, identifiers, notes
    )


def prepare_nodes(store: Store) -> list[str]:
    """Temp tables of the caller's statements (``g_st``) and of the node each actor entity stands
    for (``g_node``: entity_id, schema, node, bridged), with the phones' holders (``g_phone``,
    ``g_phone_holders``). Returns notes on the rules applied."""
    e = store.engine
    cond, params = store.scope.sql_filter("s.compartment")
    notes: list[str] = []
    # -- the caller's statements and the node of every actor entity ------------------------------
    e.execute(
        "CREATE OR REPLACE TEMP TABLE g_st AS SELECT s.entity_id, s.schema, s.prop, s.value,"
        " s.translit, ev.original_name || ':' || coalesce(s.source_row::VARCHAR, '?') AS ref"
        f" FROM statements s JOIN evidence ev ON ev.sha256 = s.evidence_sha256 WHERE {cond}",
        params,
    )
    # the holders of cash pseudo-accounts (a bank's counter, 'ATM') are no one
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_cash_holders AS
        SELECT DISTINCT o.value AS entity_id FROM g_st o
        JOIN g_st a ON a.entity_id = o.entity_id AND a.prop = 'asset'
        JOIN g_st n ON n.entity_id = a.value AND n.prop = 'accountNumber'
        WHERE o.schema = 'Ownership' AND o.prop = 'owner' AND upper(n.value) LIKE 'CASH%'"""
    )
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE g_ent AS
        SELECT entity_id, any_value(schema) AS schema,
          bool_or(prop = 'name') AS named,
          list(DISTINCT value) FILTER (WHERE prop = 'name') AS names,
          list(DISTINCT value) FILTER (WHERE prop = 'phone') AS phones,
          list(DISTINCT value) FILTER (WHERE prop = 'email') AS emails
        FROM g_st WHERE schema IN {ACTORS}
          AND entity_id NOT IN (SELECT entity_id FROM g_cash_holders)
        GROUP BY entity_id"""
    )
    # resolved node: smallest visible entity id of the cluster
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_node0 AS
        SELECT g.entity_id, g.schema,
          min(g.entity_id) OVER (PARTITION BY coalesce(r.cluster_id, g.entity_id)) AS node
        FROM g_ent g LEFT JOIN resolution r ON r.entity_id = g.entity_id"""
    )
    # ad posters known only by a phone (their name is the phone) are that phone
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_phone_only AS
        SELECT entity_id, phones[1] AS phone FROM g_ent
        WHERE schema = 'LegalEntity' AND len(phones) = 1 AND list_has_all(phones, names)"""
    )
    # bank holders named like exactly one person node: that person
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_namekey AS
        SELECT DISTINCT s.entity_id,
          array_to_string(list_sort(string_split(lower(coalesce(s.translit, s.value)), ' ')), ' ')
            AS k
        FROM g_st s WHERE s.prop = 'name' AND s.schema IN ('Person', 'LegalEntity')"""
    )
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_bridge AS
        WITH person_keys AS (
          SELECT k.k, min(n.node) AS node, count(DISTINCT n.node) AS nodes FROM g_namekey k
          JOIN g_node0 n ON n.entity_id = k.entity_id WHERE n.schema = 'Person' GROUP BY k.k
        )
        SELECT DISTINCT ON (h.entity_id) h.entity_id, p.node FROM g_node0 h
        JOIN g_namekey k ON k.entity_id = h.entity_id JOIN person_keys p ON p.k = k.k
        LEFT JOIN resolution r ON r.entity_id = h.entity_id
        WHERE h.schema = 'LegalEntity' AND p.nodes = 1 AND r.entity_id IS NULL
          AND length(k.k) > 3
        ORDER BY h.entity_id, p.node"""
    )
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_node AS
        SELECT n.entity_id, n.schema,
          coalesce('phone:' || po.phone, b.node, n.node) AS node,
          b.node IS NOT NULL AS bridged
        FROM g_node0 n LEFT JOIN g_phone_only po USING (entity_id)
        LEFT JOIN g_bridge b USING (entity_id)"""
    )
    bridged = e.rows("SELECT count(*) FROM g_node WHERE bridged")[0][0]
    if bridged:
        notes.append(
            f"{bridged} bank account holder(s) taken as the one person of that name in the"
            " workspace (rule: holder = unique person of that name)"
        )
    # phones: the holder's node when one node holds it, else a phone node
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_phone_holders AS
        SELECT DISTINCT s.value AS phone, n.node FROM g_st s JOIN g_node n USING (entity_id)
        WHERE s.prop = 'phone' AND n.node NOT LIKE 'phone:%'"""
    )
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_phone AS
        SELECT phone, CASE WHEN count(*) = 1 THEN min(node) ELSE 'phone:' || phone END AS node,
          count(*) AS holders
        FROM g_phone_holders GROUP BY phone"""
    )
    # a poster known only by its phone is whoever holds that phone
    e.execute(
        """UPDATE g_node SET node = p.node FROM g_phone_only po JOIN g_phone p USING (phone)
        WHERE g_node.entity_id = po.entity_id"""
    )
    return notes


def prepare_payments(store: Store, since: datetime | None, until: datetime | None) -> None:
    """Temp tables ``g_pay`` (one row per transfer seen, within the caller's compartments and the
    window: goAML repeats of bank rows counted once) and ``g_acct`` (account key -> holder
    node). Needs ``prepare_nodes`` first."""
    e = store.engine
    # -- payments: accounts to nodes; one row per transfer seen (goAML repeats bank rows) --------
    pcnd, pparams = store.scope.sql_filter("p.compartment")
    wp, wpparams = _window("p.occurred_at", since, until)
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE g_pay AS
        SELECT coalesce(p.source_id, p.id) AS tid, p.payer_key, p.payer_account_key,
          p.payer_account, p.payee_key, p.payee_account_key, p.payee_account, p.occurred_at,
          coalesce(p.amount_eur, p.amount)::DOUBLE AS amount,
          CASE WHEN p.amount_eur IS NULL THEN p.currency END AS raw_currency,
          p.amount::DOUBLE AS amount_raw, p.currency,
          p.payer_country, p.payee_country,
          -- a bank's words ('remittance', 'rent 5 ...') over goAML's one-letter codes ('K'):
          -- lower case sorts after upper case
          max(p.payment_type) AS payment_type, max(p.reference) AS reference,
          min(ev.original_name || ':' || coalesce(p.source_row::VARCHAR, '?')) AS ref
        FROM payments p JOIN evidence ev ON ev.sha256 = p.evidence_sha256
        WHERE {pcnd} AND {wp}
        GROUP BY coalesce(p.source_id, p.id), p.occurred_at, p.amount, p.payer_key,
          p.payer_account_key, p.payer_account, p.payee_key, p.payee_account_key,
          p.payee_account, p.amount_eur, p.currency, p.payer_country, p.payee_country""",
        [*pparams, *wpparams],
    )
    e.execute(
        """CREATE OR REPLACE TEMP TABLE g_acct AS
        WITH sides AS (
          SELECT payer_account_key AS acct, payer_key AS holder FROM g_pay
          UNION SELECT payee_account_key, payee_key FROM g_pay
        ), named AS (
          SELECT s.acct, n.node, n.schema FROM sides s
          JOIN entity_keys k ON k.key = s.holder JOIN g_node n ON n.entity_id = k.entity_id
        )
        SELECT acct, coalesce(min(node) FILTER (WHERE schema = 'Person'), min(node)) AS node
        FROM named WHERE acct IS NOT NULL GROUP BY acct"""
    )


def _union(*selects: str) -> str:
    return " UNION ALL ".join(f"SELECT * FROM ({q})" for q in selects)


def _shared(select: str, hub_prefix: str, hubs: bool = True) -> str:
    """Ties between the nodes that share a key (an address, a vehicle, a trip, a note): a clique
    when few hold it, a hub node with a tie to each when more than HUB_LIMIT do."""
    hub = (
        f"""UNION ALL SELECT g.node, '{hub_prefix}' || g.k, 1, NULL, NULL, g.t, g.ref
        FROM g JOIN held h USING (k) WHERE h.holders > {HUB_LIMIT}"""
        if hubs
        else ""
    )
    return f"""WITH g AS ({select}),
      held AS (SELECT k, count(DISTINCT node) AS holders FROM g GROUP BY k)
    SELECT x.node AS a, y.node AS b, 1 AS n, NULL::DOUBLE AS amount, NULL::DOUBLE AS duration_s,
      least(x.t, y.t) AS t,
      CASE WHEN x.ref = y.ref THEN x.ref ELSE x.ref || ' + ' || y.ref END AS ref
    FROM g x JOIN g y ON x.k = y.k AND x.node < y.node JOIN held h ON h.k = x.k
    WHERE h.holders BETWEEN 2 AND {HUB_LIMIT if hubs else 1_000_000}
    {hub}"""


def _link(schemas: str, subject: str, obj: str, extra: str = "") -> str:
    """Ties from link entities (Ownership, Employment, ...): subject's node to object's node."""
    return f"""SELECT ns.node AS a, coalesce(no.node, o.value) AS b, 1 AS n,
      NULL::DOUBLE AS amount, NULL::DOUBLE AS duration_s, NULL::TIMESTAMPTZ AS t, s.ref
    FROM g_st s JOIN g_st o ON o.entity_id = s.entity_id AND o.prop IN {obj}
    JOIN g_node ns ON ns.entity_id = s.value
    LEFT JOIN g_node no ON no.entity_id = o.value
    WHERE s.schema IN {schemas} AND s.prop IN {subject} {extra}"""


def _nodes(store: Store) -> pa.Table:
    """Every node that stands for entities: kind, a label, its countries and sectors."""
    return store.engine.arrow(
        """WITH st AS (
          SELECT n.node, s.schema, s.prop, s.value FROM g_st s JOIN g_node n USING (entity_id)
        ), emp AS (  -- a person's employers' sectors
          SELECT ne.node, sec.value AS sector FROM g_st l
          JOIN g_st r ON r.entity_id = l.entity_id AND r.prop = 'employer'
          JOIN g_node ne ON ne.entity_id = l.value
          JOIN g_st sec ON sec.entity_id = r.value AND sec.prop = 'sector'
          WHERE l.schema = 'Employment' AND l.prop = 'employee'
        )
        SELECT st.node,
          CASE WHEN bool_or(schema = 'Person') THEN 'Person'
               WHEN bool_or(schema = 'Company') THEN 'Company'
               WHEN bool_or(schema = 'Organization') THEN 'Organization'
               ELSE 'LegalEntity' END AS kind,
          coalesce(mode(value ORDER BY value) FILTER (WHERE prop = 'name' AND schema = 'Person'),
                   mode(value ORDER BY value) FILTER (WHERE prop = 'name')) AS label,
          list_sort(list(DISTINCT value) FILTER (
            WHERE prop IN ('nationality', 'country', 'jurisdiction'))) AS countries,
          list_sort(list_distinct(list_concat(
            list(DISTINCT value) FILTER (WHERE prop = 'sector'),
            (SELECT list(DISTINCT sector) FROM emp WHERE emp.node = st.node)))) AS sectors,
          count(DISTINCT value) FILTER (WHERE prop = 'id') AS entities
        FROM st WHERE schema IN ('Person', 'Company', 'Organization', 'LegalEntity')
        GROUP BY st.node ORDER BY st.node"""
    )


def _node_events(store: Store, since: datetime | None, until: datetime | None) -> pa.Table:
    """Per node, what its events show (features for role inference): money in and out, cash
    deposits and withdrawals, payers and payees, cross-border payments, calls made and received,
    night calls, foreign call partners."""
    e = store.engine
    cash = "upper(coalesce({}, '')) LIKE 'CASH%'"
    money = e.arrow(
        f"""WITH p AS (
          SELECT coalesce(aa.node, 'account:' || g.payer_account) AS payer,
            coalesce(ab.node, 'account:' || g.payee_account) AS payee, g.amount,
            {cash.format("g.payer_account")} AS from_cash, {cash.format("g.payee_account")} AS to_cash,
            coalesce(g.payer_country <> g.payee_country, FALSE) AS cross_border, g.occurred_at
          FROM g_pay g LEFT JOIN g_acct aa ON aa.acct = g.payer_account_key
          LEFT JOIN g_acct ab ON ab.acct = g.payee_account_key
        ), sides AS (
          SELECT payer AS node, amount AS out_amt, 0.0 AS in_amt, payee AS other, to_cash AS cash,
            cross_border, 'out' AS dir, occurred_at FROM p WHERE NOT from_cash
          UNION ALL
          SELECT payee, 0.0, amount, payer, from_cash, cross_border, 'in', occurred_at FROM p
          WHERE NOT to_cash
        )
        SELECT node,
          count(*) FILTER (WHERE dir = 'out' AND NOT cash) AS pay_out_n,
          count(*) FILTER (WHERE dir = 'in' AND NOT cash) AS pay_in_n,
          coalesce(sum(out_amt) FILTER (WHERE NOT cash), 0) AS money_out,
          coalesce(sum(in_amt) FILTER (WHERE NOT cash), 0) AS money_in,
          count(DISTINCT other) FILTER (WHERE dir = 'out' AND NOT cash) AS payees,
          count(DISTINCT other) FILTER (WHERE dir = 'in' AND NOT cash) AS payers,
          count(*) FILTER (WHERE dir = 'out' AND cash) AS cash_out_n,
          coalesce(sum(out_amt) FILTER (WHERE dir = 'out' AND cash), 0) AS cash_out,
          count(*) FILTER (WHERE dir = 'in' AND cash) AS cash_in_n,
          coalesce(sum(in_amt) FILTER (WHERE dir = 'in' AND cash), 0) AS cash_in,
          count(*) FILTER (WHERE cross_border AND dir = 'out') AS cross_border_out_n,
          min(occurred_at) AS pay_first, max(occurred_at) AS pay_last
        FROM sides GROUP BY node"""
    )
    cond, params = store.scope.sql_filter("c.compartment")
    wc, wparams = _window("c.started_at", since, until)
    calls = e.arrow(
        f"""WITH c AS (
          SELECT coalesce(pa.node, 'phone:' || c.caller) AS caller,
            coalesce(pb.node, 'phone:' || c.callee) AS callee, c.duration_s,
            extract(hour FROM c.started_at) AS h, substr(c.caller, 1, 3) <> substr(c.callee, 1, 3)
              AS foreign_call, c.started_at
          FROM calls c LEFT JOIN g_phone pa ON pa.phone = c.caller
          LEFT JOIN g_phone pb ON pb.phone = c.callee WHERE {cond} AND {wc}
        ), sides AS (
          SELECT caller AS node, callee AS other, 'out' AS dir, duration_s, h, foreign_call,
            started_at FROM c
          UNION ALL SELECT callee, caller, 'in', duration_s, h, foreign_call, started_at FROM c
        )
        SELECT node, count(*) FILTER (WHERE dir = 'out') AS calls_out,
          count(*) FILTER (WHERE dir = 'in') AS calls_in,
          count(DISTINCT other) AS call_partners,
          coalesce(avg(duration_s), 0) AS call_mean_s,
          count(*) FILTER (WHERE h < 6 OR h >= 22) AS night_calls,
          count(*) FILTER (WHERE foreign_call) AS foreign_calls,
          min(started_at) AS call_first, max(started_at) AS call_last
        FROM sides GROUP BY node""",
        [*params, *wparams],
    )
    e.register("_money", money)
    e.register("_calls", calls)
    try:
        return e.arrow(
            """SELECT coalesce(m.node, c.node) AS node, m.* EXCLUDE (node), c.* EXCLUDE (node)
            FROM _money m FULL JOIN _calls c ON c.node = m.node ORDER BY 1"""
        )
    finally:
        e.unregister("_money")
        e.unregister("_calls")


def _node_facts(store: Store) -> pa.Table:
    """Per node, what the registries and notes say of it: trips (and distinct vehicles), ads
    posted, employments (as employee, as employer), assets owned, directorships, notes naming it
    and the roles intelligence gives it (UnknownLink roles)."""
    return store.engine.arrow(
        """WITH link AS (  -- (link entity, its end) of the interval schemas
          SELECT s.entity_id AS link, s.schema, s.prop, n.node FROM g_st s
          JOIN g_node n ON n.entity_id = s.value
          WHERE s.schema IN ('Employment', 'Ownership', 'Directorship', 'UnknownLink')
        ), owned AS (
          SELECT o.node FROM link o JOIN g_st a ON a.entity_id = o.link AND a.prop = 'asset'
          WHERE o.schema = 'Ownership' AND o.prop = 'owner'
            AND NOT starts_with(a.value, 'bankaccount-')
        ), roles AS (
          SELECT l.node, r.value AS role FROM link l
          JOIN g_st r ON r.entity_id = l.link AND r.prop = 'role'
          WHERE l.schema = 'UnknownLink' AND l.prop = 'subject'
        ), trips AS (
          SELECT n.node, count(DISTINCT t.trip) AS trips, count(DISTINCT t.vehicle) AS vehicles
          FROM g_trip t, unnest(t.involved) AS u(p) JOIN g_node n ON n.entity_id = u.p
          GROUP BY n.node
        ), ads AS (
          SELECT n.node, count(DISTINCT s.entity_id) AS ads FROM g_st s
          JOIN g_node n ON n.entity_id = s.value
          WHERE s.schema = 'Message' AND s.prop = 'sender' GROUP BY n.node
        ), facts AS (
          SELECT node,
            count(*) FILTER (WHERE schema = 'Employment' AND prop = 'employee') AS employed,
            count(*) FILTER (WHERE schema = 'Employment' AND prop = 'employer') AS employees,
            count(*) FILTER (WHERE schema = 'Directorship' AND prop = 'director') AS directorships,
            count(*) FILTER (WHERE schema = 'UnknownLink' AND prop = 'subject') AS note_mentions
          FROM link GROUP BY node
        ), nodes AS (
          SELECT DISTINCT node FROM g_node
        )
        SELECT n.node, coalesce(t.trips, 0) AS trips, coalesce(t.vehicles, 0) AS vehicles,
          coalesce(a.ads, 0) AS ads, coalesce(f.employed, 0) AS employed,
          coalesce(f.employees, 0) AS employees, coalesce(f.directorships, 0) AS directorships,
          (SELECT count(*) FROM owned o WHERE o.node = n.node) AS assets_owned,
          coalesce(f.note_mentions, 0) AS note_mentions,
          (SELECT list(DISTINCT r.role ORDER BY r.role) FROM roles r WHERE r.node = n.node)
            AS note_roles
        FROM nodes n LEFT JOIN trips t USING (node) LEFT JOIN ads a USING (node)
        LEFT JOIN facts f USING (node) ORDER BY n.node"""
    )


def timed_ties(
    store: Store,
    layers: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[pa.Table, list[str]]:
    """The events behind the ties of the chosen layers, per pair of nodes and day: source,
    target, time (the day, UTC), weight (events that day). Ties without a time (registries,
    shared identifiers) are left out: they belong to no period."""
    tables = graph_tables(store, layers, since, until)
    table = store.engine.arrow(
        """SELECT least(a, b) AS source, greatest(a, b) AS target,
          date_trunc('day', t AT TIME ZONE 'UTC') AS time, count(*)::DOUBLE AS weight
        FROM g_edge WHERE t IS NOT NULL AND a IS NOT NULL AND b IS NOT NULL AND a <> b
        GROUP BY ALL ORDER BY ALL"""
    )
    return table, tables.notes
