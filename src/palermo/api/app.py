"""The FastAPI application: the REST API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``)
and the static web front end at ``/``, which uses only that API.

Security by default: every response carries a strict Content-Security-Policy (scripts and styles
from this server only, no inline script), ``nosniff`` and ``frame-ancestors 'none'``; API
responses are not cached; the session cookie is HttpOnly, SameSite=Strict and Secure behind TLS;
changes need the CSRF token; data is sent as JSON and the front end writes it into the page as
text, never as HTML (an escort ad's ``<script>`` stays text)."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from palermo import __version__
from palermo.api.auth import CSRF_COOKIE, SESSION_COOKIE, AuditedRoute, Server, caller, client_of
from palermo.api.victims import router as victims_router
from palermo.errors import AccessDenied, PalermoError
from palermo.network.explore import neighbourhood, path
from palermo.store import audit, lens, reads, users
from palermo.store import findings as findings_store
from palermo.store.duckdb_engine import DuckDBEngine
from palermo.store.workspace import DB_NAME, Store

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,199}")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
ScopedStore = Annotated[Store, Depends(caller)]


class Login(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenRequest(BaseModel):
    label: str = Field(default="script", max_length=200)


def _when(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise PalermoError(f"{option}: an ISO date or time, e.g. 2024-03-01") from None


def create_app(
    root: Path, *, secure_cookies: bool = False, memory_limit: str | None = None,
    rates: Path | None = None,
) -> FastAPI:  # fmt: skip
    """The app over the workspace at ``root`` (opened read-write: sessions and the audit chain
    are written; no other process may write the workspace while it is served)."""
    root = Path(root)
    if not (root / DB_NAME).exists():
        from palermo.errors import WorkspaceNotFound

        raise WorkspaceNotFound(f"no workspace at {root} (create one with: palermo init {root})")
    from palermo.store.access import Scope

    owner = Store.open(root, Scope("palermo-serve"), memory_limit=memory_limit)
    engine: DuckDBEngine = owner.engine

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        owner.close()

    app = FastAPI(
        lifespan=lifespan, title="Palermo", version=__version__, docs_url="/api/v1/docs", redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        description="The REST API of a Palermo workspace. Log in (POST /api/v1/login) for a"
        " session cookie, or send an API token (`Authorization: Bearer ...`, made by"
        " POST /api/v1/tokens). Every read is filtered by the caller's compartments.",
    )  # fmt: skip
    app.state.server = Server(root, engine, secure_cookies)
    app.state.graphs = app.state.server.graphs
    from palermo.finance.trace import parse_rates

    app.state.rates = parse_rates(Path(rates)) if rates else None

    app.add_middleware(SecurityHeaders)

    # errors to status codes, the most specific class first (LoginFailed is a PalermoError)
    statuses: list[tuple[type[Exception], int]] = [
        (lens.NotFound, 404), (AccessDenied, 403), (users.LoginFailed, 401), (PalermoError, 400),
    ]  # fmt: skip
    for cls, code in statuses:
        app.add_exception_handler(cls, _status_handler(code))

    @app.exception_handler(users.LoginThrottled)
    async def throttled(request: Request, exc: users.LoginThrottled) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )

    app.include_router(_router(), prefix="/api/v1")
    app.include_router(victims_router(), prefix="/api/v1")
    static = resources.files("palermo.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    return app


class SecurityHeaders:
    """The security headers on every response, and no caching of API responses (a plain ASGI
    middleware: Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                if api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def _status_handler(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


TRAIL_TERMINALS = 200
TRAIL_PATHS = 200  # the largest routes of the path table


def _fast(data: Any) -> Response:
    """JSON straight from orjson (C): FastAPI's own encoder walks every value in Python, a tenth
    of an entity page's time. Dates and anything else orjson does not write natively are
    written as ``str`` gives them, as ``json.dumps(default=str)`` did."""
    return Response(orjson.dumps(data, default=str, option=_ORJSON), media_type="application/json")


_ORJSON = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _trail_view(store: Store, result: dict[str, Any]) -> dict[str, Any]:
    """The trace for the page: the largest terminals (with their holders pseudonymised for who
    may not see a victim's name) and the rest summed; the engine's internal indices dropped."""
    terminals = sorted(result.pop("terminals", []), key=lambda t: -float(t["amount_eur"]))
    shown = []
    for t in terminals[:TRAIL_TERMINALS]:
        holder_node = t.get("holder_node")
        holder = t.get("holder")
        if holder_node and lens.hides(store, holder_node):
            from palermo.store.victims import pseudonym

            holder = pseudonym(store, holder_node)
        shown.append({"kind": t["kind"], "account": t.get("account"), "holder": holder,
                      "holder_node": holder_node, "country": t.get("country"),
                      "transaction": t.get("transaction"), "time": t.get("time"),
                      "amount_eur": round(float(t["amount_eur"]), 2)})  # fmt: skip
    rest = sum(float(t["amount_eur"]) for t in terminals[TRAIL_TERMINALS:])
    result["terminals"] = shown
    result["terminals_total"] = len(terminals)
    result["terminals_rest_eur"] = round(rest, 2)
    result.pop("origins", None)
    if lens.hides(store, str(result.get("from_id") or "")):
        result["from"] = None
    return result


def _router() -> APIRouter:
    api = APIRouter(route_class=AuditedRoute)

    @api.post("/login", tags=["session"])
    def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        """Log in with a name and password: sets the session cookie and returns the CSRF token
        to send as ``X-CSRF-Token`` with every change. After 5 failures in 15 minutes for the
        name or the client, logins are refused (429) until the window has passed."""
        server: Server = request.app.state.server
        store = server.store()
        try:
            user = users.authenticate(store, body.name, body.password, client_of(request))
            secret, csrf = users.open_session(store, user)
        finally:
            store.engine.close()
        secure = server.secure_cookies or request.url.scheme == "https"
        response.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict",
                            secure=secure, max_age=int(users.SESSION_MAX.total_seconds()),
                            path="/")  # fmt: skip
        # readable by the page's script (double submit); worthless without the session cookie
        response.set_cookie(CSRF_COOKIE, csrf or "", httponly=False, samesite="strict",
                            secure=secure, path="/")  # fmt: skip
        return {"user": user.name, "role": user.role, "compartments": sorted(user.compartments),
                "csrf": csrf}  # fmt: skip

    @api.post("/logout", tags=["session"])
    def logout(store: ScopedStore, request: Request, response: Response) -> dict[str, str]:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            users.close_session(store, secret)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return {"status": "logged out"}

    @api.get("/me", tags=["session"])
    def me(store: ScopedStore) -> dict[str, Any]:
        s = store.scope
        return {"user": s.actor, "role": s.role, "compartments": sorted(s.compartments or []),
                "sees_victim_names": s.sees_victim_names}  # fmt: skip

    @api.post("/tokens", tags=["session"])
    def token(body: TokenRequest, store: ScopedStore, request: Request) -> dict[str, Any]:
        """An API token for scripts, with the caller's own role and grants (shown once)."""
        user = request.state.user
        secret, _ = users.open_session(store, user, kind="token", label=body.label)
        return {"token": secret, "user": user.name, "label": body.label,
                "expires_in_days": users.TOKEN_MAX.days}  # fmt: skip

    @api.get("/overview", tags=["workspace"])
    def overview(store: ScopedStore) -> dict[str, Any]:
        """Sources, counts, ingest runs and the open quarantine with reasons (your compartments)."""
        status = reads.status(store)
        status.pop("workspace", None)
        status["quarantine"] = reads.quarantine(store)[:500]
        return status

    @api.get("/search", tags=["entities"])
    def search(store: ScopedStore, q: Annotated[str, Query(max_length=200)],
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:  # fmt: skip
        """Fuzzy, cross-alphabet search of names, and of identifiers by substring."""
        return _fast(lens.redact_json(store, lens.search(store, q, limit)))

    @api.get("/entities/{entity_id}", tags=["entities"])
    def entity(request: Request, store: ScopedStore, entity_id: str) -> Response:
        """Every value with its provenance, the same-as cluster, links, events and findings.
        404 for an id outside your compartments, as for one that does not exist."""
        sg = request.app.state.graphs.get(store, None, None, None)
        node = sg.entity_node.get(entity_id)
        return _fast(
            lens.entity(store, entity_id, sg.node_entities.get(node, []) if node else None)
        )

    @api.get("/cells/{cell}/timeline", tags=["network"])
    def cell_timeline(request: Request, store: ScopedStore, cell: str) -> Response:
        """A criminal cell's events (its members' payments, calls, crossings), newest first."""
        sg = request.app.state.graphs.get(store, None, None, None)
        return _fast(lens.cell_timeline(store, cell, sg.node_entities))

    @api.get("/findings", tags=["findings"])
    def findings(store: ScopedStore, kind: str = "", subject: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> Response:  # fmt: skip
        """Findings with their rule, score, evidence rows and parameters; victims' names are
        shown as pseudonyms to who may not see them."""
        found = findings_store.read(store, prefix=kind, subject=subject)
        subjects = sorted({s for f in found[:limit] for s in f["subject_ids"]})
        labels = lens.captions(store, subjects)
        for f in found[:limit]:
            f["subjects"] = [{"id": s, "caption": labels.get(s, s)} for s in f["subject_ids"]]
        return _fast({"total": len(found), "findings": lens.redact_json(store, found[:limit])})

    @api.get("/graph", tags=["network"])
    def graph(request: Request, store: ScopedStore, node: str,
              depth: Annotated[int, Query(ge=1, le=3)] = 1, layers: str | None = None,
              since: str | None = None, until: str | None = None) -> Response:  # fmt: skip
        """A node's neighbourhood (entity or node id) with cells, roles, key players and each
        tie's layer, time span and evidence rows."""
        sg = request.app.state.graphs.get(
            store, layers, _when(since, "since"), _when(until, "until")
        )
        return _fast(lens.redact_json(store, neighbourhood(store, sg, node, depth)))

    @api.get("/graph/path", tags=["network"])
    def graph_path(request: Request, store: ScopedStore, a: str, b: str,
                   ordered: bool = False, layers: str | None = None,
                   since: str | None = None, until: str | None = None) -> Response:  # fmt: skip
        """The shortest (or, ``ordered``, time-ordered) path between two entities or nodes."""
        sg = request.app.state.graphs.get(
            store, layers, _when(since, "since"), _when(until, "until")
        )
        return _fast(lens.redact_json(store, path(store, sg, a, b, ordered)))

    @api.get("/trail", tags=["money"])
    def trail(request: Request, store: ScopedStore, source: Annotated[str, Query(alias="from")],
              to: str | None = None, rule: str = "proportional",
              direction: str = "forward", window: str | None = None) -> Response:  # fmt: skip
        """Follow the money from (or into) an entity: terminals by kind and country, the paths
        and the flows between accounts (for the Sankey), as ``palermo finance trace``."""
        from palermo.finance.trace import TraceParams, trace

        result = trace(store, source, to=to, window=window, rates=request.app.state.rates,
                       params=TraceParams(rule=rule, direction=direction), paths=TRAIL_PATHS)  # fmt: skip
        result["from_id"] = source
        return _fast(lens.redact_json(store, _trail_view(store, result)))

    @api.get("/map", tags=["money"])
    def movement_map(request: Request, store: ScopedStore, since: str | None = None,
                     until: str | None = None) -> Response:  # fmt: skip
        """Cross-border money flows and journeys by country pair (for the map), with counts,
        amounts and the files behind each."""
        _when(since, "since"), _when(until, "until")
        return _fast(lens.movements(store, request.app.state.rates, since, until))

    @api.get("/mappings", tags=["workspace"])
    def mappings(store: ScopedStore) -> dict[str, Any]:
        """The built-in mappings an upload can go through, with the columns each reads."""
        from palermo.ingest.mapping import builtin_names, load_mapping

        out = []
        for name in builtin_names():
            m = load_mapping(name)
            out.append({"name": name, "format": m.format, "description": m.description})
        return {"mappings": out}

    @api.post("/upload", tags=["workspace"])
    def upload(
        store: ScopedStore,
        file: Annotated[UploadFile, File(description="The source file, as received.")],
        mapping: Annotated[str, Form(max_length=64)],
        compartment: Annotated[str, Form(max_length=128)],
    ) -> dict[str, Any]:
        """Ingest an uploaded file through a built-in mapping into one of your compartments:
        the same ingestion as ``palermo ingest`` (the evidence copy with its SHA-256, validation,
        bad rows to the quarantine with file, row and field). Partners cannot upload."""
        from palermo.ingest.mapping import builtin_names, load_mapping
        from palermo.ingest.pipeline import IngestOptions, ingest_file

        if store.scope.role == "partner":
            raise AccessDenied(f"{store.scope.actor}: a partner shares data by package, not upload")
        if mapping not in builtin_names():
            raise PalermoError(f"unknown mapping {mapping!r} (GET /api/v1/mappings)")
        name = Path(file.filename or "upload").name
        if not _SAFE_NAME.fullmatch(name):
            raise PalermoError(f"file name {name!r}: letters, digits and . _ - only (max 200)")
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=store.tmp_dir))
        try:
            dest = folder / name
            with open(dest, "wb") as fh:
                shutil.copyfileobj(file.file, fh, 8 << 20)
            report = ingest_file(store, dest, load_mapping(mapping), IngestOptions(compartment))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        out = report.to_dict()
        out["summary"] = report.summary()
        if report.run_id is not None:
            out["quarantine"] = reads.quarantine(store, run_id=report.run_id)[:200]
        return out

    @api.get("/export", tags=["entities"])
    def export(store: ScopedStore) -> Response:
        """Your compartments' entities, payments and calls as FollowTheMoney JSON lines
        (possible victims pseudonymised for who may not see them); audited."""
        import io

        from palermo.export import export_ftm

        buf = io.StringIO()
        report = export_ftm(store, buf, "web download")
        return Response(
            buf.getvalue(), media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="palermo-export.ftm.json"',
                     "X-Palermo-Entities": str(report.entities)},
        )  # fmt: skip

    @api.get("/audit", tags=["admin"])
    def audit_log(store: ScopedStore, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                  before: int | None = None) -> dict[str, Any]:  # fmt: skip
        """The audit chain, newest first (admins only)."""
        return {"records": lens.audit_log(store, limit, before)}

    @api.get("/audit/verify", tags=["admin"])
    def audit_verify(store: ScopedStore) -> dict[str, Any]:
        """Recompute the hash chain (admins only)."""
        if store.scope.role != "admin":
            raise HTTPException(403, "only an admin verifies the audit log")
        check = audit.verify(store.engine)
        return {"ok": check.ok, "records": check.records, "first_bad_seq": check.first_bad_seq,
                "problem": check.problem}  # fmt: skip

    @api.get("/users", tags=["admin"])
    def user_list(store: ScopedStore) -> dict[str, Any]:
        return {"users": users.list_users(store)}

    @api.get("/packages", tags=["sharing"])
    def shared(store: ScopedStore) -> dict[str, Any]:
        """The disclosure log for your compartments: packages received from partners (by whom,
        under what legal basis and policy, what the policy withheld, status) and sent to them;
        requests between the agencies (pending first: asked of us, asked by us); and the
        partners whose keys this workspace trusts."""
        from palermo.store import packages as store_packages

        found = store_packages.packages(store)
        partners = [{"name": p["name"], "fingerprint": p["fingerprint"],
                     "imported_at": p["imported_at"]} for p in store_packages.partners(store)]  # fmt: skip
        asked = store_packages.requests(store)
        return {"received": [p for p in found if p["direction"] == "received"],
                "sent": [p for p in found if p["direction"] == "sent"],
                "requests": {"asked_of_us": [r for r in asked if r["direction"] == "received"],
                             "asked_by_us": [r for r in asked if r["direction"] == "sent"]},
                "partners": partners}  # fmt: skip

    return api
