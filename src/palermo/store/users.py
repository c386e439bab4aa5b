"""Accounts of the web application and the REST API: users with one role and the compartments
granted to them, browser sessions and API tokens, and the throttle on failed logins.

A user's grants become the ``Scope`` every read of theirs goes through (store/access.py), so what a
user may see is decided here and in SQL, never in the UI. Only the workspace's local owner (the
CLI) or an ``admin`` manages accounts; every change is in the audit chain."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from palermo.errors import AccessDenied, PalermoError
from palermo.store import audit
from palermo.store.access import ROLES, Scope, check_compartment_name
from palermo.store.workspace import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
#: failed logins within the window, per user name or per client, before logins are refused
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
TOKEN_MAX = timedelta(days=90)
# a session's last_seen is written at most this often: a read must not cost a write each time
_TOUCH_EVERY = timedelta(minutes=1)

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# verified when the user name is unknown, so that a login takes as long either way
_DUMMY_HASH = _hasher.hash("palermo-no-such-user")


class LoginThrottled(PalermoError):
    """Too many failed logins: refused until ``retry_after`` seconds have passed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginFailed(PalermoError):
    """Wrong user name or password (which one is not said)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    compartments: frozenset[str]
    disabled: bool

    def scope(self) -> Scope:
        return Scope(self.name, self.compartments, self.role)


@dataclass(frozen=True)
class Session:
    user: User
    kind: str  # session | token
    csrf: str | None
    expires_at: datetime

    def live(self) -> bool:
        return _now() < self.expires_at


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_manager(store: Store) -> None:
    if store.scope.role not in (None, "admin"):
        raise AccessDenied(f"{store.scope.actor}: only an admin manages users")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PalermoError(
            f"invalid user name {name!r}: letters, digits and . _ @ - (max 64, no leading sign)"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PalermoError(f"password too short: at least {MIN_PASSWORD} characters")
    return password


def add_user(
    store: Store, name: str, role: str, password: str, compartments: list[str] | None = None
) -> User:
    _require_manager(store)
    check_name(name)
    if role not in ROLES:
        raise PalermoError(f"unknown role {role!r} (roles: {', '.join(sorted(ROLES))})")
    check_password(password)
    for c in compartments or []:
        check_compartment_name(c)
    if store.engine.rows("SELECT 1 FROM users WHERE name = ?", [name]):
        raise PalermoError(f"user {name!r} exists")
    hashed = _hasher.hash(password)
    with store.engine.transaction():
        store.engine.execute(
            "INSERT INTO users VALUES (?, ?, ?, false, now(), ?)",
            [name, role, hashed, store.scope.actor],
        )
        for c in sorted(set(compartments or [])):
            _insert_grant(store, name, c)
        audit.append(
            store.engine, store.scope.actor, "user.add", name,
            {"role": role, "compartments": sorted(set(compartments or []))},
        )  # fmt: skip
    return get_user(store, name)


def _insert_grant(store: Store, name: str, compartment: str) -> None:
    store.engine.execute(
        "INSERT INTO grants VALUES (?, ?, now(), ?) ON CONFLICT DO NOTHING",
        [name, compartment, store.scope.actor],
    )


def get_user(store: Store, name: str) -> User:
    rows = store.engine.rows("SELECT role, disabled FROM users WHERE name = ?", [name])
    if not rows:
        raise PalermoError(f"no user {name!r}")
    grants = store.engine.rows("SELECT compartment FROM grants WHERE user_name = ?", [name])
    return User(name, rows[0][0], frozenset(g[0] for g in grants), bool(rows[0][1]))


def list_users(store: Store) -> list[dict[str, Any]]:
    _require_manager(store)
    out = []
    for name, role, disabled, created, by, grants in store.engine.rows(
        "SELECT u.name, u.role, u.disabled, strftime(u.created_at, '%Y-%m-%dT%H:%M:%SZ'),"
        " u.created_by, list(g.compartment ORDER BY g.compartment) FILTER (g.compartment IS NOT NULL)"
        " FROM users u LEFT JOIN grants g ON g.user_name = u.name GROUP BY ALL ORDER BY u.name"
    ):
        out.append(
            {
                "name": name,
                "role": role,
                "disabled": bool(disabled),
                "compartments": grants or [],
                "created_at": created,
                "created_by": by,
            }
        )
    return out


def grant(store: Store, name: str, compartment: str) -> User:
    _require_manager(store)
    check_compartment_name(compartment)
    get_user(store, name)
    with store.engine.transaction():
        _insert_grant(store, name, compartment)
        audit.append(
            store.engine, store.scope.actor, "user.grant", name, {"compartment": compartment}
        )
    return get_user(store, name)


def revoke(store: Store, name: str, compartment: str) -> User:
    _require_manager(store)
    get_user(store, name)
    with store.engine.transaction():
        store.engine.execute(
            "DELETE FROM grants WHERE user_name = ? AND compartment = ?", [name, compartment]
        )
        audit.append(
            store.engine, store.scope.actor, "user.revoke", name, {"compartment": compartment}
        )
    return get_user(store, name)


def disable_user(store: Store, name: str) -> User:
    """Disable an account and end its sessions and tokens at once."""
    _require_manager(store)
    get_user(store, name)
    with store.engine.transaction():
        store.engine.execute("UPDATE users SET disabled = true WHERE name = ?", [name])
        store.engine.execute("UPDATE sessions SET revoked = true WHERE user_name = ?", [name])
        audit.append(store.engine, store.scope.actor, "user.disable", name)
    return get_user(store, name)


# -- logins ----------------------------------------------------------------------------------
def _throttle(store: Store, name: str, client: str) -> None:
    since = _now() - FAILURE_WINDOW
    rows = store.engine.rows(
        "SELECT count(*) FILTER (user_name = ?), count(*) FILTER (client = ?),"
        " min(failed_at) FILTER (user_name = ? OR client = ?)"
        " FROM login_failures WHERE failed_at > ? AND (user_name = ? OR client = ?)",
        [name, client, name, client, since, name, client],
    )[0]
    if max(rows[0], rows[1]) >= MAX_FAILURES:
        oldest: datetime = rows[2]
        wait = int((oldest + FAILURE_WINDOW - _now()).total_seconds()) + 1
        raise LoginThrottled(
            f"too many failed logins for this user or client; try again in {wait} s", max(wait, 1)
        )


def authenticate(store: Store, name: str, password: str, client: str) -> User:
    """Check a password; every attempt is audited. After ``MAX_FAILURES`` failures within
    ``FAILURE_WINDOW`` for the user name or the client address, even the right password is
    refused until the window has passed (brute force is slowed to 5 tries per 15 minutes)."""
    _throttle(store, name, client)
    rows = store.engine.rows("SELECT password_hash, disabled FROM users WHERE name = ?", [name])
    ok = False
    try:
        ok = _hasher.verify(rows[0][0] if rows else _DUMMY_HASH, password) and bool(rows)
    except (VerificationError, InvalidHashError):
        ok = False
    if ok and rows[0][1]:
        ok = False
    with store.engine.transaction():
        if not ok:
            store.engine.execute(
                "INSERT INTO login_failures VALUES (?, ?, now())", [name[:64], client[:64]]
            )
        audit.append(
            store.engine, name[:64], "login" if ok else "login.failed", None, {"client": client}
        )
    if not ok:
        raise LoginFailed("wrong user name or password, or the account is disabled")
    store.engine.execute("DELETE FROM login_failures WHERE user_name = ?", [name])
    return get_user(store, name)


def open_session(
    store: Store, user: User, *, kind: str = "session", label: str | None = None,
    lifetime: timedelta | None = None,
) -> tuple[str, str | None]:  # fmt: skip
    """A new session (browser) or API token for ``user``: returns the secret (shown once, kept
    only as a hash) and, for a browser session, its CSRF token."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32) if kind == "session" else None
    life = lifetime or (SESSION_MAX if kind == "session" else TOKEN_MAX)
    now = _now()
    with store.engine.transaction():
        store.engine.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)",
            [_digest(secret), user.name, kind, label, csrf, now, now, now + life],
        )
        if kind == "token":
            audit.append(
                store.engine, store.scope.actor, "token.create", user.name, {"label": label}
            )
    return secret, csrf


def session(store: Store, secret: str) -> Session | None:
    """The live session or token behind ``secret``, or None (unknown, revoked, expired, idle
    too long, or its user disabled)."""
    rows = store.engine.rows(
        "SELECT s.user_name, s.kind, s.csrf, s.last_seen, s.expires_at FROM sessions s"
        " JOIN users u ON u.name = s.user_name"
        " WHERE s.token_sha256 = ? AND NOT s.revoked AND NOT u.disabled",
        [_digest(secret)],
    )
    if not rows:
        return None
    name, kind, csrf, last_seen, expires = rows[0]
    now = _now()
    if now >= expires or (kind == "session" and now - last_seen > SESSION_IDLE):
        return None
    if now - last_seen > _TOUCH_EVERY:
        store.engine.execute(
            "UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", [now, _digest(secret)]
        )
    return Session(get_user(store, name), kind, csrf, expires)


def close_session(store: Store, secret: str) -> None:
    store.engine.execute(
        "UPDATE sessions SET revoked = true WHERE token_sha256 = ?", [_digest(secret)]
    )
