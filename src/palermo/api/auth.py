"""Who is calling: a browser session (cookie, with a CSRF token for every change) or an API token
(``Authorization: Bearer``). Each request gets its own ``Store`` on its own connection, scoped to
the caller's grants (``store/users.py``), so the store filters every read; this module decides
nothing about what a caller may see."""

from __future__ import annotations

import dataclasses
import hmac
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from palermo.network.explore import GraphCache
from palermo.store import audit
from palermo.store.duckdb_engine import DuckDBEngine
from palermo.store.users import Session, session
from palermo.store.workspace import Store

SESSION_COOKIE = "palermo_session"
CSRF_COOKIE = "palermo_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# what changes the workspace-wide reads below: ingests, findings, victim cases, resolution runs
_STAMP = (
    "SELECT (SELECT max(run_id) FROM ingest_runs), (SELECT count(*) FROM findings),"
    " (SELECT max(created_at) FROM findings), (SELECT count(*) FROM victim_cases),"
    " (SELECT max(run_id) FROM resolution_runs)"
)
# reads every request would otherwise repeat, the same for every caller (the redactor: the same
# for every caller who may not see victims' names); kept until the stamp changes
_SHARED = ("_compartments", "_protected", "_victim_key", "_name_words")


@dataclass
class Server:
    """What the app holds for all requests: the workspace, its engine, and the workspace-wide
    reads and graphs computed once and shared until the workspace changes."""

    root: Path
    engine: DuckDBEngine
    secure_cookies: bool
    graphs: GraphCache = field(default_factory=GraphCache)
    _stamp: tuple[Any, ...] | None = None
    _shared: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def store(
        self, scope_source: Session | None = None, engine: DuckDBEngine | None = None
    ) -> Store:
        from palermo.store.access import Scope

        scope = scope_source.user.scope() if scope_source else Scope("palermo-serve")
        store = Store(self.root, engine or self.engine.cursor(), scope)
        if scope_source is not None:
            self._warm(store)
            from palermo.store.findings import workspace_compartments

            if scope.compartments is not None and scope.compartments >= workspace_compartments(
                store
            ):
                store.scope = dataclasses.replace(scope, covers_all=True)
        return store

    def _warm(self, store: Store) -> None:
        stamp = tuple(store.engine.rows(_STAMP)[0])
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._shared = stamp, {}
                self.graphs.clear()
            shared = dict(self._shared)
        for attr in _SHARED:
            if attr in shared:
                setattr(store, attr, shared[attr])
        if not store.scope.sees_victim_names and "_redact" in shared:
            store._redact = shared["_redact"]  # type: ignore[attr-defined]
        store._stamp = stamp  # type: ignore[attr-defined]

    def harvest(self, store: Store) -> None:
        """Keep what this request computed of the shared reads, for the next requests."""
        with self._lock:
            if getattr(store, "_stamp", None) != self._stamp:
                return
            for attr in _SHARED:
                if hasattr(store, attr):
                    self._shared.setdefault(attr, getattr(store, attr))
            if not store.scope.sees_victim_names and hasattr(store, "_redact"):
                self._shared.setdefault("_redact", store._redact)


class AuditedRoute(APIRoute):
    """A route that writes its request's deferred audit records (``audit.flush``) after the
    endpoint has run and before the response is sent: no read leaves without its record; if the
    record cannot be written the caller gets an error, not the data."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            response = await handler(request)
            pending = getattr(request.state, "audit", None)
            if pending:
                server: Server = request.app.state.server
                await run_in_threadpool(_flush, server, pending)
            return response

        return audited


def _flush(server: Server, pending: list[tuple[Any, ...]]) -> None:
    # on a connection of its own: a DuckDB connection runs one transaction at a time
    engine = server.engine.cursor()
    try:
        audit.flush(engine, pending)
    finally:
        engine.close()


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
    anonymous = server.store()  # its connection then serves the caller's store
    try:
        found = session(anonymous, secret)
        if found is None or (how == "token") != (found.kind == "token"):
            raise HTTPException(401, "session expired or unknown: log in again")
        if how == "cookie" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not found.csrf or not hmac.compare_digest(sent, found.csrf):
                raise HTTPException(403, "missing or wrong CSRF token")
    except BaseException:
        anonymous.engine.close()
        raise
    store = server.store(found, anonymous.engine)
    request.state.user = found.user
    # this request's read records, written in one transaction before its response (AuditedRoute)
    store.engine.audit_pending = request.state.audit = []
    try:
        yield store
        server.harvest(store)
    finally:
        store.engine.close()
