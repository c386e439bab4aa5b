"""The Python API for notebooks: ``palermo.open(path)`` gives a ``Workspace`` with the CLI's verbs."""

from __future__ import annotations

import getpass
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from palermo.errors import PalermoError
from palermo.export import ExportReport, export_ftm
from palermo.ingest.manifest import ingest_manifest
from palermo.ingest.mapping import Mapping, load_mapping, parse_columns_option
from palermo.ingest.pipeline import (
    IngestOptions,
    IngestReport,
    Progress,
    ingest_file,
    retry_quarantine,
)
from palermo.store import audit, reads
from palermo.store.access import ROLES, Scope
from palermo.store.workspace import Store


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Workspace:
    """A workspace opened for one actor. Close it (or use ``with``) to release the file lock."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def init(cls, path: str | Path, *, actor: str | None = None, **engine: Any) -> Workspace:
        return cls(Store.create(Path(path), Scope(_actor(actor)), **engine))

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = False,
        actor: str | None = None,
        compartments: set[str] | None = None,
        read_only: bool = False,
        role: str | None = None,
        **engine: Any,
    ) -> Workspace:
        role = role or os.environ.get("PALERMO_ROLE") or None
        if role is not None and role not in ROLES:
            raise PalermoError(f"unknown role {role!r} (roles: {', '.join(sorted(ROLES))})")
        scope = Scope(
            _actor(actor), frozenset(compartments) if compartments is not None else None, role
        )
        path = Path(path)
        if create and not (path / "palermo.duckdb").exists():
            return cls(Store.create(path, scope, **engine))
        return cls(Store.open(path, scope, read_only=read_only, **engine))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self.store.root

    def ingest(
        self,
        *files: str | Path,
        mapping: str | Mapping,
        compartment: str = "default",
        columns: str | dict[str, str] | None = None,
        defaults: str | dict[str, str] | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        sheet: str | None = None,
        progress: Progress | None = None,
    ) -> list[IngestReport]:
        """Ingest files through a mapping (a built-in name, a YAML path, or a ``Mapping``).

        ``columns`` reads fields from other columns (``"amount=Betrag"``); ``defaults`` gives a
        value where a field's column is missing or empty (``"currency=EUR"``)."""
        m = load_mapping(mapping) if isinstance(mapping, str) else mapping
        overrides = parse_columns_option(columns) if isinstance(columns, str) else (columns or {})
        if overrides:
            m = m.with_columns(overrides)
        fixed = (
            parse_columns_option(defaults, "--default") if isinstance(defaults, str) else defaults
        )
        if fixed:
            m = m.with_defaults(fixed)
        opts = IngestOptions(compartment, delimiter, encoding, sheet)
        return [ingest_file(self.store, Path(f), m, opts, progress=progress) for f in files]

    def ingest_manifest(
        self,
        path: str | Path,
        *,
        compartment: str | None = None,
        progress: Progress | None = None,
        on_report: Callable[[IngestReport], None] | None = None,
    ) -> list[IngestReport]:
        """Ingest a folder through its ``manifest.json`` (``path``: the folder or the manifest
        file), in the manifest's order. Every entry is checked first (file there, mapping valid,
        overrides and options known, header holding the mapping's columns): a bad manifest
        raises a ``PalermoError`` naming the manifest and the entry, and nothing is ingested.
        ``compartment`` is for the entries that name none (default ``"default"``);
        ``on_report`` hears of each file as it is done. See ``palermo.ingest.manifest``."""
        return ingest_manifest(
            self.store, path, compartment=compartment, progress=progress, on_report=on_report
        )

    def status(self) -> dict[str, Any]:
        return reads.status(self.store)

    def quarantine(
        self, *, status: str | None = "open", run_id: int | None = None
    ) -> list[dict[str, Any]]:
        return reads.quarantine(self.store, status=status, run_id=run_id)

    def retry_quarantine(
        self,
        *,
        run_id: int | None = None,
        mapping: str | Mapping | None = None,
        columns: str | None = None,
        progress: Progress | None = None,
    ) -> list[IngestReport]:
        m = load_mapping(mapping) if isinstance(mapping, str) else mapping
        if columns:
            if m is None:
                origins = reads.open_quarantine_mappings(self.store, run_id)
                if len(origins) != 1:
                    from palermo.errors import MappingError

                    raise MappingError(
                        "--columns needs --mapping when several mappings are retried"
                    )
                m = load_mapping(origins[0].removeprefix("builtin:"))
            m = m.with_columns(parse_columns_option(columns))
        return retry_quarantine(self.store, run_id=run_id, mapping_override=m, progress=progress)

    # -- entity resolution --------------------------------------------------------------------
    def resolve(
        self, *, auto: float = 0.95, review: float = 0.7, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Resolve the persons of the workspace (see ``palermo resolve --help``)."""
        from palermo.resolve.workspace import resolve_workspace

        return resolve_workspace(self.store, auto=auto, review=review, progress=progress)

    def review_queue(self, limit: int = 20) -> list[dict[str, Any]]:
        from palermo.store.resolution import review_queue

        return review_queue(self.store, limit)

    def decide(self, a: str, b: str, decision: str, note: str | None = None) -> None:
        """``accept`` / ``reject`` / ``undo`` the pair (a, b); the next ``resolve`` applies it."""
        from palermo.store.resolution import decide

        decide(self.store, a, b, decision, note)

    def resolution(self) -> dict[str, str]:
        """entity id -> cluster id of the current resolution."""
        from palermo.store.resolution import clusters_of

        return clusters_of(self.store)

    def evaluate_resolution(self, truth: str | Path) -> dict[str, Any]:
        from palermo.resolve.workspace import evaluate

        return evaluate(self.store, Path(truth))

    # -- network ------------------------------------------------------------------------------
    def analyze_network(self, out: str | Path, **options: Any) -> dict[str, Any]:
        """The workspace's network: cells, roles, brokers, key players, findings stored (see
        ``palermo network analyze --help``; options: layers, since, until, key_player_k,
        resolution)."""
        from palermo.network.workspace import analyse_workspace

        return analyse_workspace(self.store, out=Path(out), **options)

    def disrupt_network(self, out: str | Path, **options: Any) -> dict[str, Any]:
        """Disruption strategies on the workspace's network (``palermo network disrupt``)."""
        from palermo.network.workspace import disrupt_workspace

        return disrupt_workspace(self.store, out=Path(out), **options)

    def evaluate_network(self, truth: str | Path, **options: Any) -> dict[str, Any]:
        from palermo.network.evaluate import evaluate

        return evaluate(self.store, Path(truth), **options)

    def trace_money(
        self,
        source: str,
        out: str | Path | None = None,
        *,
        rates: str | Path | None = None,
        to: str | None = None,
        window: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Follow funds from (or, ``direction="backward"``, into) an entity (``palermo finance
        trace``; params: rule, direction, min_amount, top_paths, max_hops)."""
        from palermo.finance.trace import TraceParams, parse_rates, trace

        return trace(
            self.store, source, to=to, window=window, params=TraceParams(**params),
            rates=parse_rates(Path(rates)) if rates else None,
            out=Path(out) if out is not None else None,
        )  # fmt: skip

    def proceeds(
        self, out: str | Path | None = None, *, rates: str | Path | None = None, **options: Any
    ) -> dict[str, Any]:
        """Proceeds per suspect with a range, victims' losses (``palermo finance proceeds``;
        options: suspects, victims)."""
        from palermo.finance.proceeds import proceeds
        from palermo.finance.trace import parse_rates

        return proceeds(
            self.store, rates=parse_rates(Path(rates)) if rates else None,
            out=Path(out) if out is not None else None, **options,
        )  # fmt: skip

    def score_risk(self, out: str | Path, **options: Any) -> dict[str, Any]:
        """Laundering risk per account and entity (``palermo finance score``; options:
        rules_only, model_dir)."""
        from palermo.finance.workspace import score_workspace

        return score_workspace(self.store, out=Path(out), **options)

    # -- reports (see ``palermo report --help``) ---------------------------------------------
    def case_report(
        self, subject: str, out: str | Path, *, rates: str | Path | None = None
    ) -> dict[str, Any]:
        """The case file about a cell (``cell:N``) or an entity, as ``.html`` or ``.pdf``
        (``palermo report case``)."""
        from palermo.finance.trace import parse_rates
        from palermo.report.case import case_report

        return case_report(
            self.store, subject, Path(out), rates=parse_rates(Path(rates)) if rates else None,
            rates_file=Path(rates).name if rates else None,
        )  # fmt: skip

    def report_stats(self, period: str, out: str | Path, **options: Any) -> dict[str, Any]:
        """Protected statistics for a period (``palermo report stats``; options: k,
        suppress_zeros, outcomes, rates)."""
        from palermo.report.stats import report_stats

        return report_stats(self.store, period, Path(out), **options)

    def findings(self, kind: str = "", subject: str | None = None) -> list[dict[str, Any]]:
        """Findings you may see whose kind starts with ``kind`` (e.g. ``network.``)."""
        from palermo.store.findings import read

        return read(self.store, kind, subject)

    # -- victims (see ``palermo victims --help``) ---------------------------------------------
    def victim_leads(self, out: str | Path | None = None, **params: Any) -> dict[str, Any]:
        """Possible victims found in the data (``palermo victims leads``; params: min_score,
        address_min, pass_share, pass_days, pass_times, travel_max_group)."""
        from palermo.victims.leads import LeadParams, find_leads

        return find_leads(
            self.store, out=Path(out) if out is not None else None, params=LeadParams(**params)
        )

    def screen_person(self, person: str) -> dict[str, Any]:
        """Screen a workspace person on the notes naming them (``victims screen --person``)."""
        from palermo.victims.leads import screen_person

        return screen_person(self.store, person)

    def export_victims(self, out: str | Path, k: int = 10) -> dict[str, Any]:
        """HTCDS case records and protected counts (``palermo victims export``)."""
        from palermo.victims.export import export_victims

        return export_victims(self.store, Path(out), k=k)

    def export_ftm(self, out: io.TextIOBase | Any, destination: str = "stream") -> ExportReport:
        return export_ftm(self.store, out, destination)

    def verify_audit(self) -> audit.AuditCheck:
        return audit.verify(self.store.engine)

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Read-only SQL for notebooks (returns an Arrow table). Not filtered by compartment or
        role: only the workspace owner (no compartments, no role) may use it."""
        from palermo.errors import AccessDenied

        if self.store.scope.compartments is not None or self.store.scope.role is not None:
            raise AccessDenied("raw SQL is only for the workspace owner; use the verbs instead")
        return self.store.engine.arrow(query, params)
