"""Who is calling: a browser session (cookie, with a CSRF token for every change) or an API token
(``Authorization: Bearer``). Each request gets its own ``Store`` on its own connection, scoped to
the caller's grants (``store/users.py``), so the store filters every read; this module decides
nothing about what a caller may see."""

from __future__ import annotations

import dataclasses
import gc
import hmac
import threading
import time
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
_SHARED = ("_compartments", "_protected", "_victim_key", "_index")
# how long a looked-up session is reused without reading it again. The server is the only
# writer of the workspace while it serves (it holds DuckDB's lock), and every change it makes
# (a logout, a new token, an upload) drops what it keeps: the limit is only for the expiry times
SESSION_REUSE_S = 5.0


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
    # whether a change may have happened since the stamp was read: set by every request that
    # is not a plain read (POST, PUT, DELETE...), before it runs and after
    _changed: bool = True
    _sessions: dict[str, tuple[Session, float]] = field(default_factory=dict)
    audit_writer: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.audit_writer = GroupCommit(self.engine)

    def changing(self) -> None:
        """A request that may change the workspace is running or has run: read the stamp and
        the sessions again."""
        with self._lock:
            self._changed = True
            self._sessions.clear()

    def session(self, store: Store, secret: str) -> Session | None:
        """``users.session``, reused for ``SESSION_REUSE_S`` (checked against its expiry)."""
        now = time.monotonic()
        with self._lock:
            hit = self._sessions.get(secret)
        if hit is not None and now - hit[1] < SESSION_REUSE_S and hit[0].live():
            return hit[0]
        found = session(store, secret)
        with self._lock:
            if found is None:
                self._sessions.pop(secret, None)
            else:
                if len(self._sessions) > 10_000:
                    self._sessions.clear()
                self._sessions[secret] = (found, now)
        return found

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
        with self._lock:
            stamp, changed = self._stamp, self._changed
        if changed or stamp is None:
            stamp = tuple(store.engine.rows(_STAMP)[0])
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._shared = stamp, {}
                self.graphs.clear()
            self._changed = False
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
            fresh = "_index" not in self._shared and hasattr(store, "_index")
            for attr in _SHARED:
                if hasattr(store, attr):
                    self._shared.setdefault(attr, getattr(store, attr))
            if not store.scope.sees_victim_names and hasattr(store, "_redact"):
                self._shared.setdefault("_redact", store._redact)
        if fresh:
            # the index is a million long-lived objects (medium demo): a full collection walks
            # them all, 65-115 ms measured under load, every time. Frozen, the collector leaves
            # them alone (they hold no cycles: refcounts free them when the workspace changes)
            gc.freeze()


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
    server.audit_writer.write(pending)


class GroupCommit:
    """Writes the read records of concurrent requests in shared transactions: a commit costs
    about 4 ms (DuckDB's write-ahead log), more than the read it records, and the chain allows
    one writer at a time. The first request to find no write under way writes every record
    queued by then (its own and those of the requests waiting), on a connection of its own; the
    others wait for that commit (or its error) before their responses go."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self._cv = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False
        self._writer: DuckDBEngine | None = None

    def write(self, records: list[tuple[Any, ...]]) -> None:
        mine = _Pending(list(records))
        with self._cv:
            self._queue.append(mine)
            while not mine.done and self._writing:
                self._cv.wait()
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                records.clear()
                return
            self._writing = True
            batch, self._queue = self._queue, []
        error: BaseException | None = None
        try:
            if self._writer is None:  # used by one batch at a time (``_writing``)
                self._writer = self.engine.cursor()
            audit.flush(self._writer, [r for p in batch for r in p.records])
        except BaseException as exc:  # every request of the batch fails, none sends its data
            error = exc
            if self._writer is not None:  # a fresh connection for the next batch
                self._writer.close()
                self._writer = None
        with self._cv:
            for p in batch:
                p.done, p.error = True, error
            self._writing = False
            self._cv.notify_all()
        if error is not None:
            raise error
        records.clear()


@dataclass
class _Pending:
    records: list[tuple[Any, ...]]
    done: bool = False
    error: BaseException | None = None


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
    changes = request.method not in SAFE_METHODS
    if changes:
        server.changing()
    anonymous = server.store()  # its connection then serves the caller's store
    try:
        found = server.session(anonymous, secret)
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
        if changes:
            server.changing()
