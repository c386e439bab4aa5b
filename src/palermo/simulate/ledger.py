"""The criminal money, followed exactly: every euro a victim earns is tagged with that victim and
every transfer carries the tags along in proportion (the proportional attribution rule). This is
the ground truth the finance analyses are measured against: for every victim, what was earned,
what was left to them, and where the rest ended (which account, which person, which asset).

Nodes are named ``acc:<account>``, ``cash:<person>`` (cash in hand, never seen by a bank),
``kept:<victim>`` (left to the victim), ``asset:<id>`` and ``cost:<kind>`` (paid out to the
legitimate economy: rent, tickets, ad sites, sellers of assets). Money of the offenders' own
(``OWN``) enters where a payment exceeds what a node holds, so that money never leaves a node
before it has arrived.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

OWN = -1  # the tag of the offenders' own money (not a victim's earnings)
EPS = 1e-9


@dataclass
class Flow:
    flow_id: int
    ts: int  # seconds since the epoch, UTC
    src: str
    dst: str
    amount_eur: float
    stage: str  # earnings | sweep | placement | layering | integration | cost | fee | ...
    observed: bool  # does a bank record it (the tx carries the flow id)?
    victim: int  # the victim whose earnings this is (earnings flows), else OWN
    victims_eur: float  # the part of the amount that is victims' earnings (the rest: OWN)


@dataclass
class Ledger:
    balance: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    shares: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    flows: list[Flow] = field(default_factory=list)
    last_in: dict[str, int] = field(default_factory=dict)  # latest arrival into each node

    def _add(self, node: str, tags: dict[int, float], ts: int) -> None:
        self.last_in[node] = max(ts, self.last_in.get(node, ts))
        mine = self.shares[node]
        for tag, amount in tags.items():
            mine[tag] = mine.get(tag, 0.0) + amount
        self.balance[node] += sum(tags.values())

    def earn(
        self, ts: int, victim: int, dst: str, amount: float, stage: str, observed: bool
    ) -> int:
        """Money enters the criminal economy as ``victim``'s earnings (wages, clients' money)."""
        amount = round(amount, 2)  # flows are in cents, as banks book them
        self._add(dst, {victim: amount}, ts)
        return self._record(ts, f"earned:{victim}", dst, amount, stage, observed, {victim: amount})

    def inject(self, ts: int, node: str, amount: float) -> None:
        self._add(node, {OWN: amount}, ts)
        self._record(ts, "own", node, amount, "own_funds", False, {OWN: amount})

    def move(self, ts: int, src: str, dst: str, amount: float, stage: str, observed: bool) -> int:
        """Move ``amount`` from ``src`` to ``dst``, each tag in proportion to its share of
        ``src``; tops ``src`` up with the offenders' own money if it holds less. The flow is
        timed at least five minutes after the latest money arrived in ``src`` (money cannot
        leave before it arrives), so its time may be later than ``ts``: read it from the flow."""
        amount = round(amount, 2)
        if amount <= 0:
            raise ValueError("a flow moves a positive amount")
        ts = max(ts, self.last_in.get(src, ts - 300) + 300)
        held = self.balance[src]
        if held + EPS < amount:
            self.inject(ts, src, amount - max(held, 0.0))
            held = self.balance[src]
        part = amount / held
        src_shares = self.shares[src]
        moved = {tag: v * part for tag, v in src_shares.items() if v * part > 0}
        for tag, v in moved.items():
            left = src_shares[tag] - v
            if left <= EPS:
                del src_shares[tag]
            else:
                src_shares[tag] = left
        self.balance[src] = max(0.0, held - amount)
        self._add(dst, moved, ts)
        return self._record(ts, src, dst, amount, stage, observed, moved)

    def move_own(
        self, ts: int, src: str, dst: str, victim: int, amount: float, stage: str, observed: bool
    ) -> int:
        """Move ``victim``'s own money only (their allowance out of their own earnings), not a
        proportional mix of everything ``src`` holds."""
        amount = round(amount, 2)
        ts = max(ts, self.last_in.get(src, ts - 300) + 300)
        src_shares = self.shares[src]
        have = src_shares.get(victim, 0.0)
        if have + EPS < amount:
            raise ValueError(f"{src} holds {have:.2f} of victim {victim}'s money, not {amount:.2f}")
        left = have - amount
        if left <= EPS:
            src_shares.pop(victim, None)
        else:
            src_shares[victim] = left
        self.balance[src] = max(0.0, self.balance[src] - amount)
        self._add(dst, {victim: amount}, ts)
        return self._record(ts, src, dst, amount, stage, observed, {victim: amount})

    def _record(
        self,
        ts: int,
        src: str,
        dst: str,
        amount: float,
        stage: str,
        observed: bool,
        shares: dict[int, float],
    ) -> int:
        victim = next(iter(shares)) if stage == "earnings" else OWN
        from_victims = sum(v for tag, v in shares.items() if tag != OWN)
        self.flows.append(
            Flow(len(self.flows), ts, src, dst, amount, stage, observed, victim, from_victims)
        )
        return len(self.flows) - 1
