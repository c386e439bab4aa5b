"""The built-in mappings that make entities only (travel, employment, land, ads, notes): the test
sources in tests/data land as the entities, properties and links their descriptions promise."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from palermo.model import entity_id

DATA = Path(__file__).resolve().parent.parent / "data"
# the employer, land owner and inspected company of the test data, as companies.csv names it
AGRO = entity_id("global", "Company", "NL", "KVK-7741")


def ingest(ws, *names: str) -> None:
    for name in names:
        [report] = ws.ingest(DATA / f"{name}.csv", mapping=name)
        assert report.rows_quarantined == 0, ws.quarantine()


def ids(ws, schema: str, prop: str | None = None, value: str | None = None) -> list[str]:
    """Ids of the entities of ``schema`` (with ``prop`` = ``value``)."""
    sql = "SELECT DISTINCT entity_id FROM statements WHERE schema = ?"
    params = [schema]
    if prop is not None:
        sql += " AND entity_id IN (SELECT entity_id FROM statements WHERE prop = ? AND value = ?)"
        params += [prop, value]
    return sorted(r["entity_id"] for r in ws.sql(sql + " ORDER BY 1", params).to_pylist())


def props(ws, eid: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in ws.sql(
        "SELECT DISTINCT prop, value FROM statements WHERE entity_id = ? AND prop <> 'id'"
        " ORDER BY prop, value",
        [eid],
    ).to_pylist():
        out.setdefault(r["prop"], []).append(r["value"])
    return out


def one(ws, schema: str, prop: str, value: str) -> dict[str, list[str]]:
    [eid] = ids(ws, schema, prop, value)
    return props(ws, eid)


def test_travel_makes_traveller_passport_trip_and_vehicle(ws):
    ingest(ws, "travel")
    trip = one(ws, "Trip", "recordId", "BX-1")
    [traveller] = trip["involved"]
    person = props(ws, traveller)
    assert person["name"] == ["Ionuț Munteanu"]
    assert person["passportNumber"] == ["056123456"]
    assert person["birthDate"] == ["1988-01-30"]
    passport = props(ws, entity_id("global", "Passport", "RO", "056123456"))
    assert passport["holder"] == [traveller]
    assert passport["number"] == ["056123456"]
    assert passport["country"] == ["RO"]
    assert trip["startDate"] == ["2024-03-10T06:40:00Z"]
    assert trip["location"] == ["Nădlac II"]
    assert trip["name"] == ["exit Nădlac II BX-1"]
    assert trip["description"] == ["exit FlixBus B 123 FLX"]
    # from_country / to_country become the start and end locations
    assert props(ws, trip["startLocation"][0])["country"] == ["RO"]
    assert props(ws, trip["endLocation"][0])["country"] == ["HU"]
    assert props(ws, trip["vehicle"][0])["name"] == ["B 123 FLX"]
    # the same person on a later record (same names, birth date and passport) is one entity
    assert one(ws, "Trip", "recordId", "BX-3")["involved"] == [traveller]
    # names in Cyrillic, a dd.mm.yyyy date, a country by name and by alpha-3
    tkachenko = one(ws, "Person", "name", "Мирослава Ткаченко")
    assert tkachenko["birthDate"] == ["2001-07-14"]
    assert tkachenko["nationality"] == ["UA"]
    assert props(ws, entity_id("global", "Passport", "UA", "FT987654"))["country"] == ["UA"]
    # no document number: no Passport; no from/to country: the border point is both ends
    koval = one(ws, "Trip", "recordId", "BX-4")
    assert koval["startLocation"] == koval["endLocation"]
    assert props(ws, koval["startLocation"][0])["full"] == ["Palanca"]
    assert "vehicle" not in koval
    assert len(ids(ws, "Passport")) == 2


def test_travel_people_in_the_same_vehicle_on_the_same_day(ws):
    """Co-travel: Trips naming one Vehicle on one day give the people who crossed together."""
    ingest(ws, "travel")
    rows = ws.sql(
        "WITH t AS (SELECT entity_id,"
        " max(value) FILTER (WHERE prop = 'vehicle') AS vehicle,"
        " max(value) FILTER (WHERE prop = 'involved') AS person,"
        " left(max(value) FILTER (WHERE prop = 'startDate'), 10) AS day"
        " FROM statements WHERE schema = 'Trip' GROUP BY entity_id)"
        " SELECT vehicle, day, list(DISTINCT person) AS people FROM t"
        " WHERE vehicle IS NOT NULL GROUP BY vehicle, day HAVING count(DISTINCT person) > 1"
    ).to_pylist()
    [group] = rows
    assert group["vehicle"] == entity_id("global", "Vehicle", "B 123 FLX")
    assert group["day"] == "2024-03-10"
    names = {props(ws, p)["name"][0] for p in group["people"]}
    assert names == {"Ionuț Munteanu", "Мирослава Ткаченко"}


def test_employment_links_employer_and_employee(ws):
    ingest(ws, "companies", "employment")
    job = one(ws, "Employment", "recordId", "EMP-1")
    # the employer is the company of the registry extract (global by country + number)
    assert job["employer"] == [AGRO]
    assert props(ws, AGRO)["legalForm"] == ["Besloten vennootschap"]
    employee = props(ws, job["employee"][0])
    assert employee["name"] == ["Олена Коваль"]
    assert employee["idNumber"] == ["BSN 123456782"]
    assert employee["gender"] == ["female"]
    assert employee["phone"] == ["+380441234567"]
    assert job["startDate"] == ["2024-04-01"]
    assert job["role"] == ["seasonal picker"]
    assert job["description"] == ["1850 EUR month"]
    # without a registration number the employer is one company within the source, by name
    emp2 = one(ws, "Employment", "recordId", "EMP-2")
    emp3 = one(ws, "Employment", "recordId", "EMP-3")
    assert emp2["employer"] == emp3["employer"]
    assert props(ws, emp2["employer"][0])["name"] == ["Curăță Rapid SRL"]
    assert emp2["endDate"] == ["2024-02-29"]
    assert emp2["description"] == ["8.5 GBP hour"]
    assert props(ws, emp2["employee"][0])["birthDate"] == ["1988-01-30"]
    # a GB national number (options.phone_region)
    assert props(ws, emp3["employee"][0])["phone"] == ["+447700900123"]
    assert len(ids(ws, "Company")) == 2


def test_land_owner_kinds_and_ownership(ws):
    ingest(ws, "companies", "land")
    flat = entity_id("global", "RealEstate", "RO", "CF-301122")
    estate = props(ws, flat)
    assert estate["titleNumber"] == ["CF-301122"]
    assert estate["amount"] == ["85000"]  # "85,000.00", without trailing zeros
    assert estate["area"] == ["62.5"]
    assert estate["currency"] == ["EUR"]
    assert estate["createDate"] == ["2023-09-14"]
    assert estate["propertyType"] == ["apartment"]
    assert estate["address"] == ["Str. Lungă 5, ap. 3 Brașov Brașov"]
    holdings = {}
    for ownership in (props(ws, e) for e in ids(ws, "Ownership", "asset", flat)):
        [owner] = ownership["owner"]
        holdings[props(ws, owner)["name"][0]] = (schema_of(ws, owner), ownership)
    # a birth date or an id number: a Person
    assert holdings["Ionuț Munteanu"][0] == "Person"
    assert holdings["Ana Lungu"][0] == "Person"
    assert holdings["Ana Lungu"][1]["percentage"] == ["50"]
    assert holdings["Ana Lungu"][1]["startDate"] == ["2023-09-14"]
    # a registration number: the registry's Company (the title's country when no owner_country)
    warehouse = entity_id("global", "RealEstate", "NL", "NL-ROT-A-4411")
    owners = {
        props(ws, e)["owner"][0]: props(ws, e)["percentage"]
        for e in ids(ws, "Ownership", "asset", warehouse)
    }
    danube = entity_id("global", "Company", "CY", "HE-99812")
    assert owners == {AGRO: ["60"], danube: ["40"]}
    assert props(ws, danube)["jurisdiction"] == ["CY"]
    # nothing but a name: a LegalEntity; and no LegalEntity for the persons and companies
    [other] = ids(ws, "LegalEntity", "name", "Сергій Бондаренко")
    land_legal = ws.sql(
        "SELECT count(DISTINCT entity_id) AS n FROM statements WHERE schema = 'LegalEntity'"
        " AND evidence_sha256 = (SELECT evidence_sha256 FROM ingest_runs WHERE mapping = 'land')"
    ).to_pylist()
    assert land_legal == [{"n": 1}]
    assert ids(ws, "Ownership", "owner", other)
    assert ids(ws, "Person", "name", "Сергій Бондаренко") == []


def schema_of(ws, eid: str) -> str:
    [row] = ws.sql("SELECT DISTINCT schema FROM statements WHERE entity_id = ?", [eid]).to_pylist()
    return row["schema"]


def test_ads_become_messages_with_their_poster(ws):
    ingest(ws, "ads")
    ad1 = one(ws, "Message", "recordId", "AD-1")
    ad3 = one(ws, "Message", "recordId", "AD-3")
    # the same phone written two ways: one poster, keyed globally by the E.164 number
    poster = entity_id("global", "LegalEntity", "+40721555010")
    assert ad1["sender"] == ad3["sender"] == [poster]
    assert props(ws, poster) == {"name": ["+40721555010"], "phone": ["+40721555010"]}
    # the body is kept exactly as written (it is only ever text)
    assert ad1["bodyText"] == [
        "<b>New in town</b> <script>alert('x')</script> sweet, discreet, call me"
    ]
    assert ad1["title"] == ["New girl in town"]
    assert ad1["publishedAt"] == ["2024-02-01T21:15:00Z"]
    assert ad1["publisher"] == ["escort-listings.test"]
    assert ad1["phoneMentioned"] == ["+40721555010"]
    assert ad1["locationMentioned"] == ["London, Shoreditch"]
    assert sorted(ad1["keywords"]) == ["9f2c1e;b7d04a", "escort"]
    ad2 = one(ws, "Message", "recordId", "AD-2")
    assert ad2["phoneMentioned"] == ["+447700900123"]  # GB national format
    assert ad2["title"] == ["Muncă în Anglia — salariu bun"]
    assert props(ws, ad2["sender"][0])["email"] == ["jobs@recrutare.example"]
    # no phone: the poster is known by the e-mail
    ad4 = one(ws, "Message", "recordId", "AD-4")
    assert ad4["sender"] == [entity_id("global", "LegalEntity", "hr@robota.example")]


def test_notes_name_their_persons_and_organisations(ws):
    ingest(ws, "companies", "notes")
    note = one(ws, "Note", "name", "Workers collected at dawn")
    assert note["createdAt"] == ["2024-02-10T14:00:00Z"]
    assert note["publisher"] == ["Bedfordshire Police"]
    assert sorted(note["keywords"]) == ["3x5x2", "intelligence"]
    assert note["description"][0].startswith("A minibus collects")
    assert note["address"] == ["Unit 7 Sundon Park Road Luton"]
    people = {props(ws, e)["name"][0]: e for e in note["entity"]}
    assert set(people) == {"Ionuț Munteanu", "Ana Lungu"}
    assert props(ws, people["Ionuț Munteanu"])["phone"] == ["+40754000111"]
    # each person's role in the note is a link from the person to the note
    [note_id] = ids(ws, "Note", "name", "Workers collected at dawn")
    roles = {
        props(ws, e)["subject"][0]: props(ws, e)["role"]
        for e in ids(ws, "UnknownLink", "object", note_id)
    }
    assert roles == {people["Ionuț Munteanu"]: ["driver"], people["Ana Lungu"]: ["recruiter"]}
    hotline = one(ws, "Note", "name", "Caller reports passport taken")
    assert hotline["createdAt"] == ["2024-02-12T09:30:00Z"]
    assert hotline["phoneMentioned"] == ["+447700900456"]
    # the inspected company with a registration number is the registry's; the other one is
    # known within the source by name
    inspection = one(ws, "Note", "name", "Farm inspection")
    assert AGRO in inspection["entity"]
    [other] = [e for e in inspection["entity"] if e != AGRO]
    assert props(ws, other)["name"] == ["Kade Uitzendbureau"]
    assert sorted(inspection["keywords"]) == ["5x5x5", "inspection"]


@pytest.mark.parametrize("name", ["travel", "employment", "land", "ads", "notes"])
def test_entity_mappings_export_as_valid_ftm(ws, name):
    ingest(ws, name)
    out = io.StringIO()
    report = ws.export_ftm(out)
    assert report.skipped == []
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == report.entities > 0


def test_when_any_of_and_unless_are_checked():
    from palermo.errors import MappingError
    from palermo.ingest.mapping import parse_mapping

    base = {
        "fields": {"name": {"type": "name"}, "dob": {"type": "date"}, "reg": {}},
        "entities": {
            "who": {
                "kind": "Person",
                "key": ["name"],
                "when": ["name", ["dob", "reg"]],
                "unless": ["reg"],
                "properties": {"name": "name"},
            }
        },
    }
    [entity] = parse_mapping(base, "test").entities
    assert entity.when == ("name", ("dob", "reg"))
    assert entity.unless == ("reg",)
    for where, bad in (("when", ["name", ["dob", "nope"]]), ("unless", ["nope"])):
        spec = {**base["entities"]["who"], where: bad}
        with pytest.raises(MappingError, match="unknown field 'nope'"):
            parse_mapping({**base, "entities": {"who": spec}}, "test")
