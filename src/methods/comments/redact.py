"""Redaction of personal data in free-text comments, before anything else reads them.

docs/data_contract.md section 2: the ``comment`` column may hold personal data and must be
redacted before any report shows it. :func:`redact` replaces each item found with a tag:

===============  ==============================================================================
``[name]``       titles + capitalised words (``PC Smith``, ``Mrs Ann Jones``), cue phrases
                 ("my name is", "called", "named", "spoke to", "ask for", "signed") and a
                 bundled lexicon of given names and surnames (``names.txt``), case-sensitive
``[phone]``      UK numbers: 07xxx mobiles, 01/02/03/08 numbers, ``+44`` / ``0044`` with or
                 without ``(0)``, spaces, dashes, dots or brackets (Ofcom National Telephone
                 Numbering Plan: 10 digits after the trunk 0, 9 for a few 01 areas)
``[email]``      e-mail addresses
``[url]``        web addresses
``[postcode]``   full UK postcodes (outward + inward code, Royal Mail PAF format), any case
``[address]``    house number + street name + street type (Road, Street, Lane, ...), optional
                 ``Flat 3,``; a named street of a strict type without number ("on Mill Lane")
``[vehicle]``    GB registrations: current ``AB12 CDE`` (2001-), prefix ``A123 BCD``
                 (1983-2001), suffix ``ABC 123D`` (1963-1983) (DVLA, INF104)
``[reference]``  crime / incident references: the force presets' ``PF/YY/NNNNNN`` form
                 (``methods.synthetic.generate``), ``DU/12345/25``, ``CR-2025-001234`` and
                 any number after "crime number", "reference", "incident number", "log", "CAD",
                 "CRIS" ...; National Insurance numbers (HMRC NIM39110 format ``AB 12 34 56 C``)
===============  ==============================================================================

Detection is offline and rule-based: scrubadub's email, url, postcode, vehicle plate and
National Insurance detectors (scrubadub 2.0, Scrubber with explicitly chosen detectors; no
name detector, which needs downloaded corpora) are unioned with the compiled rules below, which
catch what scrubadub misses (its phone detector validates numbers with libphonenumber and so
skips the Ofcom drama range ``07700 900xxx``; its plate detector skips suffix plates). Where
spans overlap they are merged and tagged by the longest. The recall and precision on a planted
corpus are measured in tests/test_comments_redact.py.

Nothing else in :mod:`methods.comments` accepts raw text: :class:`Redacted` is the only way in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["TAGS", "Redacted", "redact", "redact_one", "find_pii"]

#: The tags redaction writes, by kind.
TAGS: dict[str, str] = {
    "name": "[name]",
    "phone": "[phone]",
    "email": "[email]",
    "url": "[url]",
    "postcode": "[postcode]",
    "address": "[address]",
    "vehicle": "[vehicle]",
    "reference": "[reference]",
}

_TITLES = (
    r"Mr|Mrs|Ms|Miss|Mx|Dr|Prof|PC|WPC|DC|DS|DI|DCI|PCSO|Sgt|Sarge|Sergeant|Officer|"
    r"Inspector|Constable|Detective|Insp|Supt|Superintendent|Chief|Lady|Sir"
)
_CAP = r"[A-Z][a-z]*(?:['’]?[A-Z][a-z]+)*(?:-[A-Z][a-z]+)*"  # Smith, O'Brien, McKay, Lloyd-Jones
_CAP_RE = re.compile(rf"\b{_CAP}\b")
#: Capitalised words that a title or cue may precede but that are not names.
_NOT_NAMES = frozenset(
    """The A An I It He She They We You This That My Your His Her Our Their Police Victim Support
    Action Fraud Crimestoppers Council Court Crown Magistrates Service Team Control Room Desk
    Office Station Officer Officers Constable Sergeant Inspector Detective Unit CID Response
    Neighbourhood Community Safer Witness Care NHS Hospital Ambulance Fire Someone Somebody
    Nobody Everyone Anyone Them Him Me Us Back Round Out In On At For And But Or So Then When
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December Christmas Easter Durham Kent Cumbria
    Warwickshire London Met Metropolitan Street Road Lane""".split()
)

_STREET_TYPES = (
    r"Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Way|Crescent|Cres|Court|Ct|Place|Pl|"
    r"Gardens|Gdns|Terrace|Tce|Grove|Mews|Row|Walk|View|Rise|Green|Square|Sq|Hill|Park|Parade|"
    r"Vale|Bank|Wynd|Gate|Chase|Mount|Croft|Fold|Meadows?|Heights|Boulevard|Crossway|Circus"
)
_STRICT_STREET_TYPES = r"Road|Street|Lane|Avenue|Drive|Crescent|Terrace|Gardens|Grove|Mews"
_STREET_WORD = r"(?:[A-Z][a-z']+|St\.?)"

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)]", re.IGNORECASE)),
    (
        "reference",  # PF/25/000123, CR-2025-001234, DU/12345/25 (letters, digits, digits)
        re.compile(r"\b[A-Z]{1,4}\s?[/\-]\s?\d{2,8}\s?[/\-]\s?\d{2,8}\b", re.IGNORECASE),
    ),
    (
        "reference",  # a number after a reference cue; the cue words are kept
        re.compile(
            r"(?i:\b(?:crime|incident|case|log|occurrence|report|ref(?:erence)?|CAD|CRIS|"
            r"URN)\s*(?:ref(?:erence)?|number|num|no)?\.?\s*(?:number|no)?\.?\s*"
            r"(?:is|was|of)?\s*[:#.]?\s*)"
            r"(?P<x>(?=[A-Za-z0-9/\-]*\d)[A-Za-z0-9][A-Za-z0-9/\-]{3,}[A-Za-z0-9])"
        ),
    ),
    (
        "reference",  # National Insurance number (HMRC format; any final letter, any spacing)
        re.compile(r"\b[A-Z]{2}(?:\s?\d){6}\s?[A-Z]\b", re.IGNORECASE),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w+/])(?:(?:\+|00)\s?44\s?[\-.]?\s?(?:\(0\)\s?)?\(?|\(?0)"
            r"[1-9](?:[\s\-.()]{0,2}\d){7,9}(?![\w/])"
        ),
    ),
    ("vehicle", re.compile(r"\b[A-Z]{2}\d{2}\s?[A-Z]{3}\b", re.IGNORECASE)),  # AB12 CDE
    ("vehicle", re.compile(r"\b[A-HJ-NP-Y]\d{1,3}\s?[A-Z]{3}\b")),  # prefix A123 BCD
    ("vehicle", re.compile(r"\b[A-Z]{3}\s?\d{1,3}\s?[A-HJ-NP-Y]\b")),  # suffix ABC 123D
    (
        "postcode",
        re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s?\d[ABD-HJLNP-UW-Z]{2}\b", re.IGNORECASE),
    ),
    (
        "address",
        re.compile(
            rf"\b(?:(?:Flat|Apartment|Apt|Unit)\s+\d+[A-Za-z]?,?\s+)?\d{{1,4}}[A-Za-z]?,?\s+"
            rf"(?:{_STREET_WORD}\s+){{1,3}}(?:{_STREET_TYPES})\b\.?"
        ),
    ),
    (
        "address",
        re.compile(
            rf"\b(?<!the )(?<!The )(?:{_STREET_WORD}\s+){{1,2}}(?:{_STRICT_STREET_TYPES})\b"
        ),
    ),
    (  # title + one or two capitalised words; the title is kept
        "name",
        re.compile(rf"\b(?:(?:{_TITLES})\.?\s+)+(?P<x>{_CAP}(?:\s+{_CAP})?)\b"),
    ),
    (  # cue phrase + one or two capitalised words; the cue is kept
        "name",
        re.compile(
            rf"(?i:\b(?:my name is|name's|named|called|spoke to|speak to|spoken to|ask for|"
            rf"asked for|signed|thanks to|thank you to|thank|regards|neighbour|neighbours)\s*[,:\-]?\s*)"
            rf"(?P<x>{_CAP}(?:\s+{_CAP})?)\b"
        ),
    ),
)

#: scrubadub's email detector is left out: it also reads "at ... dot" spelt-out addresses and so
#: tagged "came at 10.30" as an e-mail; the email rule above covers real addresses.
_SCRUBADUB_DETECTORS = ("url", "postalcode", "vehicle_licence_plate", "national_insurance_number")
_SCRUBADUB_KINDS = {  # scrubadub Filth.type -> tag kind
    "email": "email",
    "url": "url",
    "postalcode": "postcode",
    "vehicle_licence_plate": "vehicle",
    "national_insurance_number": "reference",
}


@lru_cache(maxsize=1)
def _lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """(names, ambiguous names) from the package's ``names.txt`` and ``ambiguous_names.txt``."""
    pkg = resources.files("methods.comments")

    def words(name: str) -> frozenset[str]:
        text = (pkg / name).read_text(encoding="utf-8")
        return frozenset(w for line in text.splitlines() if not line.startswith("#")
                         for w in line.split())  # fmt: skip

    return words("names.txt"), words("ambiguous_names.txt")


@lru_cache(maxsize=1)
def _scrubber():
    """scrubadub's Scrubber with the chosen detectors (built once)."""
    # scrubadub pulls in nltk and scipy (about 1.5 s): loaded on the first comment redacted, so
    # importing the store (which redacts comments when it purges) stays fast
    import scrubadub

    s = scrubadub.Scrubber(detector_list=[], locale="en_GB")
    for name in _SCRUBADUB_DETECTORS:
        s.add_detector(name)
    return s


def _rule_spans(text: str) -> Iterator[tuple[int, int, str]]:
    for kind, rx in _RULES:
        for m in rx.finditer(text):
            g = "x" if "x" in rx.groupindex else 0
            a, b = m.span(g)
            if kind == "phone":
                digits = sum(c.isdigit() for c in m.group(0))
                intl = m.group(0).lstrip("(").startswith(("+", "00"))
                nsn = digits - (2 if intl else 1) - (intl and "(0)" in m.group(0))
                if intl and m.group(0).lstrip().startswith("00"):
                    nsn -= 2
                if nsn not in (9, 10):
                    continue
            if kind == "name":
                words = m.group(g).split()
                if words[0] in _NOT_NAMES:
                    continue
                if len(words) == 2 and words[1] in _NOT_NAMES:
                    b = a + len(words[0])
            yield a, b, kind
    for merged in _scrubber().iter_filth(text):
        for f in getattr(merged, "filths", [merged]):  # a MergedFilth holds overlapping finds
            yield f.beg, f.end, _SCRUBADUB_KINDS[f.type]


def _lexicon_spans(text: str, taken: list[tuple[int, int, str]]) -> Iterator[tuple[int, int]]:
    """Capitalised tokens in the name lexicon: unambiguous ones anywhere; ambiguous ones only
    next to an unambiguous name, or a name already found (``Mark Smith``, ``PC [name] Rose``),
    or in a pair of lexicon words that does not start a sentence (``my neighbour Robin Green``
    but not ``Will Young officers ...``)."""
    names, ambiguous = _lexicon()
    toks = [m for m in _CAP_RE.finditer(text) if m.group(0) in names]
    if not toks:
        return
    named = [(a, b) for a, b, k in taken if k == "name"]

    def near_name(m: re.Match[str]) -> bool:
        for a, b in named:
            if 0 <= m.start() - b <= 1 or 0 <= a - m.end() <= 1:
                return True
        return False

    def starts(m: re.Match[str]) -> bool:  # first word of a sentence
        before = text[: m.start()].rstrip()
        return not before or before[-1] in ".!?:;\"'(\n"

    strong = [m.group(0) not in ambiguous for m in toks]
    for i, m in enumerate(toks):
        if strong[i]:
            yield m.span()
            continue
        prev = i > 0 and m.start() - toks[i - 1].end() == 1
        nxt = i + 1 < len(toks) and toks[i + 1].start() - m.end() == 1
        prev_ok = prev and (strong[i - 1] or not starts(toks[i - 1]))
        next_ok = nxt and (strong[i + 1] or not starts(m))
        if prev_ok or next_ok or near_name(m):
            yield m.span()


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, kind)`` spans of personal data in ``text``, in order.

    Overlapping spans are merged, and so are names separated only by spaces ("Mark Smith" is
    one ``[name]``); a merged span takes the kind of its longest part (a postcode found inside
    a vehicle plate stays a plate).
    """
    spans = list(_rule_spans(text))
    spans += [(a, b, "name") for a, b in _lexicon_spans(text, spans)]
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[list] = []
    for a, b, k in spans:
        gap = text[out[-1][1] : a] if out else "x"
        if out and (a < out[-1][1] or (k == out[-1][2] == "name" and gap.isspace())):
            cur = out[-1]
            if b - a > cur[3]:
                cur[2], cur[3] = k, b - a
            cur[1] = max(cur[1], b)
        else:
            out.append([a, b, k, b - a])
    return [(a, b, k) for a, b, k, _ in out]


def redact_one(text: str) -> str:
    """``text`` with every span of :func:`find_pii` replaced by its tag (:data:`TAGS`)."""
    if not isinstance(text, str):
        raise TypeError(f"redact_one needs a str, got {type(text).__name__}")
    parts, pos = [], 0
    for a, b, k in find_pii(text):
        parts += [text[pos:a], TAGS[k]]
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def redact(texts: Iterable[object] | pd.Series) -> list[str] | pd.Series:
    """Redact each comment (see the module docstring for what is replaced and by which tag).

    Arguments:
        texts: a pandas Series, array or iterable of comments; missing values (None, NaN,
            pd.NA) become ``""``; other non-strings are converted with ``str``.

    Returns:
        A Series on the same index (``str`` dtype) for a Series input, else a list of str.
    """
    if isinstance(texts, str):
        raise TypeError("redact takes a sequence of comments; use redact_one for one string")
    series = texts if isinstance(texts, pd.Series) else None
    vals = list(series.to_numpy(dtype=object) if series is not None else texts)
    out = ["" if v is None or (not isinstance(v, str) and pd.isna(v)) else redact_one(str(v))
           for v in vals]  # fmt: skip
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name, dtype="str")
    return out


_TOKEN = object()  # only Redacted.of may build a Redacted


@dataclass(frozen=True)
class Redacted:
    """Comments that have been through :func:`redact`; the only input the rest of
    :mod:`methods.comments` accepts.

    Build with :meth:`of` (never from raw strings directly).
    """

    texts: tuple[str, ...]
    _made_by: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._made_by is not _TOKEN:
            raise TypeError("build Redacted with Redacted.of(texts), which redacts them")

    @classmethod
    def of(cls, texts: Iterable[object] | pd.Series | Redacted) -> Redacted:
        """Redact ``texts`` (a Redacted input is returned as it is)."""
        if isinstance(texts, Redacted):
            return texts
        return cls(tuple(redact(texts)), _TOKEN)

    def __len__(self) -> int:
        return len(self.texts)

    def array(self) -> np.ndarray:
        """The redacted texts as an object array."""
        return np.array(self.texts, dtype=object)

    def take(self, indices: Iterable[int]) -> Redacted:
        """The comments at ``indices`` (already redacted: not redacted again)."""
        return Redacted(tuple(self.texts[int(i)] for i in indices), _TOKEN)
