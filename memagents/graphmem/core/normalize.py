"""Phrase normalisation, triple clean-up and stable ids for graph memory.

The rules follow HippoRAG 2 (``misc_utils.text_processing`` and
``llm_utils.filter_invalid_triples``) with one deliberate difference: a triple whose normalised
subject or object is empty (a phrase made only of punctuation, such as ``"$"``) is dropped. The
official package turns ``''`` into a real node that every such triple links to, a hub that joins
unrelated passages.

Example:
    >>> from memagents.graphmem.core.normalize import clean_triples, normalize_phrase
    >>> normalize_phrase("  Pierre de Rivaz's  Atmos-Clock! ")
    'pierre de rivaz s  atmos clock'
    >>> kept, dropped = clean_triples([["A", "b", "C"], ["A", "b", "C"], ["x", "y"], ["$", "is", "z"]])
    >>> kept, dropped
    ([('A', 'b', 'C')], 3)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from hashlib import md5

__all__ = [
    "Triple",
    "clean_triples",
    "fact_id",
    "fact_text",
    "normalize_phrase",
    "normalize_triple",
    "passage_id_for",
    "phrase_id",
    "unencodable",
]

Triple = tuple[str, str, str]
"""A (subject, predicate, object) triple of strings."""

_NON_ALNUM_SPACE = re.compile(r"[^A-Za-z0-9 ]")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unencodable(text: str) -> str | None:
    r"""Describe the first character of ``text`` that cannot be stored as UTF-8, or ``None``.

    Such characters are lone UTF-16 surrogates (``"\ud800"``...), left by half an emoji or by
    text decoded with ``errors="surrogateescape"``; SQLite, hashing and JSON files refuse them.

    >>> unencodable("Ada \U0001F600"), unencodable("Ada \ud83d")
    (None, "'\\ud83d' (a lone UTF-16 surrogate) at position 4")
    """
    m = _SURROGATE.search(text)
    if m is None:
        return None
    return f"{m.group()!r} (a lone UTF-16 surrogate) at position {m.start()}"


@lru_cache(maxsize=1 << 16)
def _normalize_str(text: str) -> str:
    return _NON_ALNUM_SPACE.sub(" ", text.lower()).strip()


def normalize_phrase(text: object) -> str:
    """Normalise a phrase exactly like HippoRAG 2.

    Lowercase, replace every character outside ``[A-Za-z0-9 ]`` with a space, strip the ends.
    Inner runs of spaces are kept (``"a - b"`` becomes ``"a   b"``). Non-strings are stringified.

    Args:
        text: The phrase (any object; ``str()`` is applied first).

    Returns:
        The normalised phrase, possibly ``''``.
    """
    return _normalize_str(text if type(text) is str else str(text))


def alnum_count(phrase: str) -> int:
    """Number of ASCII letters and digits in ``phrase`` (the synonymy eligibility rule)."""
    return len(_NON_ALNUM.sub("", phrase))


def normalize_triple(triple: Triple) -> Triple:
    """Normalise all three elements of a triple (the predicate too, as the official code does)."""
    s, p, o = triple
    return (normalize_phrase(s), normalize_phrase(p), normalize_phrase(o))


def clean_triples(
    raw: Iterable[object], *, reasons: Counter[str] | None = None
) -> tuple[list[Triple], int]:
    """Keep the well-formed triples of an OpenIE output, in order, and count the rest.

    A triple is kept when it is a list or tuple of exactly three strings or numbers (numbers
    are stringified), its predicate is not blank, it is not an exact duplicate of an earlier
    kept triple, and its subject and object do not normalise to ``''``. Duplicates are judged on the stringified raw triple, before
    normalisation, like the official package: two triples that differ only in case both stay
    and both count as co-occurrences.

    Args:
        raw: The extracted triples, as parsed from JSON (anything may appear).
        reasons: Optional counter that receives one count per dropped triple under
            ``"arity"``, ``"type"``, ``"empty_predicate"``, ``"empty_phrase"`` or
            ``"duplicate"``.

    Returns:
        ``(kept, dropped)``: the kept triples as tuples of three strings, and how many were
        dropped for any reason.
    """
    kept: list[Triple] = []
    seen: set[Triple] = set()
    dropped = 0
    for item in raw:
        reason: str | None = None
        triple: Triple | None = None
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            reason = "arity"
        elif not all(_scalar(x) for x in item):
            reason = "type"
        else:
            triple = (str(item[0]), str(item[1]), str(item[2]))
            if not triple[1].strip():
                reason = "empty_predicate"
            elif not normalize_phrase(triple[0]) or not normalize_phrase(triple[2]):
                reason = "empty_phrase"
            elif triple in seen:
                reason = "duplicate"
        if reason is not None or triple is None:
            dropped += 1
            if reasons is not None:
                reasons[reason or "arity"] += 1
            continue
        seen.add(triple)
        kept.append(triple)
    return kept, dropped


def _scalar(x: object) -> bool:
    return isinstance(x, (str, int, float)) and not isinstance(x, bool)


def _md5(text: str) -> str:
    return md5(text.encode("utf-8")).hexdigest()


def fact_text(triple: Triple) -> str:
    """The string a fact is embedded as: the Python repr of the normalised triple.

    Example: ``"('pierre de rivaz', 'built', 'atmos clock')"``. Normalised phrases hold only
    ``[a-z0-9 ]``, so the repr is stable across Python versions.
    """
    return str(normalize_triple(triple))


def phrase_id(phrase: str) -> str:
    """Stable id of a (normalised) phrase node: ``"entity-" + md5(phrase)``."""
    return "entity-" + _md5(phrase)


def fact_id(triple: Triple) -> str:
    """Stable id of a fact: ``"fact-" + md5(fact_text(triple))``."""
    return "fact-" + _md5(fact_text(triple))


def passage_id_for(text: str) -> str:
    """Content-derived passage id, ``"chunk-" + md5(text)``, for callers without their own ids."""
    return "chunk-" + _md5(text)
