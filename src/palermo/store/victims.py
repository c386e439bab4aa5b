"""The store's side of finding victims in the data: what the sources say about each person that an
interview would otherwise ask, as Arrow tables within the caller's compartments, per resolved node
(``store.graph.prepare_nodes``).

- ``employments``: one row per registration (employee node, employer node, the employer's sector,
  the employee's registered address and phone, declared wage as the register writes it, start
  and end).
- ``trips``: one row per (person node, vehicle, day) of the border records with a vehicle.
- ``mentions``: one row per (person node, note) where a note names the person (a mention row with
  its role, or the note's own entity link), with the note's text, time and publisher.

Every call is audited as a read of victim data (``victims.read``): the notes of victim-support
organisations and labour inspectors are in these tables.

**Names or pseudonyms.** ``shown_label`` is what a caller may see of a possible victim: the name
for the roles that work with victims (``Scope.sees_victim_names``), else a pseudonym ``V-`` +
10 hex of HMAC-SHA256(workspace key, node): stable within the workspace, meaningless outside it
(the key is made once, kept in ``settings``, never shown). ``reveal`` audits every showing of
names (``victims.reveal`` with the persons shown).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from palermo.store import audit
from palermo.store.graph import prepare_nodes
from palermo.store.workspace import Store


@dataclass
class VictimTables:
    employments: pa.Table
    mentions: pa.Table
    labels: pa.Table  # node, label, birth_date, nationality, gender
    trips: pa.Table  # person, vehicle (id), plate, day, evidence (crossings with a vehicle)
    notes: list[str]


def victim_tables(store: Store, purpose: str) -> VictimTables:
    e = store.engine
    notes = prepare_nodes(store)
    employments = e.arrow(
        """WITH emp AS (
          SELECT entity_id,
            any_value(value) FILTER (WHERE prop = 'employee') AS employee,
            any_value(value) FILTER (WHERE prop = 'employer') AS employer,
            any_value(value) FILTER (WHERE prop = 'startDate') AS start_date,
            any_value(value) FILTER (WHERE prop = 'endDate') AS end_date,
            any_value(value) FILTER (WHERE prop = 'role') AS occupation,
            any_value(value) FILTER (WHERE prop = 'description') AS declared,
            any_value(ref) AS evidence
          FROM g_st WHERE schema = 'Employment' GROUP BY entity_id
        ), addr AS (
          SELECT entity_id, min(value) FILTER (WHERE prop = 'address') AS address,
            min(value) FILTER (WHERE prop = 'phone') AS phone FROM g_st
          WHERE prop IN ('address', 'phone') AND schema = 'Person' GROUP BY entity_id
        ), sector AS (
          SELECT n.node, min(s.value) AS sector FROM g_st s JOIN g_node n USING (entity_id)
          WHERE s.prop = 'sector' GROUP BY n.node
        ), country AS (
          SELECT entity_id, min(value) AS country FROM g_st
          WHERE prop IN ('jurisdiction', 'country') GROUP BY entity_id
        )
        SELECT emp.entity_id AS employment, ne.node AS employee, nr.node AS employer,
          sector.sector, country.country AS employer_country, a.address, a.phone, emp.start_date,
          emp.end_date, emp.occupation, emp.declared, emp.evidence
        FROM emp JOIN g_node ne ON ne.entity_id = emp.employee
        LEFT JOIN g_node nr ON nr.entity_id = emp.employer
        LEFT JOIN sector ON sector.node = nr.node
        LEFT JOIN country ON country.entity_id = emp.employer
        LEFT JOIN addr a ON a.entity_id = emp.employee
        ORDER BY employment"""
    )
    mentions = e.arrow(
        """WITH note AS (
          SELECT s.entity_id,
            any_value(s.value) FILTER (WHERE s.prop = 'description') AS text,
            any_value(s.value) FILTER (WHERE s.prop = 'name') AS title,
            any_value(s.value) FILTER (WHERE s.prop = 'createdAt') AS created,
            any_value(s.value) FILTER (WHERE s.prop = 'publisher') AS publisher,
            any_value(s.ref) AS evidence
          FROM g_st s WHERE s.schema = 'Note' GROUP BY s.entity_id
        ), link AS (
          SELECT subj.value AS person, obj.value AS note,
            any_value(r.value) AS role
          FROM g_st subj JOIN g_st obj ON obj.entity_id = subj.entity_id AND obj.prop = 'object'
          LEFT JOIN g_st r ON r.entity_id = subj.entity_id AND r.prop = 'role'
          WHERE subj.schema = 'UnknownLink' AND subj.prop = 'subject' GROUP BY ALL
          UNION ALL
          SELECT value, entity_id, NULL FROM g_st WHERE schema = 'Note' AND prop = 'entity'
        )
        SELECT n.node AS person, note.entity_id AS note, max(link.role) AS role,
          any_value(note.text) AS text, any_value(note.title) AS title,
          any_value(note.created) AS created, any_value(note.publisher) AS publisher,
          any_value(note.evidence) AS evidence
        FROM link JOIN note ON note.entity_id = link.note
        JOIN g_node n ON n.entity_id = link.person AND n.schema = 'Person'
        GROUP BY n.node, note.entity_id ORDER BY person, note"""
    )
    trips = e.arrow(
        """WITH trip AS (
          SELECT s.entity_id AS trip,
            any_value(s.value) FILTER (WHERE s.prop = 'vehicle') AS vehicle,
            list(DISTINCT s.value) FILTER (WHERE s.prop = 'involved') AS involved,
            try_cast(any_value(s.value) FILTER (WHERE s.prop = 'startDate') AS TIMESTAMPTZ) AS t,
            any_value(s.ref) AS evidence
          FROM g_st s WHERE s.schema = 'Trip' GROUP BY s.entity_id
        )
        , vehicle AS (
          SELECT entity_id, min(value) AS name FROM g_st
          WHERE schema = 'Vehicle' AND prop = 'name' GROUP BY entity_id
        )
        SELECT DISTINCT n.node AS person, t.vehicle, coalesce(v.name, t.vehicle) AS plate,
          t.t::DATE::VARCHAR AS day, t.evidence
        FROM trip t CROSS JOIN unnest(t.involved) AS u(p) JOIN g_node n ON n.entity_id = u.p
        LEFT JOIN vehicle v ON v.entity_id = t.vehicle
        WHERE t.vehicle IS NOT NULL AND t.t IS NOT NULL ORDER BY ALL"""
    )
    labels = e.arrow(
        """SELECT n.node, coalesce(mode(s.value ORDER BY s.value) FILTER (WHERE s.prop = 'name'), n.node) AS label,
          min(s.value) FILTER (WHERE s.prop = 'birthDate') AS birth_date,
          min(s.value) FILTER (WHERE s.prop = 'nationality') AS nationality,
          min(s.value) FILTER (WHERE s.prop = 'gender') AS gender
        FROM g_node n JOIN g_st s USING (entity_id) WHERE n.schema = 'Person'
        GROUP BY n.node ORDER BY n.node"""
    )
    audit.record_read(
        e, store.scope.actor, "victims.read", purpose,
        {"employments": employments.num_rows, "mentions": mentions.num_rows,
         "role": store.scope.role},
    )  # fmt: skip
    return VictimTables(employments, mentions, labels, trips, notes)


def _key(store: Store) -> bytes:
    # kept on the open store: a pseudonym is asked for once per person shown
    cached: bytes | None = getattr(store, "_victim_key", None)
    if cached is not None:
        return cached
    e = store.engine
    rows = e.rows("SELECT value FROM settings WHERE name = 'victim_pseudonym_key'")
    if rows:
        store._victim_key = bytes.fromhex(str(rows[0][0]))  # type: ignore[attr-defined]
        return store._victim_key  # type: ignore[attr-defined,no-any-return]
    key = secrets.token_hex(32)
    with e.transaction():
        e.execute(
            "INSERT INTO settings VALUES ('victim_pseudonym_key', ?, ?)",
            [key, datetime.now(UTC).isoformat()],
        )
        audit.append(e, store.scope.actor, "victims.pseudonym_key", None, {"made": True})
    store._victim_key = bytes.fromhex(key)  # type: ignore[attr-defined]
    return store._victim_key  # type: ignore[attr-defined,no-any-return]


def pseudonym(store: Store, node: str) -> str:
    digest = hmac.new(_key(store), node.encode(), hashlib.sha256).hexdigest()
    return "V-" + digest[:10]


def shown_label(store: Store, node: str, name: str | None) -> str:
    """The name for who may see victims' names, else the pseudonym (audit with ``reveal``)."""
    if store.scope.sees_victim_names and name:
        return name
    return pseudonym(store, node)


def reveal(store: Store, nodes: list[str], purpose: str) -> None:
    """Audit that these persons' names were shown (nothing to audit for pseudonyms)."""
    if nodes and store.scope.sees_victim_names:
        audit.record_read(
            store.engine, store.scope.actor, "victims.reveal", purpose,
            {"persons": len(nodes), "subjects": sorted(nodes)[:200],
             "role": store.scope.role},
        )  # fmt: skip


LIST_FIELDS = ("compartment", "file")


def victim_lists(store: Store, nodes: list[str], field: str) -> dict[str, set[str]]:
    """For each victim node, the lists it appears on: the compartments (agencies) or the source
    files of the statements about any entity it stands for (after resolution). Audited."""
    if field not in LIST_FIELDS:
        from palermo.errors import PalermoError

        raise PalermoError(f"--lists {field!r}: one of {', '.join(LIST_FIELDS)}")
    e = store.engine
    prepare_nodes(store)
    cond, params = store.scope.sql_filter("s.compartment")
    column = "s.compartment" if field == "compartment" else "ev.original_name"
    e.execute("CREATE OR REPLACE TEMP TABLE v_nodes (node VARCHAR)")
    if nodes:
        e.execute("INSERT INTO v_nodes SELECT unnest(?::VARCHAR[])", [sorted(set(nodes))])
    rows = e.rows(
        f"""SELECT n.node, list(DISTINCT {column} ORDER BY {column})
        FROM statements s JOIN evidence ev ON ev.sha256 = s.evidence_sha256
        JOIN g_node n ON n.entity_id = s.entity_id JOIN v_nodes v ON v.node = n.node
        WHERE {cond} GROUP BY n.node""",
        params,
    )
    audit.record_read(e, store.scope.actor, "victims.read", f"estimate lists by {field}",
                      {"victims": len(nodes), "role": store.scope.role})  # fmt: skip
    return {str(r[0]): set(r[1]) for r in rows}
