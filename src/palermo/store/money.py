"""The store's side of following the money: the caller's payments between accounts, each account's
holder and country, amounts in EUR, and the assets the holders acquired, as Arrow tables, in SQL,
within the caller's compartments. ``palermo.finance.trace`` follows funds through them.

- A payment is counted once however many sources report it (a bank row and its goAML repeat:
  ``store.graph.prepare_payments``).
- An account stands for its holder's node (``store.graph``: resolution clusters, the goAML
  subject, the unique person of that name); ``CASH…`` accounts are a bank's counter: money paid
  to one is a cash withdrawal, from one a cash deposit.
- An account's country: the one the bank gives for that side of the payment, else the IBAN's
  first two letters (an account number that is no IBAN has none).
- Amounts in EUR: ``amount_eur`` where the source gives it, else the amount divided by the rate
  (units per EUR) of ``rates`` valid on the payment's day. A currency without a rate is refused
  by the caller, with the currencies named, unless it is the only currency: then amounts stay
  in it (``unit``).
- Assets: real estate whose registered owner is a node, with its price and registration date
  (``Ownership.startDate``), and companies a node owns (no price: a registry gives none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

from palermo.store.graph import prepare_nodes, prepare_payments
from palermo.store.workspace import Store

IBAN_COUNTRY = (
    "CASE WHEN regexp_full_match(upper(replace({0}, ' ', '')), '[A-Z]{{2}}[0-9]{{2}}[A-Z0-9]{{8,30}}')"
    " THEN upper(left({0}, 2)) END"
)


@dataclass(frozen=True)
class Rate:
    currency: str
    units_per_eur: float
    valid_from: date | None = None  # None: from the beginning


@dataclass
class MoneyTables:
    payments: pa.Table  # i, tid, ts, src, dst, amount, currency, amount_eur, payment_type, ...
    accounts: pa.Table  # account, node, label, country, has_statements, cash, company, sectors
    assets: pa.Table  # asset_id, kind, owner_node, registered, price, currency, price_eur, ...
    entity_nodes: pa.Table  # entity_id, node
    names: pa.Table  # node, name (for finding an entity by name)
    missing_rates: list[str]  # currencies with payments but no rate
    notes: list[str]
    unit: str = "EUR"  # what amount_eur is in: EUR, or the one currency there is (no rate)


def money_tables(
    store: Store,
    rates: list[Rate],
    since: datetime | None = None,
    until: datetime | None = None,
) -> MoneyTables:
    e = store.engine
    notes = prepare_nodes(store)
    prepare_payments(store, since, until)
    e.execute(
        "CREATE OR REPLACE TEMP TABLE m_rate (currency VARCHAR, valid_from TIMESTAMPTZ,"
        " units_per_eur DOUBLE)"
    )
    for r in rates:
        e.execute(
            "INSERT INTO m_rate VALUES (?, ?::TIMESTAMPTZ, ?)",
            [
                r.currency,
                (r.valid_from or date(1, 1, 1)).isoformat(),
                r.units_per_eur,
            ],
        )
    # a rate for EUR is 1 unless given
    e.execute(
        "INSERT INTO m_rate SELECT 'EUR', '0001-01-01'::TIMESTAMPTZ, 1.0"
        " WHERE NOT EXISTS (SELECT 1 FROM m_rate WHERE currency = 'EUR')"
    )
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE m_pay AS
        SELECT row_number() OVER (ORDER BY p.occurred_at, p.tid, p.ref) - 1 AS i, p.tid,
          p.occurred_at AS ts, p.payer_account AS src, p.payee_account AS dst,
          p.amount_raw AS amount, p.currency,
          coalesce(CASE WHEN p.raw_currency IS NULL THEN p.amount END,
                   p.amount_raw / r.units_per_eur) AS amount_eur,
          p.payment_type, p.reference, p.ref AS evidence,
          coalesce(p.payer_country, {IBAN_COUNTRY.format("p.payer_account")}) AS src_country,
          coalesce(p.payee_country, {IBAN_COUNTRY.format("p.payee_account")}) AS dst_country,
          p.payer_account_key AS src_key, p.payee_account_key AS dst_key
        FROM g_pay p ASOF LEFT JOIN m_rate r
          ON r.currency = p.currency AND p.occurred_at >= r.valid_from
        WHERE p.payer_account IS NOT NULL AND p.payee_account IS NOT NULL"""
    )
    missing = [
        str(c)
        for (c,) in e.rows(
            "SELECT DISTINCT currency FROM m_pay WHERE amount_eur IS NULL ORDER BY 1"
        )
    ]
    currencies = [str(c) for (c,) in e.rows("SELECT DISTINCT currency FROM m_pay")]
    unit = "EUR"
    if missing and len(currencies) == 1:
        # one currency and no rate for it: nothing to compare across, amounts stay as they are
        # (the unit is said wherever an amount is shown)
        unit = currencies[0]
        e.execute("UPDATE m_pay SET amount_eur = amount")
        missing = []
    payments = e.arrow("SELECT * EXCLUDE (src_key, dst_key) FROM m_pay ORDER BY i")
    # accounts: holder node and label; whether the workspace has the account's own statements
    # (it appears as a payer: its bank reported it), else money sent to it leaves the data
    accounts = e.arrow(
        """WITH sides AS (
          SELECT src AS account, src_key AS k, src_country AS country, TRUE AS pays FROM m_pay
          UNION ALL SELECT dst, dst_key, dst_country, FALSE FROM m_pay
        ), acc AS (
          SELECT account, any_value(k) AS k, mode(country ORDER BY country) AS country, bool_or(pays) AS pays
          FROM sides GROUP BY account
        ), label AS (
          SELECT n.node, min(s.value) AS label FROM g_node n
          JOIN g_st s ON s.entity_id = n.node AND s.prop = 'name' GROUP BY n.node
        ), holder AS (  -- a company's own sectors, as its registry gives them
          SELECT n.node, bool_or(s.schema IN ('Company', 'Organization')) AS company,
            list_sort(list(DISTINCT s.value) FILTER (
              WHERE s.prop = 'sector' AND s.schema IN ('Company', 'Organization'))) AS sectors
          FROM g_node n JOIN g_st s USING (entity_id) GROUP BY n.node
        )
        SELECT acc.account, ga.node, coalesce(l.label, ga.node) AS label, acc.country,
          acc.pays AS has_statements, upper(acc.account) LIKE 'CASH%' AS cash,
          coalesce(h.company, FALSE) AS company, coalesce(h.sectors, []) AS sectors
        FROM acc LEFT JOIN g_acct ga ON ga.acct = acc.k LEFT JOIN label l ON l.node = ga.node
        LEFT JOIN holder h ON h.node = ga.node
        ORDER BY acc.account"""
    )
    assets = e.arrow(
        """WITH o AS (
          SELECT entity_id,
            any_value(value) FILTER (WHERE prop = 'owner') AS owner,
            any_value(value) FILTER (WHERE prop = 'asset') AS asset,
            try_cast(any_value(value) FILTER (WHERE prop = 'startDate') AS DATE) AS start,
            any_value(ref) AS ref
          FROM g_st WHERE schema = 'Ownership' GROUP BY entity_id
        ), a AS (
          SELECT entity_id, any_value(schema) AS schema,
            try_cast(any_value(value) FILTER (WHERE prop = 'amount') AS DOUBLE) AS price,
            any_value(value) FILTER (WHERE prop = 'currency') AS currency,
            any_value(value) FILTER (WHERE prop = 'titleNumber') AS title,
            any_value(value) FILTER (WHERE prop IN ('country', 'jurisdiction')) AS country,
            coalesce(any_value(value) FILTER (WHERE prop = 'name'),
                     any_value(value) FILTER (WHERE prop = 'address')) AS label
          FROM g_st WHERE schema IN ('RealEstate', 'Company') GROUP BY entity_id
        )
        SELECT a.entity_id AS asset_id,
          CASE a.schema WHEN 'RealEstate' THEN 'real_estate' ELSE 'company_shares' END AS kind,
          n.node AS owner_node, o.start AS registered, a.price, a.currency,
          CASE WHEN ? = 'EUR' THEN a.price / r.units_per_eur
            WHEN a.currency = ? OR a.currency IS NULL THEN a.price END AS price_eur,
          a.title, a.country, a.label, o.ref AS evidence
        FROM o JOIN a ON a.entity_id = o.asset JOIN g_node n ON n.entity_id = o.owner
        ASOF LEFT JOIN m_rate r ON r.currency = a.currency
          AND coalesce(o.start, DATE '2000-01-01')::TIMESTAMPTZ >= r.valid_from
        ORDER BY a.entity_id, n.node""",
        [unit, unit],
    )
    entity_nodes = e.arrow("SELECT entity_id, node FROM g_node ORDER BY entity_id")
    names = e.arrow(
        """SELECT DISTINCT n.node, s.value AS name, s.translit FROM g_st s
        JOIN g_node n USING (entity_id) WHERE s.prop = 'name' ORDER BY ALL"""
    )
    if unit != "EUR":
        notes.append(f"every payment is in {unit} and no rate was given: amounts are {unit}")
    return MoneyTables(payments, accounts, assets, entity_nodes, names, missing, notes, unit)
