"""Reports render offline: a PDF from HTML with nothing fetched from outside, whatever a source
planted in the page; templates escape every value."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from palermo.report.render import environment, fetcher, html_to_pdf


def test_pdf_renders_readable_pages_and_fetches_nothing(tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ad = f'<img src="{url}/tracker.png"><link rel="stylesheet" href="{url}/x.css">'
        rows = "".join(f"<tr><td>{i}</td><td>Попеску Ionuț {i}</td></tr>" for i in range(120))
        html = (
            "<html><head><style>@page { size: A4; margin: 2cm } body { font-family: 'DejaVu"
            " Sans' }</style></head><body><h1>Case file</h1>"
            f"{ad}<svg width='200' height='60'><circle cx='30' cy='30' r='25' fill='#c62828'/>"
            f"</svg><table>{rows}</table></body></html>"
        )
        out = tmp_path / "case.pdf"
        pages = html_to_pdf(html, out)
    finally:
        server.shutdown()
    assert hits == []  # the planted image and style were refused, not fetched
    assert pages >= 2 and out.read_bytes().startswith(b"%PDF-")
    # look at the first page as an image: text and the chart are on it, not a blank page
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(out))
    assert len(pdf) == pages
    text = pdf[0].get_textpage().get_text_range()
    assert "Case file" in text and "Попеску Ionuț 0" in text
    import numpy as np

    image = np.asarray(pdf[0].render(scale=1).to_pil().convert("RGB")).astype(int)
    reds = int(((image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 80)).sum())
    assert reds > 100  # the SVG circle was drawn
    for refused in ("file:///etc/passwd", url + "/x.png", "https://example.org/x.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher().fetch(refused)
    assert fetcher().fetch("data:text/plain,ok").url.startswith("data:")  # inlined: allowed


def test_templates_escape_every_value() -> None:
    env = environment()
    page = env.from_string("<td>{{ name }}</td>").render(name="<img src=x onerror=alert(1)>")
    assert page == "<td>&lt;img src=x onerror=alert(1)&gt;</td>"
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ missing }}").render()
