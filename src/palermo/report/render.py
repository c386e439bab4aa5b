"""Reports rendered offline: HTML from Jinja2 templates with autoescaping (every value from a source
is untrusted text), and PDF from that HTML with WeasyPrint allowed to load nothing but ``data:``
URLs: the case file must render on an air-gapped machine and must not call out to an address a
source planted in it (an escort ad's ``<img src=http://...>``). Images and styles are inlined.

The first building block of issue 13's case file; the sections come next."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def fetcher() -> Any:
    """WeasyPrint's own fetcher, restricted to ``data:`` URLs: anything else (http, https,
    file, ftp) is refused before it is opened, and the page renders without it."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


def environment() -> Any:
    """A Jinja2 environment for report templates: autoescaping on for every template, undefined
    names an error (a misspelt field must not render as an empty cell)."""
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def html_to_pdf(html: str, out: Path) -> int:
    """Write ``html`` as a PDF to ``out``; returns the number of pages."""
    from weasyprint import HTML

    document = HTML(string=html, url_fetcher=fetcher()).render()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    document.write_pdf(str(out))
    return len(document.pages)
