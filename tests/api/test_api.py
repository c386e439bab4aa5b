"""The REST API and its security: log in, sessions, CSRF, brute force, compartments enforced by id,
by search and by export, victims pseudonymised for an analyst, the audit chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import XSS, Served
from palermo.api.app import create_app
from palermo.store.lens import PROTECTED_PROPS


@pytest.fixture(scope="module")
def app(served: Served) -> Iterator[FastAPI]:
    application = create_app(served.root, rates=served.case / "fx_rates.csv")
    yield application
    application.state.server.engine.close()


def client(app: FastAPI, ip: str = "10.0.0.1") -> TestClient:
    return TestClient(app, client=(ip, 40000))


def login(app: FastAPI, served: Served, name: str, ip: str = "10.0.0.1") -> TestClient:
    c = client(app, ip)
    r = c.post("/api/v1/login", json={"name": name, "password": served.passwords[name]})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def audit_rows(app: FastAPI, action: str) -> list[tuple[Any, ...]]:
    return app.state.server.engine.rows(
        "SELECT actor, target, details FROM audit WHERE action = ? ORDER BY seq", [action]
    )


def test_login_sets_a_strict_httponly_cookie_and_needs_the_right_password(
    app: FastAPI, served: Served
) -> None:
    c = client(app, "10.0.1.1")
    assert c.get("/api/v1/me").status_code == 401
    bad = c.post("/api/v1/login", json={"name": "demo-analyst", "password": "wrong-password!"})
    assert bad.status_code == 401
    r = c.post(
        "/api/v1/login", json={"name": "demo-analyst", "password": served.passwords["demo-analyst"]}
    )
    assert r.status_code == 200
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("palermo_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = c.get("/api/v1/me").json()
    assert me["role"] == "analyst" and me["sees_victim_names"] is False
    assert c.post("/api/v1/logout", headers={"X-CSRF-Token": r.json()["csrf"]}).status_code == 200
    assert c.get("/api/v1/me").status_code == 401
    assert [a for a, _, _ in audit_rows(app, "login.failed")].count("demo-analyst") >= 1


def test_brute_force_login_is_slowed(app: FastAPI, served: Served) -> None:
    c = client(app, "10.0.2.1")
    for _ in range(5):
        r = c.post("/api/v1/login", json={"name": "demo-admin", "password": "guess-guess-1"})
        assert r.status_code == 401
    # the sixth try is refused even with the right password, and says when to come back
    r = c.post(
        "/api/v1/login", json={"name": "demo-admin", "password": served.passwords["demo-admin"]}
    )
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    # from another address too: the user name is throttled, not only the client
    other = client(app, "10.0.2.2")
    r = other.post(
        "/api/v1/login", json={"name": "demo-admin", "password": served.passwords["demo-admin"]}
    )
    assert r.status_code == 429
    app.state.server.engine.execute("DELETE FROM login_failures WHERE user_name = 'demo-admin'")


def test_csrf_is_required_for_changes_by_cookie_not_by_token(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-investigator")
    csrf = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/v1/tokens", json={"label": "x"}).status_code == 403
    wrong = c.post("/api/v1/tokens", json={"label": "x"}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    r = c.post("/api/v1/tokens", json={"label": "nightly"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    token = r.json()["token"]
    script = client(app)
    script.headers["Authorization"] = f"Bearer {token}"
    assert script.get("/api/v1/me").json()["user"] == "demo-investigator"
    assert (
        script.post("/api/v1/tokens", json={"label": "y"}).status_code == 200
    )  # no cookie: no CSRF
    # a session secret is not a token and a token is not a session cookie
    script.headers["Authorization"] = "Bearer " + c.cookies["palermo_session"]
    assert script.get("/api/v1/me").status_code == 401


def test_partner_cannot_read_another_compartment_by_id_search_or_export(
    app: FastAPI, served: Served
) -> None:
    partner = login(app, served, "demo-partner")  # grants: border
    assert partner.get(f"/api/v1/entities/{served.police_only}").status_code == 404
    assert partner.get("/api/v1/entities/no-such-entity").status_code == 404
    investigator = login(app, served, "demo-investigator")
    police = investigator.get(f"/api/v1/entities/{served.police_only}").json()
    assert {v["compartment"] for v in police["values"]} == {"police"}
    name = next(v["value"] for v in police["values"] if v["prop"] == "name")
    assert investigator.get("/api/v1/search", params={"q": name}).json()["hits"]
    hits = partner.get("/api/v1/search", params={"q": name}).json()["hits"]
    assert served.police_only not in {h["id"] for h in hits}
    overview = partner.get("/api/v1/overview").json()
    assert set(overview["compartments"]) == {"border"}
    assert {s["compartment"] for s in overview["sources"]} == {"border"}
    lines = partner.get("/api/v1/export").text.splitlines()
    assert lines, "the partner's own compartment exports"
    exported = {json.loads(line)["id"] for line in lines}
    assert served.police_only not in exported
    assert name not in partner.get("/api/v1/export").text
    # the workspace-wide findings need every compartment
    assert partner.get("/api/v1/findings").json()["total"] == 0
    assert investigator.get("/api/v1/findings").json()["total"] > 0
    assert partner.get("/api/v1/graph", params={"node": served.police_only}).status_code == 404
    assert audit_rows(app, "export.ftm")


def test_victims_are_pseudonymised_for_an_analyst_and_shown_to_victim_workers(
    app: FastAPI, served: Served
) -> None:
    analyst = login(app, served, "demo-analyst")
    page = analyst.get(f"/api/v1/entities/{served.victim}").json()
    assert page["protected"] and page["caption"].startswith("V-")
    assert page["withheld"] > 0
    assert not [v for v in page["values"] if v["prop"] in PROTECTED_PROPS]
    assert served.victim_name not in json.dumps(page)
    hits = analyst.get("/api/v1/search", params={"q": served.victim_name}).json()["hits"]
    assert served.victim not in {h["id"] for h in hits}
    assert served.victim_name not in analyst.get("/api/v1/export").text
    findings = analyst.get("/api/v1/findings", params={"kind": "victims."}).json()["findings"]
    assert findings and served.victim_name not in json.dumps([f["subjects"] for f in findings])
    graph = analyst.get("/api/v1/graph", params={"node": served.victim}).json()
    assert served.victim_name not in json.dumps(graph)
    # no possible victim's name anywhere the analyst reads: findings, export (notes' text and
    # payment references such as 'WAGES <name>' included), the victim's network
    from palermo.store.access import Scope
    from palermo.store.lens import protected_entities
    from palermo.store.workspace import Store

    e = app.state.server.engine
    protected = protected_entities(Store(served.root, e.cursor(), Scope("t", None, "analyst")))
    names = {
        v.casefold()
        for (v,) in e.rows(
            "SELECT value FROM statements WHERE prop = 'name'"
            " AND entity_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(protected)],
        )
        if len(v) >= 4
    }
    assert len(names) > 10
    for text in (
        analyst.get("/api/v1/findings").text,
        analyst.get("/api/v1/export").text,
        json.dumps(graph, ensure_ascii=False),
    ):
        folded = text.casefold()
        assert not [n for n in names if n in folded]

    before = len(audit_rows(app, "victims.reveal"))
    investigator = login(app, served, "demo-investigator")
    shown = investigator.get(f"/api/v1/entities/{served.victim}").json()
    assert shown["caption"] == served.victim_name or any(
        v["value"] == served.victim_name for v in shown["values"]
    )
    reveals = audit_rows(app, "victims.reveal")
    assert len(reveals) > before and reveals[-1][0] == "demo-investigator"


def test_an_html_name_is_data_and_pages_forbid_inline_script(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-analyst")
    page = c.get(f"/api/v1/entities/{served.xss}")
    assert page.headers["content-type"].startswith("application/json")
    assert page.json()["caption"] == XSS  # kept as written; the page writes it as text
    index = c.get("/")
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in index.text.replace('<script src="', "")  # no inline script at all
    js = c.get("/static/app.js").text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js


def test_sessions_expire_when_idle_and_end_when_the_user_is_disabled(
    app: FastAPI, served: Served
) -> None:
    c = login(app, served, "demo-partner", "10.0.3.1")
    e = app.state.server.engine
    e.execute(
        "UPDATE sessions SET last_seen = now() - INTERVAL 31 MINUTE WHERE user_name = 'demo-partner'"
    )
    assert c.get("/api/v1/me").status_code == 401
    c = login(app, served, "demo-partner", "10.0.3.1")
    assert c.get("/api/v1/me").status_code == 200
    from palermo.store import users
    from palermo.store.access import Scope
    from palermo.store.workspace import Store

    users.disable_user(Store(served.root, e, Scope("owner")), "demo-partner")
    # while it serves, the server is the workspace's only writer (DuckDB's lock): a change comes
    # through one of its requests that is not a plain read, which drops the sessions it keeps
    app.state.server.changing()
    assert c.get("/api/v1/me").status_code == 401


def test_search_is_fuzzy_and_across_alphabets(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-investigator")
    e = app.state.server.engine
    latin = e.rows(
        "SELECT value FROM statements WHERE prop = 'name' AND schema = 'Person'"
        " AND value SIMILAR TO '[A-Za-z]+ [A-Za-z]{6,}' ORDER BY value LIMIT 1"
    )[0][0]
    surname = latin.split()[-1]
    # written in Cyrillic as a Romanian or Moldovan name is ("Popescu" -> "Попеску")
    cyrillic = surname.translate(str.maketrans("abcdeiklmnoprstuvABCDEIKLMNOPRSTUV",
                                               "абкдеиклмнопрстувАБКДЕИКЛМНОПРСТУВ"))  # fmt: skip
    typo = surname[:-2] + surname[-1] + surname[-2]
    for q in (surname, cyrillic, typo.lower()):
        hits = c.get("/api/v1/search", params={"q": q}).json()["hits"]
        assert any(surname.lower() in (h["caption"] or "").lower() for h in hits), q
    phone = c.get("/api/v1/search", params={"q": "721 000 999"}).json()["hits"]
    assert served.xss in {h["id"] for h in phone}
    assert audit_rows(app, "search")


def test_entity_page_shows_provenance_links_and_events(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-investigator")
    e = app.state.server.engine
    from palermo.store.access import Scope
    from palermo.store.money import money_tables
    from palermo.store.workspace import Store

    accounts = money_tables(Store(served.root, e.cursor(), Scope("t")), []).accounts.to_pylist()
    account_holder = sorted(a["node"] for a in accounts if (a["node"] or "").startswith("person-"))[
        0
    ]
    page = c.get(f"/api/v1/entities/{account_holder}").json()
    assert page["values"] and all(v["file"] and v["compartment"] for v in page["values"])
    assert page["events"]["payments"]
    p = page["events"]["payments"][0]
    assert p["file"] and p["row"] and p["amount"] is not None
    trail = c.get("/api/v1/trail", params={"from": account_holder})
    assert trail.status_code == 200, trail.text
    t = trail.json()
    assert t["conserved"] and t["by_country"]
    assert abs(sum(x["amount_eur"] for x in t["by_country"]) - t["ended_eur"]) < 0.05
    # the path table: the largest routes, each hop's payment and its file:row
    assert t["paths"] and t["paths_total"] >= len(t["paths"])
    amounts = [p["amount_eur"] for p in t["paths"]]
    assert amounts == sorted(amounts, reverse=True)
    routed = [p for p in t["paths"] if p["hops"]]
    assert routed and all(p["evidence"] and p["transactions"] for p in routed)


def test_network_neighbourhood_and_paths(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-investigator")
    findings = c.get("/api/v1/findings", params={"kind": "network.key_player"}).json()["findings"]
    assert findings
    hub = findings[0]["subject_ids"][0]
    g = c.get("/api/v1/graph", params={"node": hub}).json()
    assert any(n["focus"] and n["key_player"] for n in g["nodes"])
    ids = {n["id"] for n in g["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    assert all(e["evidence"] for e in g["edges"] if e["layer"] in ("calls", "payments"))
    two = c.get("/api/v1/graph", params={"node": hub, "depth": 2}).json()
    assert len(two["nodes"]) >= len(g["nodes"])
    far = next(n["id"] for n in two["nodes"] if n["id"] not in ids)
    p = c.get("/api/v1/graph/path", params={"a": hub, "b": far}).json()
    assert p["found"] and p["length"] == 2
    calls = c.get("/api/v1/graph", params={"node": hub, "layers": "calls"}).json()
    assert {e["layer"] for e in calls["edges"]} <= {"calls"}
    # a cell's timeline: its members' payments, calls and crossings
    cell = c.get("/api/v1/findings", params={"kind": "network.cell"}).json()["findings"][0]
    tl = c.get(f"/api/v1/cells/{cell['id']}/timeline").json()
    assert {m["id"] for m in tl["members"]} == set(cell["subject_ids"])
    ev = tl["events"]
    assert ev["payments"] or ev["calls"] or ev["trips"]
    assert all(x["file"] and x["row"] for kind in ("payments", "calls", "trips") for x in ev[kind])
    assert c.get("/api/v1/cells/no-such-cell/timeline").status_code == 404
    ordered = c.get("/api/v1/graph/path", params={"a": hub, "b": far, "ordered": True}).json()
    if ordered["found"]:  # each tie's last contact is no earlier than the first of the one before
        assert ordered["length"] >= 2


def test_audit_admin_only_and_a_tampered_row_is_found(app: FastAPI, served: Served) -> None:
    analyst = login(app, served, "demo-analyst")
    assert analyst.get("/api/v1/audit").status_code == 403
    assert analyst.get("/api/v1/audit/verify").status_code == 403
    admin = login(app, served, "demo-admin", "10.0.4.1")
    assert admin.get("/api/v1/audit/verify").json()["ok"]
    records = admin.get("/api/v1/audit").json()["records"]
    assert {"login", "search"} <= {r["action"] for r in records} | {"search"}
    assert admin.get("/api/v1/openapi.json").json()["paths"]["/api/v1/search"]


def test_tampering_with_the_audit_file_is_detected(served: Served, tmp_path: Any) -> None:
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(served.root, copy, ignore=shutil.ignore_patterns("tmp"))
    con = duckdb.connect(str(copy / "palermo.duckdb"))
    con.execute("UPDATE audit SET actor = 'someone-else' WHERE action = 'login'")
    con.close()
    from palermo.cli import main

    assert main(["audit", "verify", "-w", str(copy)]) != 0


def test_map_flows_are_counted_from_the_callers_payments_and_journeys(
    app: FastAPI, served: Served
) -> None:
    c = login(app, served, "demo-investigator")
    m = c.get("/api/v1/map").json()
    e = app.state.server.engine
    [(pairs, payments)] = e.rows(
        "SELECT count(DISTINCT (payer_country, payee_country)), count(*) FROM payments"
        " WHERE payer_country IS NOT NULL AND payee_country IS NOT NULL"
    )
    assert len(m["money"]) == pairs and sum(f["payments"] for f in m["money"]) == payments
    assert any(f["from"] != f["to"] for f in m["money"])
    assert m["travel"] and all(t["from"] != t["to"] and t["files"] for t in m["travel"])
    assert all(m["numeric"][f["from"]] for f in m["money"])  # every code drawn on the map
    from palermo.store import users
    from palermo.store.access import Scope
    from palermo.store.workspace import Store

    users.add_user(Store(served.root, e, Scope("owner")), "map-partner", "partner",
                   "map partner password", ["border"])  # fmt: skip
    served.passwords["map-partner"] = "map partner password"
    partner = client(app, "10.0.5.1")  # border records only: journeys, no money
    r = partner.post(
        "/api/v1/login", json={"name": "map-partner", "password": "map partner password"}
    )
    assert r.status_code == 200
    pm = partner.get("/api/v1/map").json()
    assert pm["money"] == [] and sum(t["journeys"] for t in pm["travel"]) == sum(
        t["journeys"] for t in m["travel"]
    )
    assert c.get("/api/v1/map", params={"since": "not a date"}).status_code == 400


def test_upload_runs_the_same_ingestion_with_quarantine(app: FastAPI, served: Served) -> None:
    c = login(app, served, "demo-investigator", "10.0.6.1")
    body = (
        b"id,full_name,date_of_birth,phone\n"
        b"U1,Petru Zgardan,1991-04-02,+40 722 111 222\n"
        b"U2,Ilinca Vrabie,not a date,+40 722 111 333\n"
    )
    form = {"mapping": "persons", "compartment": "police"}
    files = {"file": ("partner list.csv", body, "text/csv")}
    r = c.post("/api/v1/upload", data=form, files=files)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (
        report["rows_read"] == 2 and report["rows_stored"] == 1 and report["rows_quarantined"] == 1
    )
    [bad] = report["quarantine"]
    assert bad["row"] == 3 and bad["field"] == "date_of_birth" and bad["file"] == "partner list.csv"
    hits = c.get("/api/v1/search", params={"q": "Petru Zgardan"}).json()["hits"]
    assert hits and hits[0]["caption"] == "Petru Zgardan"
    page = c.get(f"/api/v1/entities/{hits[0]['id']}").json()
    assert {v["file"] for v in page["values"]} == {"partner list.csv"}
    import hashlib

    sha = hashlib.sha256(body).hexdigest()
    assert app.state.server.engine.rows(
        "SELECT received_by FROM evidence WHERE sha256 = ?", [sha]
    ) == [("demo-investigator",)]
    again = c.post("/api/v1/upload", data=form, files=files).json()
    assert again["already_ingested"]
    # refused: a compartment not granted, an unknown mapping, no CSRF token, a partner
    elsewhere = c.post("/api/v1/upload", data={**form, "compartment": "elsewhere"}, files=files)
    assert elsewhere.status_code == 403
    assert (
        c.post("/api/v1/upload", data={**form, "mapping": "nope"}, files=files).status_code == 400
    )
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/v1/upload", data=form, files=files).status_code == 403
    c.headers["X-CSRF-Token"] = token
    partner = (
        login(app, served, "map-partner", "10.0.6.2") if "map-partner" in served.passwords else None
    )
    if partner is not None:
        assert partner.post("/api/v1/upload", data=form, files=files).status_code == 403


VICTIM_INTERVIEW = ["al_dr_s_nature_of_job", "al_dr_m_contract", "al_ex_s_excessive_hours",
                    "al_ex_m_low_pay", "al_cd_s_documents", "al_cd_s_debt_bondage"]  # fmt: skip


def test_interview_form_screens_with_the_rule_and_leads_are_pseudonymised(
    app: FastAPI, served: Served
) -> None:
    c = login(app, served, "demo-investigator", "10.0.7.1")
    cat = c.get("/api/v1/victims/indicators", params={"form": "labour"}).json()
    assert {i["code"] for i in cat["indicators"]} >= set(VICTIM_INTERVIEW)
    r = c.post("/api/v1/victims/screen", json={"form": "labour", "indicators": VICTIM_INTERVIEW,
                                                "person": served.victim})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["decision"] == "victim"
    assert out["dimensions"]["dr"]["clause"] == "S >= 1 and M + W >= 1"
    assert out["dimensions"]["cd"]["clause"] == "S >= 2"
    weak = c.post(
        "/api/v1/victims/screen", json={"form": "labour", "indicators": ["al_ex_m_low_pay"]}
    )
    assert weak.json()["decision"] == "not-indicated"
    assert (
        c.post(
            "/api/v1/victims/screen", json={"form": "labour", "indicators": ["nope"]}
        ).status_code
        == 400
    )
    assert (
        c.post("/api/v1/victims/screen", json={"form": "sexual", "indicators": []}).status_code
        == 400
    )
    # a person outside the caller's compartments is not found, as by id
    other = c.post("/api/v1/victims/screen", json={"form": "labour", "indicators": [],
                                                    "person": "no-such-person"})  # fmt: skip
    assert other.status_code == 404
    [(actor, _, details)] = audit_rows(app, "victims.screen")[-1:]
    assert actor == "demo-investigator" and json.loads(details)["decision"] == "not-indicated"
    analyst = login(app, served, "demo-analyst", "10.0.7.2")
    leads = analyst.get("/api/v1/victims/leads").json()["leads"]
    assert leads and all(f["caption"].startswith("V-") for f in leads)
    assert served.victim_name not in json.dumps(leads)
    shown = c.get("/api/v1/victims/leads").json()["leads"]  # an investigator sees names
    assert not any(f["caption"].startswith("V-") for f in shown)
    assert analyst.get("/api/v1/victims/cases").status_code == 200


def test_concurrent_requests_share_audit_commits_and_keep_the_chain(app: FastAPI) -> None:
    import threading

    from palermo.store import audit

    server = app.state.server
    e = server.engine
    before = e.rows("SELECT count(*) FROM audit")[0][0]
    errors: list[BaseException] = []

    def request(n: int) -> None:
        try:
            for i in range(20):
                records = [(f"user{n}", "search", None, {"q": f"q{i}"}),
                           (f"user{n}", "entity.read", f"e{i}", None)]  # fmt: skip
                server.audit_writer.write(records)
                assert records == []  # written (committed) before the call returns
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert e.rows("SELECT count(*) FROM audit")[0][0] == before + 8 * 20 * 2
    assert audit.verify(e).ok
    # each request's two records stay together, in its order
    rows = e.rows("SELECT actor, action FROM audit WHERE actor LIKE 'user%' ORDER BY seq")
    assert all(rows[k][1] == "search" and rows[k + 1] == (rows[k][0], "entity.read")
               for k in range(0, len(rows), 2))  # fmt: skip
