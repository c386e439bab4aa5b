"""Cash deposits out of line with the company's sector (FATF: "cash-intensive businesses ... deposits
inconsistent with the business profile"), for a workspace, where registries give sectors.

A company account (its holder resolved to a registered company with a sector) is compared with the
other company accounts of the same sector in the workspace, on two measures:

- **cash share**: cash paid in over the counter (``cash_deposit``, or a payment from a bank's
  ``CASH…`` counter) as a share of all money the account received. Unitless, so peers are the
  sector in every country.
- **cash per active month**: the amount paid in as cash divided by the months with any payment
  on the account; compared only with peers of the same sector *and currency* (no rates needed).

Each measure's baseline is the peers' median and scaled median absolute deviation (MAD x 1.4826,
a robust z that one outlier peer cannot move; floored at ``share_floor`` / ``log_floor`` so that a
sector where nobody deposits cash does not divide by zero). The account fires when either robust z
reaches ``z`` and the cash paid in reaches ``min_cash``; a sector with fewer than ``min_peers``
other accounts is not judged (listed, with the reason). Score: the larger z over ``2 * z``, capped
at 1. Hand-written: no library computes peer-group robust z-scores over a ledger, and it is a few
lines of SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from palermo.params import numeric_params

MAD_SCALE = 1.4826  # MAD of a normal sample x this = its standard deviation


@dataclass(frozen=True)
class SectorParams:
    min_peers: int = 4  # other company accounts of the sector needed to judge one
    z: float = 3.5  # robust z that fires
    min_cash: float = 5_000.0  # cash paid in over the period, in the account's currency
    share_floor: float = 0.05  # smallest spread of the peers' cash share
    log_floor: float = 0.5  # smallest spread of the peers' log(1 + cash per month)

    @classmethod
    def parse(cls, values: dict[str, str]) -> SectorParams:
        """From ``--params sector_NAME=VALUE`` pairs (the prefix taken off already)."""
        return cls(**numeric_params(cls, values, "sector_", positive=True))  # type: ignore[arg-type]


def cash_vs_sector(
    payments: pa.Table, accounts: pa.Table, params: SectorParams | None = None
) -> pa.Table:
    """One row per company account with a sector: its measures, its sector's baseline, the robust z
    of each, whether it fired, and why not judged where not. Fired rows first, by score."""
    p = params or SectorParams()
    con = duckdb.connect()
    try:
        con.register("pay", payments)
        con.register("acc", accounts)
        return con.sql(
            f"""WITH comp AS (
              SELECT account, node, label, country, sectors[1] AS sector,
                len(sectors) AS n_sectors FROM acc
              WHERE company AND len(sectors) > 0 AND NOT cash
            ), cr AS (
              SELECT p.dst AS account, any_value(p.currency) AS currency,
                sum(p.amount) AS credits,
                coalesce(sum(p.amount) FILTER (WHERE p.payment_type = 'cash_deposit'
                  OR upper(p.src) LIKE 'CASH%'), 0) AS cash,
                count(*) FILTER (WHERE p.payment_type = 'cash_deposit'
                  OR upper(p.src) LIKE 'CASH%') AS cash_deposits
              FROM pay p JOIN comp c ON c.account = p.dst GROUP BY p.dst
            ), active AS (
              SELECT account, count(DISTINCT date_trunc('month', ts)) AS months FROM (
                SELECT src AS account, ts FROM pay UNION ALL SELECT dst, ts FROM pay
              ) JOIN comp USING (account) GROUP BY account
            ), m AS (
              SELECT c.*, cr.currency, cr.credits, cr.cash, cr.cash_deposits, a.months,
                cr.cash / nullif(cr.credits, 0) AS share,
                cr.cash / a.months AS cash_per_month,
                ln(1 + cr.cash / a.months) AS lvol
              FROM comp c JOIN cr USING (account) JOIN active a USING (account)
              WHERE cr.credits > 0
            ), peers AS (  -- each account against the others of its sector (itself left out)
              SELECT x.account,
                count(y.account) AS peers,
                median(y.share) AS sector_share,
                median(abs(y.share - s.med)) AS share_mad,
                count(y.account) FILTER (WHERE y.currency = x.currency) AS volume_peers,
                median(y.cash_per_month) FILTER (WHERE y.currency = x.currency)
                  AS sector_cash_per_month,
                median(y.lvol) FILTER (WHERE y.currency = x.currency) AS lvol_med
              FROM m x LEFT JOIN m y ON y.sector = x.sector AND y.account <> x.account
              LEFT JOIN (SELECT x2.account, median(y2.share) AS med FROM m x2
                         JOIN m y2 ON y2.sector = x2.sector AND y2.account <> x2.account
                         GROUP BY x2.account) s ON s.account = x.account
              GROUP BY x.account
            ), vmad AS (
              SELECT x.account, median(abs(y.lvol - p.lvol_med)) AS lvol_mad
              FROM m x JOIN peers p USING (account)
              JOIN m y ON y.sector = x.sector AND y.account <> x.account
                AND y.currency = x.currency
              GROUP BY x.account
            ), z AS (
              SELECT m.*, p.peers, p.sector_share, p.volume_peers, p.sector_cash_per_month,
                CASE WHEN p.peers >= {p.min_peers} THEN (m.share - p.sector_share)
                  / greatest({MAD_SCALE} * p.share_mad, {p.share_floor}) END AS z_share,
                CASE WHEN p.volume_peers >= {p.min_peers} THEN (m.lvol - p.lvol_med)
                  / greatest({MAD_SCALE} * v.lvol_mad, {p.log_floor}) END AS z_volume
              FROM m JOIN peers p USING (account) LEFT JOIN vmad v USING (account)
            )
            SELECT account, node, label, country, sector, n_sectors, currency,
              round(credits, 2) AS credits, round(cash, 2) AS cash, cash_deposits, months,
              round(share, 4) AS cash_share, round(sector_share, 4) AS sector_cash_share,
              round(z_share, 2) AS z_share,
              round(cash_per_month, 2) AS cash_per_month,
              round(sector_cash_per_month, 2) AS sector_cash_per_month,
              round(z_volume, 2) AS z_volume, peers, volume_peers,
              coalesce(greatest(z_share, z_volume) >= {p.z}, FALSE) AND cash >= {p.min_cash}
                AS fired,
              CASE WHEN coalesce(greatest(z_share, z_volume) >= {p.z}, FALSE)
                AND cash >= {p.min_cash}
                THEN round(least(1.0, greatest(z_share, z_volume) / {2 * p.z}), 4)
                ELSE 0.0 END AS score,
              CASE WHEN peers < {p.min_peers}
                THEN 'not judged: ' || peers || ' other account(s) of its sector, '
                  || {p.min_peers} || ' needed' END AS note
            FROM z ORDER BY fired DESC, score DESC, coalesce(z_share, 0) DESC, account"""
        ).to_arrow_table()
    finally:
        con.close()


def because(row: dict[str, Any], params: SectorParams | None = None) -> str:
    """The sentence a court is shown for a fired account."""
    p = params or SectorParams()
    parts = []
    zs, zv = row.get("z_share"), row.get("z_volume")
    if isinstance(zs, float) and zs >= p.z:
        parts.append(
            f"cash is {float(row['cash_share'] or 0):.0%} of the money it received against a median"
            f" of {float(row['sector_cash_share'] or 0):.0%} for {row['peers']} other"
            f" {row['sector']} accounts (robust z {zs:.1f})"
        )
    if isinstance(zv, float) and zv >= p.z:
        parts.append(
            f"{float(row['cash_per_month'] or 0):,.0f} {row['currency']} of cash a month against a"
            f" median of {float(row['sector_cash_per_month'] or 0):,.0f} for {row['volume_peers']}"
            f" other {row['sector']} accounts in {row['currency']} (robust z {zv:.1f})"
        )
    return "; ".join(parts)
