"""``palermo report case`` on the demo scenario (tiny): the main cell's case file in HTML and PDF,
its pages looked at as images, exhibit hashes checked against the evidence store, no victim's
name in a pseudonymised file, the same file twice, its hash in the audit chain, every link
resolving, untrusted text inert."""

from __future__ import annotations

import contextlib
import hashlib
import html as htmllib
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import XSS, Served, fail_cli, run_cli
from palermo.api_python import Workspace
from palermo.store import lens


@dataclass
class Case:
    root: Path
    rates: Path
    cell: str  # cell:N of the main cell
    owner_html: Path
    owner_pdf: Path
    owner: dict[str, Any]
    analyst_html: Path
    analyst_pdf: Path


@pytest.fixture(scope="module")
def case(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Case:
    base = tmp_path_factory.mktemp("case")
    root = base / "ws"
    shutil.copytree(served.root, root)
    with Workspace.open(root, read_only=True) as ws:
        number = ws.store.engine.rows(
            "SELECT regexp_extract(explanation, 'Criminal cell (\\d+):', 1) FROM findings"
            " WHERE kind = 'network.cell' ORDER BY score DESC, id LIMIT 1"
        )[0][0]
    cell = f"cell:{number}"
    rates = served.case / "fx_rates.csv"
    paths = {k: base / k for k in ("owner.html", "owner.pdf", "analyst.html", "analyst.pdf")}
    results = {
        name: report(root, cell, rates, path, role="analyst" if "analyst" in name else None)
        for name, path in paths.items()
    }
    return Case(root, rates, cell, paths["owner.html"], paths["owner.pdf"], results["owner.pdf"],
                paths["analyst.html"], paths["analyst.pdf"])  # fmt: skip


def report(root: Path, subject: str, rates: Path, out: Path, role: str | None) -> dict[str, Any]:
    """``palermo report case ... --json`` as the given role (PALERMO_ROLE), its JSON."""
    from palermo.cli import main

    argv = ["report", "case", "-w", str(root), "--subject", subject, "--rates", str(rates),
            "--out", str(out), "--json"]  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if role:
            mp.setenv("PALERMO_ROLE", role)
        else:
            mp.delenv("PALERMO_ROLE", raising=False)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = main(argv)
    assert rc == 0, stderr.getvalue()
    return dict(json.loads(stdout.getvalue()))


def pdf_text(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def victim_names(root: Path) -> set[str]:
    """Every name (and alias) of every possible victim in the workspace, as the sources wrote it."""
    with Workspace.open(root, read_only=True) as ws:
        protected = sorted(lens.protected_entities(ws.store))
        rows = ws.store.engine.rows(
            "SELECT DISTINCT value FROM statements WHERE prop IN ('name', 'alias', 'weakAlias',"
            " 'previousName') AND entity_id IN (SELECT unnest(?::VARCHAR[]))",
            [protected],
        )
    return {str(r[0]) for r in rows if len(str(r[0]).strip()) >= 4}


def test_case_file_has_every_section_with_evidence_links(case: Case) -> None:
    html = case.owner_html.read_text(encoding="utf-8")
    for heading in ("1. Summary", "2. Persons and roles", "3. The network", "4. Timeline",
                    "5. The money trail", "6. Assets to freeze or confiscate", "7. Victims",
                    "8. Exhibits", "Appendix A. Findings", "Appendix B. Evidence rows"):  # fmt: skip
        assert heading in html, heading
    assert "<svg" in html and "Range over the attribution rules" in html
    # self-contained: nothing to fetch
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    # every link lands on an anchor of the file, and there are many (statements -> rows)
    ids = set(re.findall(r'id="([^"]+)"', html))
    links = re.findall(r'href="#([^"]+)"', html)
    assert len(links) > 100
    assert not [x for x in links if x not in ids]
    # the appendix holds stored rows: a payment row and a statement row at least
    assert "payment 20" in html and "statement " in html


def test_pdf_pages_readable_and_nothing_cut_off(case: Case) -> None:
    import pypdfium2 as pdfium

    pages = pdf_text(case.owner_pdf)
    assert case.owner["pages"] == len(pages) > 5
    assert all(p.strip() for p in pages), "a blank page"
    assert "1. Summary" in pages[0] and "page 1 of" in pages[0]
    pdf = pdfium.PdfDocument(str(case.owner_pdf))
    for i in range(len(pdf)):
        img = np.asarray(pdf[i].render(scale=0.6).to_pil().convert("L"))
        ink = np.argwhere(img < 200)
        assert len(ink) > 500, f"page {i + 1} holds next to nothing"
        h, w = img.shape
        top, left = ink.min(axis=0)
        bottom, right = ink.max(axis=0)
        # everything inside the page's margins (14 mm of 210 mm; a table running off the
        # page would reach its edge)
        assert left > 0.04 * w and right < 0.96 * w, f"page {i + 1} runs into the edge"
        assert top > 0.02 * h and bottom < 0.98 * h, f"page {i + 1} runs into the edge"
    # each exhibit's hash is in the PDF's text whole (wrapped lines joined)
    flat = re.sub(r"\s+", "", "".join(pages))
    shas = re.findall(r'<td class="mono">([0-9a-f]{64})', case.owner_html.read_text())
    assert shas and all(s in flat for s in shas)


def test_every_exhibit_hash_matches_the_evidence_store(case: Case) -> None:
    html = case.owner_html.read_text(encoding="utf-8")
    shas = re.findall(r'<td class="mono">([0-9a-f]{64})<br>matches the stored copy', html)
    assert len(shas) == case.owner["exhibits"] > 3
    with Workspace.open(case.root, read_only=True) as ws:
        recorded = {r[0]: r[1] for r in ws.store.engine.rows(
            "SELECT sha256, stored_path FROM evidence")}  # fmt: skip
    for sha in shas:
        assert sha in recorded
        data = (case.root / recorded[sha]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    # every file cited in appendix B is an exhibit
    cited = set(re.findall(r"<td>([^<>]+) \((\d+)\): \d+<br>", html))
    assert cited and {int(n) for _, n in cited} <= set(range(1, len(shas) + 1))


def test_a_tampered_exhibit_is_flagged(case: Case, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:  # fmt: skip
    root = tmp_path / "ws"
    shutil.copytree(case.root, root)
    sha = re.findall(r'<td class="mono">([0-9a-f]{64})', case.owner_html.read_text())[0]
    with Workspace.open(root, read_only=True) as ws:
        stored = ws.store.engine.rows("SELECT stored_path FROM evidence WHERE sha256 = ?", [sha])
    stored = stored[0][0]
    path = root / stored
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\n")
    out = tmp_path / "case.html"
    run_cli(capsys, "report", "case", "-w", str(root), "--subject", case.cell, "--rates",
            str(case.rates), "--out", str(out))  # fmt: skip
    html = out.read_text(encoding="utf-8")
    assert f'{sha}<br><span class="flag">DOES NOT MATCH the stored copy' in html


def test_pseudonymised_report_names_no_victim(case: Case) -> None:
    names = victim_names(case.root)
    assert len(names) > 10
    owner = htmllib.unescape(case.owner_html.read_text(encoding="utf-8")).casefold()
    # the check can fail: the owner's file (entitled) names victims
    assert any(n.casefold() in owner for n in names)
    outputs = {
        "html": htmllib.unescape(case.analyst_html.read_text(encoding="utf-8")),
        "pdf": "\n".join(pdf_text(case.analyst_pdf)),
    }
    for kind, text in outputs.items():
        folded = text.casefold()
        leaked = sorted(n for n in names if n.casefold() in folded)
        assert not leaked, f"victims' names in the {kind}: {leaked[:5]}"
        assert re.search(r"V-[0-9a-f]{10}", text)
        assert "by pseudonym only" in re.sub(r"\s+", " ", text)


def test_reproducible_and_hash_in_the_audit_chain(case: Case, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:  # fmt: skip
    again = tmp_path / "again.pdf"
    got = run_cli(capsys, "report", "case", "-w", str(case.root), "--subject", case.cell,
                  "--rates", str(case.rates), "--out", str(again), "--json")  # fmt: skip
    assert got["sha256"] == case.owner["sha256"]
    assert hashlib.sha256(again.read_bytes()).hexdigest() == got["sha256"]
    assert again.read_bytes() == case.owner_pdf.read_bytes()
    with Workspace.open(case.root, read_only=True) as ws:
        logged = ws.store.engine.rows(
            "SELECT details->>'sha256', details->>'format', target FROM audit"
            " WHERE action = 'report.case' ORDER BY seq"
        )
    assert (got["sha256"], "pdf") in {(r[0], r[1]) for r in logged}
    assert run_cli(capsys, "audit", "verify", "-w", str(case.root), "--json")["ok"]
    # the Python API makes the same file
    import palermo

    with palermo.open(case.root) as ws:
        api = ws.case_report(case.cell, tmp_path / "api.html", rates=case.rates)
    assert (tmp_path / "api.html").read_bytes() == case.owner_html.read_bytes()
    assert api["format"] == "html" and api["pages"] is None


def test_entity_subject_untrusted_text_and_errors(
    case: Case, served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "xss.html"
    run_cli(capsys, "report", "case", "-w", str(case.root), "--subject", served.xss, "--out",
            str(out))  # fmt: skip
    html = out.read_text(encoding="utf-8")
    assert XSS not in html and "<script" not in html
    assert htmllib.escape(XSS, quote=False).replace(">", "&gt;")[:12] in html or (
        "&lt;img src=x onerror=alert(1)&gt;" in html
    )
    err = fail_cli(capsys, "report", "case", "-w", str(case.root), "--subject", "cell:999",
                   "--out", str(tmp_path / "x.html"))  # fmt: skip
    assert "no criminal cell" in err
    err = fail_cli(capsys, "report", "case", "-w", str(case.root), "--subject", case.cell,
                   "--out", str(tmp_path / "x.docx"))  # fmt: skip
    assert ".html or .pdf" in err
