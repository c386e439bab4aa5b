"""Addresses: the same house written in different ways ('Str. Mihai Eminescu nr. 5, București',
'Strada Mihai Eminescu 5 Bucuresti') gets one address id. Fingerprints and the similarity are
rigour's (``rigour.addresses``: keywords shortened, transliterated, compared token by token);
candidates are the addresses sharing a number (house number or postcode) and a word."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pyarrow as pa
from rigour.addresses import address_fingerprint, compare_address

#: Similarity (rigour's compare_address) at or above which two addresses are one.
ADDRESS_MATCH = 0.9
MAX_BLOCK = 200  # a number+word shared by more addresses is not evidence of anything


def resolve_addresses(values: list[str], threshold: float = ADDRESS_MATCH) -> pa.Table:
    """(address, address_id, fingerprint, score) for every distinct value."""
    fingerprints = {v: address_fingerprint(v) or v.lower() for v in sorted(set(values))}
    blocks: dict[tuple[str, str], list[str]] = defaultdict(list)
    for value, fp in fingerprints.items():
        tokens = fp.split()
        numbers = [t for t in tokens if any(c.isdigit() for c in t)]
        words = [t for t in tokens if t.isalpha() and len(t) > 2]
        for n, w in itertools.product(numbers, words):
            blocks[(n, w)].append(value)
    parent = {v: v for v in fingerprints}
    best: dict[str, float] = {}

    def find(v: str) -> str:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    seen: set[tuple[str, str]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        for a, b in itertools.combinations(members, 2):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            if fingerprints[a] == fingerprints[b]:
                score = 1.0
            else:
                score = compare_address(fingerprints[a], fingerprints[b])
            if score >= threshold:
                best[a] = max(best.get(a, 0.0), score)
                best[b] = max(best.get(b, 0.0), score)
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for v in fingerprints:
        groups[find(v)].append(v)
    address_id = {}
    for members in groups.values():
        key = min(fingerprints[m] for m in members)
        for m in members:
            address_id[m] = key
    ordered = sorted(fingerprints)
    return pa.table(
        {
            "address": pa.array(ordered, pa.string()),
            "address_id": pa.array([address_id[v] for v in ordered], pa.string()),
            "fingerprint": pa.array([fingerprints[v] for v in ordered], pa.string()),
            "score": pa.array([best.get(v, 1.0) for v in ordered], pa.float64()),
        }
    )
