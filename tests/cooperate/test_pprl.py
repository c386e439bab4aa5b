"""Privacy-preserving record linkage through the CLI, as two agencies would use it: a shared
secret, each list encoded on its own side, the encoded files matched without a name; measured
against plain-text linkage (``palermo link``) of the same simulated persons."""

from __future__ import annotations

import base64
import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import fail_cli as fail
from conftest import run_cli as run
from palermo.cli import main
from palermo.cooperate import pprl
from palermo.errors import PalermoError
from palermo.resolve import link_files
from palermo.simulate.people import COLUMNS, person_lists


def write(path: Path, header: list[str] | tuple[str, ...], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(header))
        w.writeheader()
        w.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two agencies' lists of simulated persons (other scripts, typos, swapped day and month,
    missing values, nicknames), the true pairs across them, and a shared secret."""
    folder = tmp_path_factory.mktemp("pprl")
    rows: dict[int, list[dict[str, str]]] = {0: [], 1: []}
    truth: dict[str, str] = {}
    for lst, true_id, record in person_lists(2400, 11, lists=2):
        rows[lst].append(record)
        truth[record["record_id"]] = true_id
    a = write(folder / "police.csv", COLUMNS, rows[0])
    b = write(folder / "ngo.csv", COLUMNS, rows[1])
    in_a = {r["record_id"] for r in rows[0]}
    by_person: dict[str, list[str]] = {}
    for rid, pid in truth.items():
        by_person.setdefault(pid, []).append(rid)
    true_pairs = {
        (x, y) for ids in by_person.values() for x, y in itertools.permutations(ids, 2)
        if x in in_a and y not in in_a
    }  # fmt: skip
    secret = folder / "jit.key"
    assert main(["pprl", "secret", "--out", str(secret)]) == 0
    return {"folder": folder, "a": a, "b": b, "rows": rows, "true": true_pairs, "secret": secret}


def encode(capsys: pytest.CaptureFixture[str], src: Path, secret: Path, out: Path,
           *extra: str) -> dict[str, Any]:  # fmt: skip
    return run(capsys, "pprl", "encode", str(src), "--secret", str(secret), "--out", str(out),
               *extra, "--json")  # fmt: skip


def test_pprl_finds_95_percent_of_what_plain_text_linkage_finds(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    a_enc, b_enc, matches = tmp_path / "a.enc.csv", tmp_path / "b.enc.csv", tmp_path / "m.csv"
    # exactly as the issue spells the commands (no --id-column: record_id is recognised)
    for src, dst in ((lists["a"], a_enc), (lists["b"], b_enc)):
        capsys.readouterr()
        assert main(["pprl", "encode", str(src), "--secret", str(lists["secret"]),
                     "--out", str(dst)]) == 0, capsys.readouterr().err  # fmt: skip
    assert main(["pprl", "match", str(a_enc), str(b_enc), "--out", str(matches)]) == 0
    found = {(r["id_a"], r["id_b"]) for r in read(matches)}

    plain_out = tmp_path / "plain.csv"
    link_files(lists["a"], lists["b"], id_column="record_id", out=plain_out)
    clusters: dict[str, list[str]] = {}
    for r in read(plain_out):
        clusters.setdefault(r["cluster_id"], []).append(r["record_id"])
    in_a = {r["record_id"] for r in lists["rows"][0]}
    plain = {(x, y) for ids in clusters.values() for x, y in itertools.permutations(ids, 2)
             if x in in_a and y not in in_a}  # fmt: skip
    true = lists["true"]
    plain_true = plain & true
    assert len(plain_true) > 0.9 * len(true)  # the plain-text baseline is a good one
    share = len(found & plain_true) / len(plain_true)
    precision = len(found & true) / len(found)
    print(f"PPRL: {share:.3f} of plain-text's true matches, precision {precision:.3f}")
    assert share >= 0.95
    assert precision >= 0.9
    # one match per record, best first
    ids_a = [x for x, _ in found]
    assert len(ids_a) == len(set(ids_a))
    scores = [float(r["score"]) for r in read(matches)]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= pprl.DEFAULT_THRESHOLD["xor"]


def test_encoded_file_holds_no_identifier_and_is_keyed(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    out1, out2, out3 = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "3.csv"
    result = encode(capsys, lists["a"], lists["secret"], out1)
    assert result["fields"] == ["name", "dob", "sex", "nationality", "city", "phone", "id_number"]
    assert result["id_column"] == "record_id"
    rows = read(out1)
    # in plain text nowhere: the encodings are base64 of keyed bits (a name can turn up inside
    # one only by chance, as any 5 letters can), every other cell is an id or the scheme
    plain = "\n".join(v for r in rows for c, v in r.items() if not c.startswith("clk"))
    names = {r["last_name"] for r in lists["rows"][0] if len(r["last_name"]) > 4}
    assert not [n for n in names if n in plain]
    assert not [r["phone"] for r in lists["rows"][0] if r["phone"] and r["phone"] in plain]
    for r in rows:
        for c, v in r.items():
            if c.startswith("clk") and v:
                base64.b64decode(v, validate=True)
    assert set(rows[0]) == {"id", "clk", *(f"clk_{f}" for f in result["fields"]), "scheme"}
    assert len(base64.b64decode(rows[0]["clk"])) == pprl.RECORD_BITS // 8
    assert len(base64.b64decode(rows[0]["clk_name"])) == pprl.FIELD_BITS // 8
    # deterministic under one secret, different under another
    encode(capsys, lists["a"], lists["secret"], out2)
    assert read(out2) == rows
    other = tmp_path / "other.key"
    pprl.new_secret(other)
    encode(capsys, lists["a"], other, out3)
    assert {r["clk"] for r in read(out3)}.isdisjoint({r["clk"] for r in rows})
    # a record without a phone has an empty phone cell, not an encoding of nothing
    no_phone = {r["record_id"] for r in lists["rows"][0] if not r["phone"]}
    assert no_phone and all(r["clk_phone"] == "" for r in rows if r["id"] in no_phone)
    # the secret is never overwritten
    assert "exists" in fail(capsys, "pprl", "secret", "--out", str(lists["secret"]))


def test_hardening_xor_folds_and_balance_keeps_half_the_bits(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    plain, folded, balanced = tmp_path / "n.csv", tmp_path / "x.csv", tmp_path / "b.csv"
    encode(capsys, lists["a"], lists["secret"], plain, "--harden", "none")
    encode(capsys, lists["a"], lists["secret"], folded, "--harden", "xor")
    encode(capsys, lists["a"], lists["secret"], balanced, "--harden", "balance")
    n, x, b = pprl.read_encoded(plain), pprl.read_encoded(folded), pprl.read_encoded(balanced)
    bits = pprl.RECORD_BITS
    assert n.clks.shape[1] * 8 == x.clks.shape[1] * 8 == bits
    assert b.clks.shape[1] * 8 == 2 * bits  # the filter and its complement
    weights = np.bitwise_count(b.clks).sum(axis=1)
    assert set(weights.tolist()) == {bits}  # every balanced encoding: exactly half set
    # the unfolded filter's weight tells long names from short ones; the balanced one cannot
    assert np.bitwise_count(n.clks).sum(axis=1).std() > 5
    assert n.scheme != x.scheme != b.scheme
    # balanced files match too, with their own default threshold
    b2 = tmp_path / "b2.csv"
    encode(capsys, lists["b"], lists["secret"], b2, "--harden", "balance")
    out = run(capsys, "pprl", "match", str(balanced), str(b2), "--out", str(tmp_path / "m.csv"),
              "--json")  # fmt: skip
    found = {(r["id_a"], r["id_b"]) for r in read(tmp_path / "m.csv")}
    assert out["threshold"] == pprl.DEFAULT_THRESHOLD["balance"]
    assert len(found & lists["true"]) >= 0.9 * len(lists["true"])
    assert len(found & lists["true"]) >= 0.9 * len(found)


def test_files_encoded_otherwise_are_refused(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    encode(capsys, lists["a"], lists["secret"], a)
    other = tmp_path / "other.key"
    pprl.new_secret(other)
    encode(capsys, lists["b"], other, b)
    err = fail(capsys, "pprl", "match", str(a), str(b), "--out", str(tmp_path / "m.csv"))
    assert "another secret" in err
    encode(capsys, lists["b"], lists["secret"], b, "--fields", "name,dob")
    err = fail(capsys, "pprl", "match", str(a), str(b), "--out", str(tmp_path / "m.csv"))
    assert "--fields name,dob" in err
    encode(capsys, lists["b"], lists["secret"], b, "--harden", "balance")
    assert "other hardening" in fail(capsys, "pprl", "match", str(a), str(b), "--out",
                                     str(tmp_path / "m.csv"))  # fmt: skip
    assert not (tmp_path / "m.csv").exists()
    short = tmp_path / "short.key"
    short.write_text("abc\n")
    assert "at least 16" in fail(capsys, "pprl", "encode", str(lists["a"]), "--secret",
                                 str(short), "--out", str(a))  # fmt: skip
    assert "unknown field" in fail(capsys, "pprl", "encode", str(lists["a"]), "--secret",
                                   str(lists["secret"]), "--out", str(a), "--fields", "name,iq")  # fmt: skip


def test_bad_rows_of_an_encoded_file_are_named_and_the_rest_matched(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    encode(capsys, lists["a"], lists["secret"], a)
    encode(capsys, lists["b"], lists["secret"], b)
    rows = read(b)
    rows[3]["clk"] = "not base64!"
    rows[7]["clk_dob"] = base64.b64encode(b"short").decode()
    write(b, list(rows[0]), rows)
    capsys.readouterr()
    assert main(["pprl", "match", str(a), str(b), "--out", str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err
    assert f"{b}: row 5: clk: not base64 (left out)" in err
    assert f"{b}: row 9: clk_dob: 5 bytes where the file's encodings have 32" in err
    found = read(tmp_path / "m.csv")
    assert found and rows[3]["id"] not in {r["id_b"] for r in found}
    assert "not an encoded file" in fail(capsys, "pprl", "match", str(lists["a"]), str(b),
                                         "--out", str(tmp_path / "x.csv"))  # fmt: skip


def test_scripts_nicknames_and_a_file_without_ids(
    capsys: pytest.CaptureFixture[str], lists: dict[str, Any], tmp_path: Path
) -> None:
    a = write(tmp_path / "a.csv", ["surname", "given_name", "dob"], [
        {"surname": "Попеску", "given_name": "Іонуц", "dob": "12.03.1990"},
        {"surname": "Smith", "given_name": "Robert", "dob": "1971-05-02"},
        {"surname": "Ivanova", "given_name": "Maria", "dob": "1985-11-30"},
        {"surname": "", "given_name": "", "dob": "1985-11-30"},  # a date is not a person
    ])  # fmt: skip
    b = write(tmp_path / "b.csv", ["id", "full_name", "date_of_birth"], [
        {"id": "n-1", "full_name": "Bob Smith", "date_of_birth": "02/05/1971"},
        {"id": "n-2", "full_name": "Ionuț Popescu", "date_of_birth": "1990-03-12"},
        {"id": "n-3", "full_name": "Olena Kovalenko", "date_of_birth": "1985-11-30"},
    ])  # fmt: skip
    ea, eb = tmp_path / "a.enc.csv", tmp_path / "b.enc.csv"
    result = encode(capsys, a, lists["secret"], ea)
    assert result["id_column"] is None  # records known by their row
    assert [r["id"] for r in read(ea)] == ["2", "3", "4", "5"]
    assert result["missing"]["name"] == 1
    encode(capsys, b, lists["secret"], eb)
    out = tmp_path / "m.csv"
    run(capsys, "pprl", "match", str(ea), str(eb), "--out", str(out), "--no-blocking")
    assert {(r["id_a"], r["id_b"]) for r in read(out)} == {("2", "n-2"), ("3", "n-1")}
    top = read(out)[0]
    assert float(top["dice_dob"]) == 1.0 and float(top["dice_name"]) > 0.5


def test_dice_and_lsh_agree_with_anonlink(lists: dict[str, Any], tmp_path: Path) -> None:
    """The vectorised Dice equals anonlink's native one; LSH blocking keeps the true pairs an
    exhaustive comparison finds."""
    from anonlink.similarities import dice_coefficient
    from bitarray import bitarray

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pprl.encode_file(lists["a"], secret=lists["secret"], out=a)
    pprl.encode_file(lists["b"], secret=lists["secret"], out=b)
    ea, eb = pprl.read_encoded(a), pprl.read_encoded(b)

    def ba(row: np.ndarray) -> bitarray:
        x = bitarray()
        x.frombytes(row.tobytes())
        return x

    sims, (ia, ib) = dice_coefficient([[ba(r) for r in ea.clks[:200]],
                                       [ba(r) for r in eb.clks[:200]]], 0.3)  # fmt: skip
    ours = pprl.dice_rows(ea.clks[np.asarray(ia)], eb.clks[np.asarray(ib)])
    assert len(sims) > 100 and np.allclose(ours, np.asarray(sims))
    every = set(zip(*(x.tolist() for x in pprl.all_pairs(ea.clks, eb.clks, 0.6)), strict=True))
    blocked = set(zip(*(x.tolist() for x in pprl.lsh_pairs(
        ea.clks, eb.clks, 0.6, tables=pprl.BLOCK_TABLES, bits=pprl.lsh_bits(ea.clks, eb.clks))), strict=True))  # fmt: skip
    assert blocked <= every
    true = {(ea.ids.index(x), eb.ids.index(y)) for x, y in lists["true"]}
    assert len(blocked & true) >= 0.97 * len(every & true)
    assert len(blocked) < 0.5 * len(ea.ids) * len(eb.ids)
    with pytest.raises(PalermoError, match="no such file"):
        pprl.read_encoded(tmp_path / "missing.csv")
