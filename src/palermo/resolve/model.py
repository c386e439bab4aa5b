"""The Fellegi-Sunter model (Splink on DuckDB) for person records, with comparisons that know the
domain: transliterated names compared as a whole, as a set of tokens (order-free) and part by part
(nicknames, initials, given and family swapped); dates of birth with day and month swapped;
identifiers (passport / national id, phone) as strong evidence; address, city, postcode, gender and
nationality as supporting evidence. Parameters are learnt from the data itself: u by random
sampling, the prior from deterministic rules, m by expectation maximisation.

Every comparison is a list of SQL levels (the ``CustomComparison`` of Splink), so a prosecutor can
read exactly which condition a pair met; the level names are what ``pairs.csv`` and the
``resolution`` table report as "the comparison that decided it".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on

SEED = 42
logging.getLogger("splink").setLevel(logging.ERROR)


def _level(sql: str, label: str, m: float, u: float) -> Any:
    """A level with starting m and u values: what the model uses where the data are too few to
    learn them (a list of a few dozen people); training replaces them."""
    return cll.CustomLevel(sql, label).configure(m_probability=m, u_probability=u)


def _jw(col: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({col}_l, {col}_r) >= {threshold}"


def name_comparison() -> cl.CustomComparison:
    """The name as a whole. Levels from the most to the least specific."""
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="transliterated names: whole, token set, parts, nicknames",
        comparison_levels=[
            cll.NullLevel("name_key"),
            _level(
                "name_key_l = name_key_r", "same name (any order, any script)", 0.55, 5e-4
            ).configure(tf_adjustment_column="name_key", tf_adjustment_weight=0.5),
            _level(
                f"{_jw('name_key', 0.95)} OR (family_l = family_r AND given_canon_l = given_canon_r)",
                "nearly the same name, or a nickname of the same forename",
                0.2,
                1e-3,
            ),
            _level(
                f"{_jw('name_key', 0.9)} OR (family_l = given_r AND given_l = family_r)"
                f" OR ({_jw('family', 0.92)} AND {_jw('given', 0.92)})",
                "similar name, or given and family name swapped",
                0.12,
                3e-3,
            ),
            _level(
                "name_skel_l = name_skel_r",
                "same consonants (a name from a script written without vowels)",
                0.04,
                1e-3,
            ),
            _level(
                f"({_jw('family', 0.92)}) AND left(given_l, 1) = left(given_r, 1)",
                "same family name, same initial",
                0.05,
                5e-3,
            ),
            _level(_jw("name_key", 0.8), "somewhat similar name", 0.05, 0.03),
            cll.ElseLevel(),
        ],
    )


def dob_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_description="date of birth, with day and month swapped",
        comparison_levels=[
            cll.NullLevel("dob"),
            _level("dob_l = dob_r", "same date of birth", 0.8, 2e-4),
            _level("dob_l = dob_swap_r", "day and month swapped", 0.05, 1e-4),
            _level("damerau_levenshtein(dob_l, dob_r) <= 1", "one digit apart", 0.06, 1e-3),
            _level("birth_year_l = birth_year_r", "same year", 0.04, 0.015),
            cll.ElseLevel(),
        ],
    )


def exact(
    col: str, label: str, *, m: float = 0.85, u: float = 1e-5, tf: bool = False
) -> cl.CustomComparison:
    level = _level(f"{col}_l = {col}_r", f"same {label}", m, u)
    if tf:
        level = level.configure(tf_adjustment_column=col, tf_adjustment_weight=1.0)
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=label,
        comparison_levels=[cll.NullLevel(col), level, cll.ElseLevel()],
    )


def place_comparison(present: set[str]) -> cl.CustomComparison:
    levels: list[Any] = []
    cols = [c for c in ("address", "postcode", "city") if c in present]
    null = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in cols)
    levels.append(cll.CustomLevel(null, "no place to compare").configure(is_null_level=True))
    # the fields agree together more often for the same person than apart: levels for the
    # combinations, not three comparisons assumed independent (they are not: postcode -> city)
    addr, post, city = _jw("address", 0.92), "postcode_l = postcode_r", "city_l = city_r"
    if {"address", "postcode"} <= present:
        levels.append(_level(f"{addr} AND {post}", "same address and postcode", 0.45, 1e-4))
    if "address" in present:
        levels.append(_level(addr, "same address", 0.2, 5e-4))
    if {"postcode", "city"} <= present:
        levels.append(_level(f"{post} AND {city}", "same postcode and city", 0.12, 1e-3))
    if "postcode" in present:
        levels.append(_level(post, "same postcode", 0.08, 2e-3))
    if "city" in present:
        levels.append(_level(city, "same city", 0.1, 0.02))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(
        output_column_name="place", comparison_description="address, postcode, city",
        comparison_levels=levels,
    )  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    present: frozenset[str]  # prepared columns that hold values
    link_type: Literal["dedupe_only", "link_only", "link_and_dedupe"]
    kind: Literal["person", "company"] = "person"


def settings(spec: ModelSpec) -> SettingsCreator:
    if spec.kind == "company":
        from palermo.resolve.companies import company_settings

        return company_settings(spec)
    p = spec.present
    comparisons: list[Any] = [name_comparison()]
    if "dob" in p:
        comparisons.append(dob_comparison())
    if "id_number" in p:
        comparisons.append(exact("id_number", "identity document number"))
    if "phone" in p:
        # a phone many records give (a gangmaster's, a hostel's) says less: term frequency
        comparisons.append(exact("phone", "phone number", tf=True))
    if p & {"address", "postcode", "city"}:
        comparisons.append(place_comparison(set(p)))
    if "gender" in p:
        comparisons.append(exact("gender", "gender", m=0.97, u=0.5))
    if "nationality" in p:
        comparisons.append(exact("nationality", "nationality", m=0.9, u=0.2))
    return SettingsCreator(
        link_type=spec.link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking_rules(p),
        retain_intermediate_calculation_columns=True,  # gamma_*: the level each field met
        retain_matching_columns=False,
        additional_columns_to_retain=["record_id"],
    )


def blocking_rules(p: frozenset[str]) -> list[Any]:
    """Pairs worth scoring: any of these agree. Phonetic keys survive most typos and
    transliterations; the date rules catch a changed name."""
    rules: list[Any] = [block_on("family_ph", "given_ph")]
    if "dob" in p:
        rules += [block_on("dob"), block_on("family_ph", "birth_year")]
        rules += ["l.dob = r.dob_swap", "l.dob_swap = r.dob"]  # day and month swapped
    if "id_number" in p:
        rules.append(block_on("id_number"))
    if "phone" in p:
        rules.append(block_on("phone"))
    if "postcode" in p:
        rules.append(block_on("family_ph", "postcode"))
    return rules


#: Below this many records the data are too few to learn from: the starting values are used.
MIN_RECORDS_TO_TRAIN = 300
SMALL_PRIOR = 1e-3


def train(linker: Linker, spec: ModelSpec) -> None:
    """Learn the model's parameters from the data (no labels needed)."""
    if spec.kind == "company":
        from palermo.resolve.companies import company_train

        company_train(linker, spec)
        return
    p = spec.present
    deterministic: list[Any] = [block_on("name_key", "dob") if "dob" in p else block_on("name_key")]
    if "id_number" in p:
        deterministic.append(block_on("id_number"))
    if "phone" in p and "dob" in p:
        deterministic.append(block_on("phone", "dob"))
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=SEED)
    # each EM session learns the m values of the comparisons its blocking rule does not use (a
    # rule on the phonetic keys would bias the name's m values: they are not what the name levels
    # read, so Splink would not know to leave them out)
    sessions = []
    if "dob" in p:
        sessions.append(block_on("dob"))
    sessions.append(block_on("family", "given"))
    for other in ("id_number", "phone", "postcode"):
        if "dob" not in p and other in p:
            sessions.append(block_on(other))
            break
    for rule in sessions:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_probability_two_random_records_match=True, max_pairs=2e6
        )
