"""Companies and organisations: the same firm as a registry, a bank (as an account holder), an FIU
report and a labour inspection write it. Names are compared transliterated with the legal form
taken out ('SMITH FARM LTD', 'Smith Farm Limited' and 'Smith Farm' are one name: rigour's
organisation types); registration numbers are strong evidence, the jurisdiction and the address
supporting evidence. The same Splink machinery as for persons (``model.py``, ``link.py``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from rigour.names import extract_org_types, remove_org_types
from splink import Linker, SettingsCreator, block_on

from palermo.resolve.fields import phonetic, translit
from palermo.resolve.model import SEED, ModelSpec, _jw, _level, exact


@lru_cache(maxsize=200_000)
def company_key(name: str | None) -> str | None:
    """Transliterated name without its legal form, tokens in order."""
    text = translit(name)
    if not text:
        return None
    bare = " ".join(remove_org_types(text).split()) or text
    return bare or None


def looks_like_organisation(name: str | None) -> bool:
    """A holder name with a legal form ('Ltd', 'SRL', 'GmbH', ...) is an organisation."""
    text = translit(name)
    return bool(text and extract_org_types(text))


def prepare_companies(con: duckdb.DuckDBPyConnection, records: pa.Table) -> frozenset[str]:
    """Table ``prepared`` from (entity_id, name, jurisdiction, registration_number, address)."""
    keys = [company_key(n) for n in records["name"].to_pylist()]
    table = pa.table(
        {
            "source": ["A"] * records.num_rows,
            "record_id": records["entity_id"],
            "unique_id": records["entity_id"],
            "name_key": pa.array(keys, pa.string()),
            "name_ph": pa.array([phonetic(k.split()[0]) if k else None for k in keys], pa.string()),
            "name_sorted": pa.array(
                [" ".join(sorted(k.split())) if k else None for k in keys], pa.string()
            ),
            "registration": records["registration_number"],
            "jurisdiction": records["jurisdiction"],
            "address": records["address"],
        }
    )
    con.register("_companies", table)
    con.execute(
        """CREATE OR REPLACE TABLE prepared AS SELECT source, record_id, unique_id, name_key,
        name_ph, name_sorted,
        nullif(upper(regexp_replace(registration, '[^0-9A-Za-z]', '', 'g')), '') AS registration,
        nullif(upper(trim(jurisdiction)), '') AS jurisdiction,
        nullif(lower(trim(regexp_replace(address, '[^0-9A-Za-z]+', ' ', 'g'))), '') AS address
        FROM _companies WHERE name_key IS NOT NULL ORDER BY record_id"""
    )
    con.unregister("_companies")
    counts = con.execute(
        "SELECT count(registration), count(jurisdiction), count(address) FROM prepared"
    ).fetchall()[0]
    return frozenset(
        c for c, n in zip(("registration", "jurisdiction", "address"), counts, strict=True) if n
    )


def company_settings(spec: ModelSpec) -> SettingsCreator:
    p = spec.present
    comparisons: list[Any] = [
        cl.CustomComparison(
            output_column_name="name",
            comparison_description="company name without its legal form, transliterated",
            comparison_levels=[
                cll.NullLevel("name_key"),
                _level(
                    "name_key_l = name_key_r", "same name (legal form aside)", 0.7, 1e-4
                ).configure(tf_adjustment_column="name_key", tf_adjustment_weight=0.5),
                _level("name_sorted_l = name_sorted_r", "same words, another order", 0.08, 1e-4),
                _level(_jw("name_key", 0.95), "nearly the same name", 0.12, 5e-4),
                _level(_jw("name_key", 0.88), "similar name", 0.05, 3e-3),
                cll.ElseLevel(),
            ],
        )
    ]
    if "registration" in p:
        comparisons.append(exact("registration", "registration number", m=0.9, u=1e-6))
    if "jurisdiction" in p:
        comparisons.append(exact("jurisdiction", "jurisdiction", m=0.95, u=0.15))
    if "address" in p:
        comparisons.append(
            cl.CustomComparison(
                output_column_name="address",
                comparison_description="address",
                comparison_levels=[
                    cll.NullLevel("address"),
                    _level(_jw("address", 0.92), "same address", 0.6, 1e-3),
                    cll.ElseLevel(),
                ],
            )
        )
    rules: list[Any] = [
        block_on("name_key"),
        block_on("name_ph", "jurisdiction") if "jurisdiction" in p else block_on("name_ph"),
    ]
    if "registration" in p:
        rules.append(block_on("registration"))
    return SettingsCreator(
        link_type=spec.link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
        additional_columns_to_retain=["record_id"],
    )


def company_train(linker: Linker, spec: ModelSpec) -> None:
    p = spec.present
    deterministic: list[Any] = [
        block_on("name_key", "jurisdiction") if "jurisdiction" in p else block_on("name_key")
    ]
    if "registration" in p:
        deterministic.append(block_on("registration"))
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=SEED)
    for rule in (block_on("name_key"), block_on("registration") if "registration" in p else None):
        if rule is not None:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, fix_probability_two_random_records_match=True, max_pairs=2e6
            )
