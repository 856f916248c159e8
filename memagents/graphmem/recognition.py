"""Recognition memory: an LLM keeps only the linked facts that bear on the question.

HippoRAG 2 reranks the top linked facts with one LLM call ("select up to 4 relevant facts")
before seeding PPR; when no fact survives, retrieval falls back to dense. Replies are mapped
back to the nearest candidate fact, so paraphrased triples still count. Any LLM failure keeps
the candidates unfiltered and says so, instead of failing the search.

A failing filter backs off (a circuit breaker per chat model): one failure (after the model
call's own retries and re-asks) skips the filter for :data:`FILTER_COOLDOWN_S` seconds, so a
broken or overloaded model costs one failed call per cooldown instead of several calls on every
search; a skipped search says "recognition filter skipped: ... until HH:MM:SS". After the
cooldown the next search tries again; a success closes the breaker.

Example:
    >>> from memagents.testing import ScriptedChatModel
    >>> from memagents.graphmem.core.search import LinkedFact
    >>> llm = ScriptedChatModel(default='{"facts": [["ada", "born in", "velm"]]}')
    >>> facts = [LinkedFact(triple=("ada", "born in", "velm"), score=1.0, cosine=0.9),
    ...          LinkedFact(triple=("bob", "likes", "tea"), score=0.5, cosine=0.4)]
    >>> [f.triple for f in LLMFactFilter(llm)("Where was Ada born?", facts)]
    [('ada', 'born in', 'velm')]
"""

from __future__ import annotations

import difflib
import json
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from memagents.errors import MemagentsError
from memagents.graphmem.core.search import LinkedFact
from memagents.models import PromptTemplate, StructuredLLM, get_prompt, register_prompt

__all__ = ["FILTER_COOLDOWN_S", "RECOGNITION_PROMPT", "FilterOutput", "LLMFactFilter"]

#: Seconds the recognition filter is skipped after it failed (per chat model).
FILTER_COOLDOWN_S = 60.0

_clock = time.monotonic  # the breaker's clock (tests replace it)


@dataclass
class _Breaker:
    """Failure state of the filter for one chat model."""

    open_until: float = 0.0
    error: str = ""
    failures: int = 0


_breakers: weakref.WeakKeyDictionary[Any, _Breaker] = weakref.WeakKeyDictionary()
_breakers_lock = threading.Lock()


def _breaker(llm: Any) -> _Breaker:
    with _breakers_lock:
        state = _breakers.get(llm)
        if state is None:
            state = _breakers[llm] = _Breaker()
        return state

RECOGNITION_PROMPT = register_prompt(
    PromptTemplate(
        name="graphmem.recognize",
        description="Keep the candidate facts relevant to a question (HippoRAG 2 filter).",
        system=(
            "You are given a question and candidate facts, each a [subject, predicate, object] "
            "triple retrieved from a knowledge graph. Select up to {max_facts} facts that help "
            "answer the question, or that are a step on the way to its answer, most useful "
            "first. Copy the selected facts exactly. If none is relevant, return an empty list."
        ),
        user="Question: {question}\nCandidate facts: {facts}",
    )
)


class FilterOutput(BaseModel):
    """Reply schema of the recognition prompt."""

    facts: list[list[Any]] = Field(
        description="The selected facts, each [subject, predicate, object]; [] if none."
    )


class LLMFactFilter:
    """A ``fact_filter`` for :class:`~memagents.graphmem.core.search.GraphSearcher` backed by an LLM.

    Args:
        llm: A :class:`~memagents.models.StructuredLLM`, chat model or spec.
        max_facts: Upper bound on kept facts (HippoRAG 2 asks for up to 4).
        cooldown: Seconds to skip the filter after a failure (default
            :data:`FILTER_COOLDOWN_S`; ``0`` never skips). Filters on the same StructuredLLM
            share the breaker, so it holds across a memory's searches.

    After a call, ``last_error`` says why the candidates were kept unfiltered (a failure, or
    a skip while the breaker is open), else ``None``.
    """

    def __init__(
        self, llm: StructuredLLM | Any, *, max_facts: int = 4, cooldown: float | None = None
    ) -> None:
        self.llm = StructuredLLM.coerce(llm)
        self.max_facts = max_facts
        self.cooldown = FILTER_COOLDOWN_S if cooldown is None else float(cooldown)
        self.last_error: str | None = None

    def _skip(self) -> bool:
        """True (and ``last_error`` set) while the breaker is open."""
        state = _breaker(self.llm)
        now = _clock()
        if now >= state.open_until:
            return False
        left = state.open_until - now
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + left))
        self.last_error = (
            f"recognition filter skipped: it failed {state.failures} time(s), last with "
            f"{state.error}; backing off until {until} (in {left:.0f} s)"
        )
        return True

    def _failed(self, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        state = _breaker(self.llm)
        with _breakers_lock:
            state.failures += 1
            state.error = error[:300]
            state.open_until = _clock() + self.cooldown
        self.last_error = (
            f"{error} (the filter is skipped for {self.cooldown:g} s)" if self.cooldown > 0
            else error)

    def _succeeded(self) -> None:
        self.last_error = None
        state = _breaker(self.llm)
        with _breakers_lock:
            state.failures, state.error, state.open_until = 0, "", 0.0

    def _variables(self, question: str, candidates: Sequence[LinkedFact]) -> dict[str, Any]:
        facts = json.dumps({"fact": [list(c.triple) for c in candidates]})
        return {"question": question, "facts": facts, "max_facts": self.max_facts}

    def __call__(self, question: str, candidates: list[LinkedFact]) -> list[LinkedFact]:
        if not candidates:
            return []
        if self._skip():
            return list(candidates)
        try:
            out = self.llm.call(
                get_prompt(RECOGNITION_PROMPT.name),
                FilterOutput,
                **self._variables(question, candidates),
            )
        except MemagentsError as exc:  # keep searching with the unfiltered candidates
            self._failed(exc)
            return list(candidates)
        self._succeeded()
        return match_facts(out.facts, candidates)[: self.max_facts]

    async def acall(self, question: str, candidates: list[LinkedFact]) -> list[LinkedFact]:
        """Async twin of calling the filter."""
        if not candidates:
            return []
        if self._skip():
            return list(candidates)
        try:
            out = await self.llm.acall(
                get_prompt(RECOGNITION_PROMPT.name),
                FilterOutput,
                **self._variables(question, candidates),
            )
        except MemagentsError as exc:
            self._failed(exc)
            return list(candidates)
        self._succeeded()
        return match_facts(out.facts, candidates)[: self.max_facts]


def match_facts(replied: Sequence[Any], candidates: Sequence[LinkedFact]) -> list[LinkedFact]:
    """Map each replied fact to its closest candidate (by text), keeping reply order, no repeats.

    >>> c = [LinkedFact(triple=("a", "b", "c"), score=1.0, cosine=1.0)]
    >>> [f.triple for f in match_facts([["A", "b", "c."]], c)]
    [('a', 'b', 'c')]
    """
    keys = [_text(c.triple) for c in candidates]
    kept: list[LinkedFact] = []
    for fact in replied:
        if not isinstance(fact, (list, tuple)) or not fact:
            continue
        best = difflib.get_close_matches(_text(fact), keys, n=1, cutoff=0.0)
        if best:
            cand = candidates[keys.index(best[0])]
            if cand not in kept:
                kept.append(cand)
    return kept


def _text(triple: Sequence[Any]) -> str:
    return " | ".join(str(x).strip().lower() for x in triple)
