"""The memory as prompt text, bounded by a token budget.

Each live point is one line, ``[mp-0003] (Rome; Italy) Rome is the capital of Italy.``, so the
LLM sees the stable id it must use to update, merge or question a point (the authors' code
shows list positions that change after each merge). When the points do not fit the budget,
the most recently changed ones are kept (the loop's newest evidence), the kept lines are
printed in id order, and a last line says how many were left out, so the model knows the
memory holds more than it sees. Entity descriptions can follow, for the entities of the shown
points, as far as the budget allows.

Counts use :mod:`memagents.models.tokens` (offline tiktoken, or its approximate fallback),
loaded on first use; any object with ``count(text) -> int`` can be passed instead. The result
never exceeds ``max_tokens`` as counted by that tokenizer.

Example:
    >>> from memagents.hypermem.core.model import Entity, MemoryPoint
    >>> class Words:
    ...     def count(self, text): return len(text.split())
    >>> pts = [MemoryPoint(id=f"mp-000{i}", description="word " * 6, entities=("rome",),
    ...                    updated_step=i) for i in (1, 2, 3)]
    >>> print(render_points(pts, {"rome": Entity(name="Rome")}, max_tokens=22, tokenizer=Words()))
    [mp-0002] (Rome) word word word word word word
    [mp-0003] (Rome) word word word word word word
    (1 older memory point not shown)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from memagents.errors import InputError
from memagents.hypermem.core.model import Entity, MemoryPoint, point_number

__all__ = ["EMPTY_MEMORY", "Counter", "point_line", "render_points"]

EMPTY_MEMORY = "(the memory is empty)"
"""What :func:`render_points` returns for a memory with no points."""


class Counter(Protocol):
    """Anything that counts tokens (every :class:`memagents.models.tokens.Tokenizer` does)."""

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...


def _tokenizer(tokenizer: Counter | str | None) -> Counter:
    if tokenizer is None or isinstance(tokenizer, str):
        from memagents.models.tokens import get_tokenizer  # loads tiktoken on first use

        return get_tokenizer(tokenizer)
    if not callable(getattr(tokenizer, "count", None)):
        raise InputError(f"tokenizer must have a count(text) method, got {tokenizer!r:.80}.")
    return tokenizer


def point_line(point: MemoryPoint, entities: Mapping[str, Entity], max_chars: int = 0) -> str:
    """One point as a prompt line: id, entity names, description (whitespace collapsed).

    >>> p = MemoryPoint(id="mp-0001", description="Ada  founded\\nVelm.", entities=("ada",))
    >>> point_line(p, {"ada": Entity(name="Ada")})
    '[mp-0001] (Ada) Ada founded Velm.'
    """
    names = "; ".join(entities[k].name if k in entities else k for k in point.entities)
    text = " ".join(point.description.split())
    if max_chars and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return f"[{point.id}] ({names}) {text}"


def render_points(
    points: Iterable[MemoryPoint],
    entities: Mapping[str, Entity],
    *,
    max_tokens: int | None = None,
    tokenizer: Counter | str | None = None,
    entity_descriptions: bool = False,
    max_description_chars: int = 0,
) -> str:
    """Render points (and optionally their entities' descriptions) within a token budget.

    Args:
        points: The points to show.
        entities: Entities by key (for display names and descriptions).
        max_tokens: Budget for the whole text; ``None`` for no limit.
        tokenizer: A token counter, a model or encoding name, or ``None`` for the default.
        entity_descriptions: Append an ``Entities:`` section (shown points' entities that have
            a description), after the points, as far as the budget allows.
        max_description_chars: Cut each point's description to this many characters (0: no
            cut), so one long point cannot crowd the others out.

    Returns:
        The text; :data:`EMPTY_MEMORY` when there are no points.

    Raises:
        InputError: ``max_tokens`` is negative or the tokenizer has no ``count`` method.
    """
    if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens < 0):
        raise InputError(f"max_tokens must be a non-negative integer or None, got {max_tokens!r}.")
    pts = sorted(points, key=lambda p: point_number(p.id) or 0)
    if not pts:
        return EMPTY_MEMORY
    lines = {p.id: point_line(p, entities, max_description_chars) for p in pts}
    if max_tokens is None:
        kept = pts
        body = [lines[p.id] for p in pts]
        return "\n".join(body + _entity_lines(kept, entities, entity_descriptions))
    tok = _tokenizer(tokenizer)
    chosen = {p.id for p in pts}
    if tok.count(_assemble(pts, lines, 0, [])) > max_tokens:
        # newest first (last changed, then highest id), by additive estimates: a line's
        # tokens plus a newline's (exact for tiktoken, whose pre-tokenizer splits at newlines)
        sep = tok.count("\n")
        ranked = sorted(pts, key=lambda p: (p.updated_step, point_number(p.id) or 0),
                        reverse=True)
        chosen, used = set(), 0
        for p in ranked:
            cost = tok.count(lines[p.id]) + (sep if chosen else 0)
            left = len(pts) - len(chosen) - 1
            note = tok.count(_note(left)) + sep if left else 0
            if used + cost + note <= max_tokens:
                chosen.add(p.id)
                used += cost
    while True:  # the estimate is checked on the whole text; drop the oldest until it fits
        kept = [p for p in pts if p.id in chosen]
        text = _assemble(kept, lines, len(pts) - len(kept), [])
        if tok.count(text) <= max_tokens or not kept:
            break
        chosen.discard(min(kept, key=lambda p: (p.updated_step, point_number(p.id) or 0)).id)
    if tok.count(text) > max_tokens:  # not even the note fits
        return ""
    extra: list[str] = []
    header, *rows = _entity_lines(kept, entities, entity_descriptions) or [""]
    for row in rows:
        candidate = _assemble(kept, lines, len(pts) - len(kept), [header, *extra, row])
        if tok.count(candidate) > max_tokens:
            break
        extra.append(row)
        text = candidate
    return text


def _note(omitted: int) -> str:
    if omitted <= 0:
        return ""
    s = "" if omitted == 1 else "s"
    return f"({omitted} older memory point{s} not shown)"



def _assemble(kept: list[MemoryPoint], lines: dict[str, str], omitted: int,
              extra: list[str]) -> str:
    body = [lines[p.id] for p in kept]
    if omitted:
        body.append(_note(omitted))
    return "\n".join(body + extra)


def _entity_lines(kept: list[MemoryPoint], entities: Mapping[str, Entity], on: bool) -> list[str]:
    if not on:
        return []
    keys = dict.fromkeys(k for p in kept for k in p.entities)
    described = [entities[k] for k in keys if k in entities and entities[k].description]
    if not described:
        return []
    return ["Entities:"] + [f"- {e.name}: {' '.join(e.description.split())}" for e in described]
