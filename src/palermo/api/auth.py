"""Who is calling: a browser session (cookie, with a CSRF token for every change) or an API token
(``Authorization: Bearer``). Each request gets its own ``Store`` on its own connection, scoped to
the caller's grants (``store/users.py``), so the store filters every read; this module decides
nothing about what a caller may see."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from palermo.store.duckdb_engine import DuckDBEngine
from palermo.store.users import Session, session
from palermo.store.workspace import Store

SESSION_COOKIE = "palermo_session"
CSRF_COOKIE = "palermo_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Server:
    """What the app holds for all requests: the workspace and its engine."""

    root: Path
    engine: DuckDBEngine
    secure_cookies: bool

    def store(self, scope_source: Session | None = None) -> Store:
        from palermo.store.access import Scope

        scope = scope_source.user.scope() if scope_source else Scope("palermo-serve")
        return Store(self.root, self.engine.cursor(), scope)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secret(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "token"
    return request.cookies.get(SESSION_COOKIE), "cookie"


def caller(request: Request) -> Iterator[Store]:
    """FastAPI dependency: the caller's scoped store, or 401; 403 for a change without the
    session's CSRF token (double submit: cookie + header, checked against the server's copy)."""
    server: Server = request.app.state.server
    secret, how = _secret(request)
    if not secret:
        raise HTTPException(401, "log in first")
    anonymous = server.store()
    try:
        found = session(anonymous, secret)
    finally:
        anonymous.engine.close()
    if found is None or (how == "token") != (found.kind == "token"):
        raise HTTPException(401, "session expired or unknown: log in again")
    if how == "cookie" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not found.csrf or not hmac.compare_digest(sent, found.csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
    store = server.store(found)
    request.state.user = found.user
    try:
        yield store
    finally:
        store.engine.close()
