"""Privacy-preserving record linkage (PPRL): ``palermo pprl secret|encode|match``.

Two agencies want to know whether they hold the same persons without showing each other their
lists. Each turns its persons' quasi-identifiers into keyed Bloom-filter encodings (cryptographic
linkage keys, CLKs; Schnell, Bachteler & Reiher 2009) with a secret the two share and nobody else
holds; either side, or a third party that holds no secret, then matches the two encoded files by
Dice similarity without seeing a name.

- Values are normalised as ``palermo link`` normalises them (``resolve/fields.py``): names
  transliterated to Latin, their tokens sorted, the canonical form of a nickname added; dates of
  birth read from the common layouts; phones in E.164; countries as ISO codes.
- The encoding is clkhash's (Data61): every n-gram hashed with keyed BLAKE2, one key per field
  derived from the secret by HKDF, and each field inserting a set number of bits whatever its
  length (``bitsPerFeature``), so that a long name does not drown the date of birth. Each record
  gets one record-level CLK (every field in one filter) and one field-level CLK per field.
- Hardening against frequency attacks (Christen, Ranbaduge & Schnell, *Linking Sensitive Data*,
  2020, ch. 9): ``xor`` XOR-folds each filter in half (clkhash); ``balance`` appends to each filter
  its complement and shuffles the bits with a permutation keyed by the secret, so that every
  encoding has exactly half its bits set and its weight no longer tells a long name from a short
  one (written here: clkhash has no balancing); ``none`` leaves the filters as they are.
- Matching is anonlink's (Data61): the Dice coefficient over candidate pairs from blocking on the
  encodings' own bits (locality-sensitive hashing, so no further key leaves either side), and a
  greedy one-to-one assignment. Every match shows the record-level score and each field's.

The encoded file holds, per record, the id, the CLKs in base64 and a ``scheme`` column: the
version, the fields, the hardening and a check value of the secret (an HMAC of a fixed text), so
that files made with another secret or other settings are refused instead of silently matched.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import math
import os
import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from palermo.errors import PalermoError

VERSION = "palermo-pprl/1"  # changes whenever an encoding would change
#: Bits of a record-level CLK and of a field-level one (after XOR folding, before balancing).
RECORD_BITS = 1024
FIELD_BITS = 256
HARDENING = ("xor", "balance", "none")
_SALT = b"palermo pprl v1"  # HKDF salt: public, the same everywhere (the secret is the key)
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class Feature:
    """One quasi-identifier: how it is tokenised and how many bits its tokens set in a CLK.
    ``parts`` splits a value into clkhash features of their own (name, bits), each compared
    exactly; without it the value is one clkhash feature tokenised by ``comparison``."""

    name: str
    comparison: dict[str, Any]
    bits: int
    help: str
    parts: tuple[tuple[str, int], ...] = ()

    def clkhash_features(self) -> list[tuple[str, dict[str, Any], int]]:
        if not self.parts:
            return [(self.name, self.comparison, self.bits)]
        return [(f"{self.name}_{p}", {"type": "exact"}, b) for p, b in self.parts]

    def split(self, value: str) -> list[str]:
        if not self.parts:
            return [value]
        if not value:
            return [""] * len(self.parts)
        # a date YYYYMMDD: year, month, day, and day and month as an unordered pair, so that a
        # swapped day and month keeps two thirds of the bits and another day of the same month
        # keeps only the year's and month's
        y, m, d = value[:4], value[4:6], value[6:8]
        return [y, m, d, "/".join(sorted((m, d)))]


#: The fields that can be encoded, in the order they are encoded. Weights (bits) follow how
#: much each field tells persons apart; exact comparisons for values that are either equal or not.
FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("name", {"type": "ngram", "n": 2}, 300,
                "given and family names, tokens sorted (order-free), nickname canon added"),
        Feature("dob", {"type": "exact"}, 180,
                "date of birth: year, month, day and the unordered pair of day and month",
                parts=(("year", 45), ("month", 30), ("day", 30), ("day_month", 75))),
        Feature("sex", {"type": "exact"}, 24, "m or f"),
        Feature("nationality", {"type": "exact"}, 24, "ISO country code"),
        Feature("address", {"type": "ngram", "n": 2}, 60, "street address, lower case"),
        Feature("city", {"type": "ngram", "n": 2}, 60, "city or town, lower case"),
        Feature("postcode", {"type": "exact"}, 40, "postcode without spaces"),
        Feature("phone", {"type": "exact"}, 80, "phone number in E.164"),
        Feature("id_number", {"type": "exact"}, 80, "passport or national id, letters and digits"),
    )
}  # fmt: skip
#: The match rule: a pair matches when its score (the fields' Dice coefficients averaged with the
#: fields' bits as weights, a field either record lacks counting MISSING) is at least the
#: threshold. Candidates are the pairs whose record-level Dice is at least CANDIDATE_DICE (or the
#: threshold, if lower). Per hardening: balanced filters have half their bits set, so any two
#: score higher. Measured on the simulator's persons and FEBRL (benchmarks/pprl.py).
DEFAULT_THRESHOLD = {"xor": 0.75, "balance": 0.8, "none": 0.8}
CANDIDATE_DICE = {"xor": 0.6, "balance": 0.75, "none": 0.7}
MISSING = 0.6
#: LSH blocking on the record-level CLK's bits: ``tables`` samples of ``bits`` positions; two
#: records are compared when they agree on every sampled bit of at least one sample.
BLOCK_TABLES = 40
#: Up to this many pairs (about 14K x 14K records) every pair is compared, by anonlink's native
#: Dice (about 150M pairs a second): blocking would cost more than it saves, and lose pairs.
EXHAUSTIVE_PAIRS = 200_000_000
PAIRS_PER_TABLE = 1_000_000  # unrelated pairs one sample lets through (sets its bits: lsh_bits)


# -- the shared secret ---------------------------------------------------------------------------


def new_secret(path: Path) -> None:
    """Write a new random 256-bit secret (base64, one line) to ``path``, mode 0600; never over an
    existing file."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PalermoError(f"{path}: exists; a secret is never overwritten") from None
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(pysecrets.token_bytes(32)).decode() + "\n")


def read_secret(path: Path) -> bytes:
    """The secret in ``path``: a base64 line as ``palermo pprl secret`` writes, or any file of at
    least 16 bytes (its bytes as they are, trailing whitespace dropped)."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"--secret {path}: no such file")
    raw = path.read_bytes().strip()
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    secret = decoded if len(decoded) >= MIN_SECRET_BYTES else raw
    if len(secret) < MIN_SECRET_BYTES:
        raise PalermoError(
            f"--secret {path}: {len(secret)} bytes; a secret needs at least {MIN_SECRET_BYTES}"
            " (make one with: palermo pprl secret --out KEYFILE)"
        )
    return secret


def check_value(secret: bytes) -> str:
    """A short HMAC of a fixed text: equal for equal secrets, and telling nothing of the secret
    (which is random and long; a guessable passphrase would be guessable from any CLK too)."""
    return hmac.new(secret, b"palermo pprl check", hashlib.sha256).hexdigest()[:12]


def scheme_of(secret: bytes, fields: Sequence[str], harden: str) -> str:
    return f"{VERSION};fields={','.join(fields)};harden={harden};check={check_value(secret)}"


# -- encoding ------------------------------------------------------------------------------------


def _schema(features: Sequence[Feature], bits: int, harden: str, info: bytes) -> Any:
    from clkhash.schema import from_json_dict

    folds = 1 if harden == "xor" else 0
    dct = {
        "version": 3,
        "clkConfig": {
            "l": bits,
            "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64,
                    "salt": base64.b64encode(_SALT).decode(),
                    "info": base64.b64encode(info).decode()},
        },
        "features": [
            {"identifier": name, "format": {"type": "string", "encoding": "utf-8"},
             "hashing": {"comparison": comparison, "strategy": {"bitsPerFeature": bits},
                         "hash": {"type": "blakeHash"}}}
            for f in features for name, comparison, bits in f.clkhash_features()
        ],
    }  # fmt: skip
    schema = from_json_dict(dct)
    # clkhash 0.17 reads the fold count from the key 'xor_folds', not the documented 'xorFolds'
    # (which its own JSON schema validates and then ignores): set it on the parsed schema.
    schema.xor_folds = folds
    return schema


def _permutation(secret: bytes, purpose: str, size: int) -> np.ndarray:
    """A permutation of ``range(size)`` keyed by the secret (both partners derive the same one)."""
    seed = hmac.new(secret, f"palermo pprl permutation {purpose}".encode(), hashlib.sha256)
    rng = np.random.default_rng(int.from_bytes(seed.digest(), "big"))
    return rng.permutation(size)


def _balance(filters: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Balanced Bloom filters (Schnell & Borgs 2016): each row of unpacked bits followed by its
    complement, columns shuffled by ``order``. Hand-written: no maintained library has it."""
    both = np.concatenate([filters, 1 - filters], axis=1)
    return both[:, order]


def _to_bits(clks: Sequence[Any]) -> np.ndarray:
    """clkhash's bitarrays as an (n, bits) uint8 array of 0/1."""
    if not clks:
        return np.zeros((0, 0), dtype=np.uint8)
    packed = np.frombuffer(b"".join(c.tobytes() for c in clks), dtype=np.uint8)
    return np.unpackbits(packed.reshape(len(clks), -1), axis=1)


def _b64_rows(bits: np.ndarray) -> list[str]:
    packed = np.packbits(bits, axis=1)
    return [base64.b64encode(row.tobytes()).decode() for row in packed]


@dataclass
class EncodeResult:
    records: int
    id_column: str | None
    fields: list[str]
    harden: str
    scheme: str
    missing: dict[str, int]
    out: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "id_column": self.id_column, "fields": self.fields, "harden": self.harden,
                "scheme": self.scheme, "missing": self.missing, "out": str(self.out),
                "seconds": self.seconds}  # fmt: skip


_FIELD_SQL = {
    "name": "name_text",
    "dob": "replace(dob, '-', '')",
    "sex": "gender",
    "nationality": "nationality",
    "address": "address",
    "city": "city",
    "postcode": "postcode",
    "phone": "phone",
    "id_number": "id_number",
}
#: The input columns (``palermo link``'s fields) a feature is made from.
_NEEDS = {
    "name": ("first_name", "last_name", "full_name"),
    "dob": ("date_of_birth",),
    "sex": ("gender",),
    "nationality": ("nationality",),
    "address": ("address",),
    "city": ("city",),
    "postcode": ("postcode",),
    "phone": ("phone",),
    "id_number": ("id_number",),
}


#: Id columns recognised when ``--id-column`` is not given (case-insensitive, first found).
ID_COLUMNS = ("id", "record_id", "rec_id", "person_id", "unique_id", "uid")


def detect_id_column(path: Path, encoding: str) -> str | None:
    """The file's id column by its name, or None (records are then known by their row)."""
    try:
        with Path(path).open(newline="", encoding=encoding) as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return None  # read_source names the problem with the file, row and reason
    lower = {h.strip().lower().lstrip("\ufeff"): h for h in header}
    return next((lower[c] for c in ID_COLUMNS if c in lower), None)


def name_text(name_key: str | None) -> str:
    """The text a name is encoded from: its transliterated tokens sorted (the order of given and
    family names does not matter), the names each token is a nickname or formal form of ('bob'
    adds 'robert', 'robert' adds 'bob'; tried on the first forename alone: no better, within the
    run-to-run spread a new secret gives), and
    each token's metaphone key in capitals, which brings romanisations together ('liuboff' and
    'liubov' are both LBF)."""
    if not name_key:
        return ""
    from palermo.resolve import fields as F

    tokens = name_key.split()
    words = set(tokens).union(*(F.nickname_forms(t) for t in tokens))
    sounds = {p.upper() for t in tokens if (p := F.phonetic(t))}
    return " ".join(sorted(words) + sorted(sounds))


def parse_fields(text: str | None) -> list[str] | None:
    """The fields of ``--fields`` in canonical order; None for the default (every field the
    file has a column for)."""
    if not text:
        return None
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FEATURES]
    if unknown:
        raise PalermoError(f"--fields: unknown field {unknown[0]!r} (known: {', '.join(FEATURES)})")
    if "name" not in chosen:
        raise PalermoError("--fields: 'name' must be one of the fields")
    return [f for f in FEATURES if f in chosen]  # canonical order: both sides encode alike


def encode_file(
    persons: Path,
    *,
    secret: Path,
    out: Path,
    id_column: str | None = None,
    columns: dict[str, str] | None = None,
    fields: Sequence[str] | None = None,
    harden: str = "xor",
    encoding: str = "utf-8",
    phone_region: str | None = None,
    workers: int | None = None,
) -> EncodeResult:
    """Encode ``persons`` (a CSV with the columns ``palermo link`` recognises) into ``out``: id,
    the record-level CLK, one CLK per field, the scheme. Without ``id_column``, a column named as
    in ``ID_COLUMNS`` is the id, or else the row number. Without ``fields``, every field the file
    has a column for."""
    from clkhash.clk import generate_clks

    from palermo.resolve.link import ROW_ID, prepare, read_source

    started = time.perf_counter()
    if harden not in HARDENING:
        raise PalermoError(f"--harden {harden}: one of {', '.join(HARDENING)}")
    key = read_secret(secret)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    id_column = id_column or detect_id_column(persons, encoding) or ROW_ID
    mapping = read_source(con, Path(persons), "A", id_column, columns or {}, encoding)
    if fields is None:
        fields = [f for f in FEATURES if any(c in mapping for c in _NEEDS[f])]
    for f in fields:
        if not any(c in mapping for c in _NEEDS[f]):
            raise PalermoError(
                f"{persons}: --fields {f}: no column for it (give one with --columns"
                f" {_NEEDS[f][0]}=COLUMN)"
            )
    prepare(con, {"A": mapping}, id_column, phone_region)
    rows = con.execute(
        "SELECT record_id, name_key, "
        + ", ".join(_FIELD_SQL[f] if f != "name" else "NULL" for f in fields)
        + " FROM prepared ORDER BY try_cast(record_id AS BIGINT) NULLS LAST, record_id"
    ).fetchall()
    con.close()
    ids = [r[0] for r in rows]
    values: list[list[str]] = []
    for r in rows:
        name = name_text(r[1])
        values.append(
            [name if f == "name" else (v or "") for f, v in zip(fields, r[2:], strict=True)]
        )
    missing = {f: sum(1 for v in values if not v[i]) for i, f in enumerate(fields)}
    feats = [FEATURES[f] for f in fields]
    record_schema = _schema(feats, RECORD_BITS, harden, b"record")
    columns_out: dict[str, list[str]] = {}
    split = [[x for f, v in zip(feats, row, strict=True) for x in f.split(v)] for row in values]
    record_bits = _to_bits(generate_clks(split, record_schema, key, validate=False,
                                          max_workers=workers))  # fmt: skip
    blocks: list[tuple[str, np.ndarray]] = [("clk", record_bits)]
    for i, feat in enumerate(feats):
        schema = _schema([feat], FIELD_BITS, harden, f"field {feat.name}".encode())
        col = [feat.split(v[i]) for v in values]
        blocks.append((f"clk_{feat.name}", _to_bits(generate_clks(col, schema, key, validate=False,
                                                                 max_workers=workers))))  # fmt: skip
    for i, (name, bits) in enumerate(blocks):
        if harden == "balance" and len(bits):
            bits = _balance(bits, _permutation(key, name, bits.shape[1] * 2))
        cells = _b64_rows(bits) if len(bits) else []
        if i:  # a field a record lacks: an empty cell (balancing would hide that it is empty)
            cells = ["" if not v[i - 1] else c for v, c in zip(values, cells, strict=True)]
        columns_out[name] = cells
    scheme = scheme_of(key, fields, harden)
    header = ["id", *columns_out, "scheme"]
    tmp = Path(out).with_name(Path(out).name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for n, rid in enumerate(ids):
            w.writerow([rid, *(c[n] for c in columns_out.values()), scheme])
    tmp.replace(out)
    return EncodeResult(records=len(ids), id_column=None if id_column == ROW_ID else id_column,
                        fields=list(fields), harden=harden, scheme=scheme,
                        missing=missing, out=Path(out),
                        seconds=round(time.perf_counter() - started, 2))  # fmt: skip


# -- matching ------------------------------------------------------------------------------------


@dataclass
class Encoded:
    """One encoded file: ids, the record-level CLKs and the field-level ones (packed bits, one
    row per record), and the rows refused with the reason."""

    path: Path
    scheme: str
    ids: list[str]
    clks: np.ndarray
    fields: dict[str, np.ndarray]
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _scheme_parts(scheme: str) -> dict[str, str]:
    head, *rest = scheme.split(";")
    parts = dict(p.split("=", 1) for p in rest if "=" in p)
    parts["version"] = head
    return parts


def read_encoded(path: Path) -> Encoded:
    """Read an encoded file; a row whose values cannot be decoded is refused (named with its row
    and field), the others kept."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or "id" not in header or "clk" not in header or "scheme" not in header:
            raise PalermoError(
                f"{path}: not an encoded file (needs the columns id, clk, scheme, as"
                " palermo pprl encode writes)"
            )
        at = {h: i for i, h in enumerate(header)}
        cols = ["clk", *(h for h in header if h.startswith("clk_"))]
        ids: list[str] = []
        packed: dict[str, list[bytes | None]] = {c: [] for c in cols}
        rejected: list[dict[str, Any]] = []
        scheme: str | None = None
        widths: dict[str, int] = {}
        seen: set[str] = set()
        for rowno, row in enumerate(reader, start=2):

            def refuse(col: str, reason: str, rowno: int = rowno, row: list[str] = row) -> None:
                rejected.append({"file": str(path), "row": rowno, "field": col, "reason": reason,
                                 "id": row[at["id"]] if len(row) > at["id"] else None})  # fmt: skip

            if len(row) != len(header):
                refuse("", f"{len(row)} values for {len(header)} columns")
                continue
            rid = row[at["id"]].strip()
            if not rid:
                refuse("id", "empty id")
                continue
            if rid in seen:
                refuse("id", f"duplicate id {rid!r}")
                continue
            if scheme is None:
                _check_scheme(path, rowno, row[at["scheme"]])
                scheme = row[at["scheme"]]
            elif row[at["scheme"]] != scheme:
                refuse("scheme", "another scheme than the file's first record's")
                continue
            decoded: dict[str, bytes | None] = {}
            for col in cols:
                if col != "clk" and not row[at[col]]:
                    decoded[col] = None  # the record lacks this field
                    continue
                try:
                    raw = base64.b64decode(row[at[col]], validate=True)
                except (binascii.Error, ValueError):
                    refuse(col, "not base64")
                    break
                width = widths.setdefault(col, len(raw))
                if len(raw) != width or not raw:
                    refuse(col, f"{len(raw)} bytes where the file's encodings have {width}")
                    break
                decoded[col] = raw
            else:
                seen.add(rid)
                ids.append(rid)
                for col in cols:
                    packed[col].append(decoded[col])
    if scheme is None:
        raise PalermoError(f"{path}: no encoded records")
    arrays = {}
    for c, v in packed.items():
        blank = bytes(widths.get(c, 1))
        arrays[c] = np.frombuffer(b"".join(x or blank for x in v), np.uint8).reshape(len(v), -1)
    clks = arrays.pop("clk")
    return Encoded(path, scheme, ids, clks, {c[4:]: v for c, v in arrays.items()}, rejected)


def _check_scheme(path: Path, rowno: int, scheme: str) -> None:
    parts = _scheme_parts(scheme)
    if parts["version"] != VERSION or not {"fields", "harden", "check"} <= set(parts):
        raise PalermoError(
            f"{path}: row {rowno}: scheme: {scheme[:60]!r} is not one this version reads"
            f" ({VERSION})"
        )


def compatible(a: Encoded, b: Encoded) -> None:
    """Refuse two files that were not encoded alike: their CLKs could not be compared."""
    if a.scheme == b.scheme:
        return
    sa, sb = _scheme_parts(a.scheme), _scheme_parts(b.scheme)
    if sa["check"] != sb["check"]:
        why = f"another secret (check values {sa['check']} and {sb['check']})"
    elif sa["fields"] != sb["fields"]:
        common = [f for f in sa["fields"].split(",") if f in sb["fields"].split(",")]
        why = (f"other fields ({sa['fields']} and {sb['fields']}); encode both with"
               f" --fields {','.join(common)}")  # fmt: skip
    elif sa["harden"] != sb["harden"]:
        why = f"other hardening ({sa['harden']} and {sb['harden']})"
    else:
        why = f"another scheme ({a.scheme} and {b.scheme})"
    raise PalermoError(f"{a.path} and {b.path} were encoded with {why}; they cannot be matched")


def _popcount(rows: np.ndarray) -> np.ndarray:
    counts: np.ndarray = np.bitwise_count(rows).sum(axis=1, dtype=np.int64)
    return counts


def dice_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice coefficients of paired rows of packed bits; NaN where either row is empty (a field
    one of the two records lacks: missing, not disagreeing)."""
    ca, cb = _popcount(a), _popcount(b)
    inter = _popcount(a & b)
    both = (ca > 0) & (cb > 0)
    sims: np.ndarray = np.where(both, 2.0 * inter / np.maximum(ca + cb, 1), np.nan)
    return sims


def score(dice: dict[str, np.ndarray], fields: Sequence[str]) -> np.ndarray:
    """The match score: the mean of the fields' Dice coefficients weighted by each field's bits,
    a field that either record lacks counting ``MISSING`` (neither for nor against). (A pair
    where either record lacks the name is not a match at all: ``match_files``.)"""
    weights = np.array([FEATURES[f].bits for f in fields], dtype=np.float64)
    total: np.ndarray = np.zeros(len(next(iter(dice.values()))) if dice else 0)
    for f, w in zip(fields, weights, strict=True):
        total += w * np.nan_to_num(dice[f], nan=MISSING)
    total /= weights.sum()
    return total


def lsh_bits(a: np.ndarray, b: np.ndarray, budget: int = PAIRS_PER_TABLE) -> int:
    """Bits per LSH sample such that about ``budget`` pairs of unrelated records agree on all of
    them: two random records agree on a bit with probability p_a p_b + (1 - p_a)(1 - p_b),
    from the files' own bit densities. More records, more bits; never fewer than 4."""
    pa = _popcount(a).sum() / max(a.size * 8, 1)
    pb = _popcount(b).sum() / max(b.size * 8, 1)
    q = float(pa * pb + (1 - pa) * (1 - pb))
    pairs = float(len(a)) * float(len(b))
    if pairs <= budget or not 0 < q < 1:
        return 4
    return max(4, min(32, math.ceil(math.log(pairs / budget) / math.log(1 / q))))


def lsh_pairs(
    a: np.ndarray, b: np.ndarray, floor: float, *, tables: int, bits: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(index in a, index in b) of the pairs whose record-level Dice is at least ``floor``
    among those that agree on all ``bits`` sampled bit positions of at least one of ``tables``
    samples (Hamming LSH). Vectorised here: anonlink's own bit blocking makes a Python call per
    record and per block, 40 s for 100K x 100K records where this takes a few."""
    nb = len(b)
    pa, pb = _popcount(a), _popcount(b)
    # rows as 64-bit words: AND and popcount on 16 words instead of 128 bytes (4x faster)
    wa, wb = _words(a), _words(b)
    rng = np.random.default_rng(seed)
    powers = (1 << np.arange(bits, dtype=np.int64)).astype(np.int64)
    found: list[np.ndarray] = []
    for _ in range(tables):
        pos = rng.choice(a.shape[1] * 8, size=bits, replace=False)
        ka, kb = _sampled(a, pos) @ powers, _sampled(b, pos) @ powers
        oa, ob = np.argsort(ka, kind="stable"), np.argsort(kb, kind="stable")
        sa, sb = ka[oa], kb[ob]
        keys, a_start, a_count = np.unique(sa, return_index=True, return_counts=True)
        b_start = np.searchsorted(sb, keys, "left")
        b_count = np.searchsorted(sb, keys, "right") - b_start
        sizes = a_count * b_count
        for chunk in _chunks(sizes, 2_000_000):
            g = np.repeat(chunk, sizes[chunk])
            offsets = np.cumsum(sizes[chunk]) - sizes[chunk]
            k = np.arange(len(g)) - np.repeat(offsets, sizes[chunk])
            ia = oa[a_start[g] + k // b_count[g]]
            ib = ob[b_start[g] + k % b_count[g]]
            inter = _popcount(wa[ia] & wb[ib])
            keep = 2.0 * inter >= floor * (pa[ia] + pb[ib])
            found.append(ia[keep] * nb + ib[keep])
    codes = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    return codes // nb, codes % nb


def _sampled(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The bits at positions ``pos`` (numbered as np.unpackbits numbers them) of packed rows,
    as an (n, len(pos)) int64 array; without unpacking whole rows (1 KB a record)."""
    picked: np.ndarray = (rows[:, pos >> 3] >> (7 - (pos & 7)).astype(np.uint8)) & 1
    return picked.astype(np.int64)


def _words(rows: np.ndarray) -> np.ndarray:
    """Packed rows as 64-bit words where their width allows (else as they are)."""
    rows = np.ascontiguousarray(rows)
    return rows.view(np.uint64) if rows.shape[1] % 8 == 0 else rows


def _chunks(sizes: np.ndarray, budget: int) -> list[np.ndarray]:
    """Groups (indices into ``sizes``, those with pairs) cut into runs of about ``budget`` pairs."""
    groups = np.flatnonzero(sizes)
    if not len(groups):
        return []
    cum = np.cumsum(sizes[groups])
    cuts = np.searchsorted(cum, np.arange(budget, cum[-1], budget))
    return [c for c in np.split(groups, np.unique(cuts)) if len(c)]


def all_pairs(a: np.ndarray, b: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair with record-level Dice at least ``floor`` (anonlink's native Dice, no
    blocking)."""
    from anonlink import candidate_generation
    from anonlink.similarities import dice_coefficient
    from bitarray import bitarray

    def bitarrays(rows: np.ndarray) -> list[Any]:
        out = []
        for r in rows:
            ba = bitarray()
            ba.frombytes(r.tobytes())
            out.append(ba)
        return out

    if not len(a) or not len(b):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _sims, _dsets, (ia, ib) = candidate_generation.find_candidate_pairs(
        [bitarrays(a), bitarrays(b)], dice_coefficient, floor
    )
    return np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)


def one_to_one(sims: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Indices of the pairs anonlink's greedy solver keeps: best first, each record once."""
    from anonlink.solving import greedy_solve

    if not len(sims):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((ib, ia, -sims))  # the solver takes pairs best first
    dsets = (np.zeros(len(ia), dtype=np.uint32), np.ones(len(ib), dtype=np.uint32))
    groups = greedy_solve((sims[order].astype(np.float64), dsets,
                           (ia[order].astype(np.uint32), ib[order].astype(np.uint32))))  # fmt: skip
    kept = {(int(x[1]), int(y[1])) if x[0] == 0 else (int(y[1]), int(x[1]))
            for x, y in (g for g in groups if len(g) == 2)}  # fmt: skip
    return np.array(
        [k for k, pair in enumerate(zip(ia.tolist(), ib.tolist(), strict=True)) if pair in kept],
        dtype=np.int64,
    )


@dataclass
class MatchResult:
    records_a: int
    records_b: int
    candidates: int
    matches: int
    threshold: float
    fields: list[str]
    one_to_one: bool
    blocking: str
    rejected: list[dict[str, Any]]
    out: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"records_a": self.records_a, "records_b": self.records_b,
                "candidates": self.candidates, "matches": self.matches,
                "threshold": self.threshold, "fields": self.fields, "one_to_one": self.one_to_one,
                "blocking": self.blocking, "rejected": self.rejected, "out": str(self.out),
                "seconds": self.seconds}  # fmt: skip


def match_files(
    a: Path,
    b: Path,
    *,
    out: Path,
    threshold: float | None = None,
    best_only: bool = True,
    blocking: bool = True,
    tables: int = BLOCK_TABLES,
    bits: int | None = None,
) -> MatchResult:
    """Match two encoded files; write ``out``: id_a, id_b, score, the record-level Dice, then
    each field's Dice (empty where either record lacks the field), best first."""
    started = time.perf_counter()
    if threshold is not None and not 0 < threshold <= 1:
        raise PalermoError(f"--threshold {threshold}: must be above 0 and at most 1")
    ea, eb = read_encoded(a), read_encoded(b)
    compatible(ea, eb)
    parts = _scheme_parts(ea.scheme)
    fields, harden = parts["fields"].split(","), parts["harden"]
    threshold = DEFAULT_THRESHOLD.get(harden, 0.75) if threshold is None else threshold
    missing = [f for f in fields if f not in ea.fields or f not in eb.fields]
    if missing:
        raise PalermoError(f"{a} / {b}: no column clk_{missing[0]} for a field of the scheme")
    floor = min(CANDIDATE_DICE.get(harden, 0.6), threshold)
    if blocking and len(ea.ids) * len(eb.ids) <= EXHAUSTIVE_PAIRS:
        blocking = False  # compared exhaustively: faster here than blocking, and loses nothing
    if blocking:
        bits = bits or lsh_bits(ea.clks, eb.clks)
        ia, ib = lsh_pairs(ea.clks, eb.clks, floor, tables=tables, bits=bits)
    else:
        ia, ib = all_pairs(ea.clks, eb.clks, floor)
    candidates = len(ia)
    dice = {f: dice_rows(ea.fields[f][ia], eb.fields[f][ib]) for f in fields}
    sims = score(dice, fields)
    sims[np.isnan(dice["name"])] = (
        0.0  # no match without a name on both sides: a date is not a person
    )
    keep = np.flatnonzero(sims >= threshold)
    if best_only:
        keep = keep[one_to_one(sims[keep], ia[keep], ib[keep])]
    keep = keep[np.lexsort((ib[keep], ia[keep], -sims[keep]))]
    record = dice_rows(ea.clks[ia[keep]], eb.clks[ib[keep]])
    tmp = Path(out).with_name(Path(out).name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id_a", "id_b", "score", "dice", *(f"dice_{f}" for f in fields)])
        for n, k in enumerate(keep.tolist()):
            w.writerow([ea.ids[ia[k]], eb.ids[ib[k]], f"{sims[k]:.4f}", f"{record[n]:.4f}",
                        *("" if np.isnan(dice[f][k]) else f"{dice[f][k]:.4f}" for f in fields)])  # fmt: skip
    tmp.replace(out)
    return MatchResult(
        records_a=len(ea.ids), records_b=len(eb.ids), candidates=candidates, matches=len(keep),
        threshold=threshold, fields=fields, one_to_one=best_only,
        blocking=f"lsh {tables}x{bits} bits" if blocking else "none (all pairs)",
        rejected=ea.rejected + eb.rejected, out=Path(out),
        seconds=round(time.perf_counter() - started, 2),
    )  # fmt: skip
