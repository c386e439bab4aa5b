"""Ingest a whole folder through its ``manifest.json``: which file is read with which mapping,
into which compartment, with which column names, defaults, options and CSV settings.

    {"palermo_manifest": 1,
     "description": "Case 17: bank exports and a goAML report",
     "files": [
       {"path": "observed/bank_a.csv", "mapping": "payments", "compartment": "police-gb"},
       {"path": "observed/bank_b.csv", "mapping": "payments",
        "columns": {"transaction_id": "Buchungsreferenz", "amount": "Betrag"},
        "defaults": {"currency": "EUR"},
        "options": {"decimal_comma": true, "timezone": "Europe/Berlin"},
        "delimiter": ";", "encoding": "utf-8", "description": "Bank B export"},
       {"path": "observed/str.xml", "mapping": "goaml"},
       {"path": "observed/custom.csv", "mapping": "mappings/custom.yml"}]}

``mapping`` is a built-in mapping's name or a YAML file relative to the manifest's folder; paths
stay inside that folder. Other top-level keys are ignored; an unknown key in a file entry is an
error. The whole manifest is checked (every file there, every mapping valid, its overrides and
options known, each CSV/XLSX header holding the mapping's columns, compartments allowed) before
the first file is ingested; then the files are ingested in the manifest's order, each as
``palermo ingest`` would (one transaction per file; re-ingesting a file is a no-op)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palermo.errors import ManifestError, PalermoError
from palermo.ingest import readers
from palermo.ingest.mapping import builtin_names, load_mapping
from palermo.ingest.pipeline import (
    IngestOptions,
    IngestReport,
    Progress,
    check_columns,
    format_for,
    ingest_file,
)
from palermo.model.mapping import Mapping
from palermo.store.access import check_compartment_name
from palermo.store.loader import check_timezone
from palermo.store.workspace import Store

MANIFEST_NAME = "manifest.json"
VERSION = 1
ENTRY_KEYS = (
    "path",
    "mapping",
    "compartment",
    "columns",
    "defaults",
    "options",
    "delimiter",
    "encoding",
    "sheet",
    "description",
)
_SNIFF_LIMIT = 16 << 20  # a .json file larger than this is not taken for a manifest


@dataclass(frozen=True)
class ManifestEntry:
    number: int  # 1-based position in ``files``
    where: str  # "manifest M: entry N (PATH)", for errors
    path: Path
    mapping: Mapping
    options: IngestOptions
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    path: Path  # the manifest file
    description: str
    entries: tuple[ManifestEntry, ...]


def find_manifest(path: str | Path) -> Path | None:
    """The manifest file ``path`` names: a folder's ``manifest.json`` (a folder without one is an
    error), a file called ``manifest.json``, or a ``.json`` file with a ``palermo_manifest``
    key. None for anything else (a source file)."""
    path = Path(path)
    if path.is_dir():
        found = path / MANIFEST_NAME
        if not found.is_file():
            raise ManifestError(f"{path}: a folder without {MANIFEST_NAME}; give files to ingest")
        return found
    if path.name == MANIFEST_NAME:
        return path
    if path.suffix.lower() == ".json" and path.is_file() and path.stat().st_size < _SNIFF_LIMIT:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(data, dict) and "palermo_manifest" in data:
            return path
    return None


def load_manifest(path: str | Path, *, compartment: str | None = None) -> Manifest:
    """Read and check a manifest (a folder or its manifest file) without touching a workspace.
    ``compartment``: for the entries that name none (default ``"default"``)."""
    file = find_manifest(path) or Path(path)
    if not file.is_file():
        raise ManifestError(f"manifest {file}: no such file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {file}: not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"manifest {file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or "palermo_manifest" not in data:
        raise ManifestError(
            f"manifest {file}: not a Palermo manifest (a JSON object with palermo_manifest: 1)"
        )
    if data["palermo_manifest"] != VERSION or isinstance(data["palermo_manifest"], bool):
        raise ManifestError(
            f"manifest {file}: palermo_manifest is {data['palermo_manifest']!r}; this Palermo"
            f" reads version {VERSION}"
        )
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestError(f"manifest {file}: 'files' must be a non-empty list of file entries")
    folder = file.resolve().parent
    entries = tuple(
        _entry(file, folder, number, raw, compartment or "default")
        for number, raw in enumerate(files, start=1)
    )
    description = data.get("description")
    return Manifest(file, description if isinstance(description, str) else "", entries)


def _where(file: Path, number: int, raw: Any) -> str:
    name = raw.get("path") if isinstance(raw, dict) else None
    shown = f" ({name})" if isinstance(name, str) and name else ""
    return f"manifest {file}: entry {number}{shown}"


def _str(raw: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ManifestError(f"{where}: '{key}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string, not {value!r}")
    return value


def _str_map(raw: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: '{key}' must be an object of field: value, not {value!r}")
    out: dict[str, str] = {}
    for name, item in value.items():
        # defaults may be numbers ({"duration_s": 0}); column names are strings
        allowed = (str, int, float) if key == "defaults" else (str,)
        if not isinstance(item, allowed) or isinstance(item, bool):
            raise ManifestError(f"{where}: '{key}'.{name} must be a string, not {item!r}")
        out[str(name)] = str(item)
    return out


def _inside(folder: Path, relative: str, key: str, where: str) -> Path:
    """``relative`` resolved against the manifest's folder; it must stay inside it."""
    if Path(relative).is_absolute():
        raise ManifestError(f"{where}: '{key}' must be relative to the manifest's folder")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise ManifestError(f"{where}: '{key}' {relative!r} leads outside the manifest's folder")
    return path


def _entry(file: Path, folder: Path, number: int, raw: Any, compartment: str) -> ManifestEntry:
    where = _where(file, number, raw)
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected an object with path and mapping, not {raw!r}")
    unknown = sorted(set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise ManifestError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(ENTRY_KEYS)})"
        )
    path_text = _str(raw, "path", where, required=True)
    mapping_text = _str(raw, "mapping", where, required=True)
    assert path_text is not None and mapping_text is not None
    path = _inside(folder, path_text, "path", where)
    if not path.is_file():
        raise ManifestError(f"{where}: no such file {path}")
    columns = _str_map(raw, "columns", where)
    defaults = _str_map(raw, "defaults", where)
    options = raw.get("options")
    if options is not None and not isinstance(options, dict):
        raise ManifestError(f"{where}: 'options' must be an object, not {options!r}")
    encoding = _str(raw, "encoding", where)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ManifestError(f"{where}: unknown encoding {encoding!r}") from None
    opts = IngestOptions(
        _str(raw, "compartment", where) or compartment,
        _str(raw, "delimiter", where),
        encoding,
        _str(raw, "sheet", where),
    )
    if mapping_text in builtin_names():
        mapping_source = mapping_text
    elif Path(mapping_text).suffix.lower() in (".yml", ".yaml"):
        mapping_source = str(_inside(folder, mapping_text, "mapping", where))
    else:
        raise ManifestError(
            f"{where}: no built-in mapping {mapping_text!r} (built-in:"
            f" {', '.join(builtin_names())}); or a .yml file relative to the manifest"
        )
    try:
        check_compartment_name(opts.compartment)
        mapping = load_mapping(mapping_source)
        if columns:
            mapping = mapping.with_columns(columns)
        if defaults:
            mapping = mapping.with_defaults(defaults)
        if options:
            mapping = mapping.with_options(options)
        _check_header(mapping, path, opts)
    except PalermoError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    description = raw.get("description")
    return ManifestEntry(
        number, where, path, mapping, opts, description if isinstance(description, str) else ""
    )


def _check_header(mapping: Mapping, path: Path, opts: IngestOptions) -> None:
    """A CSV or XLSX file's header must hold the mapping's required columns."""
    fmt = format_for(mapping, path.name)
    if fmt == "csv":
        columns = readers.csv_header(
            path, path.name, delimiter=opts.delimiter, encoding=opts.encoding
        )
    elif fmt == "xlsx":
        columns = readers.xlsx_header(path, path.name, sheet=opts.sheet)
    else:
        return
    check_columns(mapping, columns, path.name)


def ingest_manifest(
    store: Store,
    path: str | Path,
    *,
    compartment: str | None = None,
    progress: Progress | None = None,
    on_report: Callable[[IngestReport], None] | None = None,
) -> list[IngestReport]:
    """Check the whole manifest, then ingest its files in order (see the module's doc).
    ``on_report`` hears of each file as it is done (the ones before a file that fails too)."""
    manifest = load_manifest(path, compartment=compartment)
    for entry in manifest.entries:
        try:
            store.scope.require(entry.options.compartment)
            check_timezone(store.engine, entry.mapping)
        except PalermoError as exc:
            raise type(exc)(f"{entry.where}: {exc}") from exc
    reports: list[IngestReport] = []
    for entry in manifest.entries:
        try:
            report = ingest_file(store, entry.path, entry.mapping, entry.options, progress=progress)
        except PalermoError as exc:
            done = " (the entries before it were ingested; re-running skips them)"
            raise type(exc)(f"{entry.where}: {exc}{done if reports else ''}") from exc
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports
