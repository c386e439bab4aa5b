"""Small-cell suppression for published counts of victims: no published count below ``k``, and no
suppressed count recoverable from the totals published beside it.

A table is cells (one per combination of its dimensions, e.g. sex x age group x citizenship x
form) with one-way margins (the total per value of each dimension) and a grand total.

- **Primary**: a cell or margin below ``k`` (and above 0) is suppressed. A zero is published: it
  says that no victim has that combination, which is no one's secret (set ``suppress_zeros`` to
  hide zeros too).
- **Secondary**: a suppressed count is recoverable when it is the only unknown in a sum that is
  published (a margin minus the published cells of that margin; the grand total minus a
  dimension's published margins), and narrowed to less than ``k`` when the unknowns of such a sum
  add up to less than ``k``. So, for every published sum, while its suppressed parts number one,
  or add up to less than ``k``, the smallest published non-zero part is suppressed too (else a
  zero part, when one unknown alone needs company; else the sum itself); repeated until nothing
  changes. A suppressed margin's sum is then unpublished, so its cells need no protection from it.

Hand-written: the statistical-disclosure libraries (sdcMicro, tau-Argus) are R and Java; this is
the classic greedy rule, a few dozen lines, tested on tables built to defeat it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TOTAL = "(all)"


@dataclass
class Suppressed:
    dimensions: list[str]
    cells: dict[tuple[str, ...], int]  # combination -> count
    margins: dict[tuple[int, str], int]  # (dimension index, value) -> count
    total: int
    hidden_cells: set[tuple[str, ...]] = field(default_factory=set)
    hidden_margins: set[tuple[int, str]] = field(default_factory=set)
    total_hidden: bool = False
    k: int = 10

    def rows(self, reasons: bool = True) -> list[dict[str, Any]]:
        """Cells, then margins, then the total: dimension values (``(all)`` where summed over),
        count (None where suppressed), suppressed (primary | secondary | ''; with ``reasons``
        False, 'suppressed' for both: what is published must not say which suppressed counts
        are below k, for that narrows the others: a margin of 15 with one primary and one
        secondary count puts the primary at 5 or less)."""
        out = []
        for combo, n in sorted(self.cells.items()):
            out.append(self._row(combo, n, combo in self.hidden_cells, reasons))
        for (d, v), n in sorted(self.margins.items()):
            combo = tuple(v if i == d else TOTAL for i in range(len(self.dimensions)))
            out.append(self._row(combo, n, (d, v) in self.hidden_margins, reasons))
        total = tuple(TOTAL for _ in self.dimensions)
        out.append(self._row(total, self.total, self.total_hidden, reasons))
        return out

    def _row(self, combo: tuple[str, ...], n: int, hidden: bool, reasons: bool) -> dict[str, Any]:
        why = ("primary" if 0 < n < self.k else "secondary") if hidden else ""
        if why and not reasons:
            why = "suppressed"
        return {**dict(zip(self.dimensions, combo, strict=True)),
                "count": None if hidden else n, "suppressed": why}  # fmt: skip


def suppress(
    records: list[tuple[str, ...]], dimensions: list[str], k: int = 10,
    suppress_zeros: bool = False, all_values: dict[str, list[str]] | None = None,
) -> Suppressed:  # fmt: skip
    """Count ``records`` (one tuple of dimension values per victim) into a protected table.
    ``all_values``: the values each dimension can take (so that empty cells are cells too)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    nd = len(dimensions)
    counts = Counter(records)
    values = [
        sorted({r[i] for r in records} | set((all_values or {}).get(dimensions[i], [])))
        for i in range(nd)
    ]
    cells: dict[tuple[str, ...], int] = {}

    def combos(i: int, prefix: tuple[str, ...]) -> None:
        if i == nd:
            cells[prefix] = counts.get(prefix, 0)
            return
        for v in values[i]:
            combos(i + 1, (*prefix, v))

    combos(0, ())
    margins = {(d, v): sum(n for c, n in cells.items() if c[d] == v)
               for d in range(nd) for v in values[d]}  # fmt: skip
    t = Suppressed(dimensions, cells, margins, len(records), k=k)

    def small(n: int) -> bool:
        return (0 < n < k) or (suppress_zeros and n == 0)

    t.hidden_cells = {c for c, n in cells.items() if small(n)}
    t.hidden_margins = {m for m, n in margins.items() if small(n)}
    t.total_hidden = small(t.total)
    changed = True
    while changed:
        changed = False
        # each published margin is the sum of its cells
        for (d, v), _n in margins.items():
            if (d, v) in t.hidden_margins:
                continue
            parts = [c for c in cells if c[d] == v]
            more, hide_sum = _protect(parts, cells, t.hidden_cells, k)
            if hide_sum:
                t.hidden_margins.add((d, v))
            changed |= more or hide_sum
        # the published total is the sum of each dimension's margins
        if not t.total_hidden:
            for d in range(nd):
                parts_m = [(d, v) for v in values[d]]
                more, hide_sum = _protect(parts_m, margins, t.hidden_margins, k)
                t.total_hidden |= hide_sum
                changed |= more or hide_sum
    return t


def _protect(
    parts: list[Any], count: dict[Any, int], hidden: set[Any], k: int
) -> tuple[bool, bool]:
    """Suppress more of ``parts`` (a published sum's parts) until its suppressed parts are not
    one alone and add up to at least ``k``: the smallest non-zero part first, else a zero (an
    unknown zero hides as well as any), else the sum itself must go. Returns (anything
    suppressed, the sum must be suppressed)."""
    changed = False
    while True:
        gone = [p for p in parts if p in hidden]
        total_gone = sum(count[p] for p in gone)
        if not gone or (len(gone) >= 2 and total_gone >= k):
            return changed, False
        shown = sorted((p for p in parts if p not in hidden),
                       key=lambda p: (count[p] == 0, count[p], p))  # fmt: skip
        if not shown or (len(gone) >= 2 and count[shown[0]] == 0):
            # no part left that could lift the unknowns to k: the sum itself is withheld
            return changed, True
        hidden.add(shown[0])
        changed = True
