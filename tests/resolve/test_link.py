"""`palermo link`: the same people found across scripts and clerks' errors; every record out once;
the result independent of row order; bad input refused with the file and the reason."""

from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palermo.cli import main
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


def pairs_of(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {p for m in groups.values() for p in itertools.combinations(sorted(m), 2)}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("people")
    truth: dict[str, str] = {}
    rows = []
    for _lst, true_id, record in person_lists(900, 5, lists=1):
        truth[record["record_id"]] = true_id
        rows.append(record)
    return write(folder / "people.csv", COLUMNS, rows), truth


def test_dedupe_finds_the_same_people_across_scripts_and_errors(
    tmp_path: Path, people: tuple[Path, dict[str, str]]
) -> None:
    path, truth = people
    out = tmp_path / "clusters.csv"
    result = link_files(path, id_column="record_id", out=out, pairs=tmp_path / "pairs.csv")
    rows = read(out)
    assert [r["record_id"] for r in rows] == sorted(truth)  # every record once
    assert result.records == len(truth)
    predicted: dict[str, list[str]] = {}
    actual: dict[str, list[str]] = {}
    for r in rows:
        predicted.setdefault(r["cluster_id"], []).append(r["record_id"])
        actual.setdefault(truth[r["record_id"]], []).append(r["record_id"])
        assert 0 < float(r["match_probability"]) <= 1
    found, true = pairs_of(predicted), pairs_of(actual)
    precision = len(found & true) / len(found)
    recall = len(found & true) / len(true)
    assert precision > 0.97 and recall > 0.9, (precision, recall)
    # the scored pairs say which level of each comparison decided them
    scored = read(tmp_path / "pairs.csv")
    assert scored and {"name", "name_weight", "date_of_birth"} <= set(scored[0])
    assert any("any script" in p["name"] for p in scored)


def test_a_name_in_three_scripts_and_layouts(tmp_path: Path) -> None:
    rows = [
        {"ID": "1", "first_name": "Ionuț", "last_name": "Popescu", "date_of_birth": "1985-03-07"},
        {"ID": "2", "first_name": "Іонуц", "last_name": "Попеску", "date_of_birth": "07.03.1985"},
        {"ID": "3", "first_name": "IONUT", "last_name": "POPESCU", "date_of_birth": "1985-07-03"},
        {"ID": "4", "first_name": "Maria", "last_name": "Ionescu", "date_of_birth": "1990-01-01"},
    ]
    path = write(tmp_path / "a.csv", ["ID", "first_name", "last_name", "date_of_birth"], rows)
    link_files(path, id_column="ID", out=tmp_path / "c.csv")
    clusters = {r["record_id"]: r["cluster_id"] for r in read(tmp_path / "c.csv")}
    assert clusters["1"] == clusters["2"] == clusters["3"] != clusters["4"]


def test_greek_arabic_and_cyrillic_names_meet_their_latin_spellings(tmp_path: Path) -> None:
    rows = [
        ("1", "Γιώργος", "Παπαδόπουλος", "1970-04-05"),
        ("2", "Giorgos", "Papadopoulos", "05/04/1970"),
        ("3", "محمد", "علي", "1980-01-09"),  # written without vowels
        ("4", "Mohamed", "Ali", "1980-01-09"),
        ("5", "Mohammed", "Aly", "09.01.1980"),
        ("6", "Анна", "Иванова", "1990-02-03"),
        ("7", "Anna", "Ivanova", "1990-02-03"),
    ]
    header = ["ID", "first_name", "last_name", "dob"]
    path = write(tmp_path / "s.csv", header, [dict(zip(header, r, strict=True)) for r in rows])
    link_files(path, id_column="ID", out=tmp_path / "c.csv")
    c = {r["record_id"]: r["cluster_id"] for r in read(tmp_path / "c.csv")}
    assert c["1"] == c["2"] and c["3"] == c["4"] == c["5"] and c["6"] == c["7"]
    assert len({c["1"], c["3"], c["6"]}) == 3


def test_link_two_lists_with_other_column_names(tmp_path: Path) -> None:
    a_rows, b_rows, truth = [], [], {}
    for lst, true_id, record in person_lists(400, 9, lists=2, duplicates=0.6):
        truth[(lst, record["record_id"])] = true_id
        renamed = {
            "ref": record["record_id"],
            "given_name": record["first_name"],
            "surname": record["last_name"],
            "born": record["date_of_birth"],
            "passport": record["id_number"],
        }
        (a_rows if lst == 0 else b_rows).append(renamed)
    header = ["ref", "given_name", "surname", "born", "passport"]
    a = write(tmp_path / "a.csv", header, a_rows)
    b = write(tmp_path / "b.csv", header, b_rows)
    out = tmp_path / "c.csv"
    rc = main([
        "link", str(a), str(b), "--id-column", "ref", "--out", str(out),
        "--columns", "date_of_birth=born",
    ])  # fmt: skip
    assert rc == 0
    rows = read(out)
    assert len(rows) == len(a_rows) + len(b_rows)
    assert {r["source"] for r in rows} == {"A", "B"}
    by_cluster: dict[str, set[str]] = {}
    for r in rows:
        by_cluster.setdefault(r["cluster_id"], set()).add(
            truth[(0 if r["source"] == "A" else 1, r["record_id"])]
        )
    pure = sum(1 for ids in by_cluster.values() if len(ids) == 1)
    assert pure / len(by_cluster) > 0.97
    linked = [c for c in by_cluster if sum(1 for r in rows if r["cluster_id"] == c) > 1]
    assert linked


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_result_does_not_depend_on_row_order(
    tmp_path_factory: pytest.TempPathFactory, people: tuple[Path, dict[str, str]], seed: int
) -> None:
    path, _truth = people
    folder = tmp_path_factory.mktemp("order")
    rows = read(path)
    random.Random(seed).shuffle(rows)
    shuffled = write(folder / "shuffled.csv", COLUMNS, rows)
    link_files(path, id_column="record_id", out=folder / "a.csv")
    link_files(shuffled, id_column="record_id", out=folder / "b.csv")
    assert (folder / "a.csv").read_bytes() == (folder / "b.csv").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"ID,first_name,last_name\n", "no records"),
        (b"first_name,last_name\nAna,Pop\n", "no id column 'ID'"),
        (b"ID,first_name,last_name\n1,Ana,Pop\n2,Ion,Pop\n1,Dan,Pop\n", "duplicate ids"),
        (b"ID,first_name,last_name\n1,Ana,Pop\n,Ion,Pop\n", "rows 3: the id column 'ID' is empty"),
        (b"ID,first_name,last_name\n1,Ana,Pop\n2,Ion,Pop\xe9scu\n", "line 3: not valid utf-8"),
        (b"ID,colour\n1,red\n", "no name column"),
    ],
)
def test_bad_input_is_refused_with_file_and_reason(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    out = tmp_path / "out.csv"
    with pytest.raises(PalermoError, match=message):
        link_files(path, id_column="ID", out=out)
    assert not out.exists()
    assert main(["link", str(path), "--id-column", "ID", "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert str(path) in err and message.split(":")[0] in err


def test_other_encodings_with_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    text = "ID,first_name,last_name,dob\n1,José,Pérez,1980-02-03\n2,Jose,Perez,03/02/1980\n"
    path.write_bytes(text.encode("latin-1"))
    link_files(path, id_column="ID", out=tmp_path / "c.csv", encoding="latin-1")
    clusters = {r["record_id"]: r["cluster_id"] for r in read(tmp_path / "c.csv")}
    assert clusters["1"] == clusters["2"]
