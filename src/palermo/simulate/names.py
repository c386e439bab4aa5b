"""Names as people write them, and as other people's records get them wrong.

Name pools come from Faker's locale providers (read once, sampled with numpy, so a million draws cost
milliseconds and never depend on Faker's own random state). The noise (transliteration variants,
dropped diacritics, typos, surname-first upper case, swapped day and month) is written here by hand:
no library imitates *clerks' errors*; the transliteration itself is anyascii's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cache

import numpy as np
from anyascii import anyascii

#: Faker locale for the names of each country's people.
LOCALES: dict[str, str] = {
    "RO": "ro_RO",
    "MD": "ro_RO",
    "BG": "bg_BG",
    "UA": "uk_UA",
    "NG": "yo_NG",
    "VN": "vi_VN",
    "GB": "en_GB",
    "DE": "de_DE",
    "AT": "de_AT",
    "IT": "it_IT",
    "ES": "es_ES",
    "NL": "nl_NL",
    "HU": "hu_HU",
    "PL": "pl_PL",
    "FR": "fr_FR",
}
CYRILLIC_COUNTRIES = frozenset({"BG", "UA"})


@cache
def pools(country: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """{"male"|"female": (first names, last names)} for a country's people."""
    from faker import Faker

    provider = Faker(LOCALES.get(country, "en_GB")).provider("faker.providers.person")
    assert provider is not None

    def names(*attrs: str) -> tuple[str, ...]:
        for attr in attrs:
            value = getattr(provider, attr, None) or ()
            # single names only: pools with "Anne-Marie" are fine, "Dr. X" entries are not
            found = tuple(sorted({str(v) for v in value if " " not in str(v) and str(v)}))
            if len(found) > 1:
                return found
        return ()

    out = {}
    for sex in ("male", "female"):
        first = names(f"first_names_{sex}", "first_names")
        last = names(f"last_names_{sex}", f"{sex}_last_names", "unisex_last_names", "last_names")
        out[sex] = (first, last)
    return out


def draw_names(
    rng: np.random.Generator, country: str, sexes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Given and family names for people of one country, as they write them."""
    p = pools(country)
    u = rng.random((len(sexes), 2))
    given: list[str] = []
    family: list[str] = []
    for sex, (a, b) in zip(sexes, u, strict=True):
        first, last = p[sex]
        given.append(first[int(a * len(first))])
        family.append(last[int(b * len(last))])
    return given, family


def latin(text: str) -> str:
    """The plain Latin transliteration (anyascii: Cyrillic, Vietnamese, Romanian diacritics)."""
    return anyascii(text)


# Other romanisations of Cyrillic a clerk, a bank or a border guard may use: (standard, variant)
_VARIANTS: tuple[tuple[str, str], ...] = (
    ("zh", "j"),
    ("kh", "h"),
    ("ts", "tz"),
    ("yu", "iu"),
    ("ya", "ia"),
    ("y", "i"),
    ("ch", "tch"),
    ("shch", "sht"),
    ("ov", "off"),
    ("ev", "eff"),
    ("Zh", "J"),
    ("Kh", "H"),
    ("Ts", "Tz"),
    ("Yu", "Iu"),
    ("Ya", "Ia"),
)
# Romanian comma-below letters and their cedilla look-alikes, which old systems still write.
_CEDILLA = str.maketrans({"ș": "ş", "ț": "ţ", "Ș": "Ş", "Ț": "Ţ"})


def romanisation_variant(text: str, rng: np.random.Generator) -> str:
    """A different, still plausible romanisation of a Cyrillic name (one or two rules applied)."""
    base = latin(text)
    rules = [r for r in _VARIANTS if r[0] in base]
    if not rules:
        return base
    for k in rng.choice(len(rules), size=min(2, len(rules)), replace=False):
        a, b = rules[int(k)]
        base = base.replace(a, b)
    return base


def strip_diacritics(text: str) -> str:
    return (
        "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        .replace("đ", "d")
        .replace("Đ", "D")
    )


def typo(text: str, rng: np.random.Generator) -> str:
    """One keying error: a letter dropped, doubled, swapped with the next, or replaced."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 3:
        return text
    i = letters[int(rng.integers(1, len(letters)))]
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2 and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    repl = "aeiou" if text[i].lower() in "aeiou" else "nmrtlsk"
    c = repl[int(rng.integers(0, len(repl)))]
    return text[:i] + (c.upper() if text[i].isupper() else c) + text[i + 1 :]


def as_written(
    given: str,
    family: str,
    country: str,
    *,
    script: str,
    rng: np.random.Generator,
    typo_rate: float,
    variant_rate: float,
) -> tuple[str, str, list[str]]:
    """How a record of ``script`` ("native" = the person's own country, "latin" = abroad) writes
    a name; returns (given, family, noise applied)."""
    noise: list[str] = []
    if script != "native":
        if country in CYRILLIC_COUNTRIES:
            if rng.random() < variant_rate:
                given, family = romanisation_variant(given, rng), romanisation_variant(family, rng)
                noise.append("romanisation_variant")
            else:
                given, family = latin(given), latin(family)
                noise.append("romanised")
        elif (
            given != strip_diacritics(given) or family != strip_diacritics(family)
        ) and rng.random() < 0.7:
            given, family = strip_diacritics(given), strip_diacritics(family)
            noise.append("diacritics_dropped")
    elif country in ("RO", "MD") and rng.random() < 0.15:
        given, family = given.translate(_CEDILLA), family.translate(_CEDILLA)
        if "ş" in given + family or "ţ" in given + family:
            noise.append("cedilla_variant")
    if rng.random() < typo_rate:
        if rng.random() < 0.5:
            given = typo(given, rng)
        else:
            family = typo(family, rng)
        noise.append("typo")
    return given, family, noise


def swap_day_month(iso_date: str) -> str:
    """2024-03-07 -> 2024-07-03 (only where the day can be read as a month)."""
    y, m, d = iso_date.split("-")
    if int(d) <= 12 and d != m:
        return f"{y}-{d}-{m}"
    return iso_date
