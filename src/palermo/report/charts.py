"""Static SVG charts for reports, made the same way every time (a report is reproducible: same
workspace, same bytes): matplotlib with a fixed hash salt and no date in the file, text kept as
text (searchable, and a test can grep it for names that must not be there), every label drawn
literally (``parse_math=False``: a name from a source is never read as TeX).

The Sankey is drawn by hand: matplotlib's ``sankey`` draws the flows in and out of one process,
not money moving across stages (victims -> receivers -> where it ended)."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import Any

# a colour per cell (colour-blind safe, Okabe-Ito and Tol's muted), then grey for the rest
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#88CCEE")  # fmt: skip
OTHER = "#BBBBBB"


def _svg(fig: Any, prefix: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "palermo", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # inline: no XML declaration, no DOCTYPE
    # several charts inline in one page: their element ids (line2d_1, ...) must not collide
    return re.sub(r'(id="|url\(#|href="#)([A-Za-z][\w.-]*)', rf"\1{prefix}-\2", text)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72)


def network_svg(nodes: Sequence[dict[str, Any]], edges: Sequence[tuple[int, int, float]]) -> str:
    """Nodes (x, y, label, colour, victim, focus) and weighted ties (a, b, weight) as an SVG."""
    fig = _figure(10, 7.5)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    if nodes:
        top = max((w for _, _, w in edges), default=1.0) or 1.0
        for a, b, w in edges:
            ax.plot([nodes[a]["x"], nodes[b]["x"]], [nodes[a]["y"], nodes[b]["y"]],
                    color="#888888", linewidth=0.4 + 2.0 * w / top, alpha=0.6, zorder=1)  # fmt: skip
        for n in nodes:
            ax.scatter([n["x"]], [n["y"]], s=40 if n["victim"] else 110, c=n["colour"],
                       marker="s" if n["victim"] else "o", edgecolors="#000000",
                       linewidths=1.8 if n["focus"] else 0.4, zorder=2)  # fmt: skip
            ax.text(n["x"], n["y"] + 0.03, n["label"][:32], fontsize=6.5, ha="center",
                    va="bottom", zorder=3, parse_math=False)  # fmt: skip
        ax.margins(0.08)
    return _svg(fig, "net")


def bars_svg(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    title: str = "",
    prefix: str = "bars",
) -> str:
    """Stacked bars, one per category, one colour per series."""
    fig = _figure(max(4.0, min(11.0, 1.2 + 0.35 * len(categories))), 3.2)
    ax = fig.add_subplot()
    bottom = [0.0] * len(categories)
    x = list(range(len(categories)))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x, values, bottom=bottom, color=PALETTE[k % len(PALETTE)], label=name, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(x)
    ax.set_xticklabels([c[:24] for c in categories], rotation=60, ha="right", fontsize=7,
                       parse_math=False)  # fmt: skip
    ax.set_ylabel(ylabel, fontsize=8, parse_math=False)
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9, parse_math=False)
    if len(series) > 1:
        ax.legend(fontsize=7, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig, prefix)


def sankey_svg(
    left: Sequence[tuple[str, str, float]],
    right: Sequence[tuple[str, str, float]],
    unit: str = "EUR",
    titles: tuple[str, str, str] = ("from", "received by", "sent to"),
) -> str:
    """Money across three columns: ``left`` bands (source, middle, amount) and ``right`` bands
    (middle, end, amount), each box as tall as the larger of the money in and out of it, each
    band as wide as its amount."""
    width, height, pad, box = 900.0, 520.0, 8.0, 14.0
    bands = [[b for b in left if b[2] > 0], [b for b in right if b[2] > 0]]
    size: list[dict[str, float]] = [{}, {}, {}]
    flow_in: list[dict[str, float]] = [{}, {}, {}]
    flow_out: list[dict[str, float]] = [{}, {}, {}]
    for s, group in enumerate(bands):
        for a, b, x in group:
            flow_out[s][a] = flow_out[s].get(a, 0.0) + x
            flow_in[s + 1][b] = flow_in[s + 1].get(b, 0.0) + x
    for s in range(3):
        for n in set(flow_in[s]) | set(flow_out[s]):
            size[s][n] = max(flow_in[s].get(n, 0.0), flow_out[s].get(n, 0.0))
    scale = max((sum(col.values()) for col in size), default=0.0) or 1.0
    xs = (210.0, 450.0, 650.0)
    pos: list[dict[str, tuple[float, float]]] = [{}, {}, {}]
    for s, col in enumerate(size):
        names = sorted(col, key=lambda n: (-col[n], n))
        usable = height - 40 - pad * max(0, len(names) - 1)
        y = 30.0
        for n in names:
            h = max(1.5, usable * col[n] / scale)
            pos[s][n] = (y, h)
            y += h + pad
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}"'
           f' width="{width:.0f}" height="{height:.0f}" font-family="DejaVu Sans, sans-serif"'
           ' font-size="10">']  # fmt: skip
    for s, title in enumerate(titles):
        out.append(f'<text x="{xs[s] + box / 2:.1f}" y="16" text-anchor="middle"'
                   f' font-weight="bold">{html.escape(title)}</text>')  # fmt: skip
    offset_out: list[dict[str, float]] = [{}, {}, {}]
    offset_in: list[dict[str, float]] = [{}, {}, {}]
    for s, group in enumerate(bands):
        for a, b, x in sorted(group, key=lambda t: (-t[2], t[0], t[1])):
            (ya, ha), (yb, hb) = pos[s][a], pos[s + 1][b]
            w1 = max(0.6, ha * x / size[s][a])
            w2 = max(0.6, hb * x / size[s + 1][b])
            y1 = ya + offset_out[s].get(a, 0.0) + w1 / 2
            y2 = yb + offset_in[s + 1].get(b, 0.0) + w2 / 2
            offset_out[s][a] = offset_out[s].get(a, 0.0) + w1
            offset_in[s + 1][b] = offset_in[s + 1].get(b, 0.0) + w2
            x1, x2 = xs[s] + box, xs[s + 1]
            mid = (x1 + x2) / 2
            out.append(f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f}'
                       f' {x2:.1f},{y2:.1f}" fill="none" stroke="{PALETTE[s]}"'
                       f' stroke-opacity="0.4" stroke-width="{min(w1, w2):.2f}"/>')  # fmt: skip
    for s in range(3):
        for n, (y, h) in sorted(pos[s].items()):
            out.append(f'<rect x="{xs[s]:.1f}" y="{y:.1f}" width="{box:.0f}" height="{h:.1f}"'
                       ' fill="#444444"/>')  # fmt: skip
            anchor, tx = ("end", xs[s] - 4) if s < 2 else ("start", xs[s] + box + 4)
            label = html.escape(f"{n[:30]}  {size[s][n]:,.0f} {unit}")
            out.append(f'<text x="{tx:.1f}" y="{y + h / 2 + 3:.1f}"'
                       f' text-anchor="{anchor}">{label}</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)
