"""Two workspaces (two agencies) exchange a sharing package through the CLI, exactly as a user
would: keys, the partner's public key, a package under a policy, its receipt, tampering, and
revocation; both audit chains record it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import Served
from conftest import fail_cli as fail
from conftest import run_cli as run
from palermo.cli import main
from palermo.store.lens import PROTECTED_PROPS


def rows(ws: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(ws / "palermo.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def agencies(served: Served, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("jit")
    sender, receiver = base / "ro", base / "uk"
    shutil.copytree(served.root, sender)
    assert main(["init", str(receiver)]) == 0
    return sender, receiver, base


def test_two_agencies_exchange_a_package(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sender, receiver, base = agencies
    run(capsys, "keys", "init", "--name", "Police RO", "-w", str(sender))
    run(capsys, "keys", "init", "--name", "NCA UK", "-w", str(receiver))
    run(capsys, "keys", "export", "--out", str(base / "ro.pub.json"), "-w", str(sender))
    run(capsys, "keys", "export", "--out", str(base / "uk.pub.json"), "-w", str(receiver))
    run(capsys, "keys", "import", str(base / "uk.pub.json"), "--name", "nca-uk", "-w", str(sender))
    run(
        capsys,
        "keys",
        "import",
        str(base / "ro.pub.json"),
        "--name",
        "police-ro",
        "-w",
        str(receiver),
    )
    assert (sender / "keys" / "signing.pem").stat().st_mode & 0o077 == 0

    # the compartment that holds the most possible victims, so the policy has work to do
    compartment = "labour-inspectorate"
    policy = base / "policy.yml"
    policy.write_text("name: jit-ro-uk\nvictims: pseudonyms\nwithhold_gradings: ['E4', '*x*x5']\n")
    sent = run(capsys, "share", "--compartment", compartment, "--to", "nca-uk",
               "--legal-basis", "JIT agreement RO-UK 2026/3", "--reference", "JIT-2026-3",
               "--policy", str(policy), "--out", str(base / "pkg.palermo"), "-w", str(sender),
               "--json")  # fmt: skip
    got = run(capsys, "receive", str(base / "pkg.palermo"), "-w", str(receiver), "--json")
    assert got["from"] == "police-ro" and got["compartment"] == compartment
    assert got["stored"]["statements"] == sent["counts"]["statements"]

    # exactly the policy's fields: the compartment's rows, less the withheld and the victims'
    # identifying values, each with the sender's provenance
    theirs = set(rows(receiver, "SELECT entity_id, prop, value, compartment, evidence_sha256,"
                                " source_row FROM statements"))  # fmt: skip
    ours = set(rows(sender, "SELECT entity_id, prop, value, compartment, evidence_sha256,"
                            " source_row FROM statements WHERE compartment = ?", [compartment]))  # fmt: skip
    victims = {r[0] for r in rows(sender,
        "SELECT DISTINCT subject_ids[1] FROM findings WHERE starts_with(kind, 'victims.')")}  # fmt: skip
    in_share = {r[0] for r in ours} & victims
    assert in_share, "the demo's labour inspectorate names possible victims"
    for eid, prop, value, *_ in theirs:
        if eid in in_share:
            assert prop not in PROTECTED_PROPS or (prop == "name" and value.startswith("V-"))
    victim_names = {r[0] for r in rows(sender, "SELECT value FROM statements WHERE prop = 'name'"
                    " AND entity_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(in_share)])}  # fmt: skip
    texts = " ".join(r[2] for r in theirs).casefold()
    assert not [n for n in victim_names if len(n) >= 4 and n.casefold() in texts]
    kept = {r for r in theirs if not r[2].startswith("V-")}
    assert kept <= ours  # nothing that was not in the compartment, provenance unchanged
    graded = {r[0] for r in ours if r[1] == "keywords" and r[2] == "E4"}
    assert not graded & {r[0] for r in theirs}
    assert sent["withheld"].get("graded notes", 0) == len(graded)
    evidence = rows(receiver, "SELECT original_name FROM evidence")
    assert any(name.startswith("labour") for (name,) in evidence)

    # a modified byte anywhere is refused, and nothing is stored
    data = (base / "pkg.palermo").read_bytes()
    for at in (5, len(data) // 3, len(data) // 2, len(data) - 10):
        bad = bytearray(data)
        bad[at] = (bad[at] + 1) % 256 if bad[at] != ord("\n") else bad[at]
        if bad[at] == data[at]:
            bad[at - 1] ^= 1
        (base / "bad.palermo").write_bytes(bytes(bad))
        err = fail(capsys, "receive", str(base / "bad.palermo"), "-w", str(receiver))
        assert "bad.palermo" in err and (
            "signature" in err or "damaged" in err or "framing" in err
        ), err
    err = fail(capsys, "receive", str(base / "pkg.palermo"), "-w", str(receiver))
    assert "already received" in err

    # the disclosure log on both sides
    log = run(capsys, "packages", "-w", str(sender), "--json")
    assert log[0]["direction"] == "sent" and log[0]["legal_basis"] == "JIT agreement RO-UK 2026/3"
    assert run(capsys, "packages", "-w", str(receiver), "--json")[0]["status"] == "received"

    # revocation removes the data
    notice = base / "revoke.palermo"
    run(capsys, "revoke", sent["package_id"], "--reason", "consent withdrawn", "--out", str(notice),
        "-w", str(sender))  # fmt: skip
    done = run(capsys, "receive", str(notice), "-w", str(receiver), "--json")
    assert done["removed"]["statements"] == got["stored"]["statements"]
    assert rows(receiver, "SELECT count(*) FROM statements")[0][0] == 0
    assert rows(receiver, "SELECT count(*) FROM payments")[0][0] == 0
    assert run(capsys, "packages", "-w", str(receiver), "--json")[0]["status"] == "withdrawn"

    # both audit chains hold it, and verify
    for ws, actions in ((sender, {"share.sent", "share.revoked", "keys.import"}),
                        (receiver, {"share.received", "share.withdrawn", "keys.import"})):  # fmt: skip
        found = {r[0] for r in rows(ws, "SELECT action FROM audit")}
        assert actions <= found
        run(capsys, "audit", "verify", "-w", str(ws))


def test_a_package_from_an_unknown_key_or_for_another_workspace_is_refused(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sender, _receiver, base = agencies
    stranger = tmp_path / "stranger"
    assert main(["init", str(stranger)]) == 0
    if not (sender / "keys" / "own.json").exists():
        pytest.skip("needs the exchange test's keys")
    err = fail(capsys, "receive", str(base / "pkg.palermo"), "-w", str(stranger))
    assert "unknown key" in err
    run(capsys, "keys", "init", "--name", "Stranger", "-w", str(stranger))
    run(capsys, "keys", "import", str(base / "ro.pub.json"), "-w", str(stranger))
    err = fail(capsys, "receive", str(base / "pkg.palermo"), "-w", str(stranger))
    assert "addressed to another workspace" in err
    err = fail(capsys, "share", "--compartment", "police", "--to", "nobody", "--legal-basis", "x",
               "--out", str(tmp_path / "x.palermo"), "-w", str(sender))  # fmt: skip
    assert "no partner 'nobody'" in err


def test_pseudonyms_for_every_person_and_the_raw_files_when_the_policy_says_so(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sender, receiver, base = agencies
    if not (sender / "keys" / "own.json").exists():
        pytest.skip("needs the exchange test's keys")
    policy = base / "strict.yml"
    policy.write_text("persons: pseudonyms\nvictims: withhold\nevidence_files: true\n")
    sent = run(capsys, "share", "--compartment", "police", "--to", "nca-uk", "--legal-basis",
               "MLA request 2026/77", "--policy", str(policy), "--out", str(base / "p2.palermo"),
               "-w", str(sender), "--json")  # fmt: skip
    assert sent["evidence_files"] >= 1
    got = run(capsys, "receive", str(base / "p2.palermo"), "-w", str(receiver), "--json")
    names = rows(receiver, "SELECT value FROM statements WHERE prop = 'name' AND schema = 'Person'")
    assert names and all(v.startswith("P-") for (v,) in names)
    persons = {
        r[0]
        for r in rows(receiver, "SELECT DISTINCT entity_id FROM statements WHERE schema = 'Person'")
    }
    assert not rows(receiver, "SELECT 1 FROM statements WHERE entity_id IN (SELECT unnest(?::VARCHAR[]))"
                    " AND prop IN ('birthDate', 'phone', 'idNumber')", [sorted(persons)])  # fmt: skip
    held = rows(
        receiver, "SELECT sha256, stored_path FROM evidence WHERE stored_path LIKE 'evidence/%'"
    )
    import hashlib

    files = [(sha, receiver / p) for sha, p in held if sha != got.get("sha256")]
    assert files and all(
        hashlib.sha256(f.read_bytes()).hexdigest() == sha for sha, f in files if f.is_file()
    )
    run(capsys, "revoke", sent["package_id"], "--out", str(base / "r2.palermo"), "-w", str(sender))
    run(capsys, "receive", str(base / "r2.palermo"), "-w", str(receiver))
    assert not any(f.exists() for _sha, f in files)
    assert rows(receiver, "SELECT count(*) FROM statements WHERE compartment = 'police'")[0][0] == 0


def test_a_bad_policy_is_refused_with_its_file_and_field(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sender, _receiver, base = agencies
    bad = base / "bad-policy.yml"
    bad.write_text("victims: maybe\n")
    err = fail(capsys, "share", "--compartment", "police", "--to", "nca-uk", "--legal-basis", "x",
               "--policy", str(bad), "--out", str(base / "x.palermo"), "-w", str(sender))  # fmt: skip
    assert "victims must be one of" in err
    bad.write_text("victim: names\n")
    err = fail(capsys, "share", "--compartment", "police", "--to", "nca-uk", "--legal-basis", "x",
               "--policy", str(bad), "--out", str(base / "x.palermo"), "-w", str(sender))  # fmt: skip
    assert "bad-policy.yml" in err and "unknown policy field(s) victim" in err


def test_the_web_disclosure_log_shows_each_user_only_its_compartments(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from palermo.api.app import create_app

    _sender, receiver, _base = agencies
    if not rows(receiver, "SELECT 1 FROM packages"):
        pytest.skip("needs the exchange test's package")
    for name, role, comp in (
        ("uk-analyst", "analyst", "labour-inspectorate"),
        ("uk-partner", "partner", "osint"),
    ):
        capsys.readouterr()
        import io
        import sys

        stdin, sys.stdin = sys.stdin, io.StringIO("a-long-password-1\n")
        try:
            assert main(["user", "add", name, "--role", role, "--compartment", comp,
                         "--password-stdin", "-w", str(receiver)]) == 0  # fmt: skip
        finally:
            sys.stdin = stdin
    app = create_app(receiver)
    try:
        for name, expected in (("uk-analyst", 1), ("uk-partner", 0)):
            c = TestClient(app, client=("10.9.0.1", 4000))
            assert (
                c.post(
                    "/api/v1/login", json={"name": name, "password": "a-long-password-1"}
                ).status_code
                == 200
            )
            data = c.get("/api/v1/packages").json()
            assert len(data["received"]) == expected
            assert data["partners"][0]["name"] == "police-ro"
            if expected:
                assert data["received"][0]["legal_basis"] == "JIT agreement RO-UK 2026/3"
                assert "entities" not in data["received"][0]["manifest"]
    finally:
        app.state.server.engine.close()


def test_requests_between_agencies_are_answered_or_declined(
    agencies: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """NCA UK asks Police RO for a compartment's data; RO answers with a package; a second
    request is declined; both sides' logs, audit chains and the web's Sharing page show it."""
    sender, receiver, base = agencies
    if not (sender / "keys" / "own.json").exists():
        pytest.skip("needs the exchange test's keys")
    ro, uk = ["-w", str(sender)], ["-w", str(receiver)]
    asked = run(capsys, "request", "--to", "police-ro", "--compartment", "labour-inspectorate",
                "--about", "the inspectorate's findings on the farm workers",
                "--legal-basis", "JIT agreement RO-UK 2026/3", "--reference", "REQ-7",
                "--out", str(base / "req.palermo"), *uk, "--json")  # fmt: skip
    rid = asked["request_id"]
    assert run(capsys, "requests", *uk, "--json")[0]["status"] == "pending"
    # a modified byte is refused; the request itself is recorded as pending on the other side
    data = (base / "req.palermo").read_bytes()
    bad = bytearray(data)
    bad[len(data) // 2] ^= 1
    (base / "bad-req.palermo").write_bytes(bytes(bad))
    assert "bad-req.palermo" in fail(capsys, "receive", str(base / "bad-req.palermo"), *ro)
    got = run(capsys, "receive", str(base / "req.palermo"), *ro, "--json")
    assert got["kind"] == "request" and got["from"] == "nca-uk" and got["status"] == "pending"
    assert got["subject"] == "the inspectorate's findings on the farm workers"
    assert "already recorded" in fail(capsys, "receive", str(base / "req.palermo"), *ro)
    # only the asked partner answers it, once
    err = fail(capsys, "share", "--compartment", "labour-inspectorate", "--to", "nobody",
               "--legal-basis", "x", "--answers", rid, "--out", str(base / "x.palermo"), *ro)  # fmt: skip
    assert "came from nca-uk" in err
    sent = run(capsys, "share", "--compartment", "labour-inspectorate", "--to", "nca-uk",
               "--legal-basis", "JIT agreement RO-UK 2026/3", "--answers", rid,
               "--out", str(base / "answer.palermo"), *ro, "--json")  # fmt: skip
    assert sent["answers"] == rid
    err = fail(capsys, "share", "--compartment", "labour-inspectorate", "--to", "nca-uk",
               "--legal-basis", "x", "--answers", rid, "--out", str(base / "x.palermo"), *ro)  # fmt: skip
    assert "already answered" in err
    received = run(capsys, "receive", str(base / "answer.palermo"), *uk, "--json")
    assert received["answers"] == rid and received["answers_note"] is None
    for ws in (ro, uk):
        r = next(x for x in run(capsys, "requests", *ws, "--json") if x["request_id"] == rid)
        assert r["status"] == "answered" and r["package_id"] == sent["package_id"]

    # a second request, declined with the reason
    second = run(capsys, "request", "--to", "police-ro", "--compartment", "labour-inspectorate",
                 "--about", "everything", "--legal-basis", "none", "--out",
                 str(base / "req2.palermo"), *uk, "--json")["request_id"]  # fmt: skip
    run(capsys, "receive", str(base / "req2.palermo"), *ro)
    run(capsys, "decline", second, "--reason", "outside the JIT agreement's scope", "--out",
        str(base / "no.palermo"), *ro)  # fmt: skip
    back = run(capsys, "receive", str(base / "no.palermo"), *uk, "--json")
    assert back["kind"] == "decline" and back["answer"] == "outside the JIT agreement's scope"
    assert "already declined" in fail(capsys, "decline", second, "--reason", "x", "--out",
                                      str(base / "no2.palermo"), *ro)  # fmt: skip
    statuses = {r["request_id"]: r["status"] for r in run(capsys, "requests", *uk, "--json")}
    assert statuses == {rid: "answered", second: "declined"}
    for ws, path in ((ro, sender), (uk, receiver)):
        actions = {r[0] for r in rows(path, "SELECT action FROM audit WHERE starts_with(action,"
                                            " 'request.')")}  # fmt: skip
        assert actions >= {"request.answered", "request.declined"}
        assert ("request.sent" if path == receiver else "request.received") in actions
        run(capsys, "audit", "verify", *ws)

    # the web's Sharing page: each user sees the requests of its own compartments
    from fastapi.testclient import TestClient

    from palermo.api.app import create_app

    for name, role, comp in (("uk-jit", "analyst", "labour-inspectorate"),
                             ("uk-osint", "partner", "osint")):  # fmt: skip
        import io
        import sys

        stdin, sys.stdin = sys.stdin, io.StringIO("a-long-password-1\n")
        try:
            assert main(["user", "add", name, "--role", role, "--compartment", comp,
                         "--password-stdin", *uk]) == 0  # fmt: skip
        finally:
            sys.stdin = stdin
    app = create_app(receiver)
    try:
        for name, expected in (("uk-jit", 2), ("uk-osint", 0)):
            c = TestClient(app, client=("10.9.0.2", 4000))
            login = c.post("/api/v1/login", json={"name": name, "password": "a-long-password-1"})
            assert login.status_code == 200
            data = c.get("/api/v1/packages").json()["requests"]
            assert len(data["asked_by_us"]) == expected and data["asked_of_us"] == []
            if expected:
                assert {r["status"] for r in data["asked_by_us"]} == {"answered", "declined"}
    finally:
        app.state.server.engine.close()
