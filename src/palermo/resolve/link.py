"""``palermo link``: record linkage without a workspace, for two agencies comparing lists.

Dedupe one CSV or link two: read (every record once, bad input refused with the file, row and
reason), normalise (``fields.py``), score with the Splink model (``model.py``), cluster the pairs
at the threshold (connected components), write ``clusters.csv`` (every input record exactly once)
and, if asked, the scored pairs with the comparison level each field met.

The input is sorted by (source, record id) before anything is learnt or sampled, so the result
does not depend on the order of the rows in the files (tested).
"""

from __future__ import annotations

import codecs
import csv
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from palermo.errors import PalermoError
from palermo.resolve import fields as F
from palermo.resolve.model import MIN_RECORDS_TO_TRAIN, SMALL_PRIOR, ModelSpec, settings, train

Say = Callable[..., None]
#: The id column to give ``read_source`` for a file without one: records are then known by their
#: row in the file (the header is row 1).
ROW_ID = "_line"


@dataclass
class LinkResult:
    records: int
    clusters: int
    pairs_scored: int
    pairs_linked: int
    threshold: float
    out: Path
    pairs_out: Path | None
    seconds: float
    fields: dict[str, dict[str, str]]  # source -> field -> column

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "clusters": self.clusters,
            "pairs_scored": self.pairs_scored,
            "pairs_linked": self.pairs_linked,
            "threshold": self.threshold,
            "out": str(self.out),
            "pairs_out": str(self.pairs_out) if self.pairs_out else None,
            "seconds": self.seconds,
            "fields": self.fields,
        }


def _check_text(path: Path, encoding: str) -> None:
    """Refuse a file that is empty or not in ``encoding``, naming the line of the first bad byte."""
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PalermoError(f"{path}: empty file (no header, no records)")
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise PalermoError(
                    f"{path}: line {line}: not valid {encoding} text ({exc.reason}); give the"
                    " file's encoding with --encoding"
                ) from None
            line += text.count("\n")
        decoder.decode(b"", final=True)


def read_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    id_column: str,
    overrides: dict[str, str],
    encoding: str,
) -> dict[str, str]:
    """Stage one file as table ``raw_<source>`` (all text); returns field -> column."""
    _check_text(path, encoding)
    if encoding.lower().replace("-", "") not in ("utf8", "utf8sig"):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as tmp:
            tmp.write(path.read_text(encoding=encoding))
        read_path = Path(tmp.name)
    else:
        read_path = path
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE raw_{source} AS SELECT *, row_number() OVER () + 1 AS _row,"
            f" CAST(row_number() OVER () + 1 AS VARCHAR) AS {ROW_ID}"
            " FROM read_csv(?, all_varchar = true, header = true)",
            [str(read_path)],
        )
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    header = [
        r[0]
        for r in con.execute(f"DESCRIBE raw_{source}").fetchall()
        if r[0] not in ("_row", ROW_ID)
    ]
    if id_column == ROW_ID:
        header.append(ROW_ID)
    mapping = F.recognise(header, id_column, overrides, name=str(path))
    if not _scalar(con, f"SELECT count(*) FROM raw_{source}"):
        raise PalermoError(f"{path}: no records (a header and nothing else)")
    idq = _q(id_column)
    empty = con.execute(
        f"SELECT _row FROM raw_{source} WHERE trim(coalesce({idq}, '')) = '' ORDER BY _row LIMIT 5"
    ).fetchall()
    if empty:
        rows = ", ".join(str(r[0]) for r in empty)
        raise PalermoError(f"{path}: rows {rows}: the id column {id_column!r} is empty")
    dups = con.execute(
        f"SELECT {idq}, list(_row ORDER BY _row) FROM raw_{source} GROUP BY {idq}"
        f" HAVING count(*) > 1 ORDER BY min(_row) LIMIT 5"
    ).fetchall()
    if dups:
        shown = "; ".join(f"{v!r} in rows {', '.join(map(str, rows))}" for v, rows in dups)
        raise PalermoError(f"{path}: duplicate ids in column {id_column!r}: {shown}")
    return mapping


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def prepare(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, dict[str, str]],
    id_column: str,
    phone_region: str | None,
) -> frozenset[str]:
    """Build table ``prepared`` (one row per record, normalised fields) from the ``raw_*`` tables;
    returns the prepared columns that hold at least one value."""
    selects = []
    for source, mapping in sources.items():

        def col(field: str, mapping: dict[str, str] = mapping) -> str:
            column = mapping.get(field)
            return f"nullif(trim({_q(column)}), '')" if column else "NULL::VARCHAR"

        selects.append(
            f"SELECT '{source}' AS source, trim({_q(id_column)}) AS record_id, "
            + ", ".join(f"{col(f)} AS {f}" for f in F.FIELDS)
            + f" FROM raw_{source}"
        )
    con.execute("CREATE OR REPLACE TABLE records AS " + " UNION ALL ".join(selects))
    # names: once per distinct (first, last, full) triple, in Python
    triples = con.execute(
        "SELECT DISTINCT first_name, last_name, full_name FROM records"
    ).fetchall()
    given, family, key, canon, g_ph, f_ph = [], [], [], [], [], []
    for first, last, full in triples:
        g, f, k = F.split_names(first, last, full)
        given.append(g)
        family.append(f)
        key.append(k)
        canon.append(F.canonical_given(g))
        g_ph.append(F.phonetic(g.split()[0] if g else None))
        f_ph.append(F.phonetic(f))
    names = pa.table(
        {
            "first_name": [t[0] for t in triples],
            "last_name": [t[1] for t in triples],
            "full_name": [t[2] for t in triples],
            "given": given,
            "family": family,
            "name_key": key,
            "given_canon": canon,
            "given_ph": g_ph,
            "family_ph": f_ph,
            "name_skel": [F.skeleton(k) for k in key],
        }
    )
    con.register("_names", names)
    # phones and countries: once per distinct value
    from palermo.ingest.normalise import normalise_one
    from palermo.model import ValueType

    options = {"phone_region": phone_region} if phone_region else {}
    phones = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT phone FROM records WHERE phone IS NOT NULL"
        ).fetchall()
    ]
    phone_norm = [
        normalise_one(ValueType.PHONE, p, options).value
        or "".join(c for c in p if c.isdigit())
        or None
        for p in phones
    ]
    con.register(
        "_phones",
        pa.table(
            {"raw": pa.array(phones, pa.string()), "value": pa.array(phone_norm, pa.string())}
        ),
    )
    nats = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT nationality FROM records WHERE nationality IS NOT NULL"
        ).fetchall()
    ]
    nat_norm = [normalise_one(ValueType.COUNTRY, c).value or c.strip().upper() for c in nats]
    con.register(
        "_nats",
        pa.table({"raw": pa.array(nats, pa.string()), "value": pa.array(nat_norm, pa.string())}),
    )
    fmts = ", ".join(f"'{f}'" for f in F.DATE_FORMATS)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE prepared AS
        WITH d AS (
            SELECT r.*, try_strptime(r.date_of_birth, [{fmts}])::DATE AS dob_date FROM records r
        )
        SELECT
            d.source, d.record_id, d.record_id AS unique_id,
            n.given, n.family, n.name_key, n.given_canon, n.given_ph, n.family_ph, n.name_skel,
            strftime(d.dob_date, '%Y-%m-%d') AS dob,
            CASE WHEN day(d.dob_date) <= 12 AND day(d.dob_date) <> month(d.dob_date)
                 THEN strftime(d.dob_date, '%Y-%d-%m') END AS dob_swap,
            year(d.dob_date) AS birth_year,
            CASE WHEN lower(d.gender) IN ('m', 'male', 'man', 'masculine', 'h') THEN 'm'
                 WHEN lower(d.gender) IN ('f', 'female', 'woman', 'feminine', 'w') THEN 'f'
                 ELSE lower(d.gender) END AS gender,
            nt.value AS nationality,
            ph.value AS phone,
            nullif(upper(regexp_replace(d.id_number, '[^0-9A-Za-z]', '', 'g')), '') AS id_number,
            nullif(upper(regexp_replace(d.postcode, '\\s', '', 'g')), '') AS postcode,
            nullif(lower(trim(d.city)), '') AS city,
            nullif(lower(trim(regexp_replace(d.address, '[^0-9A-Za-z]+', ' ', 'g'))), '') AS address
        FROM d
        LEFT JOIN _names n ON n.first_name IS NOT DISTINCT FROM d.first_name
            AND n.last_name IS NOT DISTINCT FROM d.last_name
            AND n.full_name IS NOT DISTINCT FROM d.full_name
        LEFT JOIN _phones ph ON ph.raw = d.phone
        LEFT JOIN _nats nt ON nt.raw = d.nationality
        ORDER BY d.source, d.record_id
        """
    )
    for t in ("_names", "_phones", "_nats"):
        con.unregister(t)
    cols = ["dob", "id_number", "phone", "postcode", "city", "address", "gender", "nationality"]
    counts = con.execute(
        "SELECT " + ", ".join(f"count({c})" for c in cols) + " FROM prepared"
    ).fetchall()[0]
    return frozenset(c for c, n in zip(cols, counts, strict=True) if n)


def link_files(
    a: Path,
    b: Path | None = None,
    *,
    id_column: str,
    out: Path,
    pairs: Path | None = None,
    columns: dict[str, str] | None = None,
    threshold: float = 0.9,
    encoding: str = "utf-8",
    phone_region: str | None = None,
    progress: Say | None = None,
) -> LinkResult:
    """Dedupe ``a``, or link ``a`` with ``b``; write ``out`` (and ``pairs``)."""
    say = progress or (lambda _msg, _fraction=None: None)
    if not 0 < threshold < 1:
        raise PalermoError(f"--threshold {threshold}: must be between 0 and 1")
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    say("reading")
    sources = {"A": read_source(con, Path(a), "A", id_column, columns or {}, encoding)}
    if b is not None:
        sources["B"] = read_source(con, Path(b), "B", id_column, columns or {}, encoding)
    say("normalising")
    present = prepare(con, sources, id_column, phone_region)
    spec = ModelSpec(present, "link_only" if b is not None else "dedupe_only")
    records = _scalar(con, "SELECT count(*) FROM prepared")
    say("learning the model")
    predictions = predict(con, spec, threshold, say)
    say("clustering")
    clusters = _cluster(con, predictions, threshold)
    _write_clusters(con, clusters, Path(out))
    if pairs is not None:
        _write_pairs(con, predictions, Path(pairs))
    n_pairs = _scalar(con, f"SELECT count(*) FROM {predictions}")
    linked = _scalar(
        con, f"SELECT count(*) FROM {predictions} WHERE match_probability >= {threshold}"
    )
    n_clusters = _scalar(con, f"SELECT count(DISTINCT cluster_id) FROM {clusters}")
    return LinkResult(
        records=records, clusters=n_clusters, pairs_scored=n_pairs, pairs_linked=linked,
        threshold=threshold, out=Path(out), pairs_out=Path(pairs) if pairs else None,
        seconds=round(time.perf_counter() - started, 2), fields=sources,
    )  # fmt: skip


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetchall: DuckDB 2 keeps a half-read result open
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def predict(con: duckdb.DuckDBPyConnection, spec: ModelSpec, threshold: float, say: Say) -> str:
    """Score candidate pairs with a model learnt from the records; returns the pairs table (one
    row per pair above a floor of 0.5 or the threshold, with each comparison's level label)."""
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    db = DuckDBAPI(connection=con)
    if spec.link_type == "dedupe_only":
        con.execute("CREATE OR REPLACE TABLE prepared_a AS SELECT * FROM prepared")
        tables = [db.register("prepared_a", dataset_display_name="A")]
    else:
        con.execute(
            "CREATE OR REPLACE TABLE prepared_a AS SELECT * FROM prepared WHERE source = 'A'"
        )
        con.execute(
            "CREATE OR REPLACE TABLE prepared_b AS SELECT * FROM prepared WHERE source = 'B'"
        )
        tables = [db.register("prepared_a", dataset_display_name="A"),
                  db.register("prepared_b", dataset_display_name="B")]  # fmt: skip
    linker = Linker(
        tables if len(tables) > 1 else tables[0], settings(spec), log_level=logging.ERROR
    )
    records = _scalar(con, "SELECT count(*) FROM prepared")
    if records < MIN_RECORDS_TO_TRAIN:
        # too few to learn from: the comparisons' starting m and u values and a fixed prior
        linker._settings_obj._probability_two_random_records_match = SMALL_PRIOR
    else:
        try:
            train(linker, spec)
        except Exception as exc:
            say(f"training incomplete ({str(exc).splitlines()[0][:80]}); the rest: starting values")
    # on very small lists the prior can come out as 0 or 1 (every candidate pair a match):
    # keep it a probability, at most one in two
    prior = linker._settings_obj._probability_two_random_records_match
    if not 0 < prior < 0.5:
        linker._settings_obj._probability_two_random_records_match = min(max(prior, 1e-6), 0.5)
    say("scoring pairs")
    floor = min(0.5, threshold)
    df = linker.inference.predict(threshold_match_probability=floor)
    # Splink reports each comparison's match weight (mw_<comparison>); the level a pair met is the
    # one with that weight (term-frequency adjustments are reported apart, in mw_tf_adj_*)
    levels = _level_weights(linker)
    described = {c[0] for c in con.execute(f"DESCRIBE {df.physical_name}").fetchall()}
    label_sql = []
    for comp, weights in levels.items():
        if f"mw_{comp}" not in described:
            continue
        cases = " ".join(
            f"WHEN abs(mw_{comp} - ({w})) < 1e-6 THEN '{lab.replace(chr(39), chr(39) * 2)}'"
            for w, lab in weights
        )
        label_sql.append(f"CASE {cases} ELSE 'null' END AS {_q(comp)}")
        label_sql.append(f"round(mw_{comp}, 4) AS {_q(comp + '_weight')}")
    source_l = "source_dataset_l" if spec.link_type != "dedupe_only" else "'A'"
    source_r = "source_dataset_r" if spec.link_type != "dedupe_only" else "'A'"
    con.execute(
        f"""CREATE OR REPLACE TABLE pairs AS SELECT {source_l} AS source_l, unique_id_l AS record_id_l,
            {source_r} AS source_r, unique_id_r AS record_id_r,
            round(match_probability, 6) AS match_probability, round(match_weight, 4) AS match_weight
            {"".join(", " + s for s in label_sql)}
            FROM {df.physical_name}"""
    )
    return "pairs"


def _level_weights(linker: Any) -> dict[str, list[tuple[float, str]]]:
    """comparison -> [(match weight, level label)] for its non-null levels."""
    out: dict[str, list[tuple[float, str]]] = {}
    for comparison in linker._settings_obj.comparisons:
        levels = []
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            weight = float(level._log2_bayes_factor)
            if math.isfinite(weight):
                levels.append((weight, str(level.label_for_charts)))
        out[comparison.output_column_name] = levels
    return out


def connected_components(con: duckdb.DuckDBPyConnection) -> None:
    """Label every node of ``_nodes(node)`` with the smallest node reachable through ``_edges(a,
    b)``: table ``_label(node, label)``. Iterative min-label propagation in SQL (a handful of
    rounds: clusters of people are small and shallow)."""
    con.execute("CREATE OR REPLACE TABLE _label AS SELECT node, node AS label FROM _nodes")
    while True:
        con.execute(
            """CREATE OR REPLACE TABLE _next AS
            WITH e AS (SELECT a, b FROM _edges UNION ALL SELECT b, a FROM _edges)
            SELECT l.node, least(l.label, coalesce(min(n.label), l.label)) AS label
            FROM _label l LEFT JOIN e ON e.a = l.node LEFT JOIN _label n ON n.node = e.b
            GROUP BY l.node, l.label"""
        )
        changed = _scalar(
            con, "SELECT count(*) FROM _next x JOIN _label l USING (node) WHERE x.label <> l.label"
        )
        con.execute("CREATE OR REPLACE TABLE _label AS SELECT * FROM _next")
        if not changed:
            return


def _cluster(con: duckdb.DuckDBPyConnection, pairs: str, threshold: float) -> str:
    """Connected components of the pairs at or above the threshold; cluster id = the smallest
    'source:record_id' of the cluster."""
    con.execute(
        "CREATE OR REPLACE TABLE _nodes AS"
        " SELECT source || ':' || record_id AS node, source, record_id FROM prepared"
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE _edges AS
        SELECT source_l || ':' || record_id_l AS a, source_r || ':' || record_id_r AS b FROM {pairs}
        WHERE match_probability >= {threshold}"""
    )
    connected_components(con)
    con.execute(
        f"""CREATE OR REPLACE TABLE clusters AS
        WITH best AS (
            SELECT node, max(p) AS p FROM (
                SELECT source_l || ':' || record_id_l AS node, match_probability AS p FROM {pairs}
                WHERE match_probability >= {threshold}
                UNION ALL
                SELECT source_r || ':' || record_id_r, match_probability FROM {pairs}
                WHERE match_probability >= {threshold}) GROUP BY node)
        SELECT n.source, n.record_id, l.label AS cluster_id, coalesce(b.p, 1.0) AS match_probability
        FROM _nodes n JOIN _label l USING (node) LEFT JOIN best b USING (node)"""
    )
    return "clusters"


def _write_clusters(con: duckdb.DuckDBPyConnection, clusters: str, out: Path) -> None:
    rows = con.execute(
        f"SELECT source, record_id, cluster_id, match_probability FROM {clusters} ORDER BY source, record_id"
    ).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "record_id", "cluster_id", "match_probability"])
        for source, record_id, cluster_id, p in rows:
            w.writerow([source, record_id, cluster_id, _fmt(p)])


def _write_pairs(con: duckdb.DuckDBPyConnection, pairs: str, out: Path) -> None:
    cur = con.execute(
        f"SELECT * FROM {pairs} ORDER BY match_probability DESC, source_l, record_id_l, source_r, record_id_r"
    )
    names = [d[0] for d in cur.description]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for row in cur.fetchall():
            w.writerow(["" if v is None else _fmt(v) if isinstance(v, float) else v for v in row])


def _fmt(p: float) -> str:
    if math.isnan(p):
        return ""
    return f"{p:.6f}".rstrip("0").rstrip(".") if p != 1.0 else "1"
