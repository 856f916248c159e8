"""Triple extraction: one LLM call per passage returns entities and triples together.

HippoRAG 2 spends two calls per passage (NER, then triples conditioned on the NER list); we ask
for both in one structured reply, through the shared call path (retries, budget, usage).
Swap the whole step by passing any object that satisfies :class:`Extractor`.

Example:
    >>> from memagents.testing import ScriptedChatModel
    >>> llm = ScriptedChatModel(default='{"entities": ["Ada"], "triples": [["Ada", "born in", "Velm"]]}')
    >>> out = LLMExtractor(llm).extract(["Ada was born in Velm."])
    >>> out[0].triples
    [('Ada', 'born in', 'Velm')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from memagents.graphmem.core.normalize import clean_triples
from memagents.models import PromptTemplate, StructuredLLM, register_prompt

__all__ = [
    "EXTRACTION_PROMPT",
    "Extraction",
    "ExtractionOutput",
    "Extractor",
    "LLMExtractor",
]

EXTRACTION_PROMPT = register_prompt(
    PromptTemplate(
        name="graphmem.extract",
        description="Entities and (subject, predicate, object) triples of one passage.",
        system=(
            "You turn a passage into knowledge-graph facts.\n"
            "1. List the named entities of the passage (people, places, organisations, works, "
            "dates, numbers that matter), spelled exactly as in the passage.\n"
            "2. List the facts the passage states as [subject, predicate, object] triples. Each "
            "triple should name at least one, preferably two, of the entities. Replace pronouns "
            "by the names they refer to. Predicates are short verb phrases (\"born in\", "
            "\"founded\", \"capital of\"). Do not invent facts the passage does not state."
        ),
        user="Passage:\n{passage}",
    )
)


class ExtractionOutput(BaseModel):
    """The JSON reply the extraction prompt asks for.

    Both fields are required: a reply without them (``{"unexpected": true}``) is invalid and
    re-asked, never read as an empty extraction. An empty extraction says so explicitly
    (``{"entities": [], "triples": []}``). Triples are loose lists so that a wrong-arity
    triple is dropped and counted downstream instead of failing the whole reply.
    """

    entities: list[str] = Field(description="Named entities of the passage.")
    triples: list[list[Any]] = Field(
        description="Facts as [subject, predicate, object] lists; [] when there are none."
    )


@dataclass(slots=True)
class Extraction:
    """Result of extracting one passage.

    Attributes:
        triples: Well-formed triples (three non-empty strings).
        entities: Named entities reported by the extractor.
        dropped: Malformed triples removed (wrong arity, empty or non-string parts).
        error: Why extraction failed after retries; ``None`` on success.
    """

    triples: list[tuple[str, str, str]] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    dropped: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Extractor(Protocol):
    """Anything that turns passages into triples. ``key`` names it in the extraction cache."""

    key: str

    def extract(self, passages: Sequence[str]) -> list[Extraction]: ...

    async def aextract(self, passages: Sequence[str]) -> list[Extraction]: ...


class LLMExtractor:
    """Extract entities and triples with one structured LLM call per passage.

    Args:
        llm: A :class:`~memagents.models.StructuredLLM`, a langchain chat model, or a spec string.
        prompt: Template to use (default: the registered ``graphmem.extract``; override it
            globally with :func:`memagents.models.override_prompt`).
    """

    def __init__(self, llm: StructuredLLM | Any, *, prompt: PromptTemplate | None = None) -> None:
        self.llm = StructuredLLM.coerce(llm)
        self.prompt = prompt
        self._model_name = (
            getattr(self.llm.model, "model_name", None)
            or getattr(self.llm.model, "model", None)
            or type(self.llm.model).__name__
        )

    @property
    def key(self) -> str:
        """Names this extractor in the extraction cache: the model and the exact prompt text,
        so changing either (e.g. with ``override_prompt``) never reuses stale extractions."""
        t = self._template()
        digest = hashlib.sha1(f"{t.system}\x00{t.user}".encode()).hexdigest()[:12]
        return f"llm:{self._model_name}:{t.name}:{digest}"

    def _template(self) -> PromptTemplate:
        from memagents.models import get_prompt

        return self.prompt or get_prompt(EXTRACTION_PROMPT.name)

    def extract(self, passages: Sequence[str]) -> list[Extraction]:
        results = self.llm.batch(
            self._template(), ExtractionOutput, [{"passage": p} for p in passages]
        )
        return [_to_extraction(r) for r in results]

    async def aextract(self, passages: Sequence[str]) -> list[Extraction]:
        results = await self.llm.abatch(
            self._template(), ExtractionOutput, [{"passage": p} for p in passages]
        )
        return [_to_extraction(r) for r in results]


def _to_extraction(result: Any) -> Extraction:
    if getattr(result, "error", None) is not None:
        return Extraction(error=f"{type(result.error).__name__}: {result.error}")
    out: ExtractionOutput = result.value
    triples, dropped = clean_triples(out.triples)
    entities = [e.strip() for e in out.entities if isinstance(e, str) and e.strip()]
    return Extraction(triples=triples, entities=entities, dropped=dropped)
