"""``palermo finance trace``: follow funds through accounts, forward (where did the money of an
entity go) or backward (where did the money that reached it come from).

Payments are taken in time order (ties by transaction id): money cannot leave an account before
it arrived. Each account is a ledger of *lots* (amounts that came in, each remembering the
payment that brought it); a payment out of an account takes lots by the attribution rule:

- ``proportional`` (default): each payment out carries the traced share of the account's balance
  at that moment (traced / known balance);
- ``fifo``: the money that came in first leaves first (the rule of Clayton's case);
- ``lifo``: the money that came in last leaves first;
- ``libr``: lowest intermediate balance rule: untraced money leaves first, traced money only once
  the rest is gone: the least that can be said to have passed on (favours the holder);
- ``traced_first``: traced money leaves first: the most that can have passed on.

The opening balance of an account is unknown: it is taken as zero, and a payment above the known
balance is paid, for the excess, from earlier funds (untraced forward; "prior funds" of that
account backward). Amounts are compared in EUR (``store.money``).

Forward, every payment out of the ``--from`` entity's accounts starts a traced lot. Traced money
ends (terminals): withdrawn as cash (``cash``), paid for an asset its payer registered within
``asset_days`` for a price within ``asset_tolerance`` (``asset``), back at the source
(``returned``), at the ``--to`` entity (``reached``), below ``min_amount`` in one payment
(``dispersed``: not followed further), or, at the end, still in an account whose statements are
in the workspace (``held``) or sent to one whose statements are not (``beyond_data``;
``remittance`` when that last payment crossed a border). Every traced EUR ends in exactly one
terminal: the summary checks it (conservation).

Backward, the accounts from which money could still reach the entity's accounts in time are
found first (a reverse sweep); every payment into them from outside, every cash deposit and
every shortfall (prior funds) starts a lot, and the lots that reach the entity are its origins.

Paths: each traced payment keeps its ``top_paths`` largest routes from the origin (exact amounts:
a lot's routes are scaled by the share of it that a payment takes); smaller routes are summed as
"other routes", so that the path table still adds up. Hand-written because no library follows
funds with time order and attribution rules; the loop is over the payments once, in Python, with
dictionaries per account (payments out of untouched accounts cost one subtraction).
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from palermo.errors import PalermoError
from palermo.store import audit
from palermo.store.money import MoneyTables, Rate, money_tables
from palermo.store.workspace import Store

RULES = ("proportional", "fifo", "lifo", "libr", "traced_first")
DIRECTIONS = ("forward", "backward")
TERMINALS = (
    "cash",
    "asset",
    "remittance",
    "beyond_data",
    "held",
    "reached",
    "returned",
    "dispersed",
)
# payment references that name a purchase of company shares (the registries give no price)
SHARE_WORDS = re.compile(
    r"parti sociale|share purchase|share transfer|shares|anteil|cessione quote|quote sociali"
    r"|parts sociales|aandelen|udzia|acciones",
    re.IGNORECASE,
)
EPS = 1e-9
MAX_LOTS = 64  # traced lots an account's ledger keeps apart before the smaller half merge
MAX_ORIGINS = 48  # origins a lot keeps apart; the smaller ones are summed as "other origins"


@dataclass(frozen=True)
class TraceParams:
    rule: str = "proportional"
    direction: str = "forward"
    min_amount: float = 1.0  # EUR: a traced part below this is not followed (dispersed)
    top_paths: int = 5  # routes kept per payment (the rest summed as other routes)
    asset_days: int = 60  # an asset registered within this many days of the payment ...
    asset_tolerance: float = 0.05  # ... for a price within this share of the amount
    max_hops: int = 6  # backward: payments back from the entity (0: any number)


@dataclass
class _Lots:
    """An account's ledger. Proportional-like rules keep the balance and the traced lots;
    fifo/lifo keep every lot in arrival order (``None``: untraced)."""

    balance: float = 0.0
    traced: dict[int, float] = field(default_factory=dict)
    queue: deque[list[Any]] = field(default_factory=deque)


def parse_rates(path: Path) -> list[Rate]:
    """A CSV of currency, units_per_eur (or eur_per_unit) and optionally valid_from (ISO date):
    the rate from that day on."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"--rates {path}: no such file")
    rates = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if "currency" not in cols or not cols & {"units_per_eur", "eur_per_unit"}:
            raise PalermoError(
                f"{path}: needs columns currency and units_per_eur (or eur_per_unit),"
                " optionally valid_from"
            )
        for row_no, row in enumerate(reader, start=2):
            cur = (row.get("currency") or "").strip().upper()
            raw = row.get("units_per_eur") or row.get("eur_per_unit") or ""
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not re.fullmatch(r"[A-Z]{3}", cur) or not value > 0 or math.isinf(value):
                raise PalermoError(
                    f"{path}: row {row_no}: needs a 3-letter currency and a rate > 0,"
                    f" got {cur!r}, {raw!r}"
                )
            units = value if row.get("units_per_eur") else 1.0 / value
            start = (row.get("valid_from") or "").strip()
            try:
                valid = date.fromisoformat(start) if start else None
            except ValueError:
                raise PalermoError(
                    f"{path}: row {row_no}: field valid_from {start!r} is not a date"
                ) from None
            rates.append(Rate(cur, units, valid))
    return rates


def parse_window(text: str | None) -> tuple[datetime | None, datetime | None, float | None]:
    """``START..END`` (either side may be empty; ISO dates or times, UTC; END excluded) or
    ``Nd`` (N days from the first traced payment)."""
    if not text:
        return None, None, None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*d\s*", text)
    if m:
        return None, None, float(m[1])
    if ".." not in text:
        raise PalermoError(f"--window {text!r}: use START..END (e.g. 2024-01-01..2024-07-01) or Nd")
    a, b = (s.strip() for s in text.split("..", 1))

    def when(s: str) -> datetime | None:
        if not s:
            return None
        try:
            t = datetime.fromisoformat(s)
        except ValueError:
            raise PalermoError(f"--window: {s!r} is not a date or time") from None
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    since, until = when(a), when(b)
    if since and until and until <= since:
        raise PalermoError(f"--window {text!r}: the end is not after the start")
    return since, until, None


def _find_entity(tables: MoneyTables, text: str, option: str) -> tuple[str, list[str]]:
    """An entity id, an account number or a name -> (label, account numbers)."""
    accounts = tables.accounts.to_pylist()
    wanted = re.sub(r"\s+", "", text).upper()
    direct = [a["account"] for a in accounts if re.sub(r"\s+", "", a["account"]).upper() == wanted]
    if direct:
        return text, direct
    node_of = dict(
        zip(
            tables.entity_nodes.column("entity_id").to_pylist(),
            tables.entity_nodes.column("node").to_pylist(),
            strict=True,
        )
    )
    nodes = {node_of[text]} if text in node_of else set()
    if not nodes:
        folded = text.casefold().split()
        key = sorted(folded)
        for r in tables.names.to_pylist():
            for value in (r["name"], r["translit"]):
                if value and sorted(value.casefold().split()) == key:
                    nodes.add(r["node"])
    if not nodes:
        raise PalermoError(
            f"{option} {text!r}: no entity id, account number or name in the workspace"
            " (within your compartments)"
        )
    holding = {a["node"] for a in accounts} & nodes
    if len(nodes) > 1 and len(holding) == 1:
        nodes = holding  # only one of them holds accounts: the one whose money moves
    if len(nodes) > 1:
        raise PalermoError(
            f"{option} {text!r}: {len(nodes)} entities have that name ({', '.join(sorted(nodes)[:8])});"
            " give one's id"
        )
    node = next(iter(nodes))
    held = [a["account"] for a in accounts if a["node"] == node]
    if not held:
        raise PalermoError(f"{option} {text!r}: entity {node} holds no account in the payments")
    label = next((a["label"] for a in accounts if a["node"] == node), node)
    return f"{label} ({node})", held


def trace(
    store: Store,
    source: str,
    *,
    to: str | None = None,
    window: str | None = None,
    params: TraceParams | None = None,
    rates: list[Rate] | None = None,
    out: Path | None = None,
    paths: int = 0,
) -> dict[str, Any]:
    """Trace funds from (forward) or into (backward) ``source``; write the trail and the path
    table to ``out`` when given. Returns the summary (with ``terminals``; with ``paths`` > 0 also
    the largest rows of the path table, each route with its hops, holders and evidence)."""
    p = params or TraceParams()
    if p.rule not in RULES:
        raise PalermoError(f"--rule {p.rule!r}: one of {', '.join(RULES)}")
    if p.direction not in DIRECTIONS:
        raise PalermoError(f"--direction {p.direction!r}: forward or backward")
    if p.direction == "backward" and p.rule in ("libr", "traced_first"):
        raise PalermoError(
            f"--rule {p.rule} splits traced from untraced money; backward, all money is traced"
            " to its origin: use proportional, fifo or lifo"
        )
    since, until, days = parse_window(window)
    tables = money_tables(store, rates or [], since, until)
    label, src_accounts = _find_entity(tables, source, "--from")
    to_label, to_accounts = (None, []) if to is None else _find_entity(tables, to, "--to")
    if tables.missing_rates:
        raise PalermoError(
            f"payments in {', '.join(tables.missing_rates)} have no EUR rate: give --rates FILE"
            " (CSV: currency,units_per_eur[,valid_from]) to compare amounts across currencies"
        )
    run = _Run(tables, p, src_accounts, to_accounts, days)
    result = run.go()
    summary: dict[str, Any] = {
        "from": label,
        "from_accounts": src_accounts,
        "to": to_label,
        "to_accounts": to_accounts,
        "direction": p.direction,
        "rule": p.rule,
        "unit": tables.unit,  # what every *_eur figure is in (EUR unless one currency, no rate)
        "window": window,
        "parameters": p.__dict__,
        **result,
        "notes": [*tables.notes, *result["notes"]],
    }
    if paths > 0:
        rows = sorted(path_rows(run, summary), key=lambda r: -float(r["amount_eur"]))
        summary["paths"] = rows[:paths]
        summary["paths_total"] = len(rows)
    if out is not None:
        _write(Path(out), run, summary)
        summary["out"] = str(out)
    # payments (victims' wages among them) leave the store as files: audited
    audit.record_read(
        store.engine, store.scope.actor, "finance.trace", label,
        {"direction": p.direction, "rule": p.rule, "window": window, "to": to_label,
         "traced_eur": summary["traced_eur"], "out": str(out) if out else None},
    )  # fmt: skip
    return summary


class _Run:
    def __init__(
        self,
        t: MoneyTables,
        p: TraceParams,
        sources: list[str],
        targets: list[str],
        days: float | None,
        seed_tx: set[int] | None = None,
        track_origin: bool = False,
    ) -> None:
        self.p = p
        # forward: payments traced from the start besides the sources' (wages paid to a third
        # party for a victim); track_origin: keep, per lot, which source account it came from
        self.seed_tx = seed_tx or set()
        self.track_origin = track_origin or p.direction == "backward"
        pay = t.payments
        self.tid = pay.column("tid").to_pylist()
        self.ts = pay.column("ts").to_pylist()
        self.src = pay.column("src").to_pylist()
        self.dst = pay.column("dst").to_pylist()
        self.eur = [float(x) for x in pay.column("amount_eur").to_pylist()]
        self.amount = pay.column("amount").to_pylist()
        self.cur = pay.column("currency").to_pylist()
        self.ptype = pay.column("payment_type").to_pylist()
        self.ref = pay.column("reference").to_pylist()
        self.evidence = pay.column("evidence").to_pylist()
        self.src_cc = pay.column("src_country").to_pylist()
        self.dst_cc = pay.column("dst_country").to_pylist()
        acc = t.accounts.to_pylist()
        self.acc = {a["account"]: a for a in acc}
        self.sources = set(sources)
        self.targets = set(targets) - self.sources
        self.days = days
        self.assets: dict[str, list[dict[str, Any]]] = {}
        for a in t.assets.to_pylist():
            self.assets.setdefault(a["owner_node"], []).append(a)
        self.real_estate = [a for a in t.assets.to_pylist() if a["kind"] == "real_estate"]
        self.notes: list[str] = []
        # per traced payment (or synthetic origin, negative index): routes and other routes
        self.routes: dict[int, list[tuple[tuple[int, ...], float]]] = {}
        self.other: dict[int, float] = {}
        self.traced: dict[int, float] = {}
        self.prior: dict[int, tuple[str, datetime]] = {}  # synthetic origin -> account, time
        self.terminals: list[dict[str, Any]] = []
        # backward: per lot, where its money entered ((kind, account) -> EUR), exact
        self.origin: dict[int, dict[tuple[str, str], float]] = {}
        self._last_synthetic = 0  # ids of prior funds and merged lots: -1, -2, ...

    # -- lots ------------------------------------------------------------------------------------
    def _take(self, lots: _Lots, x: float, i: int) -> dict[int, float]:
        """Take ``x`` EUR out of ``lots`` by the rule; returns the traced lots taken
        ({lot: EUR}); a shortfall is prior funds (untraced forward, an origin backward)."""
        rule = self.p.rule
        taken: dict[int, float] = {}
        if rule in ("fifo", "lifo"):
            q, need = lots.queue, x
            while need > EPS and q:
                entry = q[0] if rule == "fifo" else q[-1]
                part = min(need, entry[0])
                if entry[1] is not None:
                    taken[entry[1]] = taken.get(entry[1], 0.0) + part
                entry[0] -= part
                need -= part
                if entry[0] <= EPS:
                    q.popleft() if rule == "fifo" else q.pop()
            lots.balance = max(0.0, lots.balance - x)
            short = need
        else:
            traced = sum(lots.traced.values())
            if rule == "proportional":
                t = traced * min(1.0, x / lots.balance) if lots.balance > EPS else 0.0
            elif rule == "libr":
                t = max(0.0, min(x, lots.balance) - (lots.balance - traced))
            else:  # traced_first
                t = min(x, traced)
            if t > EPS and traced > EPS:
                f = t / traced
                for key, v in list(lots.traced.items()):
                    taken[key] = v * f
                    left = v - v * f
                    if left <= EPS:
                        del lots.traced[key]
                    else:
                        lots.traced[key] = left
            short = max(0.0, x - lots.balance)
            lots.balance = max(0.0, lots.balance - x)
        if short > EPS and self.p.direction == "backward":
            k = self._synthetic()
            self.prior[k] = (self.src[i], self.ts[i])
            self.traced[k] = short
            self.routes[k] = [((k,), short)]
            self.other[k] = 0.0
            self.origin[k] = {("prior_funds", self.src[i]): short}
            taken[k] = taken.get(k, 0.0) + short
        return taken

    def _put(self, lots: _Lots, x: float, lot: int | None, t: float) -> None:
        """``x`` EUR in, of which ``t`` traced as ``lot``."""
        lots.balance += x
        clean = x - t
        if self.p.rule in ("fifo", "lifo"):
            q = lots.queue
            if clean > EPS:
                if q and q[-1][1] is None:
                    q[-1][0] += clean
                else:
                    q.append([clean, None])
            if t > EPS and lot is not None:
                q.append([t, lot])
        elif t > EPS and lot is not None:
            lots.traced[lot] = lots.traced.get(lot, 0.0) + t
            if len(lots.traced) > MAX_LOTS:
                self._merge(lots)

    def _synthetic(self) -> int:
        self._last_synthetic -= 1
        return self._last_synthetic

    def _merge(self, lots: _Lots) -> None:
        """Keep a busy account's ledger small: its smaller half of traced lots become one lot
        whose routes are the largest of theirs (exact amounts, the rest summed as other routes)
        and whose origins are theirs. Totals are unchanged; only route detail is summed."""
        small = sorted(lots.traced, key=lambda k: lots.traced[k])[: len(lots.traced) // 2]
        k = self._synthetic()
        total = 0.0
        routes: list[tuple[float, tuple[int, ...]]] = []
        other = 0.0
        origin: dict[tuple[str, str], float] = {}
        for lot in small:
            v = lots.traced.pop(lot)
            f = v / self.traced[lot] if self.traced[lot] > EPS else 0.0
            total += v
            routes += [(w * f, path) for path, w in self.routes[lot]]
            other += self.other[lot] * f
            if self.track_origin:
                for key, w in self.origin[lot].items():
                    origin[key] = origin.get(key, 0.0) + w * f
        best = heapq.nlargest(self.p.top_paths, routes, key=lambda r: r[0])
        self.traced[k] = total
        self.routes[k] = [(path, w) for w, path in best]
        self.other[k] = max(0.0, total - sum(w for w, _ in best))
        if self.track_origin:
            self.origin[k] = _cap(origin)
        lots.traced[k] = total

    def _route(self, i: int, taken: dict[int, float]) -> float:
        """Routes of payment ``i`` from the lots it took; returns the traced EUR."""
        k = self.p.top_paths
        cand: list[tuple[float, tuple[int, ...]]] = []
        origin: dict[tuple[str, str], float] | None = {} if self.track_origin else None
        for lot, amount in taken.items():
            total = self.traced[lot]
            f = amount / total if total > EPS else 0.0
            for path, v in self.routes[lot]:
                cand.append((v * f, (*path, i)))
            if origin is not None:
                for key, v in self.origin[lot].items():
                    origin[key] = origin.get(key, 0.0) + v * f
        if origin is not None:
            self.origin[i] = _cap(origin)
        best = heapq.nlargest(k, cand, key=lambda c: c[0])
        kept = sum(v for v, _ in best)
        t = sum(taken.values())
        self.routes[i] = [(path, v) for v, path in best]
        self.other[i] = max(0.0, t - kept)  # = the lots' other routes + routes not kept
        self.traced[i] = t
        return t

    def _asset(self, i: int) -> dict[str, Any] | None:
        """The asset payment ``i`` bought, if any: real estate registered to the payer's holder
        (or, failing that, to anyone, in the payee's country) within ``asset_days`` of the
        payment for a price within ``asset_tolerance`` of it; or company shares the payer's
        holder owns when the reference names a share purchase."""
        holder = self.acc.get(self.src[i], {}).get("node")
        when = self.ts[i].date()
        x = self.eur[i]
        tol, days = self.p.asset_tolerance, self.p.asset_days

        def priced(a: dict[str, Any]) -> bool:
            return (
                a["kind"] == "real_estate" and a["registered"] is not None
                and a["price_eur"] is not None and abs((a["registered"] - when).days) <= days
                and abs(a["price_eur"] - x) <= tol * a["price_eur"]
            )  # fmt: skip

        own = self.assets.get(holder, []) if holder is not None else []
        for a in own:
            if priced(a):
                return {**a, "rule": f"registered to the payer's holder on {a['registered']} for"
                        f" {a['price']:.2f} {a['currency']} (within {tol:.0%} and {days} days)"}  # fmt: skip
        if self.ref[i] and SHARE_WORDS.search(self.ref[i]):
            for a in own:
                if a["kind"] == "company_shares":
                    return {**a, "rule": f"reference {self.ref[i]!r} names a share purchase;"
                            " the payer's holder owns the company"}  # fmt: skip
        country = self.dst_cc[i]
        for a in self.real_estate:
            if priced(a) and (country is None or a["country"] in (None, country)):
                return {**a, "rule": f"registered to {a['owner_node']} (not the payer's holder)"
                        f" on {a['registered']} for {a['price']:.2f} {a['currency']} (within"
                        f" {tol:.0%} and {days} days)"}  # fmt: skip
        return None

    def _end(self, kind: str, i: int | None, account: str, amount: float, lots: dict[int, float],
             **extra: Any) -> None:  # fmt: skip
        """A terminal: ``amount`` EUR made of ``lots`` (lot -> EUR) ends at ``account``."""
        routes: list[tuple[tuple[int, ...], float]] = []
        other = 0.0
        for lot, v in lots.items():
            total = self.traced[lot]
            f = v / total if total > EPS else 0.0
            routes += [(path, w * f) for path, w in self.routes[lot]]
            other += self.other[lot] * f
        routes.sort(key=lambda r: -r[1])
        keep = routes[: self.p.top_paths]
        other += sum(w for _, w in routes[self.p.top_paths :])
        a = self.acc.get(account, {})
        self.terminals.append({
            "kind": kind,
            "account": account,
            "holder": a.get("label"),
            "holder_node": a.get("node"),
            "country": extra.pop("country", None) or a.get("country"),
            "transaction": self.tid[i] if i is not None else None,
            "_i": i,
            "time": self.ts[i] if i is not None else None,
            "amount_eur": amount,
            "routes": keep,
            "other_routes_eur": other,
            **extra,
        })  # fmt: skip

    # -- the sweep -------------------------------------------------------------------------------
    def _reach(self) -> dict[str, datetime]:
        """Backward: each account -> the latest time at which money in it can still reach the
        targets (the sources of a backward trace) in at most ``max_hops`` payments (0: any
        number). One reverse sweep keeping, per account, that latest time for each number of
        hops (a later time over more hops does not hide an earlier one over fewer)."""
        far = datetime.max.replace(tzinfo=UTC)
        h_max = self.p.max_hops
        if h_max <= 0:
            latest = dict.fromkeys(self.sources, far)
            for i in range(len(self.tid) - 1, -1, -1):
                d, s = self.dst[i], self.src[i]
                if (
                    d in latest
                    and self.ts[i] <= latest[d]
                    and not self.acc[s]["cash"]
                    and s not in self.sources
                    and s not in latest
                ):
                    latest[s] = self.ts[i]  # the sweep runs backwards: the first is latest
            return latest
        # by[account][h]: latest time from which h more payments can reach the targets
        by: dict[str, list[datetime | None]] = {a: [far] * (h_max + 1) for a in self.sources}
        for i in range(len(self.tid) - 1, -1, -1):
            d, s, when = self.dst[i], self.src[i], self.ts[i]
            row = by.get(d)
            if row is None or s in self.sources or self.acc[s]["cash"]:
                continue
            mine = by.get(s)
            for h in range(1, h_max + 1):
                t = row[h - 1]
                if t is not None and when <= t:
                    if mine is None:
                        mine = by[s] = [None] * (h_max + 1)
                    if mine[h] is None:
                        mine[h] = when  # backwards: the first is the latest
        return {
            a: max(t for t in row if t is not None)
            for a, row in by.items()
            if any(t is not None for t in row)
        }

    def go(self) -> dict[str, Any]:
        p = self.p
        n = len(self.tid)
        pools: dict[str, _Lots] = {}

        def pool(account: str) -> _Lots:
            lots = pools.get(account)
            if lots is None:
                lots = pools[account] = _Lots()
            return lots

        cash = [self.acc[a]["cash"] for a in self.src], [self.acc[b]["cash"] for b in self.dst]
        backward = p.direction == "backward"
        reach = self._reach() if backward else {}
        cutoff: datetime | None = None
        seeds = 0.0
        traced_payments = 0
        for i in range(n):
            a, b, x = self.src[i], self.dst[i], self.eur[i]
            if cutoff is not None and self.ts[i] >= cutoff:
                break
            if a == b:
                continue
            a_cash, b_cash = cash[0][i], cash[1][i]
            if backward:
                into_sink = b in self.sources
                if into_sink and a in self.sources:
                    continue  # between the entity's own accounts
                if not into_sink and (b not in reach or self.ts[i] > reach[b]):
                    # money leaving for where it can no longer reach the entity
                    if a in reach and not a_cash:
                        self._take(pool(a), x, i)
                    continue
                traced_payments += 1
                if a_cash or a not in reach:  # from outside: an origin
                    t = x
                    self._seed(i, x)
                else:
                    t = self._route(i, self._take(pool(a), x, i))
                if into_sink:
                    self._end("reached", i, b, t, {i: t})
                else:
                    self._put(pool(b), x, i, t)
                continue
            # forward
            if b in self.sources and a not in self.sources:
                lots = pools.get(a)
                if lots is not None:
                    taken = self._take(lots, x, i)
                    if taken:
                        t = self._route(i, taken)
                        traced_payments += 1
                        self._end("returned", i, b, t, {i: t})
                continue
            if a in self.sources or i in self.seed_tx:
                if b in self.sources:
                    continue  # between the source's own accounts: still the source's
                if self.days is not None and cutoff is None:
                    cutoff = self.ts[i] + timedelta(days=self.days)
                self.traced[i] = x
                self.routes[i] = [((i,), x)]
                self.other[i] = 0.0
                if self.track_origin:
                    self.origin[i] = (
                        {("source", a): x} if a in self.sources else {("seed", str(i)): x}
                    )
                seeds += x
                taken = {i: x}
                t = x
            else:
                if a_cash:
                    if not b_cash and b not in self.targets:
                        self._put(pool(b), x, None, 0.0)
                    continue
                lots = pool(a)
                if not lots.traced and not any(lot[1] is not None for lot in lots.queue):
                    # nothing traced here: one subtraction (and the fifo/lifo queue)
                    self._take(lots, x, i)
                    if not b_cash and b not in self.targets:
                        self._put(pool(b), x, None, 0.0)
                    continue
                taken = self._take(lots, x, i)
                if not taken:
                    if not b_cash and b not in self.targets:
                        self._put(pool(b), x, None, 0.0)
                    continue
                t = self._route(i, taken)
            traced_payments += 1
            if b_cash:
                self._end("cash", i, b, t, {i: t}, country=self.src_cc[i])
                continue
            if b in self.targets:
                self._end("reached", i, b, t, {i: t})
                continue
            asset = self._asset(i)
            if asset is not None:
                self._end(
                    "asset", i, b, t, {i: t}, country=asset["country"],
                    asset_id=asset["asset_id"], asset_kind=asset["kind"],
                    asset_label=asset["title"] or asset["label"], rule=asset["rule"],
                )  # fmt: skip
                continue
            if t < p.min_amount and a not in self.sources:
                self._end("dispersed", i, b, t, {i: t})
                self._put(pool(b), x, None, 0.0)
                continue
            self._put(pool(b), x, i, t)
        if not backward:
            for account, lots in sorted(pools.items()):
                held: dict[int, float] = {}
                if p.rule in ("fifo", "lifo"):
                    for v, lot in lots.queue:
                        if lot is not None and v > EPS:
                            held[lot] = held.get(lot, 0.0) + v
                else:
                    held = {k: v for k, v in lots.traced.items() if v > EPS}
                if not held:
                    continue
                total = sum(held.values())
                if self.acc[account]["has_statements"]:
                    kind = "held"
                else:
                    last = max(held, key=lambda k: self.ts[k])
                    crossed = (
                        self.src_cc[last] and self.dst_cc[last]
                        and self.src_cc[last] != self.dst_cc[last]
                    ) or (self.ptype[last] or "").lower() == "remittance"  # fmt: skip
                    kind = "remittance" if crossed else "beyond_data"
                self._end(kind, None, account, total, held)
        ended = sum(t["amount_eur"] for t in self.terminals)
        if backward:
            seeds = ended  # every lot that reached the entity; the rest went elsewhere
        gap = abs(ended - seeds)
        if gap > 1e-6 * max(1.0, seeds):
            raise PalermoError(  # pragma: no cover - an internal check, reported if it fails
                f"trace: money not conserved ({seeds:.2f} EUR traced, {ended:.2f} ended)"
            )
        if not traced_payments:
            self.notes.append(
                "no payment to trace: the entity's accounts "
                + ("receive nothing in the window" if backward else "pay nothing out in the window")
            )
        origins = self._origins() if backward else []
        per_kind = {k: 0.0 for k in TERMINALS}
        for term in self.terminals:
            per_kind[term["kind"]] += term["amount_eur"]
        return {
            "traced_eur": round(seeds, 2),
            "ended_eur": round(ended, 2),
            "conserved": True,
            "traced_payments": traced_payments,
            "terminals_eur": {k: round(v, 2) for k, v in per_kind.items() if v},
            "by_country": _by_country(origins if backward else self.terminals),
            "origins": origins,
            "terminals": self.terminals,
            "notes": self.notes,
        }

    def _origins(self) -> list[dict[str, Any]]:
        """Backward: where the money that reached the entity entered (kind cash_deposit,
        prior_funds or payment_from_outside: from an account whose money could not reach it),
        exact, largest first."""
        agg: dict[tuple[str, str], float] = {}
        for t in self.terminals:
            for key, v in self.origin[t["_i"]].items():
                agg[key] = agg.get(key, 0.0) + v
        rows = []
        for (kind, account), v in sorted(agg.items(), key=lambda kv: -kv[1]):
            a = self.acc.get(account) or {}
            rows.append({"kind": kind, "account": account, "holder": a.get("label"),
                         "holder_node": a.get("node"), "country": a.get("country"),
                         "amount_eur": v})  # fmt: skip
        return rows

    def _seed(self, i: int, x: float) -> int:
        self.traced[i] = x
        self.routes[i] = [((i,), x)]
        self.other[i] = 0.0
        if self.p.direction == "backward":
            kind = "cash_deposit" if self.acc[self.src[i]]["cash"] else "payment_from_outside"
            self.origin[i] = {(kind, self.src[i]): x}
        return i

    # -- output helpers --------------------------------------------------------------------------
    def hop(self, k: int) -> dict[str, Any]:
        if k < 0:
            account, when = self.prior[k]
            return {"from": f"(prior funds of {account})", "to": account, "tid": "", "ts": when,
                    "evidence": ""}  # fmt: skip
        return {"from": self.src[k], "to": self.dst[k], "tid": self.tid[k], "ts": self.ts[k],
                "evidence": self.evidence[k]}  # fmt: skip

    def holder(self, account: str) -> str:
        if account.startswith("(prior"):
            return account
        a = self.acc.get(account) or {}
        return str(a.get("label") or account)


def _cap(origin: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """The ``MAX_ORIGINS`` largest origins, the rest summed (exact total)."""
    if len(origin) <= MAX_ORIGINS:
        return origin
    keep = heapq.nlargest(MAX_ORIGINS - 1, origin.items(), key=lambda kv: kv[1])
    rest = sum(origin.values()) - sum(v for _, v in keep)
    out = dict(keep)
    out[("other_origins", "")] = out.get(("other_origins", ""), 0.0) + max(0.0, rest)
    return out


def _by_country(terminals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agg: dict[tuple[str, str], list[float]] = {}
    for t in terminals:
        key = (t["kind"], t["country"] or "?")
        v = agg.setdefault(key, [0.0, 0])
        v[0] += t["amount_eur"]
        v[1] += 1
    total = sum(v[0] for v in agg.values()) or 1.0
    return [
        {
            "kind": k,
            "country": c,
            "amount_eur": round(v[0], 2),
            "terminals": int(v[1]),
            "share": round(v[0] / total, 4),
        }
        for (k, c), v in sorted(agg.items(), key=lambda kv: -kv[1][0])
    ]


def path_rows(run: _Run, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (terminal, route), largest first within a terminal; other routes summed."""
    rows = []
    for n, t in enumerate(summary["terminals"], start=1):
        for path, v in t["routes"]:
            hops = [run.hop(k) for k in path]
            accounts = [hops[0]["from"], *(h["to"] for h in hops)]
            rows.append({
                "terminal": n,
                "kind": t["kind"],
                "country": t["country"],
                "end_account": t["account"],
                "end_holder": t["holder"],
                "amount_eur": round(v, 2),
                "share_of_terminal": round(v / t["amount_eur"], 4) if t["amount_eur"] else 0.0,
                "hops": len(hops),
                "accounts": " > ".join(accounts),
                "holders": " > ".join(run.holder(a) for a in accounts),
                "transactions": " > ".join(str(h["tid"]) for h in hops if h["tid"]),
                "first": hops[0]["ts"].isoformat(),
                "last": hops[-1]["ts"].isoformat(),
                "evidence": "; ".join(h["evidence"] for h in hops if h["evidence"]),
                "asset": t.get("asset_label") or "",
                "rule": t.get("rule") or "",
            })  # fmt: skip
        if t["other_routes_eur"] > 0.005:
            rows.append({
                "terminal": n, "kind": t["kind"], "country": t["country"],
                "end_account": t["account"], "end_holder": t["holder"],
                "amount_eur": round(t["other_routes_eur"], 2),
                "share_of_terminal": round(t["other_routes_eur"] / t["amount_eur"], 4),
                "hops": None, "accounts": "(other routes)", "holders": "", "transactions": "",
                "first": "", "last": "", "evidence": "", "asset": t.get("asset_label") or "",
                "rule": t.get("rule") or "",
            })  # fmt: skip
    return rows


def edge_rows(run: _Run, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The trail as a graph: one row per (payer account, payee account) with the traced EUR."""
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for i, t in run.traced.items():
        if i < 0 or t <= EPS:
            continue
        e = agg.setdefault(
            (run.src[i], run.dst[i]),
            {
                "n": 0,
                "traced": 0.0,
                "total": 0.0,
                "first": run.ts[i],
                "last": run.ts[i],
                "tids": [],
                "evidence": [],
            },
        )
        e["n"] += 1
        e["traced"] += t
        e["total"] += run.eur[i]
        e["first"] = min(e["first"], run.ts[i])
        e["last"] = max(e["last"], run.ts[i])
        if len(e["tids"]) < 10:
            e["tids"].append(str(run.tid[i]))
            e["evidence"].append(run.evidence[i])
    return [
        {
            "from_account": a,
            "to_account": b,
            "from_holder": run.holder(a),
            "to_holder": run.holder(b),
            "payments": e["n"],
            "traced_eur": round(e["traced"], 2),
            "payments_eur": round(e["total"], 2),
            "first": e["first"].isoformat(),
            "last": e["last"].isoformat(),
            "transactions": ";".join(e["tids"]),
            "evidence": ";".join(e["evidence"]),
        }
        for (a, b), e in sorted(agg.items(), key=lambda kv: -kv[1]["traced"])
    ]


def _csv(path: Path, rows: list[dict[str, Any]], header: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


def _write(out: Path, run: _Run, summary: dict[str, Any]) -> None:
    import igraph as ig

    out.mkdir(parents=True, exist_ok=True)
    paths = path_rows(run, summary)
    _csv(out / "paths.csv", paths, list(paths[0]) if paths else ["terminal", "kind", "amount_eur"])
    edges = edge_rows(run, summary)
    header = ["from_account", "to_account", "from_holder", "to_holder", "payments", "traced_eur",
              "payments_eur", "first", "last", "transactions", "evidence"]  # fmt: skip
    _csv(out / "trail_edges.csv", edges, header)
    _csv(out / "by_country.csv", summary["by_country"],
         ["kind", "country", "amount_eur", "terminals", "share"])  # fmt: skip
    if summary["direction"] == "backward":
        _csv(out / "origins.csv",
             [{**o, "amount_eur": round(o["amount_eur"], 2)} for o in summary["origins"]],
             ["kind", "account", "holder", "holder_node", "country", "amount_eur"])  # fmt: skip
    terminals = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in t.items()
         if k not in ("routes", "_i")} | {"amount_eur": round(t["amount_eur"], 2),
                              "other_routes_eur": round(t["other_routes_eur"], 2)}
        for t in summary["terminals"]
    ]  # fmt: skip
    keys: list[str] = []
    for t in terminals:
        keys += [k for k in t if k not in keys]
    _csv(out / "terminals.csv", terminals, keys or ["kind"])
    # GraphML for link-chart tools (Gephi, yEd, i2 imports): accounts with their holders
    names = sorted({e["from_account"] for e in edges} | {e["to_account"] for e in edges})
    index = {a: k for k, a in enumerate(names)}
    g = ig.Graph(directed=True)
    g.add_vertices(len(names))
    g.vs["name"] = names
    g.vs["holder"] = [run.holder(a) for a in names]
    g.vs["country"] = [str((run.acc.get(a) or {}).get("country") or "") for a in names]
    g.vs["source"] = [a in run.sources for a in names]
    g.add_edges([(index[e["from_account"]], index[e["to_account"]]) for e in edges])
    for key in ("traced_eur", "payments_eur", "payments", "first", "last", "transactions"):
        g.es[key] = [e[key] for e in edges]
    g.write_graphml(str(out / "trail.graphml"))
    doc = {k: v for k, v in summary.items() if k not in ("terminals", "origins")}
    (out / "summary.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows)
