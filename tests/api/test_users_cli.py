"""`palermo user add|list|disable`, `palermo grant`: accounts made by the workspace's owner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from palermo.api_python import Workspace
from palermo.cli import main


def _add(ws: Path, monkeypatch: pytest.MonkeyPatch, *args: str, password: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["user", "add", *args, "--password-stdin", "-w", str(ws)])


def test_user_lifecycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert _add(ws, monkeypatch, "ana", "--role", "analyst", "--compartment", "police",
                password="a long passphrase") == 0  # fmt: skip
    assert _add(ws, monkeypatch, "bob", "--role", "partner", password="another passphrase") == 0
    assert main(["grant", "bob", "jit-ro-uk", "-w", str(ws)]) == 0
    capsys.readouterr()
    assert main(["user", "list", "-w", str(ws), "--json"]) == 0
    users = {u["name"]: u for u in json.loads(capsys.readouterr().out)}
    assert users["ana"]["role"] == "analyst" and users["ana"]["compartments"] == ["police"]
    assert users["bob"]["compartments"] == ["jit-ro-uk"]
    assert main(["grant", "bob", "jit-ro-uk", "--revoke", "-w", str(ws)]) == 0
    assert main(["user", "disable", "ana", "-w", str(ws)]) == 0
    with Workspace.open(ws) as w:
        stored = w.store.engine.rows("SELECT name, password_hash, disabled FROM users ORDER BY 1")
        actions = [r[0] for r in w.store.engine.rows("SELECT action FROM audit ORDER BY seq")]
    assert stored[0][0] == "ana" and stored[0][2] is True
    assert stored[0][1].startswith("$argon2id$") and "passphrase" not in stored[0][1]
    assert {"user.add", "user.grant", "user.revoke", "user.disable"} <= set(actions)


def test_bad_accounts_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert _add(ws, monkeypatch, "ana", "--role", "analyst", password="short") != 0
    assert "at least 10" in capsys.readouterr().err
    assert _add(ws, monkeypatch, "ana", "--role", "boss", password="a long passphrase") != 0
    assert "unknown role" in capsys.readouterr().err
    assert _add(ws, monkeypatch, "<b>", "--role", "analyst", password="a long passphrase") != 0
    assert "invalid user name" in capsys.readouterr().err
    assert _add(ws, monkeypatch, "ana", "--role", "analyst", password="a long passphrase") == 0
    assert _add(ws, monkeypatch, "ana", "--role", "analyst", password="a long passphrase") != 0
    assert "exists" in capsys.readouterr().err
    assert main(["grant", "nobody", "police", "-w", str(ws)]) != 0


def test_only_the_owner_or_an_admin_manages_accounts(tmp_path: Path) -> None:
    from palermo.errors import AccessDenied
    from palermo.store import users

    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    with Workspace.open(ws, role="analyst") as w, pytest.raises(AccessDenied):
        users.add_user(w.store, "eve", "admin", "a long passphrase")
    with Workspace.open(ws, role="admin") as w:
        users.add_user(w.store, "eve", "analyst", "a long passphrase")
