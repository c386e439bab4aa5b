"""Person lists with known duplicates, for entity resolution: the same people as different agencies
write them (another script, dropped diacritics, typos, a swapped day and month, a missing value, a
nickname, surname first), with the truth of who is who. Used by the resolve tests and
``benchmarks/resolve.py``; the names and the noise are the simulator's own (``names.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from palermo.simulate.names import as_written, draw_names, swap_day_month

#: Countries whose people the lists hold, with their share (origin and destination countries).
MIX: dict[str, float] = {
    "RO": 0.25,
    "BG": 0.15,
    "UA": 0.15,
    "GB": 0.2,
    "DE": 0.1,
    "NG": 0.1,
    "VN": 0.05,
}
COLUMNS = ("record_id", "first_name", "last_name", "date_of_birth", "gender", "nationality",
           "phone", "id_number", "city")  # fmt: skip


@dataclass(frozen=True)
class Noise:
    typo: float = 0.08
    variant: float = 0.6  # another romanisation of a Cyrillic name
    native_script: float = 0.3  # written in the person's own script (Cyrillic for BG/UA)
    dob_swap: float = 0.05
    missing: float = 0.08
    surname_first: float = (
        0.1  # "POPESCU Ion" in the full_name-like layout: given and family swapped
    )
    phone_kept: float = 0.5
    id_kept: float = 0.4


def person_lists(
    people: int, seed: int, *, lists: int = 2, duplicates: float = 0.5, noise: Noise | None = None
) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Yield (list number, true person id, record) for ``people`` people: each appears in one
    list, and with probability ``duplicates`` once more in another (or the same) list, as that
    list's clerk writes them. Records come in a shuffled, seed-determined order."""
    noise = noise or Noise()
    rng = np.random.default_rng(seed)
    countries = list(MIX)
    weights = np.array([MIX[c] for c in countries])
    origin = rng.choice(len(countries), size=people, p=weights / weights.sum())
    sexes = ["female" if x < 0.5 else "male" for x in rng.random(people)]
    given: list[str] = [""] * people
    family: list[str] = [""] * people
    for k, country in enumerate(countries):
        idx = np.flatnonzero(origin == k)
        first_names, last_names = draw_names(rng, country, [sexes[i] for i in idx])
        for i, a, b in zip(idx, first_names, last_names, strict=True):
            given[int(i)], family[int(i)] = a, b
    births = [
        (date(2006, 1, 1) - timedelta(days=int(d))).isoformat()
        for d in rng.integers(0, 60 * 365, people)
    ]
    phones = [f"+4475{int(x):08d}" for x in rng.choice(10**8, size=people, replace=False)]
    ids = [
        f"{countries[int(o)]}{int(x):08d}"
        for o, x in zip(origin, rng.choice(10**8, size=people, replace=False), strict=True)
    ]
    cities = [f"City {int(x)}" for x in rng.integers(0, 400, people)]
    appearances: list[tuple[int, int]] = []  # (person, list)
    for p in range(people):
        appearances.append((p, int(rng.integers(0, lists))))
        if rng.random() < duplicates:
            appearances.append((p, int(rng.integers(0, lists))))
    order = rng.permutation(len(appearances))
    for n, k in enumerate(order):
        p, lst = appearances[int(k)]
        country = countries[int(origin[p])]
        script = "native" if rng.random() < noise.native_script else "latin"
        g, f, _ = as_written(given[p], family[p], country, script=script, rng=rng,
                             typo_rate=noise.typo, variant_rate=noise.variant)  # fmt: skip
        if rng.random() < noise.surname_first:
            g, f = f, g
        dob = births[p]
        r = rng.random()
        if r < noise.missing:
            dob = ""
        elif r < noise.missing + noise.dob_swap:
            dob = swap_day_month(dob)
        record: dict[str, str] = {
            "record_id": f"L{lst + 1}-{n + 1:08d}",
            "first_name": g,
            "last_name": f,
            "date_of_birth": dob,
            "gender": sexes[p][0] if rng.random() > noise.missing else "",
            "nationality": country if rng.random() > noise.missing else "",
            "phone": phones[p] if rng.random() < noise.phone_kept else "",
            "id_number": ids[p] if rng.random() < noise.id_kept else "",
            "city": cities[p] if rng.random() > noise.missing else "",
        }
        yield lst, f"T{p:08d}", record
