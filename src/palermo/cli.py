"""``palermo``: one verb per user task. Thin: it parses, calls the Python API, prints.

Errors print one line on stderr (``palermo: error: ...``) and exit non-zero; no tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from palermo import __version__
from palermo.api_python import Workspace
from palermo.errors import PalermoError, PartialIngest
from palermo.ingest.manifest import find_manifest
from palermo.ingest.mapping import builtin_names, load_mapping
from palermo.ingest.pipeline import IngestReport

try:  # typer >= 0.26 bundles its own copy of click, whose exceptions are not click's
    from typer._click.exceptions import ClickException as _BundledClickException
except ImportError:  # pragma: no cover - older typer uses the click package
    _BundledClickException = click.ClickException
USAGE_ERRORS = (click.ClickException, _BundledClickException)
ABORTS = (click.exceptions.Abort, typer.Abort)

app = typer.Typer(
    name="palermo",
    help="Palermo: one investigation workspace for every source, with provenance for every value.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(
    help="List and retry rows that failed validation.", no_args_is_help=True
)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
resolve_app = typer.Typer(
    help="Entity resolution: who is who across sources and alphabets (run, review, decide).",
    invoke_without_command=True,
)
network_app = typer.Typer(
    help="Network intelligence: cells, roles, brokers, key players, disruption, time.",
    no_args_is_help=True,
)
finance_app = typer.Typer(
    help="Follow the money: scan transactions for laundering and exploitation patterns, trace"
    " funds through a workspace's accounts, put a number on proceeds and victims' losses.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(resolve_app, name="resolve")
app.add_typer(network_app, name="network")
app.add_typer(finance_app, name="finance")
victims_app = typer.Typer(
    help="Justice for victims: screening with the ILO/EC operational indicators, leads from the"
    " data, non-punishment flags, unpaid wages, referral along the NRM, HTCDS and protected"
    " statistics.",
    no_args_is_help=True,
)
app.add_typer(victims_app, name="victims")
case_app = typer.Typer(
    help="A victim's case along the National Referral Mechanism: stages, consent, referrals,"
    " deadlines.",
    no_args_is_help=True,
)
victims_app.add_typer(case_app, name="case")
provider_app = typer.Typer(help="The directory of service providers.", no_args_is_help=True)
victims_app.add_typer(provider_app, name="provider")
app.add_typer(audit_app, name="audit")
estimate_app = typer.Typer(
    help="How many victims are we not seeing: multiple-systems estimation.", no_args_is_help=True
)
app.add_typer(estimate_app, name="estimate")
user_app = typer.Typer(
    help="Accounts of the web application and the REST API (run by the workspace's owner).",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="PALERMO_WORKSPACE",
        help="Workspace folder (default ./palermo-workspace or $PALERMO_WORKSPACE).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DEFAULT_WS = Path("palermo-workspace")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr (phase, rows done) when stderr is a terminal."""
    if not enabled or not err.is_terminal:
        yield lambda _msg, _fraction=None: None
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("starting", total=100)
    with bar:

        def say(msg: str, fraction: float | None = None) -> None:
            if fraction is None:
                bar.update(task, description=msg, completed=0)
            else:
                bar.update(task, description=msg, completed=100 * fraction)

        yield say


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Folder for the new workspace.")],
) -> None:
    """Create a workspace: a DuckDB store and an evidence folder.

    Example: palermo init case-2024-017
    """
    with Workspace.init(path) as ws:
        out.print(f"created workspace {ws.path} (schema version {ws.status()['schema_version']})")


@app.command()
def mappings(json_out: JsonOpt = False) -> None:
    """List the built-in mappings and the columns each reads.

    Example: palermo mappings
    """
    rows = []
    for name in builtin_names():
        m = load_mapping(name)
        rows.append(
            {
                "name": name,
                "format": m.format,
                "required": [f.column for f in m.fields.values() if f.required],
                "optional": [f.column for f in m.fields.values() if not f.required],
                "description": " ".join(m.description.split()),
            }
        )
    if json_out:
        _print_json(rows)
        return
    for row in rows:
        out.print(f"[bold]{row['name']}[/bold] ({row['format']}): {row['description']}")
        if row["required"]:
            out.print(f"  required: {', '.join(row['required'])}")
        if row["optional"]:
            out.print(f"  optional: {', '.join(row['optional'])}")


@app.command()
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Source files; or a folder with a manifest.json (or the manifest file itself).",
            exists=False,
        ),
    ],
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping",
            "-m",
            help="Built-in mapping name or a mapping .yml file (for source files; a manifest"
            " names each file's own).",
        ),
    ] = None,
    compartment: Annotated[
        str | None,
        typer.Option(
            "--compartment",
            "-c",
            help="Compartment (agency, case or JIT); for a manifest, of the entries that name"
            " none. Default: default.",
        ),
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="Read fields from other columns: field=COLUMN,...")
    ] = None,
    default: Annotated[
        str | None,
        typer.Option(
            "--default", help="Values for fields whose column is missing or empty: field=VALUE,..."
        ),
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (default UTF-8).")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first).")] = None,
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Exit 0 even if rows were quarantined.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Ingest source files through a mapping, keeping file, row and run for every value.

    Bad rows go to the quarantine (see `palermo quarantine list`) and good rows still land; the
    exit code is 3 if anything was quarantined, unless --allow-partial. Re-ingesting the same file
    is a no-op.

    A folder with a manifest.json (or the manifest file) is ingested file by file as its manifest
    says: {"palermo_manifest": 1, "files": [{"path": "bank.csv", "mapping": "payments",
    "compartment": "police-gb", "columns": {...}, "defaults": {...}, "options": {...},
    "delimiter": ";", "encoding": "utf-8", "sheet": "...", "description": "..."}, ...]}.
    The whole manifest is checked before the first file is ingested; --mapping, --columns,
    --default, --delimiter, --encoding and --sheet belong in it, not on the command line.

    Example: palermo ingest bank.csv --mapping payments --compartment case-17

    Example: palermo ingest tx.csv -m payments --columns amount=Betrag --default currency=EUR

    Example: palermo ingest evidence/case-17/ -c case-17
    """
    manifests = [find_manifest(f) for f in files]
    if any(m is not None for m in manifests):
        if not all(m is not None for m in manifests):
            plain = next(f for f, m in zip(files, manifests, strict=True) if m is None)
            raise typer.BadParameter(
                f"{plain} is a source file, given with a manifest: ingest source files in a"
                " separate command (with --mapping), or add them to the manifest",
                param_hint="FILES",
            )
        given = [
            name
            for name, value in (
                ("--mapping", mapping),
                ("--columns", columns),
                ("--default", default),
                ("--delimiter", delimiter),
                ("--encoding", encoding),
                ("--sheet", sheet),
            )
            if value is not None
        ]
        if given:
            raise typer.BadParameter(
                "a manifest names each file's mapping, columns, defaults and CSV settings;"
                f" drop {', '.join(given)} (or edit the manifest)",
                param_hint=given[0],
            )
    elif mapping is None:
        raise typer.BadParameter(
            "which mapping reads these files? e.g. --mapping payments (see `palermo mappings`);"
            " or give a folder with a manifest.json",
            param_hint="--mapping",
        )
    reports: list[IngestReport] = []
    try:
        with Workspace.open(workspace) as ws, _progress(not json_out) as say:
            for file, manifest in zip(files, manifests, strict=True):
                if manifest is not None:
                    ws.ingest_manifest(
                        manifest, compartment=compartment, progress=say, on_report=reports.append
                    )
                    continue
                assert mapping is not None
                reports += ws.ingest(
                    file,
                    mapping=mapping,
                    compartment=compartment or "default",
                    columns=columns,
                    defaults=default,
                    delimiter=delimiter,
                    encoding=encoding,
                    sheet=sheet,
                    progress=say,
                )
    finally:
        # printed once the progress bar (on stderr) is gone, so the two never share a line;
        # files ingested before a failing one are reported too
        if json_out:
            _print_json([r.to_dict() for r in reports])
        else:
            for report in reports:
                out.print(report.summary(), markup=False)
    quarantined = sum(r.rows_quarantined for r in reports)
    if quarantined and not allow_partial:
        raise PartialIngest(
            f"{quarantined} row(s) quarantined (good rows were stored): see"
            f" `palermo quarantine list -w {workspace}`; use --allow-partial to accept"
        )


@app.command()
def status(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """What is in the workspace, per source and compartment.

    Example: palermo status --json
    """
    with Workspace.open(workspace, read_only=True) as ws:
        data = ws.status()
    if json_out:
        _print_json(data)
        return
    t = data["totals"]
    out.print(f"workspace {data['workspace']} (schema v{data['schema_version']})")
    out.print(
        f"  {t['evidence_files']} evidence files, {t['entities']} entities, {t['statements']}"
        f" statements, {t['payments']} payments, {t['calls']} calls, {t['quarantine_open']} rows"
        " in quarantine"
    )
    table = Table("run", "file", "mapping", "compartment", "read", "stored", "dup", "quar.")
    for s in data["sources"]:
        table.add_row(
            str(s["run_id"]),
            s["file"] + (" (retry)" if s["kind"] == "retry" else ""),
            s["mapping"],
            s["compartment"],
            str(s["rows_read"]),
            str(s["rows_stored"]),
            str(s["rows_duplicate"]),
            str(s["quarantine_open"]),
        )
    if data["sources"]:
        out.print(table)
    for name, c in sorted(data["compartments"].items()):
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(c["entities"].items()))
        out.print(
            f"  compartment {name}: {kinds or 'no entities'}; {c.get('payments', 0)} payments, {c.get('calls', 0)} calls"
        )


@quarantine_app.command("list")
def quarantine_list(
    run: Annotated[int | None, typer.Option(help="Only rows of this ingest run.")] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Include resolved and superseded rows.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """List quarantined rows: file, row, field, reason and the raw record.

    Example: palermo quarantine list --json
    """
    with Workspace.open(workspace, read_only=True) as ws:
        rows = ws.quarantine(status=None if all_rows else "open", run_id=run)
    if json_out:
        _print_json(rows)
        return
    if not rows:
        out.print("quarantine is empty")
        return
    for r in rows:
        raw = (r["raw"] or "").replace("\n", "\\n")
        raw = raw[:160] + ("..." if len(raw) > 160 else "")
        flag = "" if r["status"] == "open" else f" [{r['status']}]"
        out.print(
            f"{r['file']} row {r['row']} field {r['field']}: {r['reason']}{flag}", markup=False
        )
        out.print(f"    raw: {raw}", markup=False)


@quarantine_app.command("retry")
def quarantine_retry(
    run: Annotated[int | None, typer.Option(help="Only rows of this ingest run.")] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="Use this mapping instead of the original."),
    ] = None,
    columns: Annotated[str | None, typer.Option(help="field=COLUMN,... overrides.")] = None,
    allow_partial: Annotated[bool, typer.Option("--allow-partial")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Re-read quarantined rows from the evidence copy, after a mapping fix.

    The mapping is re-read from its file (or --mapping); rows that now pass land with their
    original file and row, the others stay quarantined.

    Example: palermo quarantine retry --mapping fixed-payments.yml
    """
    with Workspace.open(workspace) as ws, _progress(not json_out) as say:
        reports = ws.retry_quarantine(run_id=run, mapping=mapping, columns=columns, progress=say)
    if json_out:
        _print_json([r.to_dict() for r in reports])
    else:
        if not reports:
            out.print("nothing to retry: the quarantine is empty")
        for r in reports:
            out.print(f"retry: {r.summary()}")
    left = sum(r.rows_quarantined for r in reports)
    if left and not allow_partial:
        raise PartialIngest(f"{left} row(s) still quarantined")


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="Export format: ftm.")] = "ftm",
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="File (default stdout).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Export the workspace's entities (FollowTheMoney JSON lines). Audited.

    Example: palermo export --format ftm --out case.ftm.jsonl
    """
    if format != "ftm":
        raise typer.BadParameter(f"unknown format {format!r} (known: ftm)", param_hint="--format")
    with Workspace.open(workspace) as ws:
        if output is None:
            report = ws.export_ftm(sys.stdout, "stdout")
        else:
            with open(output, "w", encoding="utf-8") as fh:
                report = ws.export_ftm(fh, str(output.resolve()))
    err.print(
        f"exported {report.entities} entities, {report.payments} payments, {report.calls} calls"
        + (
            f"; {len(report.skipped)} skipped (first: {report.skipped[0]})"
            if report.skipped
            else ""
        ),
        markup=False,
    )


@audit_app.command("verify")
def audit_verify(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """Check the audit log's hash chain.

    Example: palermo audit verify
    """
    with Workspace.open(workspace, read_only=True) as ws:
        check = ws.verify_audit()
    if json_out:
        _print_json(check.__dict__)
    elif check.ok:
        out.print(f"audit log intact: {check.records} records")
    if not check.ok:
        raise PalermoError(f"audit log broken at record {check.first_bad_seq}: {check.problem}")


# -- accounts and the web application ----------------------------------------------------------
def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        line = getpass.getpass("password: ")
        if getpass.getpass("again: ") != line:
            raise PalermoError("the two passwords differ")
    return line


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin, analyst, investigator, prosecutor, victim-support, inspector or partner.",
        ),
    ],
    compartment: Annotated[
        list[str] | None,
        typer.Option("--compartment", help="A compartment the user may see (repeat for several)."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Add a user with a role and compartments; the password (at least 10 characters) is kept
    as an argon2 hash. Victims' names are shown to victim-support, investigator, prosecutor and
    inspector; everyone else sees pseudonyms.

    Example: printf '%s\\n' "$PW" | palermo user add ana --role analyst --compartment police --password-stdin
    """  # fmt: skip
    password = _read_password(password_stdin)
    from palermo.store import users

    with Workspace.open(workspace) as ws:
        user = users.add_user(ws.store, name, role, password, compartment or [])
    if json_out:
        _print_json(
            {"name": user.name, "role": user.role, "compartments": sorted(user.compartments)}
        )
    else:
        out.print(f"user {user.name} added: {user.role}, compartments"
                  f" {', '.join(sorted(user.compartments)) or '(none yet: palermo grant)'}",
                  markup=False)  # fmt: skip


@user_app.command("list")
def user_list(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """List the users, their roles and compartments.

    Example: palermo user list
    """
    from palermo.store import users

    with Workspace.open(workspace) as ws:
        found = users.list_users(ws.store)
    if json_out:
        _print_json(found)
        return
    table = Table("user", "role", "compartments", "disabled", "created")
    for u in found:
        table.add_row(u["name"], u["role"], ", ".join(u["compartments"]),
                      "yes" if u["disabled"] else "", u["created_at"])  # fmt: skip
    out.print(table)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOpt = DEFAULT_WS
) -> None:
    """Disable a user at once: its sessions and API tokens stop working.

    Example: palermo user disable ana
    """
    from palermo.store import users

    with Workspace.open(workspace) as ws:
        users.disable_user(ws.store, name)
    out.print(f"user {name} disabled; its sessions and tokens are ended", markup=False)


@app.command()
def grant(
    name: Annotated[str, typer.Argument(help="User name.")],
    compartment: Annotated[str, typer.Argument(help="Compartment (agency, case, JIT).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the grant away instead.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Give a user a compartment (or take it away with --revoke); audited.

    Example: palermo grant ana jit-ro-uk
    """
    from palermo.store import users

    with Workspace.open(workspace) as ws:
        user = (users.revoke if revoke else users.grant)(ws.store, name, compartment)
    out.print(f"{user.name}: compartments {', '.join(sorted(user.compartments)) or '(none)'}",
              markup=False)  # fmt: skip


@app.command()
def serve(
    workspace: WorkspaceOpt = DEFAULT_WS,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    rates: Annotated[
        Path | None,
        typer.Option(
            "--rates",
            help="EUR rates for the money trail (CSV: currency,units_per_eur[,valid_from]).",
        ),
    ] = None,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark cookies Secure (behind a TLS proxy).")
    ] = False,
) -> None:
    """Serve the web application and the REST API (/api/v1, OpenAPI at /api/v1/docs) over a
    workspace. Users log in with the accounts of `palermo user add`; every read is filtered by
    their compartments in the store and audited. The workspace is opened for writing (sessions,
    audit): stop the server before running other commands on it.

    Example: palermo serve -w demo-workspace --rates demo-case/fx_rates.csv
    """  # fmt: skip
    import uvicorn

    from palermo.api.app import create_app

    application = create_app(workspace, secure_cookies=secure_cookies, rates=rates)
    if host not in ("127.0.0.1", "localhost", "::1") and not secure_cookies:
        err.print("palermo: warning: serving beyond this machine without --secure-cookies;"
                  " put it behind a TLS proxy", markup=False)  # fmt: skip
    out.print(f"serving {workspace} at http://{host}:{port}/ (Ctrl-C stops)", markup=False)
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@resolve_app.callback()
def resolve(
    ctx: typer.Context,
    auto: Annotated[float, typer.Option(help="Merge pairs at or above this probability.")] = 0.95,
    review: Annotated[
        float, typer.Option(help="Queue pairs from this probability up to --auto for review.")
    ] = 0.7,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Resolve the workspace's persons across all sources and compartments you may see: a
    Fellegi-Sunter model (Splink on DuckDB) learnt from them, with transliteration-aware names,
    nicknames, swapped day and month, identifiers and phones as strong evidence. Pairs at or above
    --auto are merged, pairs from --review to --auto wait for a person (`palermo resolve review`);
    accept / reject / undo decisions are kept, audited and respected by every later run.

    Example: palermo resolve -w case-17

    Example: palermo resolve review -w case-17 ; palermo resolve reject ID1 ID2 -w case-17
    """
    if ctx.invoked_subcommand is not None:
        return
    with Workspace.open(workspace) as ws, _progress(not json_out) as say:
        summary = ws.resolve(auto=auto, review=review, progress=say)
    if json_out:
        _print_json(summary)
        return
    out.print(
        f"resolution run {summary['run_id']}: {summary['persons']:,} persons and"
        f" {summary['companies']:,} companies in {summary['clusters']:,} clusters,"
        f" {summary['addresses']:,} addresses written as {summary['address_clusters']:,};"
        f" {summary['merged_pairs']:,} pairs merged,"
        f" {summary['review_pairs']:,} waiting for review (palermo resolve review),"
        f" {summary.get('accepted_pairs', 0)} accepted and {summary.get('rejected_pairs', 0)}"
        " rejected by people",
        markup=False,
    )


@resolve_app.command("review")
def resolve_review(
    limit: Annotated[int, typer.Option(help="How many pairs to show.")] = 20,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """List the pairs waiting for review, most probable first, side by side with the evidence
    (every property and the source file:row behind it) and the comparison levels that scored them.

    Example: palermo resolve review --limit 10 -w case-17
    """
    with Workspace.open(workspace) as ws:
        queue = ws.review_queue(limit)
    if json_out:
        _print_json(queue)
        return
    if not queue:
        out.print("no pairs waiting for review", markup=False)
        return
    for item in queue:
        left, right = item["left"], item["right"]
        table = Table(
            title=f"p = {item['match_probability']:.3f} (weight {item['match_weight']:.2f})"
        )
        table.add_column("")
        table.add_column(left["id"], overflow="fold")
        table.add_column(right["id"], overflow="fold")
        # values come from the sources: untrusted, shown as plain text (never as console markup)
        for prop in sorted((set(left) | set(right)) - {"id"}):
            table.add_row(
                Text(prop),
                Text("; ".join(left.get(prop, []))),
                Text("; ".join(right.get(prop, []))),
            )
        for comp, lv in item["levels"].items():
            table.add_row(
                Text(f"{comp} (comparison)"),
                Text(str(lv.get("level"))),
                Text(f"weight {lv.get('weight')}"),
            )
        out.print(table)
        out.print(
            f"  palermo resolve accept {left['id']} {right['id']}   |   palermo resolve reject ..."
        )


def _decide(decision: str, a: str, b: str, note: str | None, workspace: Path) -> None:
    with Workspace.open(workspace) as ws:
        ws.decide(a, b, decision, note)
    out.print(f"{decision}: {a} {b} (applied by the next `palermo resolve`)", markup=False)


@resolve_app.command("accept")
def resolve_accept(
    a: Annotated[str, typer.Argument(help="Entity id.")],
    b: Annotated[str, typer.Argument(help="Entity id.")],
    note: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Decide that two entities are the same person (audited; respected by later runs).

    Example: palermo resolve accept person-1a2b... person-3c4d... --note "same passport" -w case-17
    """
    _decide("accept", a, b, note, workspace)


@resolve_app.command("reject")
def resolve_reject(
    a: Annotated[str, typer.Argument(help="Entity id.")],
    b: Annotated[str, typer.Argument(help="Entity id.")],
    note: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Decide that two entities are different persons: never linked again (this undoes a merge).

    Example: palermo resolve reject person-1a2b... person-3c4d... -w case-17
    """
    _decide("reject", a, b, note, workspace)


@resolve_app.command("undo")
def resolve_undo(
    a: Annotated[str, typer.Argument(help="Entity id.")],
    b: Annotated[str, typer.Argument(help="Entity id.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Withdraw a decision on a pair: the model decides it again.

    Example: palermo resolve undo person-1a2b... person-3c4d... -w case-17
    """
    _decide("undo", a, b, None, workspace)


@resolve_app.command("evaluate")
def resolve_evaluate(
    truth: Annotated[Path, typer.Option(help="The truth/ folder of a simulated case.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Score the current resolution against a simulated case's ground truth: pairwise precision,
    recall, F1 and B-cubed.

    Example: palermo resolve evaluate --truth case-sim/truth -w ws
    """
    with Workspace.open(workspace) as ws:
        metrics = ws.evaluate_resolution(truth)
    if json_out:
        _print_json(metrics)
        return
    out.print(
        f"{metrics['entities_scored']:,} person entities ({metrics['true_persons']:,} true persons,"
        f" {metrics['predicted_clusters']:,} clusters): pairwise precision {metrics['precision']},"
        f" recall {metrics['recall']}, F1 {metrics['f1']}; B-cubed precision"
        f" {metrics['bcubed_precision']}, recall {metrics['bcubed_recall']}, F1 {metrics['bcubed_f1']}",
        markup=False,
    )


def _when(text: str | None, option: str) -> Any:
    """A --since / --until value: an ISO date or time (UTC unless it says otherwise)."""
    if text is None:
        return None
    from datetime import UTC, datetime

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise PalermoError(f"{option} {text!r}: not a date or time (e.g. 2024-03-01)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


LayersOpt = Annotated[
    str,
    typer.Option(
        help="Workspace layers: all, or a comma list of calls, payments, shared_address,"
        " shared_phone, vehicle, co_travel, ownership, employment, family, associates, ads."
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="A model folder (palermo finance train --out); default: the shipped one."
    ),
]
SinceOpt = Annotated[str | None, typer.Option(help="Only ties from this date/time on (ISO, UTC).")]
UntilOpt = Annotated[str | None, typer.Option(help="Only ties before this date/time (ISO, UTC).")]


@network_app.command("analyze")
def network_analyze(
    edges: Annotated[
        Path | None,
        typer.Argument(
            help="Edge list (CSV), one row per tie; without it: the workspace's network."
        ),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Column of one end of the tie.")] = None,
    target: Annotated[str | None, typer.Option(help="Column of the other end.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results.")] = Path(
        "network"
    ),
    weight: Annotated[
        str | None, typer.Option(help="Column with a number >= 0 (e.g. calls, amount).")
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="Column with the time of the tie (activity periods).")
    ] = None,
    key_players: Annotated[
        int, typer.Option("--key-players", help="How many key players to find (greedy KPP-NEG).")
    ] = 10,
    resolution: Annotated[
        float, typer.Option(help="Leiden resolution: higher gives more, smaller communities.")
    ] = 1.0,
    layers: LayersOpt = "all",
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Communities, positions and key players of any edge list, or of the workspace's network.

    With EDGES.csv (no workspace): writes nodes.csv (node, community, degree, strength,
    betweenness, pagerank, eigenvector, coreness, constraint, brokerage, key_player_rank),
    communities.csv (community, size, members, density, top_nodes, internal/external weight,
    first/last seen) and summary.json. Ties are undirected: a-b and b-a are one tie, duplicate
    rows are summed (weights) and self-loops dropped, both counted in the summary. Communities:
    Leiden (modularity, seed 42). Betweenness: distances 1/weight, exact up to 5,000 nodes, else
    sampled. Brokerage: pairs of a node's neighbours not tied to each other (Gould-Fernandez
    total). Key players: the greedy set whose removal fragments most.

    Without EDGES: the workspace's resolved entities are the nodes and the --layers their ties
    (within --since/--until); nodes.csv adds label, kind, the role asserted (offender roles at
    probability >= 0.8) with its probability, the features behind it and any role held back,
    the criminal cell and Gould-Fernandez roles; roles.csv has every role's probability,
    cells.csv the criminal cells (Leiden inside the suspects' network: roles, members,
    countries, sectors, money in/out, activity), communities.csv the whole graph's communities,
    edges.csv every tie with its layers and evidence rows; the findings (key players, brokers,
    roles, cells) are stored in the workspace.

    Example: palermo network analyze calls.csv --source caller --target callee --weight n --out net

    Example: palermo network analyze -w case-17 --layers calls,payments --since 2024-01-01 --out net
    """
    if edges is None:
        from palermo.network.workspace import analyse_workspace
        from palermo.store.graph import parse_layers

        with Workspace.open(workspace) as ws:
            summary = analyse_workspace(
                ws.store, out=out_dir, layers=parse_layers(layers),
                since=_when(since, "--since"), until=_when(until, "--until"),
                key_player_k=key_players, resolution=resolution,
            )  # fmt: skip
    else:
        if source is None or target is None:
            raise PalermoError("an edge list needs --source and --target (its two end columns)")
        from palermo.network.analyze import analyze

        summary = analyze(
            edges, source=source, target=target, weight=weight, time=time, out=out_dir,
            key_player_k=key_players, resolution=resolution,
        )  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    out.print(
        f"{summary['nodes']:,} nodes, {summary['edges']:,} ties, {summary['components']}"
        f" component(s), {summary['communities']} communities (modularity"
        f" {summary['modularity']}); key players: {', '.join(summary['key_players'][:5])}"
        f" -> {out_dir}/nodes.csv, communities.csv",
        markup=False,
    )
    if "roles" in summary:
        roles = ", ".join(f"{r} {n}" for r, n in summary["roles"].items() if r != "none")
        out.print(f"roles: {roles}; {summary['findings_stored']} findings stored", markup=False)
    for note in summary["notes"]:
        out.print(f"note: {note}", markup=False)


@network_app.command("build")
def network_build(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tables.")] = Path(
        "network"
    ),
    layers: LayersOpt = "all",
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Write the workspace's network as tables, for other tools or `palermo network analyze
    EDGES.csv`: ties.csv (a, b, layer, events, amount, duration_s, first, last, evidence: one row
    per pair of nodes and layer), nodes.csv (node, kind, label, countries, sectors, entities) and
    flows.csv (payer, payee, payments, amount: money between nodes, directed).

    Example: palermo network build -w case-17 --layers calls,co_travel --out net
    """
    from palermo.network.workspace import write_tables
    from palermo.store.graph import parse_layers

    with Workspace.open(workspace) as ws:
        summary = write_tables(
            ws.store, out_dir, parse_layers(layers), _when(since, "--since"),
            _when(until, "--until"),
        )  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    per = ", ".join(f"{k} {v:,}" for k, v in summary["ties_per_layer"].items())
    out.print(
        f"{summary['nodes']:,} nodes, {summary['ties']:,} ties ({per}) -> {out_dir}/ties.csv,"
        " nodes.csv, flows.csv",
        markup=False,
    )
    for note in summary["notes"]:
        out.print(f"note: {note}", markup=False)


@network_app.command("evaluate")
def network_evaluate(
    truth: Annotated[Path, typer.Option(help="The truth/ folder of a simulated case.")],
    layers: LayersOpt = "all",
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Score the workspace network's inferred roles (macro-F1 over the offender roles and
    victims, per role precision and recall) and its criminal cells and whole-graph communities
    (ARI and NMI against the true cells, offenders and victims) against a simulated case's
    ground truth.

    Example: palermo network evaluate --truth case-sim/truth -w case-17
    """
    from palermo.network.evaluate import evaluate
    from palermo.store.graph import parse_layers

    with Workspace.open(workspace) as ws:
        metrics = evaluate(ws.store, truth, layers=parse_layers(layers))
    if json_out:
        _print_json(metrics)
        return
    out.print(
        f"{metrics['nodes_matched']:,} of {metrics['nodes']:,} nodes matched to the truth;"
        f" roles macro-F1 {metrics['role_macro_f1']}; criminal cells ARI {metrics['cells_ari']},"
        f" NMI {metrics['cells_nmi']} (whole-graph communities: ARI"
        f" {metrics['communities_ari']}, NMI {metrics['communities_nmi']};"
        f" {metrics['cell_members_matched']} offenders and victims)",
        markup=False,
    )
    for role, m in metrics["roles"].items():
        out.print(
            f"  {role}: precision {m['precision']}, recall {m['recall']}, F1 {m['f1-score']}"
            f" ({int(m['support'])} in truth)",
            markup=False,
        )


@network_app.command("disrupt")
def network_disrupt(
    edges: Annotated[
        Path | None,
        typer.Argument(
            help="Edge list (CSV), one row per tie; without it: the workspace's network."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Column of one end (default: 'source', else the first column)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Column of the other end (default: 'target', else the second)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for strategies.csv and the plots.")
    ] = Path("disruption"),
    weight: Annotated[
        str | None, typer.Option(help="Column with a number >= 0 (e.g. amount): flow cut.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many nodes each strategy removes.")] = 10,
    strategies: Annotated[
        str,
        typer.Option(
            help="all, or a comma list of: degree, betweenness (recomputed after each removal),"
            " betweenness_once, pagerank, key_player, random (averaged over 20 seeds); on the"
            " workspace also final_exploiters, money_handlers (by inferred role), money_flow"
            " (the most money on its ties) and beneficiary_cut (what cuts most of the money"
            " reaching organisers and asset owners)."
        ),
    ] = "all",
    relink: Annotated[
        float,
        typer.Option(
            help="Recovery: after the removals, each pair of a removed node's remaining"
            " neighbours re-links with this probability (pairwise), or its best-connected"
            " neighbour takes over each of its ties with it (takeover); 0 disables."
        ),
    ] = 0.5,
    layers: LayersOpt = "all",
    since: SinceOpt = None,
    until: UntilOpt = None,
    focus: Annotated[
        str,
        typer.Option(
            help="Workspace: 'suspects' (nodes with an offender role and the phones/accounts"
            " tied to two of them) or 'all' (the whole workspace)."
        ),
    ] = "suspects",
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Which arrests would dismantle the network? Remove K nodes by each strategy, one at a
    time, and write strategies.csv (strategy, step, removed_node, lcc_fraction, components,
    flow_cut_fraction, fragmentation: one row per removal, step 0 = the intact network) and
    strategies.png / strategies.svg (largest component's share vs nodes removed, one line per
    strategy; a ring: after re-linking). flow_cut_fraction = the share of the ties' total weight
    that touches a removed node; fragmentation = Borgatti's F of the rest (share of node pairs
    cut off from each other). Then the network repairs itself (Duijn, Kashirin & Sloot 2014):
    the removals are replayed and after each one the removed node's remaining neighbours
    re-link (pairwise: each pair with probability --relink; takeover: its best-connected
    neighbour takes over each of its ties with that probability), seeded, averaged over 20
    runs; recovery.csv (strategy, model, relink_probability, lcc_fraction_removed,
    lcc_fraction_recovered, components_recovered, fragmentation_removed,
    fragmentation_recovered, new_ties, runs) compares before and after.

    Without EDGES: the workspace's network (--layers, --since/--until), with the strategies
    that need its inferred roles and money: final_exploiters (whom prosecutions usually stop
    at), money_handlers, money_flow, beneficiary_cut; flow_cut_fraction is then the share of the
    money cut, and money_cut.csv (strategy, step, removed_node, money_to_beneficiaries,
    cut_fraction) the money that can still reach the beneficiaries (organisers and asset
    owners: maximum flow through the payments).

    Example: palermo network disrupt payments.csv --source payer --target payee --weight amount --k 5 --strategies all --relink 0.5 --out dis

    Example: palermo network disrupt -w case-17 --k 5 --strategies final_exploiters,key_player,money_handlers --out dis
    """
    if edges is None:
        from palermo.network.workspace import disrupt_workspace
        from palermo.store.graph import parse_layers

        with Workspace.open(workspace) as ws:
            summary = disrupt_workspace(
                ws.store, out=out_dir, k=k, strategies=strategies, relink=relink,
                layers=parse_layers(layers), since=_when(since, "--since"),
                until=_when(until, "--until"), focus=focus,
            )  # fmt: skip
    else:
        from palermo.network.disrupt import disrupt

        summary = disrupt(
            edges, source=source, target=target, weight=weight, k=k, strategies=strategies,
            out=out_dir, relink=relink,
        )  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    after = ", ".join(f"{s} {v:.0%}" for s, v in summary["lcc_fraction_after_k"].items())
    files = (
        "strategies.csv, recovery.csv," if summary["lcc_fraction_recovered"] else "strategies.csv,"
    )
    out.print(
        f"{summary['nodes']:,} nodes: largest component after {summary['k']} removals: {after};"
        f" best: {summary['best']} -> {out_dir}/{files} strategies.png, strategies.svg",
        markup=False,
    )
    if summary["lcc_fraction_recovered"]:
        model = summary["recovery_models"][0]
        healed = ", ".join(
            f"{s} {v[model]:.0%}" for s, v in summary["lcc_fraction_recovered"].items()
        )
        out.print(f"after re-linking ({model}, p={summary['relink']:g}): {healed}", markup=False)


@network_app.command("timeline")
def network_timeline(
    edges: Annotated[
        Path | None,
        typer.Argument(
            help="Edge list (CSV), one row per tie, with a time; without it: the workspace's network."
        ),
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="Column with the tie's time: an ISO date or timestamp.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Column of one end (default: 'source', else the first column)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Column of the other end (default: 'target', else the second)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the four CSV files.")
    ] = Path("timeline"),
    weight: Annotated[
        str | None, typer.Option(help="Column with a number >= 0 (e.g. calls, amount).")
    ] = None,
    period: Annotated[str, typer.Option(help="month, quarter or year (cut in UTC).")] = "month",
    resolution: Annotated[
        float, typer.Option(help="Leiden resolution: higher gives more, smaller communities.")
    ] = 1.0,
    layers: LayersOpt = "all",
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """The network period by period: cells forming, continuing, merging, splitting and
    dissolving, and who persists. Each period's ties make one graph, split into communities by
    Leiden (modularity, seed 42); communities of consecutive periods are matched by their
    members (Jaccard >= 0.3): fed by none = formed, by two or more = merged, feeding two or
    more = split, feeding none = dissolved. Each carries a cell id ("T1", ...) that follows its
    lineage. Writes periods.csv (period, nodes, ties, communities, modularity), cells.csv
    (period, cell, community, size, members, continues, event, fate), events.csv (period,
    event, from_cells, to_cells, jaccard) and persistence.csv (node, periods_active,
    first_period, last_period, cells), most persistent first. Periods without ties are skipped.

    Without EDGES: the workspace's network (resolved entities; --layers, --since/--until), from
    the ties that have a time (calls, payments, trips, notes, ads, employment starts).

    Example: palermo network timeline calls.csv --source caller --target callee --time start_time --period month --out tl

    Example: palermo network timeline -w case-17 --period quarter --layers calls,payments --out tl
    """
    if edges is None:
        from palermo.network.workspace import timeline_workspace
        from palermo.store.graph import parse_layers

        with Workspace.open(workspace) as ws:
            summary = timeline_workspace(
                ws.store, out=out_dir, period=period, layers=parse_layers(layers),
                since=_when(since, "--since"), until=_when(until, "--until"),
                resolution=resolution,
            )  # fmt: skip
    else:
        if time is None:
            raise PalermoError("an edge list's timeline needs --time (the column of tie times)")
        from palermo.network.timeline import timeline

        summary = timeline(
            edges, source=source, target=target, time=time, weight=weight, period=period,
            out=out_dir, resolution=resolution,
        )  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    ev = summary["events"]
    out.print(
        f"{summary['periods']} {period}(s) {summary['first_period']} to {summary['last_period']},"
        f" {summary['nodes']:,} nodes, {summary['cells']} cell(s): {ev['formed']} formed,"
        f" {ev['merged']} merged, {ev['split']} split, {ev['dissolved']} dissolved;"
        f" {summary['active_in_every_period']} node(s) active in every period"
        f" -> {out_dir}/periods.csv, cells.csv, events.csv, persistence.csv",
        markup=False,
    )
    for note in summary["notes"]:
        out.print(f"note: {note}", markup=False)


@finance_app.command("scan")
def finance_scan(
    transactions: Annotated[
        Path, typer.Argument(help="Transactions (CSV, comma-separated), one row per transfer.")
    ],
    out_dir: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for alerts.csv, accounts.csv, summary.json."),
    ],
    columns: Annotated[
        str | None,
        typer.Option(
            help="Other column names: field=COLUMN,... (fields: transaction_id, timestamp,"
            " from_account, to_account, amount, currency, from_bank, to_bank, payment_type)."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="ISO 4217 code for every amount, when the file has no currency column."),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(
            help="Detector parameters: name=value,... (e.g. fan_in_min=12,window_days=3; the"
            " names and defaults are in summary.json's parameters)."
        ),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "utf-8",
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Exit 0 even if rows were set aside.")
    ] = False,
    rules_only: Annotated[
        bool,
        typer.Option(
            "--rules-only",
            help="Score by the detectors alone (no model loaded): score = the rule score.",
        ),
    ] = False,
    model_dir: ModelOpt = None,
    memory: Annotated[
        str | None,
        typer.Option(
            help="DuckDB memory limit (default 1.4GB; the rest spills to disk; more is faster)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Scan a transaction file, without a workspace: the detectors fan_in and fan_out (many
    distinct payers / payees within 7 days), structuring (3+ payments in 7 days just below a
    reporting threshold), round_amounts (mostly round outgoing amounts), rapid_pass_through
    (about the same amount in and out again within 2 days) and pooled_wages (many payers paying
    one account similar wage-like amounts in a month) and cycle (money back at its start over
    2 to 4 accounts within 7 days). Columns transaction_id, timestamp,
    from_account, to_account, amount, currency are recognised as they are (the payments
    mapping); others by --columns. Without a transaction_id column the row number is the id.
    A row that fails a check (empty account, bad time or amount, unknown currency, repeated id)
    is set aside in rejected.csv (row, field, reason, record) and the others are scanned; the
    exit code is then 3 unless --allow-partial. Writes alerts.csv (transaction_id, score,
    patterns: every flagged transaction), accounts.csv (account, score, patterns: every
    account) and summary.json. Rule score: account = 1 - prod(1 - pattern score).

    By default the risk model shipped with palermo (LightGBM on the pattern and graph features,
    trained on simulated cases: palermo finance train) then scores every account and
    transaction: score = its probability of laundering, rule_score = the rules-only score,
    because = the three features that raised it most (SHAP, log-odds); alerts.csv lists the
    transactions at or above the model's threshold, with the patterns that prove each. --rules-only: the
    detectors alone (score = rule score), for those who cannot use a model in court.

    Example: palermo finance scan tx.csv --out scan

    Example: palermo finance scan tx.csv --out scan --rules-only

    Example: palermo finance scan HI-Small_Trans.csv --columns "timestamp=Timestamp,from_account=Account,to_account=Account.1,amount=Amount Paid,currency=Payment Currency" --out scan
    """
    from palermo.finance import ScanParams, scan
    from palermo.ingest.mapping import parse_columns_option

    summary = scan(
        transactions,
        out=out_dir,
        columns=parse_columns_option(columns),
        params=ScanParams.parse(parse_columns_option(params, "--params")),
        default_currency=currency,
        encoding=encoding,
        rules_only=rules_only,
        model_dir=model_dir,
        memory_limit=memory,
    )
    if json_out:
        _print_json(summary)
        if summary["rows_rejected"] and not allow_partial:
            raise PartialIngest(f"{summary['rows_rejected']} row(s) set aside (rejected.csv)")
        return
    fired = ", ".join(
        f"{name} {v['accounts']}"
        for name, v in summary["alerts_per_pattern"].items()
        if v["accounts"]
    )
    out.print(
        f"{summary['rows']:,} transactions, {summary['accounts']:,} accounts:"
        f" {summary['alerts']:,} flagged transaction(s), {summary['accounts_flagged']:,} flagged"
        f" account(s) ({fired or 'no pattern fired'})"
        f" -> {out_dir}/alerts.csv, accounts.csv, summary.json",
        markup=False,
    )
    if summary.get("model"):
        m = summary["model"]
        out.print(
            f"model {m['version']}: {m['alerts_by_model']:,} transaction(s) at or above"
            f" {m['threshold']}, {m['accounts_above_threshold']:,} account(s) at or above"
            f" {m['account_threshold']} ({m['proven_below_threshold']:,} more proven by the"
            " detectors below the threshold: --rules-only lists the detectors' alone)",
            markup=False,
        )
    for note in summary["notes"]:
        out.print(f"note: {note}", markup=False)
    if summary["rows_rejected"] and not allow_partial:
        raise PartialIngest(
            f"{summary['rows_rejected']} row(s) set aside in {out_dir}/rejected.csv"
            " (--allow-partial to exit 0)"
        )


@finance_app.command("train")
def finance_train(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for the model files (default: the package's own)."
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Training seeds, comma-separated.")] = "1,2,3",
    scales: Annotated[str, typer.Option(help="Training scales, comma-separated.")] = "tiny,small",
    scenarios: Annotated[
        str, typer.Option(help="Scenarios, comma-separated.")
    ] = "labour-agri,sexual-exploit,mixed-transnational",
    holdout: Annotated[
        str,
        typer.Option(
            help="Held-out evaluation cases SCALE:SEED,... (every scenario; '' for none)."
        ),
    ] = "tiny:7,small:11",
    json_out: JsonOpt = False,
) -> None:
    """Train the risk model of finance scan on simulated cases: simulate each scenario, scale
    and seed (in a temporary folder), run the detectors and mine the features as the scan does,
    label accounts and transactions with the truth, choose the thresholds on out-of-fold scores
    (each seed held out in turn), fit both LightGBM models (deterministic: the same arguments
    give the same files) and evaluate them on the held-out seeds against rules-only. Writes
    scorer_accounts.txt, scorer_transactions.txt and scorer.json (version, features,
    thresholds, training cases and sizes, held-out figures).

    Example: palermo finance train --out my-model

    Example: palermo finance train --seeds 1,2 --scales tiny --holdout tiny:7 --out quick-model
    """
    from palermo.finance import model as fm
    from palermo.finance.train import parse_holdout, parse_seeds, train

    target = out_dir or fm.SHIPPED
    meta = train(
        target, scenarios=[s.strip() for s in scenarios.split(",") if s.strip()],
        scales=[s.strip() for s in scales.split(",") if s.strip()], seeds=parse_seeds(seeds),
        holdout=parse_holdout(holdout),
        say=(lambda _m: None) if json_out else (lambda m: err.print(m, markup=False)),
    )  # fmt: skip
    if json_out:
        _print_json(meta)
        return
    t = meta["training"]
    out.print(
        f"model {meta['version']}: {t['accounts']:,} accounts ({t['laundering_accounts']:,}"
        f" laundering), {t['transactions']:,} transactions ({t['laundering_transactions']:,}"
        f" laundering) from {len(t['scenarios'])} scenario(s) x {len(t['scales'])} scale(s) x"
        f" {len(t['seeds'])} seed(s); thresholds: transactions {meta['threshold']['transactions']},"
        f" accounts {meta['threshold']['accounts']}; {meta['seconds']} s -> {target}",
        markup=False,
    )
    for row in meta.get("held_out", []):
        tx, acc = row["transactions"], row["accounts"]
        out.print(
            f"  held out {row['scenario']} {row['scale']} seed {row['seed']}: transactions F1"
            f" {tx['model']['f1']} (rules-only {tx['rules']['f1']}), accounts F1"
            f" {acc['model']['f1']} (rules-only {acc['rules']['f1']})",
            markup=False,
        )


@finance_app.command("evaluate")
def finance_evaluate(
    case_dir: Annotated[
        Path | None,
        typer.Argument(help="A simulated case (with truth/); or simulate one with --scenario."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Simulate this scenario instead of reading CASE_DIR.")
    ] = None,
    scale: Annotated[str, typer.Option(help="Scale of the simulated case.")] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed of the simulated case.")] = 7,
    rules_only: Annotated[
        bool, typer.Option("--rules-only", help="Evaluate the detectors alone.")
    ] = False,
    model_dir: ModelOpt = None,
    work: Annotated[
        Path | None,
        typer.Option(help="Keep tx.csv and both scans' folders (model/, rules/) here."),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="A workspace built from CASE_DIR (ingest, resolve, network analyze): also score"
            " finance proceeds (proceeds and victims' losses) against the truth.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Score finance scan against a simulated case's ground truth: precision, recall, F1 and
    PR-AUC of laundering transactions and accounts, for the model (at its shipped threshold) and
    for rules-only side by side.
    Laundering transaction = one truth/transactions.csv lists; laundering account = held or
    controlled by an offender, or held by a front or holding company (cash pseudo-accounts left
    out).

    With -w (a workspace built from CASE_DIR): also the proceeds error, finance proceeds'
    figures against the truth's (suspects' proceeds received, victims' losses; also against
    what the bank files can show).

    Example: palermo finance evaluate case-sim

    Example: palermo finance evaluate case-sim -w case-17

    Example: palermo finance evaluate --scenario sexual-exploit --scale small --seed 11 --json
    """
    from palermo.finance.evaluate import evaluate, evaluate_simulated

    if (case_dir is None) == (scenario is None):
        raise PalermoError("give a simulated case folder or --scenario (one of them)")
    if case_dir is not None:
        result = evaluate(case_dir, model_dir=model_dir, rules_only=rules_only, work=work)
    else:
        assert scenario is not None
        result = evaluate_simulated(
            scenario, scale, seed, model_dir=model_dir, rules_only=rules_only
        )
    if workspace is not None:
        if case_dir is None:
            raise PalermoError("-w needs the simulated case folder it was built from (CASE_DIR)")
        from palermo.finance.proceeds import evaluate_proceeds, proceeds
        from palermo.finance.trace import parse_rates

        rates = case_dir / "fx_rates.csv"
        with Workspace.open(workspace) as ws:
            money = proceeds(
                ws.store, rates=parse_rates(rates) if rates.is_file() else None, out=None,
                store_findings=False,
            )  # fmt: skip
            result["proceeds"] = evaluate_proceeds(ws.store, money, case_dir / "truth")
        result["sections"] = [*result["sections"], "proceeds"]
    if json_out:
        _print_json(result)
        return
    what = f"{result['scenario']} scale {result['scale']} seed {result['seed']}"
    model = result.get("model")
    out.print(
        f"{what}: {result['transactions_read']:,} transactions"
        + (f"; model {model['version']}" if model else "; rules-only"),
        markup=False,
    )
    for section in result["sections"]:
        data = result[section]
        if section == "proceeds":
            for what, ev in data.items():
                out.print(
                    f"proceeds, {what.replace('_', ' ')}: {ev['matched']} true persons, ours"
                    f" {ev['ours_eur']:,.2f} EUR vs {ev['truth_eur']:,.2f} (total error"
                    f" {_pct(ev['total_error'])}), truth within our range for"
                    f" {_pct(ev['truth_within_range'])[1:]}",
                    markup=False,
                )
            continue
        rows = [k for k in ("model", "alerts", "rules") if isinstance(data.get(k), dict)]
        if not rows:
            out.print(f"{section}: {json.dumps(data, ensure_ascii=False)}", markup=False)
            continue
        n = data.get("laundering")
        out.print(
            f"{section} ({n:,} laundering):" if n is not None else f"{section}:", markup=False
        )
        out.print(f"  {'':<8} {'precision':>9} {'recall':>7} {'F1':>7} {'PR-AUC':>7} {'flagged':>8}",
                  markup=False)  # fmt: skip
        for k in rows:
            r = data[k]
            auc = f"{r['pr_auc']:>7.4f}" if "pr_auc" in r else f"{'':>7}"
            out.print(
                f"  {k:<8} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} {auc}"
                f" {r['predicted']:>8,}",
                markup=False,
            )


@finance_app.command("trace")
def finance_trace(
    source: Annotated[
        str,
        typer.Option(
            "--from", help="Entity id, account number (IBAN) or name whose money to follow."
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Stop at this entity: how much of --from's money reached it."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="START..END (ISO dates, UTC; END excluded; either side may be empty) or Nd"
            " (N days from the first traced payment)."
        ),
    ] = None,
    direction: Annotated[
        str, typer.Option(help="forward (where the money went) or backward (where it came from).")
    ] = "forward",
    rule: Annotated[
        str,
        typer.Option(
            help="Attribution of a payment out of a mixed account: proportional, fifo, lifo,"
            " libr (traced money leaves last: the least) or traced_first (the most)."
        ),
    ] = "proportional",
    rates: Annotated[
        Path | None,
        typer.Option(
            help="Exchange rates CSV: currency,units_per_eur[,valid_from] (needed when payments"
            " are in several currencies; a simulated case has fx_rates.csv)."
        ),
    ] = None,
    min_amount: Annotated[
        float, typer.Option(help="EUR: a traced part below this is not followed (dispersed).")
    ] = 1.0,
    top_paths: Annotated[int, typer.Option(help="Routes kept per payment in paths.csv.")] = 5,
    max_hops: Annotated[
        int, typer.Option(help="Backward: at most this many payments back (0: any number).")
    ] = 6,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the trail.")] = Path(
        "trace"
    ),
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Follow funds through the workspace's accounts, in time order (money cannot leave before it
    arrives), attributing each payment out of a mixed account by --rule. Forward: every payment
    out of --from's accounts is traced until it is withdrawn as cash, pays for an asset (real
    estate registered to the payer within 60 days for a price within 5%, or company shares),
    reaches --to, returns to --from, falls below --min-amount, or stays in an account (held;
    beyond_data or remittance when that account's own statements are not in the workspace).
    Backward: where the money that reached --from came from (cash deposits, accounts outside,
    prior funds). Every traced EUR ends in one terminal (checked). Amounts in EUR (--rates).

    Writes paths.csv (one row per terminal and route: accounts, holders, transactions, evidence
    rows, amount), terminals.csv, by_country.csv (amount per terminal kind and country),
    trail_edges.csv and trail.graphml (the trail as a graph) and summary.json.

    Example: palermo finance trace -w case-17 --from "Codruta Cristea" --rates case-sim/fx_rates.csv --out trail

    Example: palermo finance trace -w case-17 --from RO57YRHJ4429752617604505 --direction backward --rule fifo --window 2024-01-01..2025-01-01
    """
    from palermo.finance.trace import TraceParams, parse_rates, trace

    if min_amount < 0 or top_paths < 1 or max_hops < 0:
        raise PalermoError("--min-amount and --max-hops must be >= 0, --top-paths >= 1")
    with Workspace.open(workspace) as ws:
        summary = trace(
            ws.store, source, to=to, window=window,
            params=TraceParams(rule=rule, direction=direction, min_amount=min_amount,
                               top_paths=top_paths, max_hops=max_hops),
            rates=parse_rates(rates) if rates else None, out=out_dir,
        )  # fmt: skip
    summary.pop("terminals", None)
    if json_out:
        _print_json(summary)
        return
    ends = ", ".join(f"{k} {v:,.2f}" for k, v in summary["terminals_eur"].items()) or "nothing"
    out.print(
        f"{summary['direction']} from {summary['from']} ({summary['rule']}):"
        f" {summary['traced_eur']:,.2f} {summary['unit']} traced over {summary['traced_payments']:,}"
        f" payment(s); ends: {ends} -> {out_dir}/paths.csv, trail_edges.csv, by_country.csv",
        markup=False,
    )
    for note in summary["notes"]:
        out.print(f"note: {note}", markup=False)


@finance_app.command("proceeds")
def finance_proceeds(
    suspects: Annotated[
        str | None,
        typer.Option(
            help="Suspects (entity ids or names, comma-separated); default: the offender"
            " roles of `palermo network analyze`."
        ),
    ] = None,
    victims: Annotated[
        str | None,
        typer.Option(
            help="Possible victims (ids or names, comma-separated); default: the"
            " network analysis's victim roles."
        ),
    ] = None,
    rates: Annotated[
        Path | None,
        typer.Option(help="Exchange rates CSV: currency,units_per_eur[,valid_from]."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="The truth/ folder of a simulated case: score the figures against it."),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tables.")] = Path(
        "proceeds"
    ),
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Criminal proceeds per suspect, with a range, and earnings taken from each possible victim.

    Traces forward (every attribution rule of `finance trace`) the money that leaves possible
    victims' accounts and the wages employers pay into suspects' accounts naming a victim.
    proceeds.csv: per suspect received_eur (proportional rule), received_low_eur (the least over
    the rules, and which), received_high_eur (the most, plus cash deposits and salaries naming no
    known victim), passed_on, held (to freeze), cash withdrawn, assets paid with traced money (to
    confiscate). victims.csv: per victim taken_eur (their money that entered a suspect's
    account), its range, and wages paid to controllers for them. trail/: the proportional trace
    (paths.csv, trail_edges.csv, trail.graphml). Findings finance.proceeds are stored.

    Example: palermo finance proceeds -w case-17 --rates case-sim/fx_rates.csv --out proceeds

    Example: palermo finance proceeds -w case-17 --suspects "Sandu Georgescu,Codruta Cristea" --victims "Octav Mocanu"
    """
    from palermo.finance.proceeds import evaluate_proceeds, proceeds
    from palermo.finance.trace import parse_rates

    def names(text: str | None) -> list[str] | None:
        return [t.strip() for t in text.split(",") if t.strip()] if text else None

    with Workspace.open(workspace) as ws:
        result = proceeds(
            ws.store, suspects=names(suspects), victims=names(victims),
            rates=parse_rates(rates) if rates else None, out=out_dir,
        )  # fmt: skip
        if truth is not None:
            result["evaluation"] = evaluate_proceeds(ws.store, result, truth)
    if json_out:
        _print_json(result)
        return
    out.print(
        f"{result['suspects']} suspect(s): proceeds {result['proceeds_eur']:,.2f} EUR received,"
        f" {result['to_freeze_eur']:,.2f} EUR held (to freeze), {result['assets_eur']:,.2f} EUR"
        f" in assets; {result['victims']} possible victim(s): {result['victims_taken_eur']:,.2f}"
        f" EUR taken -> {out_dir}/proceeds.csv, victims.csv, trail/",
        markup=False,
    )
    for r in result["proceeds"][:5]:
        out.print(
            f"  {r['label']} ({r['role']}): {r['received_eur']:,.2f} EUR"
            f" [{r['received_low_eur']:,.2f} - {r['received_high_eur']:,.2f}]",
            markup=False,
        )
    if "evaluation" in result:
        for what, ev in result["evaluation"].items():
            out.print(
                f"vs truth, {what}: {ev['matched']} matched, ours {ev['ours_eur']:,.2f} EUR vs"
                f" {ev['truth_eur']:,.2f} (total error {ev['total_error']}), truth within range"
                f" for {ev['truth_within_range']}",
                markup=False,
            )
    for note in result["notes"]:
        out.print(f"note: {note}", markup=False)


@finance_app.command("score")
def finance_score(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tables.")] = Path(
        "risk"
    ),
    rules_only: Annotated[
        bool, typer.Option("--rules-only", help="The detectors alone (no model loaded).")
    ] = False,
    model_dir: ModelOpt = None,
    params: Annotated[
        str | None,
        typer.Option(
            help="Detector parameters: name=value,... (as for finance scan), and the sector"
            " comparison's as sector_min_peers, sector_z, sector_min_cash, sector_share_floor,"
            " sector_log_floor."
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Laundering risk of every account and entity of the workspace: `finance scan` on the
    workspace's payments (each counted once; holders' names and the banks' countries included),
    then each entity scored by its highest-scoring account. Writes entities.csv (entity, label,
    score, account, patterns, because, accounts) and scan/ (alerts.csv, accounts.csv,
    summary.json); findings finance.risk are stored with the transactions that prove them.
    Company accounts whose registry sector is known are compared with their sector's other
    accounts (cash share and cash per month, robust z): cash_vs_sector.csv, pattern
    cash_vs_sector, findings finance.cash_vs_sector with the cash deposits.

    Example: palermo finance score -w case-17 --out risk
    """
    from palermo.finance import ScanParams
    from palermo.finance.sector import SectorParams
    from palermo.finance.workspace import score_workspace
    from palermo.ingest.mapping import parse_columns_option

    given = parse_columns_option(params, "--params")
    sector = {k.removeprefix("sector_"): v for k, v in given.items() if k.startswith("sector_")}
    scan_given = {k: v for k, v in given.items() if not k.startswith("sector_")}
    with Workspace.open(workspace) as ws:
        result = score_workspace(
            ws.store, out=out_dir, rules_only=rules_only, model_dir=model_dir,
            params=ScanParams.parse(scan_given), sector_params=SectorParams.parse(sector),
        )  # fmt: skip
    if json_out:
        _print_json(result)
        return
    out.print(
        f"{result['payments']:,} payments, {result['accounts']:,} accounts,"
        f" {result['entities']:,} entities ({result['mode']}): {result['entities_flagged']:,}"
        f" flagged -> {out_dir}/entities.csv, scan/",
        markup=False,
    )
    cs = result["cash_vs_sector"]
    out.print(
        f"cash vs sector: {cs['judged']} of {cs['company_accounts']} company accounts judged,"
        f" {len(cs['fired'])} out of line"
        + "".join(f"\n  {f['label']} ({f['sector']}): {f['score']:.2f}" for f in cs["fired"])
        + (
            f"\n  not judged (too few peers): {', '.join(cs['not_judged_sectors'])}"
            if cs["not_judged_sectors"]
            else ""
        )
        + f" -> {out_dir}/cash_vs_sector.csv",
        markup=False,
    )
    for r in result["top"][:5]:
        out.print(f"  {r['label']}: {r['score']:.3f} {r['patterns'] or ''}", markup=False)
    for note in result["notes"]:
        out.print(f"note: {note}", markup=False)


@estimate_app.command("mse")
def estimate_mse(
    counts: Annotated[
        Path | None,
        typer.Argument(
            help="Overlap table: one 0/1 column per list and count (cases per history)."
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="aic | bic (forward stepwise), pvalue (SparseMSE's rule), main, or lcm (a"
            " Bayesian latent-class model for heterogeneous catchability, LCMCR-like)."
        ),
    ] = "aic",
    samples: Annotated[int, typer.Option(help="lcm: posterior draws kept.")] = 4000,
    burnin: Annotated[int, typer.Option(help="lcm: sweeps discarded first.")] = 1000,
    classes: Annotated[int, typer.Option(help="lcm: most latent classes.")] = 10,
    threshold: Annotated[
        int, typer.Option(help="Cases two lists must share for their interaction to be tried.")
    ] = 1,
    pthresh: Annotated[float, typer.Option(help="p-value threshold for --method pvalue.")] = 0.02,
    bootstrap: Annotated[
        int, typer.Option(help="Parametric bootstrap replicates (0: profile likelihood only).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for estimate.json, models.csv, models.svg."),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Instead of COUNTS: the workspace's possible victims (victims leads, after"
            " resolution) over the lists they appear on.",
        ),
    ] = None,
    lists: Annotated[
        str, typer.Option(help="With -w: what a list is: compartment (agency) or file.")
    ] = "compartment",
    include: Annotated[
        str | None,
        typer.Option(
            help="With -w: only these lists (comma-separated), e.g. the agencies that"
            " identify victims."
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="With -w: one estimate per sex, age_group, citizenship, exploitation (labour when"
            " an employer or taken wages are in the evidence, else unknown) or region (the"
            " employer's country)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Estimate the hidden population from overlapping lists (Poisson log-linear models of the
    capture histories; the unseen cell is exp(intercept)): main effects plus the two-list
    interactions chosen by forward stepwise AIC, BIC or p-value, each candidate checked for an
    existing, identifiable maximum likelihood estimate (dropped, and said so, where not), with a
    profile-likelihood 95% interval (and a parametric bootstrap on request), every model tried,
    and warnings on sparse or non-overlapping lists.

    Example: palermo estimate mse uk2013_six_lists.csv --method aic --out mse

    Example: palermo estimate mse -w case-17 --include police,victim-support,labour-inspectorate
    """
    from palermo.estimate.mse import estimate, read_counts, workspace_table, write_outputs

    if bootstrap < 0 or threshold < 0 or not 0 < pthresh < 1:
        raise PalermoError("--bootstrap and --threshold must be >= 0, --pthresh between 0 and 1")
    if (counts is None) == (workspace is None):
        raise PalermoError("give an overlap table COUNTS or --workspace (one of them)")
    options: dict[str, Any] = {"method": method, "threshold": threshold, "pthresh": pthresh,
                               "bootstrap": bootstrap, "seed": seed}  # fmt: skip
    run: Any = estimate
    if method == "lcm":
        from palermo.estimate.lcm import lcm_estimate

        def run(t: Any, **_: Any) -> dict[str, Any]:
            return lcm_estimate(t, classes=classes, samples=samples, burnin=burnin, seed=seed)

    if workspace is not None:
        wanted = [x.strip() for x in include.split(",") if x.strip()] if include else None
        with Workspace.open(workspace) as ws:
            tables = workspace_table(ws.store, lists, wanted, by)
        results: dict[str, Any] = {}
        for name, t in tables.items():
            try:
                results[name] = run(t, **options)
            except PalermoError as exc:
                results[name] = {"error": str(exc), "observed": t.observed}
            if out_dir is not None and "error" not in results[name]:
                write_outputs(results[name], out_dir / name if by else out_dir)
        if json_out:
            _print_json(results if by else next(iter(results.values())))
            return
        for name, r in results.items():
            if "error" in r:
                out.print(f"{name}: {r['observed']} seen; no estimate: {r['error']}", markup=False)
            else:
                _print_mse(r, f"{name}: " if by else "")
        return
    assert counts is not None
    result = run(read_counts(counts), **options)
    if out_dir is not None:
        write_outputs(result, out_dir)
    if json_out:
        _print_json(result)
        return
    _print_mse(result, "")


def _print_mse(result: dict[str, Any], prefix: str) -> None:
    iv = result["interval"]
    out.print(
        f"{prefix}{result['observed']:,} seen on {len(result['lists'])} lists"
        f" ({', '.join(result['lists'])}); hidden"
        f" {result['hidden']:,.0f}, total {result['total']:,.0f}"
        + (f" ({iv['method']}: {iv['total'][0]:,.0f} to {iv['total'][1]:,.0f})"
           if iv else "")
        + (f"; bootstrap {result['bootstrap']['total'][0]:,.0f} to"
           f" {result['bootstrap']['total'][1]:,.0f}" if "bootstrap" in result else ""),
        markup=False,
    )  # fmt: skip
    m = result["model"]
    fit = f"; AIC {m['aic']}, BIC {m['bic']}" if "aic" in m else ""
    out.print(f"model: {' + '.join(m['terms'])} ({m['why']}{fit})", markup=False)
    dropped = [m for m in result["models_tried"] if m["dropped"]]
    if dropped:
        out.print(f"{len(dropped)} candidate models dropped (no MLE, not identifiable or too"
                  " little overlap): see models.csv", markup=False)  # fmt: skip
    for wmsg in result["warnings"]:
        out.print(f"warning: {wmsg}", markup=False)


@victims_app.command("indicators")
def victims_indicators(
    form: Annotated[
        str | None, typer.Option(help="Only this form's list: labour or child-labour.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The catalogue of the ILO/EC operational indicators of trafficking (Delphi 2009): code,
    form of exploitation, dimension, strength (strong, medium, weak), label, source. The adult
    and child sexual-exploitation lists are not shipped (their tables were not checked).

    Example: palermo victims indicators --form labour --json
    """
    from palermo.victims import indicators

    rows = indicators(form)
    if json_out:
        _print_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['code']:<40} {r['form']:<13} {r['dimension']} {r['strength']:<7} {r['label']}",
            markup=False,
        )


@victims_app.command("screen")
def victims_screen(
    interview: Annotated[
        Path | None,
        typer.Argument(help='Interview record (JSON): {"form": "labour", "indicators": [codes]}.'),
    ] = None,
    person: Annotated[
        str | None,
        typer.Option(
            help="Instead of a record: a workspace person (name or id), screened on what the"
            " notes naming them say (phrases -> indicators, adult labour list)."
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Screen an interview record with the ILO/EC combination rule: per dimension, positive when
    S >= 2, S >= 1 and M + W >= 1, M >= 3, or M >= 2 and W >= 1; overall `victim` when
    (dr or cr or vr) and ex and (cd or vd) (a child: (dr or cr or vr) and ex), `possible` when a
    dimension is positive or a strong indicator present, else `not-indicated`; with the
    indicators and the clause that decided each. Indicators present, never a legal finding.
    With --person, the indicators come from the workspace's notes naming that person (each with
    its file:row and the words that matched); the read is audited.

    Example: palermo victims screen interview.json --json

    Example: palermo victims screen --person "Consuela Manole" -w case-17
    """
    from palermo.victims import read_interview, screen

    if (interview is None) == (person is None):
        raise PalermoError("give an interview record or --person (one of them)")
    if person is not None:
        from palermo.victims.leads import screen_person

        with Workspace.open(workspace) as ws:
            result = screen_person(ws.store, person)
    else:
        assert interview is not None
        form, codes = read_interview(interview)
        result = screen(form, codes)
    if json_out:
        _print_json(result)
        return
    out.print(f"{result['form']}: {result['decision']} ({result['why']})", markup=False)
    for dim, d in result["dimensions"].items():
        codes_here = [i["code"] for k in ("strong", "medium", "weak") for i in d[k]]
        if codes_here:
            state = f"positive ({d['clause']})" if d["positive"] else "not positive"
            out.print(f"  {dim} {d['name']}: {state}: {', '.join(codes_here)}", markup=False)
    for m in result["missing"]:
        out.print(f"  missing: {m}", markup=False)
    ilo = result["ilo_forced_labour"]["present"]
    if ilo:
        out.print(
            "  ILO forced-labour indicators shown: "
            + "; ".join(f"({i['number']}) {i['name']}" for i in ilo),
            markup=False,
        )
    for code, rows in result.get("evidence", {}).items():
        refs = ", ".join(f"{r['evidence']} ({r['words']!r})" for r in rows[:3])
        out.print(f"  {code}: {refs}", markup=False)
    out.print(f"note: {result['caveat']}", markup=False)


@victims_app.command("wages")
def victims_wages(
    claims: Annotated[
        Path,
        typer.Argument(
            help="Claim(s), JSON: {victim, country, periods: [{start, end, hours_per_week,"
            " paid}], deductions: [{kind, amount, lawful_amount}], offenders, hourly_rate,"
            " currency}, or a list of them."
        ),
    ],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Also show, beside each claim, what `finance proceeds` traced from the victim into"
            " the suspects' accounts (the claim's offenders, else the network's roles), and each"
            " offender's traced proceeds.",
        ),
    ] = None,
    rates: Annotated[
        Path | None, typer.Option(help="Exchange rates CSV for the tracing (as finance trace).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Unpaid wages and unlawful deductions owed: per period, hours (hours_per_week x days / 7)
    at the statutory minimum hourly rate of the country (the shipped table, each rate with its
    source, split where a new rate took effect; or the claim's hourly_rate), minus what was
    paid, never below 0; plus deductions beyond what the law allowed. Per victim and per
    offender (each liable for the whole of each claim naming them). Amounts in the country's
    currency.

    Example: palermo victims wages claims.json --json

    Example: palermo victims wages claims.json -w case-17 --rates case-sim/fx_rates.csv
    """
    from palermo.victims.wages import link_to_proceeds, read_claims, wages_claims

    result = wages_claims(read_claims(claims))
    if workspace is not None:
        from palermo.finance.trace import parse_rates

        with Workspace.open(workspace) as ws:
            result = link_to_proceeds(ws.store, result, parse_rates(rates) if rates else None)
    if json_out:
        _print_json(result)
        return
    for v in result["victims"]:
        out.print(
            f"{v['victim'] or '(unnamed)'} ({v['country']}): owed {v['owed']:,.2f} {v['currency']}"
            f" = unpaid wages {v['unpaid_wages']:,.2f} + unlawful deductions"
            f" {v['unlawful_deductions']:,.2f}",
            markup=False,
        )
        for p in v["periods"]:
            rates = ", ".join(f"{s['hourly']} from {s['from']}" for s in p["segments"])
            out.print(
                f"  {p['start']}..{p['end']}: {p['hours']:,.1f} h at {rates}: due"
                f" {p['due']:,.2f}, paid {p['paid']:,.2f}, owed {p['owed']:,.2f}",
                markup=False,
            )
        t = v.get("traced_from_victim")
        if t:
            out.print(
                f"  traced from them into the suspects' accounts: {t['taken_eur']:,.2f}"
                f" ({t['taken_low_eur']:,.2f} to {t['taken_high_eur']:,.2f}) EUR",
                markup=False,
            )
    for o in result["offenders"]:
        t = o.get("traced_proceeds")
        out.print(
            f"offender {o['offender']}: {o['owed']:,.2f} {o['currency']} ({o['claims']} claims)"
            + (f"; traced proceeds {t['received_eur']:,.2f} EUR, held {t['held_eur']:,.2f}"
               if t else ""),
            markup=False,
        )  # fmt: skip
    for note in result.get("proceeds_notes") or []:
        out.print(f"note: {note}", markup=False)
    out.print(f"note: {result['victims'][0]['rate_basis']}", markup=False)


@victims_app.command("leads")
def victims_leads(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tables.")] = Path(
        "leads"
    ),
    params: Annotated[
        str | None,
        typer.Option(
            help="name=value,...: min_score (3), address_min (4), pass_share (0.7),"
            " pass_days (3), pass_times (2)."
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Possible victims found in the data, for outreach: notes whose words show ILO/EC
    indicators (screened by the combination rule), salaries paid into someone else's account
    naming the person, salaries mostly passed on to one other person within days, many
    employees registered at one address. Points per signal kind (strong 3, medium 2, weak 1);
    a lead at min_score. A lead also named as an offender is flagged for non-punishment. Writes
    leads.csv, signals.csv (every evidence row) and summary.json; findings victims.lead are
    stored; every read is audited.

    Example: palermo victims leads -w case-17 --out leads
    """
    from palermo.ingest.mapping import parse_columns_option
    from palermo.victims.leads import LeadParams, find_leads

    with Workspace.open(workspace) as ws:
        result = find_leads(
            ws.store, out=out_dir,
            params=LeadParams.parse(parse_columns_option(params, "--params")),
        )  # fmt: skip
    if json_out:
        _print_json(result)
        return
    by = ", ".join(f"{k} {v}" for k, v in result["by_signal"].items())
    out.print(
        f"{result['leads']} possible victims ({by}); {result['non_punishment']} flagged for"
        f" non-punishment -> {out_dir}/leads.csv, signals.csv",
        markup=False,
    )
    for r in result["top"]:
        flag = " NON-PUNISHMENT" if r["non_punishment"] else ""
        out.print(f"  {r['label']}: {r['score']} ({r['signals']}){flag}", markup=False)


@victims_app.command("export")
def victims_export(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the files.")] = Path(
        "victims-export"
    ),
    k: Annotated[int, typer.Option(help="Smallest count published (k-anonymity).")] = 10,
    as_of: Annotated[
        str | None, typer.Option(help="Date ages are counted on (default: today).")
    ] = None,
    suppress_zeros: Annotated[
        bool, typer.Option("--suppress-zeros", help="Hide zero counts too.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Export the possible victims (`victims leads` findings) as HTCDS v2.0 case records
    (htcds.csv: pseudonym, name only for roles entitled to it, birth date, gender, citizenship,
    status Possible, methods of control, type of exploitation, industry) and as counts by sex,
    age group, citizenship and form (aggregates.csv) with every count below k suppressed and
    secondary suppression so that no suppressed count can be worked out from the totals.
    The export is audited.

    Example: palermo victims export -w case-17 --k 10 --out export
    """
    from palermo.victims.export import export_victims

    day = _when(as_of, "--as-of").date() if as_of else None
    with Workspace.open(workspace) as ws:
        summary = export_victims(ws.store, out_dir, k=k, as_of=day, suppress_zeros=suppress_zeros)
    if json_out:
        _print_json(summary)
        return
    out.print(
        f"{summary['records']} case records ({summary['names']}) -> {out_dir}/htcds.csv;"
        f" counts with k={k}: {summary['suppressed_cells']} of {summary['cells']} cells and"
        f" {summary['suppressed_margins']} margins suppressed -> {out_dir}/aggregates.csv",
        markup=False,
    )


def _day(text: str | None, option: str) -> Any:
    return _when(text, option).date() if text else None


def _print_case(v: dict[str, Any], json_out: bool = False) -> None:
    if json_out:
        _print_json(v)
        return
    out.print(
        f"{v['case_id']} {v['label']}: {v['stage']} (consent: {v['consent']}); next:"
        f" {', '.join(v['next'])}; {v['next_step']}",
        markup=False,
    )
    for s in v["stages"]:
        out.print(f"  {s['on']} {s['stage']} ({s['by']})", markup=False)
    for r in v["referrals"]:
        out.print(f"  {r['on']} referred to {r['provider']}", markup=False)
    for d in v["deadlines"]:
        when = d.get("due") or d.get("until")
        out.print(f"  deadline: {d['what']} {when} ({d['basis']})", markup=False)


OnOpt = Annotated[str | None, typer.Option("--on", help="Day it took effect (default today).")]


@case_app.command("open")
def case_open(
    person: Annotated[str, typer.Argument(help="Name, node id or pseudonym (V-...).")],
    on: OnOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Open a case for a person of the workspace (stage detected).

    Example: palermo victims case open "Mara Lupu" -w case-17
    """
    from palermo.victims.referral import open_case

    with Workspace.open(workspace) as ws:
        v = open_case(ws.store, person, _day(on, "--on"))
    _print_case(v, json_out)


@case_app.command("stage")
def case_stage(
    case_id: Annotated[str, typer.Argument(help="VC-...")],
    stage: Annotated[str, typer.Argument(help="The stage reached (see `case show`: next).")],
    on: OnOpt = None,
    by: Annotated[str | None, typer.Option(help="Who decided (authority).")] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the event.")] = None,
    reflection_days: Annotated[
        int | None, typer.Option(help="With rg_positive: the reflection period (>= 30 days).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Record a stage: screened, referred, rg_positive / rg_negative, cg_positive / cg_negative,
    assistance, residence, return, proceedings, compensation, closed (only the stages that may
    follow the current one).

    Example: palermo victims case stage VC-000001 rg_positive --by "Competent Authority" -w case-17
    """
    from palermo.victims.referral import set_stage

    with Workspace.open(workspace) as ws:
        v = set_stage(ws.store, case_id, stage, _day(on, "--on"), by=by, note=note,
                      reflection_days=reflection_days)  # fmt: skip
    _print_case(v, json_out)


@case_app.command("consent")
def case_consent(
    case_id: Annotated[str, typer.Argument(help="VC-...")],
    give: Annotated[
        bool, typer.Option("--give/--revoke", help="Consent to referral given, or revoked.")
    ],
    on: OnOpt = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the event.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Record the person's consent to referral, or its revocation (kept in the history).

    Example: palermo victims case consent VC-000001 --give -w case-17
    """
    from palermo.victims.referral import set_consent

    with Workspace.open(workspace) as ws:
        v = set_consent(ws.store, case_id, give, _day(on, "--on"), note)
    _print_case(v, json_out)


@case_app.command("refer")
def case_refer(
    case_id: Annotated[str, typer.Argument(help="VC-...")],
    provider: Annotated[str, typer.Option(help="A provider of the directory.")],
    service: Annotated[str | None, typer.Option(help="The service asked for.")] = None,
    on: OnOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Refer the person to a service provider (needs consent given and not revoked).

    Example: palermo victims case refer VC-000001 --provider "Safe House North" -w case-17
    """
    from palermo.victims.referral import refer

    with Workspace.open(workspace) as ws:
        v = refer(ws.store, case_id, provider, _day(on, "--on"), service)
    _print_case(v, json_out)


@case_app.command("show")
def case_show(
    case_id: Annotated[str, typer.Argument(help="VC-...")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """A case: stage, consent, every event, referrals, deadlines and the next step.

    Example: palermo victims case show VC-000001 -w case-17
    """
    from palermo.victims.referral import show

    with Workspace.open(workspace) as ws:
        v = show(ws.store, case_id)
    _print_case(v, json_out)


@case_app.command("list")
def case_list(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """Every case the caller may see, with its stage and deadlines.

    Example: palermo victims case list -w case-17
    """
    from palermo.victims.referral import list_cases

    with Workspace.open(workspace) as ws:
        rows = list_cases(ws.store)
    if json_out:
        _print_json(rows)
        return
    for r in rows:
        dl = "; ".join(f"{d['what']} {d.get('due') or d.get('until')}" for d in r["deadlines"])
        out.print(f"{r['case_id']} {r['label']}: {r['stage']} (consent {r['consent']})"
                  + (f"; {dl}" if dl else ""), markup=False)  # fmt: skip


@provider_app.command("add")
def provider_add(
    name: Annotated[str, typer.Argument(help="The provider's name.")],
    service: Annotated[
        list[str], typer.Option(help="A service offered (shelter, health, legal, ...); repeat.")
    ],
    area: Annotated[str | None, typer.Option(help="Where it works.")] = None,
    contact: Annotated[str | None, typer.Option(help="How to reach it.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add a service provider to the directory.

    Example: palermo victims provider add "Safe House North" --service shelter --service legal -w case-17
    """
    from palermo.store.referral import add_provider

    with Workspace.open(workspace) as ws:
        add_provider(ws.store, name, service, area, contact)
    out.print(f"added {name} ({', '.join(service)})", markup=False)


@provider_app.command("list")
def provider_list(
    service: Annotated[str | None, typer.Option(help="Only those offering it.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """The directory of service providers.

    Example: palermo victims provider list --service shelter -w case-17
    """
    from palermo.store.referral import providers

    with Workspace.open(workspace) as ws:
        rows = providers(ws.store, service)
    if json_out:
        _print_json(rows)
        return
    for r in rows:
        out.print(f"{r['name']}: {', '.join(r['services'])} ({r['area'] or '-'};"
                  f" {r['contact'] or '-'})", markup=False)  # fmt: skip


@victims_app.command("evaluate")
def victims_evaluate(
    truth: Annotated[Path, typer.Option(help="The truth/ folder of a simulated case.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also keep the leads' tables here.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Score `victims leads` against a simulated case's truth: precision, and recall over the
    true victims the workspace holds and over all of them; the same per signal, among the
    leads and over everyone the signal points to.

    Example: palermo victims evaluate --truth case-sim/truth -w case-17
    """
    import tempfile

    from palermo.victims.evaluate import evaluate_leads

    with tempfile.TemporaryDirectory() as tmp, Workspace.open(workspace) as ws:
        m = evaluate_leads(ws.store, truth, out=out_dir or Path(tmp))
    if json_out:
        _print_json(m)
        return
    out.print(
        f"{m['leads']} leads, {m['true_victims']} true victims: precision {m['precision']},"
        f" recall {m['recall_seen']} of the {m['victims_in_workspace']} victims in the workspace"
        f" ({m['recall_all']} of all {m['victims_in_truth']})",
        markup=False,
    )
    for k, v in m["by_signal"].items():
        a, e = v["among_leads"], v["everyone_with_it"]
        out.print(
            f"  {k}: in {a['leads']} leads; alone it points to {e['leads']} persons,"
            f" precision {e['precision']}, recall {e['recall_seen']}",
            markup=False,
        )


@app.command()
def link(
    files: Annotated[
        list[Path], typer.Argument(help="One CSV to deduplicate, or two to link.", exists=False)
    ],
    id_column: Annotated[str, typer.Option("--id-column", help="The column with record ids.")],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="clusters.csv: source,record_id,cluster_id,match_probability."
        ),
    ],
    pairs: Annotated[
        Path | None,
        typer.Option(help="Also write the scored pairs, with each field's comparison level."),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Other column names: field=COLUMN,... (fields: first_name, last_name, full_name,"
            " date_of_birth, gender, nationality, address, city, postcode, phone, id_number)."
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Match probability at which two records are linked.")
    ] = 0.9,
    encoding: Annotated[str, typer.Option(help="Text encoding of the files.")] = "utf-8",
    phone_region: Annotated[
        str | None, typer.Option(help="Country for phone numbers written without a country code.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the same persons in one list (dedupe) or across two (link), without a workspace:
    for two agencies comparing lists. Names in any script (Latin with or without diacritics,
    Cyrillic, Greek, ...), dates in common layouts. A Fellegi-Sunter model (Splink on DuckDB) is
    learnt from the lists themselves. Columns first_name, last_name (or surname), full_name,
    date_of_birth, gender, nationality, address, city, postcode, phone, id_number are recognised
    as they are; others by --columns. Every input record appears once in --out.

    Example: palermo link police.csv ngo.csv --id-column ID --out clusters.csv --pairs pairs.csv

    Example: palermo link list.csv --id-column rec_id --columns first_name=given_name --out c.csv
    """
    from palermo.ingest.mapping import parse_columns_option
    from palermo.resolve import link_files

    if len(files) not in (1, 2):
        raise typer.BadParameter("give one file to deduplicate or two to link", param_hint="FILES")
    with _progress(not json_out) as say:
        result = link_files(
            files[0],
            files[1] if len(files) == 2 else None,
            id_column=id_column,
            out=out_file,
            pairs=pairs,
            columns=parse_columns_option(columns),
            threshold=threshold,
            encoding=encoding,
            phone_region=phone_region,
            progress=say,
        )
    if json_out:
        _print_json(result.to_dict())
        return
    out.print(
        f"{result.records:,} records in {result.clusters:,} clusters ({result.pairs_linked:,}"
        f" pairs at or above {result.threshold}, {result.pairs_scored:,} scored) -> {result.out}"
        + (f"; pairs -> {result.pairs_out}" if result.pairs_out else "")
        + f" ({result.seconds} s)",
        markup=False,
    )


@app.command()
def simulate(
    scenario: Annotated[
        str,
        typer.Option(help="labour-agri, sexual-exploit or mixed-transnational."),
    ] = "mixed-transnational",
    scale: Annotated[
        str,
        typer.Option(
            help="About how many bank transactions: a number (250k, 1M, 10M) or tiny (30k, the"
            " smallest), small (100k), medium (300k), large (1M), huge (10M)."
        ),
    ] = "small",
    seed: Annotated[int, typer.Option(help="Same seed, same output, byte for byte.")] = 1,
    out_dir: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder to write (observed/, truth/, manifest.json)."),
    ] = Path("simulated-case"),
    json_out: JsonOpt = False,
) -> None:
    """Simulate a trafficking case with ground truth: the sources an investigation would receive
    (bank statements in several layouts, call records, border crossings, registries, employment
    registrations, ads, goAML reports, police, NGO and inspection notes) in OUT/observed/, what
    really happened in OUT/truth/ (see its README.md), and OUT/manifest.json, with which
    `palermo ingest OUT` takes the whole folder. See docs/simulator.md.

    Example: palermo simulate --scenario labour-agri --scale 1M --seed 7 --out case-sim

    Example: palermo init ws && palermo ingest case-sim -w ws
    """
    from palermo.simulate import simulate as run_simulation

    with _progress(not json_out) as say:
        summary = run_simulation(scenario, scale, seed, out_dir, progress=say)
    if json_out:
        _print_json(summary | {"out": str(out_dir)})
        return
    out.print(
        f"simulated {scenario} (seed {seed}) in {out_dir}: {summary['transactions']:,} bank"
        f" transactions, {summary['victims']} victims, {summary['offenders']} offenders in"
        f" {summary['networks']} network(s), {summary['assets']} assets bought with proceeds;"
        f" {summary['broken_rows']} rows broken on purpose (truth/broken_rows.csv);"
        f" {summary['seconds']} s",
        markup=False,
    )
    out.print(f"next: palermo init WS && palermo ingest {out_dir} -w WS", markup=False)


@app.command()
def demo(
    workspace: WorkspaceOpt = Path("demo-workspace"),
    case: Annotated[
        Path, typer.Option(help="Where the simulated case's files are written.")
    ] = Path("demo-case"),
    scale: Annotated[
        str, typer.Option(help="Size of the simulated case (see simulate).")
    ] = "medium",
    seed: Annotated[int, typer.Option(help="Seed of the simulated case.")] = 2024,
) -> None:
    """Build a demo workspace: simulate a mid-size mixed-transnational case, ingest all of its
    sources through its manifest, resolve who is who (scored against the simulator's truth),
    analyse its network (cells, roles, key players; scored against the truth too), put a number
    on the suspects' proceeds and the victims' losses (`finance proceeds`, scored too), find
    possible victims in the data (`victims leads`, scored too) and print the workspace's summary. The rows the simulator
    breaks on purpose end in the quarantine (`palermo quarantine list -w demo-workspace`).

    Example: palermo demo --workspace demo-workspace
    """
    from palermo.simulate import simulate as run_simulation

    with _progress(True) as say:
        summary = run_simulation("mixed-transnational", scale, seed, case, progress=say)
    out.print(
        f"simulated case in {case}: {summary['transactions']:,} transactions,"
        f" {summary['victims']} victims, {summary['offenders']} offenders (truth in {case}/truth)",
        markup=False,
    )
    with Workspace.open(workspace, create=True, actor="demo") as ws, _progress(True) as say:
        reports = ws.ingest_manifest(case, progress=say)
    stored = sum(r.rows_stored for r in reports)
    quarantined = sum(r.rows_quarantined for r in reports)
    out.print(
        f"ingested {len(reports)} files: {stored:,} rows stored, {quarantined} quarantined"
        f" (the simulator breaks {summary['broken_rows']} rows on purpose)",
        markup=False,
    )
    with Workspace.open(workspace, actor="demo") as ws, _progress(True) as say:
        resolved = ws.resolve(progress=say)
        metrics = ws.evaluate_resolution(case / "truth")
    out.print(
        f"resolved {resolved['persons']:,} persons and {resolved['companies']:,} companies into"
        f" {resolved['clusters']:,} clusters ({resolved['review_pairs']} pairs for review:"
        f" palermo resolve review -w {workspace}); against the simulator's truth: precision"
        f" {metrics['precision']}, recall {metrics['recall']}, F1 {metrics['f1']}",
        markup=False,
    )
    from palermo.network.evaluate import evaluate as evaluate_network
    from palermo.network.workspace import analyse_workspace

    net_dir = case / "network"
    with Workspace.open(workspace, actor="demo") as ws:
        net = analyse_workspace(ws.store, out=net_dir)
        scores = evaluate_network(ws.store, case / "truth")
    roles = ", ".join(f"{r} {n}" for r, n in net["roles"].items() if r != "none")
    out.print(
        f"network: {net['nodes']:,} nodes, {net['edges']:,} ties, {net['cells']} criminal cells;"
        f" roles {roles}; {net['findings_stored']} findings stored ({net_dir}/nodes.csv,"
        f" cells.csv); against the truth: roles macro-F1 {scores['role_macro_f1']}, cells ARI"
        f" {scores['cells_ari']}",
        markup=False,
    )
    from palermo.finance.proceeds import evaluate_proceeds, proceeds
    from palermo.finance.trace import parse_rates

    with Workspace.open(workspace, actor="demo") as ws:
        money = proceeds(ws.store, rates=parse_rates(case / "fx_rates.csv"), out=case / "proceeds")
        ev = evaluate_proceeds(ws.store, money, case / "truth")
    out.print(
        f"money: proceeds {money['proceeds_eur']:,.0f} EUR received by {money['suspects']}"
        f" suspects, {money['to_freeze_eur']:,.0f} EUR to freeze, {money['assets_eur']:,.0f} EUR"
        f" in assets, {money['victims_taken_eur']:,.0f} EUR taken from {money['victims']} possible"
        f" victims ({case}/proceeds/proceeds.csv, victims.csv); against the truth, total error:"
        f" victims' losses {_pct(ev['victims_taken']['total_error'])}, suspects' proceeds"
        f" {_pct(ev['suspects_received']['total_error'])}",
        markup=False,
    )
    from palermo.victims.evaluate import evaluate_leads

    with Workspace.open(workspace, actor="demo") as ws:
        lv = evaluate_leads(ws.store, case / "truth", out=case / "leads")
    out.print(
        f"victims: {lv['leads']} possible victims found in the data for outreach"
        f" ({case}/leads/leads.csv; {lv['non_punishment']} flagged for non-punishment); against"
        f" the truth: precision {lv['precision']}, recall {lv['recall_seen']} of the"
        f" {lv['victims_in_workspace']} victims in the workspace",
        markup=False,
    )
    status(workspace=workspace, json_out=False)
    _demo_logins(workspace, case)


DEMO_USERS = (
    ("demo-investigator", "investigator", None),
    ("demo-analyst", "analyst", None),
    ("demo-partner", "partner", ["border"]),
    ("demo-admin", "admin", None),
)


def _demo_logins(workspace: Path, case: Path) -> None:
    """Accounts for the demo, with passwords made now and written to the case folder (a demo
    only: real accounts are made with `palermo user add`)."""
    import secrets

    from palermo.store import users

    lines = []
    with Workspace.open(workspace, actor="demo") as ws:
        comps = sorted(ws.status()["compartments"])
        existing = {u["name"] for u in users.list_users(ws.store)}
        for name, role, only in DEMO_USERS:
            if name in existing:
                continue
            password = secrets.token_urlsafe(12)
            users.add_user(ws.store, name, role, password, only or comps)
            lines.append(f"{name} {password} ({role}, {', '.join(only or comps)})")
    if lines:
        (case / "logins.txt").write_text("\n".join(lines) + "\n")
        (case / "logins.txt").chmod(0o600)
    out.print(f"web logins (also in {case}/logins.txt):", markup=False)
    for line in lines or ["(made before: see " + str(case / "logins.txt") + ")"]:
        out.print("  " + line, markup=False)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.0%}"


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"palermo {__version__}")
        raise typer.Exit(0)


# -- across borders: keys, sharing packages, the disclosure log ----------------------------------

keys_app = typer.Typer(
    help="This workspace's keys for sharing (Ed25519 to sign, X25519 to receive) and its"
    " partners' public keys.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    name: Annotated[
        str, typer.Option("--name", help="The agency's name, as partners will see it.")
    ],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Make this workspace's key pairs (in WORKSPACE/keys/, mode 0600; encrypted with
    $PALERMO_KEY_PASSPHRASE when set). Give partners the public half: palermo keys export.

    Example: palermo keys init --name "Police RO, DIICOT"
    """
    from palermo.cooperate import keys
    from palermo.store import audit

    with Workspace.open(workspace) as ws:
        own = keys.create(ws.path, name)
        with ws.store.engine.transaction():
            audit.append(ws.store.engine, ws.store.scope.actor, "keys.init", own.name,
                         {"fingerprint": own.public.fingerprint})  # fmt: skip
    if json_out:
        _print_json(own.public.bundle())
    else:
        out.print(f"keys made for {own.name}; fingerprint {own.public.fingerprint}", markup=False)


@keys_app.command("export")
def keys_export(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the public key bundle.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write this workspace's public keys (a JSON bundle) for a partner to import; compare
    the fingerprint with them by another channel.

    Example: palermo keys export --out police-ro.pub.json
    """
    from palermo.cooperate import keys

    own = keys.load(workspace)
    Path(out_file).write_text(json.dumps(own.public.bundle(), indent=2) + "\n")
    out.print(f"{out_file}: public keys of {own.name}, fingerprint {own.public.fingerprint}",
              markup=False)  # fmt: skip


@keys_app.command("import")
def keys_import(
    bundle: Annotated[
        Path, typer.Argument(help="A partner's public key bundle (palermo keys export).")
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="What to call the partner here (default: its own name)."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Trust a partner's public keys: packages may then be sent to it and received from it.

    Example: palermo keys import nca-uk.pub.json --name nca-uk
    """
    from palermo.cooperate import keys
    from palermo.store import packages

    found = keys.PublicKeys.read_bundle(bundle)
    bundle_data = found.bundle()
    with Workspace.open(workspace) as ws:
        packages.add_partner(ws.store, name or found.name, found.fingerprint,
                             bundle_data["signing_key"], bundle_data["encryption_key"])  # fmt: skip
    out.print(
        f"partner {name or found.name} imported; fingerprint {found.fingerprint}", markup=False
    )


@keys_app.command("list")
def keys_list(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """This workspace's key fingerprint and its partners'.

    Example: palermo keys list
    """
    from palermo.cooperate import keys
    from palermo.store import packages

    with Workspace.open(workspace) as ws:
        found = packages.partners(ws.store)
    try:
        own: dict[str, Any] | None = keys.load(workspace).public.bundle()
    except PalermoError:
        own = None
    if json_out:
        _print_json({"own": own, "partners": found})
        return
    out.print(f"this workspace: {own['name']} {own['fingerprint']}" if own else
              "this workspace: no keys yet (palermo keys init --name AGENCY)", markup=False)  # fmt: skip
    for p in found:
        out.print(f"partner {p['name']}: {p['fingerprint']} (imported {p['imported_at']} by"
                  f" {p['imported_by']})", markup=False)  # fmt: skip


@app.command()
def share(
    compartment: Annotated[
        str, typer.Option("--compartment", help="The compartment to share (e.g. the JIT's).")
    ],
    to: Annotated[str, typer.Option("--to", help="The partner (palermo keys import).")],
    legal_basis: Annotated[
        str, typer.Option("--legal-basis", help="Why this may leave: the agreement or request.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The package file to write.")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="Its reference (file number, MLA request).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="A sharing policy (YAML); default: victims as pseudonyms, notes graded *x*x5 withheld, events and findings, no raw files.",
        ),
    ] = None,
    answers: Annotated[
        str | None,
        typer.Option("--answers", help="The partner's pending request this package answers."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Build a signed, encrypted sharing package of one compartment for one partner, filtered
    by a sharing policy, and record it in the disclosure log and the audit chain; with
    --answers, it answers that request of the partner's (palermo requests).

    Example: palermo share --compartment jit-ro-uk --to nca-uk --legal-basis "JIT agreement 2026/3" --out to-nca.palermo
    """  # fmt: skip
    from palermo.cooperate import share as sharing

    with Workspace.open(workspace) as ws:
        result = sharing.share(ws.store, compartment, to, legal_basis, out_file, reference,
                               sharing.read_policy(policy), answers)  # fmt: skip
    if json_out:
        _print_json(result)
        return
    counts = ", ".join(f"{v} {k}" for k, v in result["counts"].items())
    held = ", ".join(f"{v} {k}" for k, v in result["withheld"].items()) or "nothing"
    out.print(f"package {result['package_id']} for {to}: {counts}; withheld: {held};"
              f" {result['pseudonymised']} pseudonymised -> {result['out']} (sha256 {result['sha256'][:16]}...)",
              markup=False)  # fmt: skip


@app.command()
def receive(
    package: Annotated[
        Path,
        typer.Argument(help="A package, revocation notice, request or refusal from a partner."),
    ],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Import a partner's package under the sender's compartment, keeping its provenance (or
    apply a revocation notice: the package's data is removed; or record a partner's request,
    pending until answered, or its refusal of ours). A file modified after it was signed, from
    an unknown key, or not addressed to this workspace is refused.

    Example: palermo receive to-nca.palermo
    """
    from palermo.cooperate import share as sharing

    with Workspace.open(workspace) as ws:
        result = sharing.receive(ws.store, package)
    if json_out:
        _print_json(result)
    elif result["kind"] == "revocation":
        out.print(f"package {result['package_id']} withdrawn at {result['from']}'s request:"
                  f" removed {result['removed']}", markup=False)  # fmt: skip
    elif result["kind"] == "request":
        out.print(f"request {result['request_id']} from {result['from']} (compartment"
                  f" {result['compartment']}): {result['subject']}; legal basis:"
                  f" {result['legal_basis']}. Pending: answer with palermo share ... --answers"
                  f" {result['request_id']}, or palermo decline", markup=False)  # fmt: skip
    elif result["kind"] == "decline":
        out.print(f"request {result['request_id']} declined by {result['from']}:"
                  f" {result['answer']}", markup=False)  # fmt: skip
    else:
        out.print(f"package {result['package_id']} from {result['from']} stored in compartment"
                  f" {result['compartment']} (run {result['run_id']}): {result['stored']};"
                  f" legal basis: {result['legal_basis']}"
                  + (f"; answers request {result['answers']}" if result.get("answers") else "")
                  + (f" ({result['answers_note']})" if result.get("answers_note") else ""),
                  markup=False)  # fmt: skip


@app.command()
def revoke(
    package_id: Annotated[str, typer.Argument(help="A package sent from here (palermo packages).")],
    out_file: Annotated[Path, typer.Option("--out", help="The signed revocation notice to send.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is revoked.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Revoke a package sent from here: writes a signed notice; the partner's palermo receive
    NOTICE removes the package's data from its workspace.

    Example: palermo revoke 3f2a... --reason "consent withdrawn" --out revoke.palermo
    """
    from palermo.cooperate import share as sharing

    with Workspace.open(workspace) as ws:
        result = sharing.revoke(ws.store, package_id, out_file, reason)
    out.print(f"package {package_id} revoked; send {result['out']} to {result['to']}", markup=False)


@app.command()
def packages(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """The disclosure log: every package sent and received, with partner, compartment, legal
    basis, counts, what the policy withheld, and status.

    Example: palermo packages --json
    """
    from palermo.store import packages as store_packages

    with Workspace.open(workspace) as ws:
        found = store_packages.packages(ws.store)
    if json_out:
        _print_json(found)
        return
    table = Table(
        "package", "direction", "partner", "compartment", "legal basis", "counts", "status"
    )
    for p in found:
        counts = ", ".join(f"{v} {k}" for k, v in p["manifest"].get("counts", {}).items())
        table.add_row(p["package_id"][:8], p["direction"], p["partner"], p["compartment"],
                      p["legal_basis"], counts, p["status"])  # fmt: skip
    out.print(table)


@app.command()
def request(
    to: Annotated[str, typer.Option("--to", help="The partner asked (palermo keys import).")],
    compartment: Annotated[
        str, typer.Option("--compartment", help="The compartment it concerns (the JIT's).")
    ],
    about: Annotated[str, typer.Option("--about", help="What is asked for, in words.")],
    legal_basis: Annotated[
        str, typer.Option("--legal-basis", help="The agreement or instrument it rests on.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The signed request file to send.")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="Its reference (file number, MLA request).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Ask a partner to share: a signed request readable only by the partner, pending here
    (palermo requests, and the web's Sharing page) until the partner answers it with a
    package (palermo share --answers ID) or declines it (palermo decline).

    Example: palermo request --to nca-uk --compartment jit-ro-uk --about "calls of +40 7xx in May" --legal-basis "JIT agreement 2026/3" --out req.palermo
    """  # fmt: skip
    from palermo.cooperate import share as sharing

    with Workspace.open(workspace) as ws:
        result = sharing.request(ws.store, to, compartment, about, legal_basis, out_file,
                                 reference)  # fmt: skip
    if json_out:
        _print_json(result)
        return
    out.print(f"request {result['request_id']} to {to} -> {result['out']}", markup=False)


@app.command()
def decline(
    request_id: Annotated[str, typer.Argument(help="A partner's pending request.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is declined.")],
    out_file: Annotated[Path, typer.Option("--out", help="The signed refusal to send back.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Decline a partner's pending request, with the reason; writes a signed refusal for the
    partner's palermo receive.

    Example: palermo decline 5b1c... --reason "outside the JIT agreement's scope" --out no.palermo
    """
    from palermo.cooperate import share as sharing

    with Workspace.open(workspace) as ws:
        result = sharing.decline(ws.store, request_id, reason, out_file)
    out.print(f"request {request_id} declined; send {result['out']} to {result['to']}",
              markup=False)  # fmt: skip


@app.command()
def requests(workspace: WorkspaceOpt = DEFAULT_WS, json_out: JsonOpt = False) -> None:
    """Requests between this workspace and its partners, pending first: who asked whom for
    what, under which legal basis, and how each was answered.

    Example: palermo requests --json
    """
    from palermo.store import packages as store_packages

    with Workspace.open(workspace) as ws:
        found = store_packages.requests(ws.store)
    if json_out:
        _print_json(found)
        return
    table = Table("request", "direction", "partner", "compartment", "about", "legal basis",
                  "status", "answer")  # fmt: skip
    for r in found:
        answer = r["package_id"] or r["answer"] or ""
        table.add_row(r["request_id"][:8], r["direction"], r["partner"], r["compartment"],
                      r["subject"], r["legal_basis"], r["status"], answer)  # fmt: skip
    out.print(table)


# -- privacy-preserving record linkage -----------------------------------------------------------

report_app = typer.Typer(
    help="The case file for prosecutors (HTML or PDF, rendered offline) and protected statistics.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@report_app.command("case")
def report_case(
    subject: Annotated[
        str,
        typer.Option(
            "--subject",
            help="A criminal cell (cell:N as `network analyze` numbers it, or its finding id)"
            " or an entity (id, node id or name).",
        ),
    ],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The case file: FILE.html or FILE.pdf.")
    ],
    rates: Annotated[
        Path | None,
        typer.Option(
            "--rates",
            help="Exchange rates CSV for the money trail: currency,units_per_eur[,valid_from]"
            " (needed when payments are in several currencies).",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Write the case file about a criminal cell or one entity: summary, persons and roles
    with their evidence, the network chart, timeline, the money trail (Sankey and routes, by
    country) with the proceeds per suspect and their range, assets, victims (pseudonymised
    unless your role is entitled to names) with indicators and what was taken from them, the
    exhibit list (each file's SHA-256 checked against the evidence store, who ingested it when,
    the findings relying on it), each finding's rule, parameters and code version, and every
    cited evidence row. Self-contained (everything inlined, nothing fetched); the same
    workspace, reader and parameters give the same file, whose SHA-256 is written into the
    audit chain. Needs `palermo network analyze` first.

    Example: palermo report case -w demo-workspace --subject cell:3 --rates demo-case/fx_rates.csv --out case.pdf
    """
    from palermo.finance.trace import parse_rates
    from palermo.report.case import case_report

    with Workspace.open(workspace) as ws:
        result = case_report(
            ws.store, subject, out_file, rates=parse_rates(rates) if rates else None,
            rates_file=rates.name if rates else None,
        )  # fmt: skip
    if json_out:
        _print_json(result)
        return
    pages = f", {result['pages']} pages" if result["pages"] else ""
    out.print(
        f"case file on {result['subject']} -> {result['out']}{pages}: {result['persons']}"
        f" persons, {result['victims']} possible victims"
        f" ({'named' if result['names_shown'] else 'pseudonymised'}), {result['exhibits']}"
        f" exhibits, {result['findings']} findings, {result['evidence_rows']} evidence rows;"
        f" SHA-256 {result['sha256']} (in the audit chain)",
        markup=False,
    )


@report_app.command("stats")
def report_stats(
    period: Annotated[
        str,
        typer.Option(
            "--period", help="A year (2025), a quarter (2025-Q1) or days (2025-01-01..2025-06-30)."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the files.")],
    k: Annotated[int, typer.Option(help="Smallest count published (k-anonymity).")] = 10,
    suppress_zeros: Annotated[
        bool, typer.Option("--suppress-zeros", help="Hide zero counts too.")
    ] = False,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="Court outcomes CSV: person (entity id or name), outcome (prosecuted, convicted,"
            " acquitted, confiscated), date[, amount_eur]; the workspace holds none itself.",
        ),
    ] = None,
    rates: Annotated[
        Path | None,
        typer.Option("--rates", help="Exchange rates CSV to price assets in EUR."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_out: JsonOpt = False,
) -> None:
    """Statistics for one period, as ministries, national rapporteurs, GRETA, UNODC and Eurostat
    ask for them: detected victims by sex, age group, citizenship and form of exploitation
    (victims.csv); suspects, prosecutions and convictions by role (suspects.csv); assets
    identified and confiscated (assets.csv); stats.html with charts; summary.json. A victim
    counts in the period they were identified (victim case opened, else the earliest dated
    evidence of their lead); a suspect where they were active. Every count below k is
    suppressed, and more beside it so that none can be worked out from the totals. Audited.

    Example: palermo report stats -w demo-workspace --period 2024 --out stats-2024
    """
    from palermo.finance.trace import parse_rates
    from palermo.report.stats import report_stats as make_stats

    with Workspace.open(workspace) as ws:
        summary = make_stats(
            ws.store, period, out_dir, k=k, suppress_zeros=suppress_zeros, outcomes=outcomes,
            rates=parse_rates(rates) if rates else None,
        )  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    shown = summary["victims_published"]
    out.print(
        f"{summary['period']}: {shown if shown is not None else '<' + str(k)} victims detected,"
        f" {summary['suspects_active']} suspects active; k={k}: {summary['suppressed_cells']}"
        f" cells and {summary['suppressed_margins']} margins suppressed -> {out_dir}/"
        f" ({', '.join(summary['files'])})"
        + (f"; {summary['outcomes_rejected']} outcome rows set aside"
           f" ({out_dir}/outcomes_rejected.csv)" if summary["outcomes_rejected"] else ""),
        markup=False,
    )  # fmt: skip
    for note in summary["notes"]:
        err.print(f"note: {note}", markup=False)


ads_app = typer.Typer(
    help="Recruitment and escort ads: campaigns of near-duplicate ads and shared identifiers.",
    no_args_is_help=True,
)
app.add_typer(ads_app, name="ads")


@ads_app.command("cluster")
def ads_cluster(
    ads_file: Annotated[
        Path,
        typer.Argument(
            help="Ads CSV: id, time, site, title, body, phone, email, location, price, images."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the files.")],
    columns: Annotated[
        str | None,
        typer.Option(
            help="Other layouts: field=COLUMN,... (fields: id, time, site, title, body,"
            " phone, email, location, price, images)."
        ),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            help="Estimated Jaccard similarity of 5-gram shingles to join two ads by text."
        ),
    ] = 0.5,
    hub: Annotated[
        int,
        typer.Option(
            help="An identifier more ads than this give joins nothing (a site's"
            " contact, a stock photo)."
        ),
    ] = 1000,
    phone_region: Annotated[
        str | None, typer.Option(help="Region of phone numbers without a country code (GB).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the campaigns in an ads file, no workspace: ads joined by near-duplicate text
    (MinHash LSH over character shingles of the visible text: markup dropped, script never
    read), by a shared phone, e-mail or image hash, or both; each campaign with its template
    (the shared text, variable parts as slots). Writes campaigns.csv, ads.csv (each ad's
    campaign, text group and identifier group), templates.jsonl, rejected.csv (row, field,
    reason) and summary.json.

    Example: palermo ads cluster ads.csv --out campaigns
    """
    from palermo.ads.cluster import ClusterParams, cluster

    given = {}
    for part in (columns or "").split(","):
        if part.strip():
            key, sep, value = part.partition("=")
            if not sep:
                raise PalermoError(f"--columns {part!r}: field=COLUMN")
            given[key.strip()] = value.strip()
    summary = cluster(ads_file, out_dir, columns=given,
                      params=ClusterParams(threshold, hub, phone_region))  # fmt: skip
    if json_out:
        _print_json(summary)
        return
    out.print(
        f"{summary['ads']:,} ads ({summary['rejected']} rejected: {out_dir}/rejected.csv):"
        f" {summary['campaigns']:,} campaigns of {summary['ads_in_campaigns']:,} ads"
        f" ({summary['text_pairs']:,} near-duplicate pairs, {summary['identifier_pairs']:,}"
        f" shared identifiers) -> {out_dir}/campaigns.csv, ads.csv, templates.jsonl",
        markup=False,
    )


@ads_app.command("evaluate")
def ads_evaluate(
    case: Annotated[Path, typer.Argument(help="A simulated case folder (palermo simulate).")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the clustering's files.")
    ] = Path("ads-evaluate"),
    threshold: Annotated[float, typer.Option(help="As for ads cluster.")] = 0.5,
    hub: Annotated[int, typer.Option(help="As for ads cluster.")] = 1000,
    json_out: JsonOpt = False,
) -> None:
    """Campaign recovery on a simulated case's ads against its truth: pairwise precision and
    recall and the adjusted Rand index, for campaigns by text, by identifiers and by both (an
    escort ad's true campaign is the operation posting it; a deceptive job ad's its poster's
    cell; any other ad's its poster).

    Example: palermo ads evaluate case-sim
    """
    from palermo.ads.cluster import ClusterParams
    from palermo.ads.evaluate import evaluate

    result = evaluate(case, out_dir, ClusterParams(threshold, hub, "GB"))
    if json_out:
        _print_json(result)
        return
    out.print(f"{result['ads']} ads, {result['true_campaigns']} true campaigns,"
              f" {result['campaigns_found']} found; goal: {result['goal']}", markup=False)  # fmt: skip
    for mode, m in result["modes"].items():
        out.print(f"  {mode:<12} precision {m['precision']}  recall {m['recall']}  ARI"
                  f" {m['ari']}  ({m['pairs']} pairs)", markup=False)  # fmt: skip


pprl_app = typer.Typer(
    help="Find the persons two agencies both hold without either seeing the other's list:"
    " keyed Bloom-filter encodings (clkhash) matched by Dice similarity (anonlink).",
    no_args_is_help=True,
)
app.add_typer(pprl_app, name="pprl")


@pprl_app.command("secret")
def pprl_secret(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the new secret.")],
) -> None:
    """Make a new random secret (256 bits, mode 0600) for both partners to encode with; hand it
    to the partner by a channel the matching party does not see, never with the encoded files.

    Example: palermo pprl secret --out jit-2026.key
    """
    from palermo.cooperate import pprl

    pprl.new_secret(out_file)
    out.print(f"{out_file}: new secret (keep it from whoever matches the encoded files)",
              markup=False)  # fmt: skip


@pprl_app.command("encode")
def pprl_encode(
    persons: Annotated[Path, typer.Argument(help="The persons, one per row (CSV).")],
    secret: Annotated[
        Path, typer.Option("--secret", help="The secret shared with the partner (a key file).")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The encoded file (CSV).")],
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="The column with record ids (default: id, record_id, rec_id, person_id,"
            " unique_id or uid; else the row number).",
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            help="Fields to encode, comma-separated, the same on both sides: name, dob, sex,"
            " nationality, address, city, postcode, phone, id_number (default: every one the"
            " file has a column for)."
        ),
    ] = None,
    harden: Annotated[
        str,
        typer.Option(
            help="Against frequency attacks: xor (XOR-fold each filter), balance (add the"
            " complement, keyed shuffle: constant weight) or none."
        ),
    ] = "xor",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Other column names: field=COLUMN,... (fields as palermo link: first_name,"
            " last_name, full_name, date_of_birth, gender, nationality, address, city,"
            " postcode, phone, id_number)."
        ),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "utf-8",
    phone_region: Annotated[
        str | None, typer.Option(help="Country for phone numbers written without a country code.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Encode names, dates of birth and other quasi-identifiers as keyed Bloom filters
    (cryptographic linkage keys: one per record and one per field), normalised as palermo link
    normalises them (any script, common date layouts). The partner encodes its list with the
    same secret, fields and hardening; palermo pprl match then compares the two files. The
    encoded file holds no name, only the id, the encodings and the scheme.

    Example: palermo pprl encode persons.csv --secret jit-2026.key --out persons.enc.csv
    """
    from palermo.cooperate import pprl
    from palermo.ingest.mapping import parse_columns_option

    result = pprl.encode_file(
        persons, secret=secret, out=out_file, id_column=id_column,
        columns=parse_columns_option(columns), fields=pprl.parse_fields(fields), harden=harden,
        encoding=encoding, phone_region=phone_region,
    )  # fmt: skip
    if json_out:
        _print_json(result.to_dict())
        return
    gaps = ", ".join(f"{n:,} without {f}" for f, n in result.missing.items() if n)
    out.print(
        f"{result.records:,} records encoded ({', '.join(result.fields)}; hardening"
        f" {result.harden}; id {result.id_column or 'the row number'}) -> {result.out}"
        + (f"; {gaps}" if gaps else "")
        + f" ({result.seconds} s)",
        markup=False,
    )


@pprl_app.command("match")
def pprl_match(
    files: Annotated[list[Path], typer.Argument(help="The two encoded files (A then B).")],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out", help="matches.csv: id_a, id_b, score, dice (record level), dice_FIELD ..."
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Score at or above which two records match (default: 0.75 for xor, 0.8 for"
            " balance and none)."
        ),
    ] = None,
    all_pairs: Annotated[
        bool,
        typer.Option(
            "--all-pairs",
            help="Every pair at or above the threshold (default: each record in one match,"
            " best first).",
        ),
    ] = False,
    no_blocking: Annotated[
        bool,
        typer.Option(
            "--no-blocking",
            help="Compare every pair however many (about a minute per 10 billion pairs).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Match two encoded files without a secret and without seeing a name. Candidates: every
    pair up to 200M pairs (about 14K x 14K records), else the pairs whose record-level encodings
    agree on sampled bits (locality-sensitive hashing); of these, those with a record-level Dice
    of at least 0.6 (0.75 balanced, 0.7 none). Score: each field's Dice averaged with the
    field's weight (its bits), a field either record lacks counting 0.6; no match without a
    name on both sides. Each record is in at most one match, the best first (anonlink's greedy
    solver). Files encoded with another secret, other fields or other hardening are refused;
    rows that cannot be decoded are listed and left out.

    Example: palermo pprl match police.enc.csv ngo.enc.csv --out matches.csv
    """
    from palermo.cooperate import pprl

    if len(files) != 2:
        raise typer.BadParameter("give the two encoded files", param_hint="FILES")
    result = pprl.match_files(files[0], files[1], out=out_file, threshold=threshold,
                              best_only=not all_pairs, blocking=not no_blocking)  # fmt: skip
    if json_out:
        _print_json(result.to_dict())
        return
    for r in result.rejected[:20]:
        err.print(f"{r['file']}: row {r['row']}: {r['field'] or 'row'}: {r['reason']} (left out)",
                  markup=False)  # fmt: skip
    if len(result.rejected) > 20:
        err.print(f"... and {len(result.rejected) - 20} more rows left out", markup=False)
    out.print(
        f"{result.matches:,} matches at Dice >= {result.threshold:g} between {result.records_a:,}"
        f" and {result.records_b:,} records ({result.candidates:,} candidate pairs) ->"
        f" {result.out} ({result.seconds} s)",
        markup=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into one line on stderr."""
    try:
        rc = app(args=argv, standalone_mode=False)
        return int(rc or 0)
    except PalermoError as exc:
        err.print(f"palermo: error: {exc}", markup=False)
        return exc.exit_code
    except ABORTS:
        err.print("palermo: aborted", markup=False)
        return 130
    except USAGE_ERRORS as exc:
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.print("palermo: interrupted; the workspace is unchanged by the unfinished step")
        return 130
    except Exception as exc:  # the edge: never a bare traceback for users
        if os.environ.get("PALERMO_DEBUG"):
            raise
        err.print(
            f"palermo: internal error: {type(exc).__name__}: {exc} (PALERMO_DEBUG=1 shows the traceback)",
            markup=False,
        )
        return 70


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()
