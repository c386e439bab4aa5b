"""``palermo ads cluster ADS.csv --out DIR``: ads of one operation found together, without a
workspace.

Three ways an ad joins another, each a graph over the ads, and campaigns = connected components:

- **text**: near-duplicate text. Each ad's visible text (``ads.text.plain``: title and body,
  markup dropped) as character 5-gram shingles, MinHash signatures (``datasketch``, 128
  permutations, seed 1) and LSH banding at ``threshold``; every candidate pair is kept only when
  its estimated Jaccard similarity is at least ``threshold``.
- **identifiers**: a shared phone (E.164 where it parses), e-mail or image hash. An identifier
  that more than ``hub`` ads give (a site's own contact, a stock photo) joins nothing; such hubs
  are listed.
- **both**: either of the two (the campaign of ``ads.csv``'s ``campaign`` column).

Each campaign of two or more ads gets a **template** in the spirit of InfoShield (Lee et al.,
ICDE 2021; simplified: no MDL cost): the campaign's most connected ad is aligned token by token
with each other ad (difflib, at most ``TEMPLATE_ADS`` of them); a token the others keep in at
least 60 % of cases is the template's, the rest are slots ``[1]``, ``[2]`` with the values seen
there.

Bad rows (no id, a repeated id, an unreadable time, a record too long) go to ``rejected.csv``
with their row, field and reason; the others are clustered."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from palermo.ads.text import plain, shingles, tokens
from palermo.errors import PalermoError

FIELDS = ("id", "time", "site", "title", "body", "phone", "email", "location", "price", "images")
ALIASES = {
    "id": ("id", "ad_id", "ad", "post_id"),
    "time": ("time", "posted_at", "timestamp", "date", "posted"),
    "site": ("site", "domain", "source"),
    "title": ("title", "subject"),
    "body": ("body", "text", "description", "content"),
    "phone": ("phone", "phones", "phone_number", "tel"),
    "email": ("email", "emails", "e_mail"),
    "location": ("location", "city", "place"),
    "price": ("price", "rate"),
    "images": ("images", "image_hashes", "image", "image_hash"),
}
NUM_PERM = 128
TEMPLATE_ADS = 200
PHONES = re.compile(r"\+\d{4,15}(;\+\d{4,15})*")  # a list of E.164 numbers is no formula
FIELD_LIMIT = 8 * 1024 * 1024  # a longer field is rejected, as the ingest readers do


@dataclass
class ClusterParams:
    threshold: float = 0.5  # estimated Jaccard of 5-gram shingles to join two ads by text
    hub: int = 1000  # an identifier given by more ads joins nothing
    phone_region: str | None = None  # read numbers without a country code as this region's


@dataclass
class Ads:
    rows: list[int] = field(default_factory=list)  # row in the file
    ids: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    idents: list[list[tuple[str, str]]] = field(default_factory=list)  # (kind, value)


def _columns(header: list[str], given: dict[str, str], path: Path) -> dict[str, str]:
    lower = {h.strip().lower(): h for h in header}
    out = {}
    for f in FIELDS:
        if f in given:
            if given[f] not in header:
                raise PalermoError(f"{path}: --columns {f}={given[f]}: no such column"
                                   f" (columns: {', '.join(header)})")  # fmt: skip
            out[f] = given[f]
            continue
        hit = next((lower[a] for a in ALIASES[f] if a in lower), None)
        if hit is not None:
            out[f] = hit
    if "id" not in out:
        raise PalermoError(f"{path}: no id column (id or ad_id; or --columns id=COLUMN)")
    if "title" not in out and "body" not in out and not {"phone", "email", "images"} & set(out):
        raise PalermoError(f"{path}: nothing to cluster on: no title, body, phone, e-mail or"
                           " image column")  # fmt: skip
    return out


def _phone(raw: str, region: str | None) -> str:
    import phonenumbers

    try:
        n = phonenumbers.parse(raw, region)
        if phonenumbers.is_possible_number(n):
            return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return re.sub(r"\D", "", raw)  # unparsed: its digits


def read_ads(path: Path, columns: dict[str, str], p: ClusterParams,
             rejected: list[dict[str, Any]]) -> Ads:  # fmt: skip
    csv.field_size_limit(FIELD_LIMIT)
    ads = Ads()
    seen: dict[str, int] = {}
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PalermoError(f"{path}: {exc.strerror}") from exc
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise PalermoError(f"{path}: empty file") from None
        col = _columns(header, columns, path)
        at = {k: header.index(v) for k, v in col.items()}
        row = 1
        while True:
            row += 1
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rejected.append({"file": str(path), "row": row, "field": "",
                                 "reason": f"unreadable record: {exc}"})  # fmt: skip
                continue
            if len(rec) != len(header):
                rejected.append({"file": str(path), "row": row, "field": "",
                                 "reason": f"{len(rec)} fields, the header has {len(header)}"})  # fmt: skip
                continue

            def get(name: str, rec: list[str] = rec) -> str:
                return rec[at[name]].strip() if name in at else ""

            ident = get("id")
            if not ident:
                rejected.append({"file": str(path), "row": row, "field": col["id"],
                                 "reason": "empty id"})  # fmt: skip
                continue
            if ident in seen:
                rejected.append({"file": str(path), "row": row, "field": col["id"],
                                 "reason": f"id {ident!r} repeats row {seen[ident]}"})  # fmt: skip
                continue
            when = get("time")
            if when:
                try:
                    when = datetime.fromisoformat(when.replace("Z", "+00:00")).isoformat()
                except ValueError:
                    rejected.append({"file": str(path), "row": row, "field": col["time"],
                                     "reason": f"not a time: {when[:40]!r} (ISO 8601)"})  # fmt: skip
                    continue
            seen[ident] = row
            ids: list[tuple[str, str]] = []
            for raw in re.split(r"[;,/]| or ", get("phone")):
                if raw.strip():
                    ids.append(("phone", _phone(raw.strip(), p.phone_region)))
            for raw in re.split(r"[;,\s]+", get("email")):
                if "@" in raw:
                    ids.append(("email", raw.strip().casefold()))
            for raw in re.split(r"[;,\s]+", get("images")):
                if raw.strip():
                    ids.append(("image", raw.strip().lower()))
            ads.rows.append(row)
            ads.ids.append(ident)
            ads.times.append(when)
            ads.sites.append(get("site"))
            ads.texts.append(" ".join(x for x in (plain(get("title")), plain(get("body"))) if x))
            ads.locations.append(plain(get("location")))
            ads.idents.append(sorted(set(i for i in ids if i[1])))
    return ads


def text_pairs(texts: list[str], threshold: float) -> list[tuple[int, int]]:
    """Pairs of ads whose texts' estimated Jaccard similarity is at least ``threshold``."""
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(t) for t in texts]
    have = [i for i, s in enumerate(sets) if s]
    sigs = MinHash.bulk([[x.encode() for x in sets[i]] for i in have], num_perm=NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in zip(have, sigs, strict=True):
            session.insert(i, m, check_duplication=False)
    by_ad = dict(zip(have, sigs, strict=True))
    pairs = []
    for i in have:
        for j in lsh.query(by_ad[i]):
            if j > i and by_ad[i].jaccard(by_ad[j]) >= threshold:
                pairs.append((i, j))
    return sorted(pairs)


def ident_pairs(
    idents: list[list[tuple[str, str]]], hub: int
) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
    """Star edges from each ad to the first ad giving the same identifier; hubs left out."""
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, ids in enumerate(idents):
        for x in ids:
            holders[x].append(i)
    pairs, hubs = [], []
    for (kind, value), ads in sorted(holders.items()):
        if len(ads) > hub:
            hubs.append({"kind": kind, "value": value, "ads": len(ads)})
            continue
        pairs.extend((ads[0], j) for j in ads[1:])
    return pairs, hubs


def _components(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """A component number per ad, numbered by each component's first ad (0, 1, ...)."""
    import igraph as ig

    g = ig.Graph(n=n, edges=pairs)
    raw = g.connected_components().membership
    first: dict[int, int] = {}
    for c in raw:
        first.setdefault(c, len(first))
    return [first[c] for c in raw]


def template(texts: list[str], centre: int) -> tuple[str, list[dict[str, Any]]]:
    """The campaign's shared text with its variable parts as slots [1], [2], ...: tokens of
    the centre ad that at least 60 % of the other ads keep."""
    base = tokens(texts[centre])
    others = [tokens(t) for k, t in enumerate(texts) if k != centre][:TEMPLATE_ADS]
    if not base:
        return "", []
    kept = [0] * len(base)
    variants: dict[int, Counter[str]] = defaultdict(Counter)
    for other in others:
        sm = SequenceMatcher(None, base, other, autojunk=False)
        for op, a1, a2, b1, b2 in sm.get_opcodes():
            if op == "equal":
                for a in range(a1, a2):
                    kept[a] += 1
            else:
                variants[a1][" ".join(other[b1:b2]) or "(none)"] += 1
    need = 0.6 * len(others)
    out: list[str] = []
    slots: list[dict[str, Any]] = []
    in_slot = False
    for a, tok in enumerate(base):
        if kept[a] >= need or not others:
            out.append(tok)
            in_slot = False
            continue
        if not in_slot:
            slots.append({"slot": len(slots) + 1, "values": Counter()})
            out.append(f"[{len(slots)}]")
            in_slot = True
        slots[-1]["values"][tok] += 1
        slots[-1]["values"].update(variants.get(a, Counter()))
    for s in slots:
        s["values"] = [[v, n] for v, n in s["values"].most_common(5)]
    return _join(out), slots


def _join(toks: list[str]) -> str:
    text = " ".join(toks)
    return re.sub(r" ([.,;:!?)])", r"\1", text).replace("( ", "(")


def cluster(
    path: Path, out: Path, *, columns: dict[str, str] | None = None,
    params: ClusterParams | None = None,
) -> dict[str, Any]:  # fmt: skip
    p = params or ClusterParams()
    if not 0 < p.threshold <= 1:
        raise PalermoError(f"--threshold {p.threshold}: between 0 and 1")
    if p.hub < 2:
        raise PalermoError(f"--hub {p.hub}: at least 2")
    path, out = Path(path), Path(out)
    rejected: list[dict[str, Any]] = []
    ads = read_ads(path, columns or {}, p, rejected)
    n = len(ads.ids)
    tp = text_pairs(ads.texts, p.threshold)
    ip, hubs = ident_pairs(ads.idents, p.hub)
    by_text, by_ident = _components(n, tp), _components(n, ip)
    both = _components(n, tp + ip)
    size = Counter(both)
    t_size, i_size = Counter(by_text), Counter(by_ident)
    # campaigns: components of two or more ads, numbered in file order
    number: dict[int, str] = {}
    for c in both:
        if size[c] >= 2 and c not in number:
            number[c] = f"C{len(number) + 1:06d}"
    degree = Counter([a for a, _ in tp] + [b for _, b in tp])
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(both):
        members[c].append(i)
    out.mkdir(parents=True, exist_ok=True)
    campaigns, templates = [], []
    text_link = {a for pair in tp for a in pair}
    ident_link = {a for pair in ip for a in pair}
    for c, name in number.items():
        m = members[c]
        centre = max(m, key=lambda i: (degree[i], -i))
        tpl, slots = template([ads.texts[i] for i in m], m.index(centre))
        idents = Counter(x for i in m for x in ads.idents[i])
        times = sorted(t for t in (ads.times[i] for i in m) if t)
        linked = ("text" if any(i in text_link for i in m) else "") + (
            "+identifiers" if any(i in ident_link for i in m) else "")  # fmt: skip
        campaigns.append({
            "campaign": name, "ads": len(m), "first_seen": times[0] if times else "",
            "last_seen": times[-1] if times else "",
            "sites": ";".join(sorted({ads.sites[i] for i in m if ads.sites[i]})),
            "phones": ";".join(v for (k, v), _ in idents.most_common() if k == "phone"),
            "emails": ";".join(v for (k, v), _ in idents.most_common() if k == "email"),
            "images": sum(1 for (k, _v) in idents if k == "image"),
            "locations": ";".join(sorted({ads.locations[i] for i in m if ads.locations[i]})),
            "linked_by": linked.lstrip("+"), "centre_ad": ads.ids[centre], "template": tpl,
        })  # fmt: skip
        templates.append({"campaign": name, "ads": len(m), "centre_ad": ads.ids[centre],
                          "template": tpl, "slots": slots})  # fmt: skip
    _csv(out / "campaigns.csv", campaigns, ["campaign", "ads", "first_seen", "last_seen", "sites",
         "phones", "emails", "images", "locations", "linked_by", "centre_ad", "template"])  # fmt: skip
    rows = [{"ad_id": ads.ids[i], "row": ads.rows[i], "campaign": number.get(both[i], ""),
             "text_group": f"T{by_text[i] + 1:06d}" if t_size[by_text[i]] >= 2 else "",
             "identifier_group": f"I{by_ident[i] + 1:06d}" if i_size[by_ident[i]] >= 2 else ""}
            for i in range(n)]  # fmt: skip
    _csv(out / "ads.csv", rows, ["ad_id", "row", "campaign", "text_group", "identifier_group"])
    with (out / "templates.jsonl").open("w", encoding="utf-8") as f:
        for t in templates:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    _csv(out / "rejected.csv", rejected, ["file", "row", "field", "reason"])
    summary = {
        "file": str(path), "ads": n, "rejected": len(rejected), "campaigns": len(campaigns),
        "ads_in_campaigns": sum(c["ads"] for c in campaigns), "text_pairs": len(tp),
        "identifier_pairs": len(ip), "hubs": hubs[:50], "params": p.__dict__,
        "out": str(out),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")  # fmt: skip
    return summary


def _csv(path: Path, rows: list[dict[str, Any]], names: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows({k: _cell(v) for k, v in r.items()} for r in rows)


def _cell(v: Any) -> Any:
    # an ad's text may start with a formula; a spreadsheet opening the file must not run it
    if (isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")
            and not PHONES.fullmatch(v)):  # fmt: skip
        return "'" + v
    return v
