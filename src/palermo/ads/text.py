"""An ad's text as a campaign detector reads it: markup stripped (an ad is untrusted: its HTML is
never rendered, its script and style never read as words), entities decoded, case and spacing
folded; the raw text is kept apart as the evidence.

Shingles are character 5-grams of the folded text, so that scripts written without spaces
(Thai, Chinese) are compared as well as those with them, and a changed word changes only the
few shingles around it. A body is shingled on its first ``SHINGLE_CHARS`` characters (the whole
body is kept): a 1 MB spam body costs no more than an ordinary ad."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

SHINGLE = 5
SHINGLE_CHARS = 20_000
_SKIP = {"script", "style", "noscript", "template", "head", "title"}
_SPACE = re.compile(r"\s+")


class _Text(HTMLParser):
    # the standard library's tolerant parser: text outside script/style, nothing executed
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def plain(raw: str | None) -> str:
    """The ad's visible text: tags dropped, script and style dropped with their content,
    entities decoded, whitespace collapsed."""
    if not raw:
        return ""
    if "<" not in raw and "&" not in raw:
        return _SPACE.sub(" ", raw).strip()
    p = _Text()
    p.feed(raw)
    p.close()
    return _SPACE.sub(" ", html.unescape("".join(p.parts))).strip()


def folded(text: str) -> str:
    return text.casefold()


def shingles(text: str) -> set[str]:
    t = folded(text)[:SHINGLE_CHARS]
    if len(t) <= SHINGLE:
        return {t} if t else set()
    return {t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1)}


def tokens(text: str) -> list[str]:
    """Words (letters with their combining marks: Thai and Devanagari vowels are marks), numbers
    and punctuation, for templates; a script written without spaces gives a word per run of
    letters."""
    out: list[str] = []
    kind_prev = ""
    for ch in text:
        cat = unicodedata.category(ch)
        kind = "w" if cat[0] in "LM" else "d" if cat == "Nd" else "s" if ch.isspace() else "p"
        if kind == "s":
            kind_prev = ""
            continue
        if kind == kind_prev and kind in "wd":
            out[-1] += ch
        else:
            out.append(ch)
        kind_prev = kind
    return out
