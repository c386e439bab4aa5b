"""Workspace store: creation, migrations, audit chain, compartments, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import palermo
from palermo.errors import AccessDenied, SchemaTooNew, WorkspaceExists, WorkspaceNotFound
from palermo.model import entity_key
from palermo.store.migrations import latest_version

SAMPLES = Path(palermo.__file__).parent / "samples"


def _snapshot(ws_path: Path) -> tuple[object, ...]:
    with palermo.open(ws_path, read_only=True) as ws:
        status = ws.status()
        tables = {
            t: ws.sql(f"SELECT count(*) AS n FROM {t}").column("n")[0].as_py()
            for t in (
                "statements",
                "payments",
                "calls",
                "quarantine",
                "ingest_runs",
                "evidence",
                "audit",
            )
        }
    files = sorted(
        str(p.relative_to(ws_path)) for p in (ws_path / "evidence").rglob("*") if p.is_file()
    )
    return status["totals"], tables, files


def test_init_creates_store_and_evidence_folder(tmp_path: Path) -> None:
    with palermo.init(tmp_path / "ws") as ws:
        assert (ws.path / "palermo.duckdb").is_file()
        assert (ws.path / "evidence").is_dir()
        assert ws.status()["schema_version"] == latest_version()


def test_init_refuses_existing_workspace(tmp_path: Path) -> None:
    palermo.init(tmp_path / "ws").close()
    with pytest.raises(WorkspaceExists):
        palermo.init(tmp_path / "ws")


def test_open_missing_workspace_names_it(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFound, match="palermo init"):
        palermo.open(tmp_path / "nowhere")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    palermo.init(tmp_path / "ws").close()
    con = duckdb.connect(str(tmp_path / "ws" / "palermo.duckdb"))
    con.execute("INSERT INTO schema_version VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(SchemaTooNew):
        palermo.open(tmp_path / "ws")


def test_audit_chain_verifies_and_detects_tampering(tmp_path: Path) -> None:
    with palermo.init(tmp_path / "ws") as ws:
        ws.ingest(SAMPLES / "calls.csv", mapping="calls")
        check = ws.verify_audit()
        assert check.ok and check.records == 2
    con = duckdb.connect(str(tmp_path / "ws" / "palermo.duckdb"))
    con.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1")
    con.close()
    with palermo.open(tmp_path / "ws") as ws:
        check = ws.verify_audit()
    assert not check.ok and check.first_bad_seq == 1


def test_reads_are_filtered_by_compartment(tmp_path: Path) -> None:
    with palermo.init(tmp_path / "ws") as ws:
        ws.ingest(SAMPLES / "calls.csv", mapping="calls", compartment="police-ro")
        ws.ingest(SAMPLES / "persons.csv", mapping="persons", compartment="police-uk")
    with palermo.open(tmp_path / "ws", compartments={"police-uk"}) as ws:
        status = ws.status()
        assert status["totals"]["calls"] == 0
        assert set(status["compartments"]) == {"police-uk"}
        assert all(s["compartment"] == "police-uk" for s in status["sources"])
        with pytest.raises(AccessDenied):
            ws.ingest(SAMPLES / "calls.csv", mapping="calls", compartment="police-ro")
        with pytest.raises(AccessDenied):
            ws.sql("SELECT * FROM calls")


def test_export_only_holds_granted_compartments(tmp_path: Path) -> None:
    import io

    with palermo.init(tmp_path / "ws") as ws:
        ws.ingest(SAMPLES / "calls.csv", mapping="calls", compartment="a")
        ws.ingest(SAMPLES / "persons.csv", mapping="persons", compartment="b")
    with palermo.open(tmp_path / "ws", compartments={"b"}) as ws:
        buf = io.StringIO()
        report = ws.export_ftm(buf)
    assert report.calls == 0 and report.entities > 0
    assert '"Call"' not in buf.getvalue()


def _big_payments(path: Path, rows: int) -> None:
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'T' || i AS transaction_id, TIMESTAMP '2024-01-01' + to_seconds(i) AS timestamp,"
        " 'GB82WEST12345698765432' AS from_account, 'DE89370400440532013000' AS to_account,"
        " (i % 1000) + 0.5 AS amount, 'EUR' AS currency, 'Payer ' || (i % 97) AS from_name,"
        f" 'Payee' AS to_name FROM range({rows}) t(i)) TO '{path}' (HEADER)"
    )
    con.close()


@pytest.mark.slow
def test_killed_ingest_leaves_workspace_unchanged(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    with palermo.init(ws_path) as ws:
        ws.ingest(SAMPLES / "calls.csv", mapping="calls")
    before = _snapshot(ws_path)
    big = tmp_path / "big.csv"
    _big_payments(big, 1_500_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "palermo", "ingest", str(big), "-m", "payments", "-w", str(ws_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    incoming = ws_path / "evidence" / ".incoming"
    deadline = time.time() + 60
    # wait until the copy is received (the transaction starts right after), then a bit more
    while time.time() < deadline and not any(p.name[0] != "p" for p in incoming.iterdir()):
        time.sleep(0.02)
    time.sleep(1.0)
    assert proc.poll() is None, "ingest finished before it could be killed: make the file bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    palermo.open(ws_path).close()  # the next open finishes or discards the half-received copy
    after = _snapshot(ws_path)
    assert after == before
    with palermo.open(ws_path) as ws:
        assert ws.verify_audit().ok
        assert not list((ws_path / "evidence" / ".incoming").iterdir())


def test_version_1_workspace_is_migrated_to_entity_keys(tmp_path: Path) -> None:
    # a workspace as version 1 left it: payments name their parties by id string
    palermo.init(tmp_path / "ws").close()
    from palermo.store.migrations import migrations

    v1 = next(m for m in migrations() if m.version == 1).sql
    payments_ddl = v1[v1.index("CREATE TABLE payments") :].split(";")[0]
    con = duckdb.connect(str(tmp_path / "ws" / "palermo.duckdb"))
    con.execute("DROP TABLE payments")
    con.execute("DROP TABLE entity_keys")
    for later in (
        "resolution",
        "resolution_pairs",
        "resolution_decisions",
        "resolution_runs",
        "address_resolution",
        "settings",  # version 4
        "victim_cases",  # version 5
        "victim_case_events",
        "service_providers",
        "users",  # version 6
        "grants",
        "sessions",
        "login_failures",
        "partner_keys",  # version 7
        "packages",
        "requests",  # version 8
    ):
        con.execute(f"DROP TABLE {later}")  # versions 3 and later
    con.execute(payments_ddl)
    con.execute("DELETE FROM schema_version WHERE version > 1")
    con.execute(
        "INSERT INTO payments (id, occurred_at, payer_id, payer_account_id, payee_id, amount,"
        " currency, compartment, evidence_sha256, source_row, run_id) VALUES ('p1',"
        " '2024-01-01T00:00:00Z', 'legalentity-a', 'bankaccount-a', 'Q-ftm-id', 10, 'EUR',"
        " 'default', 'sha', 2, 1)"
    )
    con.close()
    with palermo.open(tmp_path / "ws") as ws:
        [row] = ws.sql("SELECT * FROM payments").to_pylist()
        keys = dict(
            (r["key"], r["entity_id"]) for r in ws.sql("SELECT * FROM entity_keys").to_pylist()
        )
    assert row["payer_key"] == entity_key("legalentity-a")
    assert row["payee_key"] == entity_key("Q-ftm-id")
    assert row["payee_account_key"] is None
    assert keys[row["payer_account_key"]] == "bankaccount-a"
    assert "payer_id" not in row


def test_entity_key_collision_stops_the_ingest(tmp_path: Path) -> None:
    from palermo.store.loader import EntityKeyCollision

    ws_path = tmp_path / "ws"
    palermo.init(ws_path).close()
    with palermo.open(ws_path) as ws:
        ws.ingest(SAMPLES / "payments.csv", mapping="payments")
        victim = ws.sql("SELECT key, entity_id FROM entity_keys LIMIT 1").to_pylist()[0]
    before = _snapshot(ws_path)
    # another id that (as if by a 64-bit hash collision) had the same key: the next file
    # naming the real id must not merge the two
    con = duckdb.connect(str(ws_path / "palermo.duckdb"))
    con.execute("DELETE FROM entity_keys WHERE key = ?", [victim["key"]])
    con.execute("INSERT INTO entity_keys VALUES (?, 'someone-else')", [victim["key"]])
    con.close()
    with palermo.open(ws_path) as ws, pytest.raises(EntityKeyCollision, match="same 64-bit key"):
        ws.ingest(SAMPLES / "payments.csv", mapping="payments", compartment="other")
    after = _snapshot(ws_path)
    assert after == before
