"""Answering a question closed-book or from retrieved passages.

Two prompts, both named templates users can override:

* ``gate.closed_book``: Mallen et al. / Adapt-LLM style ("answer the question Q"): a short
  answer, no explanation. Sent as a raw text call; the first non-empty line of the reply is the
  answer.
* ``gate.with_context``: Adapt-LLM's context prompt ("answer the question Q given the context
  C") that also asks whether the context contains the answer. Structured reply
  ``{"answer": ..., "supported": ...}`` validated through :meth:`StructuredLLM.call`.

Example:
    >>> from memagents.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(rules=[
    ...     ("given the context", {"answer": "Quillmere", "supported": True}),
    ...     ("Q: Where", "Velmora\\nBecause it is famous."),
    ... ])
    >>> answerer = Answerer(model)
    >>> answerer.closed_book("Where is Hollin Bay?").text
    'Velmora'
    >>> a = answerer.with_evidence("Where is Hollin Bay?", ["Hollin Bay lies in Quillmere."])
    >>> a.text, a.supported
    ('Quillmere', True)
    >>> answerer.usage.llm_calls
    2
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from memagents.errors import InputError, LLMError
from memagents.models import Budget, PromptTemplate, StructuredLLM, Usage, register_prompt

__all__ = [
    "Answer",
    "Answerer",
    "CLOSED_BOOK_PROMPT",
    "ContextAnswer",
    "WITH_CONTEXT_PROMPT",
    "first_line",
    "format_context",
    "is_no_answer",
]

CLOSED_BOOK_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.closed_book",
        system=(
            "answer the question Q. Reply with the answer only: a few words, no explanation, "
            "no full sentence."
        ),
        user="Q: {question}\nA:",
        description="Closed-book (parametric) answer, Mallen et al. / Adapt-LLM style.",
    )
)

WITH_CONTEXT_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.with_context",
        system=(
            "answer the question Q given the context C. Give the answer only: a few words, no "
            "explanation. Also say whether the context C contains that answer: set supported "
            "to true only when C states it; when C does not contain the answer, give your best "
            "answer and set supported to false. Reply with a JSON object with exactly two "
            'fields: {{"answer": "<the short answer>", "supported": true or false}}.'
        ),
        user="Q: {question}\nC: {context}",
        description="Answer from retrieved passages (Adapt-LLM's context prompt) + support flag.",
    )
)

_PREFIX = re.compile(r"^\s*(?:a|answer)\s*:\s*", re.IGNORECASE)
_NO_ANSWER = {
    "",
    "unknown",
    "none",
    "n/a",
    "no answer",
    "i don't know",
    "i do not know",
    "not stated",
    "not mentioned",
    "cannot be determined",
    "<ret>",
}


class ContextAnswer(BaseModel):
    """The structured reply of the ``gate.with_context`` prompt."""

    answer: str = Field(description="The short answer (a few words), or '' if unknown.")
    supported: bool = Field(description="True when the context C contains the answer.")


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer and what is known about it.

    Attributes:
        text: The short answer ('' when the model gave none).
        confidence: A confidence in [0, 1] when a signal was available, else ``None``.
        supported: For evidence answers: whether the model found the answer in the passages
            (``None`` for closed-book answers).
        raw: The model's raw reply text.

    Example:
        >>> Answer("Paris", supported=True).supported
        True
    """

    text: str
    confidence: float | None = None
    supported: bool | None = None
    raw: str | None = None

    @property
    def empty(self) -> bool:
        """True when the text says nothing (blank, "unknown", "I don't know", a bare token)."""
        return is_no_answer(self.text)


def first_line(text: str) -> str:
    """The first non-empty line of a reply, stripped, without a leading ``A:``/``Answer:``.

    >>> first_line("\\n A: Paris\\nIt is the capital.")
    'Paris'
    """
    for line in str(text).splitlines():
        line = _PREFIX.sub("", line).strip()
        if line:
            return line
    return ""


def is_no_answer(text: str | None) -> bool:
    """True when ``text`` carries no answer ("", "unknown", "I don't know", "<RET>" ...).

    >>> is_no_answer(" Unknown. "), is_no_answer("Paris")
    (True, False)
    """
    if text is None:
        return True
    return text.strip().strip(".!").strip().lower() in _NO_ANSWER


def format_context(passages: Sequence[str]) -> str:
    """One passage as is; several numbered ``[1] ...`` on separate lines."""
    if len(passages) == 1:
        return passages[0]
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def _clean_passages(passages: Sequence[str]) -> list[str]:
    if isinstance(passages, str):
        raise InputError(
            "with_evidence() takes a sequence of passages, not one string; wrap it: [passage]."
        )
    cleaned = []
    for i, p in enumerate(passages):
        if not isinstance(p, str):
            raise InputError(f"passages[{i}] is {type(p).__name__}; pass passage texts (str).")
        if p.strip():
            cleaned.append(p.strip())
    if not cleaned:
        raise InputError(
            "with_evidence() got no non-empty passage (empty retrieval result); answer "
            "closed-book with closed_book(), or use resolve_conflict(), which handles empty "
            "evidence by policy."
        )
    return cleaned


def _check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InputError("question must be a non-empty string.")
    return question.strip()


def _text(message: Any) -> str:
    text = message.text
    return str(text) if isinstance(text, str) else str(text())


class Answerer:
    """Answers questions closed-book or from passages through one :class:`StructuredLLM`.

    Args:
        llm: A :class:`StructuredLLM` (used as is, sharing its usage and budget), a langchain
            ``BaseChatModel``, a spec such as ``"openai:gpt-4o-mini"``, or ``None`` for
            ``MEMAGENTS_LLM``.
        usage: Usage counters to record into (default: the StructuredLLM's, or a fresh one).
        budget: Budget checked before every call (default: the StructuredLLM's, or none).

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> answerer = Answerer(ScriptedChatModel(default="Answer: Velmora"))
        >>> answerer.closed_book("What is the capital of Quillmere?")
        Answer(text='Velmora', confidence=None, supported=None, raw='Answer: Velmora')
    """

    def __init__(
        self,
        llm: StructuredLLM | BaseChatModel | str | None = None,
        *,
        usage: Usage | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.llm = StructuredLLM.coerce(llm, usage=usage, budget=budget)

    @property
    def usage(self) -> Usage:
        """The usage counters every call records into."""
        return self.llm.usage

    def closed_book(self, question: str) -> Answer:
        """Answer from parametric memory (no passages); raw text, first line."""
        message = self.llm.chat(CLOSED_BOOK_PROMPT.name, question=_check_question(question))
        raw = _text(message)
        return Answer(first_line(raw), raw=raw)

    async def aclosed_book(self, question: str) -> Answer:
        """Async twin of :meth:`closed_book`."""
        message = await self.llm.achat(
            CLOSED_BOOK_PROMPT.name, question=_check_question(question)
        )
        raw = _text(message)
        return Answer(first_line(raw), raw=raw)

    def with_evidence(self, question: str, passages: Sequence[str]) -> Answer:
        """Answer given passages; ``supported`` says whether the model found it in them.

        Raises:
            InputError: no non-empty passage (use :meth:`closed_book` instead).
        """
        context = format_context(_clean_passages(passages))
        try:
            reply = self.llm.call(
                WITH_CONTEXT_PROMPT.name, ContextAnswer, question=_check_question(question),
                context=context,
            )
        except LLMError as exc:
            raise _named_fields(exc) from exc.__cause__
        return _from_reply(reply)

    async def awith_evidence(self, question: str, passages: Sequence[str]) -> Answer:
        """Async twin of :meth:`with_evidence`."""
        context = format_context(_clean_passages(passages))
        try:
            reply = await self.llm.acall(
                WITH_CONTEXT_PROMPT.name, ContextAnswer, question=_check_question(question),
                context=context,
            )
        except LLMError as exc:
            raise _named_fields(exc) from exc.__cause__
        return _from_reply(reply)

    def __repr__(self) -> str:
        return f"Answerer({self.llm!r})"


#: What the with-evidence call expects, named in its errors.
EXPECTED_FIELDS = (
    'a JSON object with the fields "answer" (string: the short answer, "" if unknown) and '
    '"supported" (boolean: true when the context contains the answer)'
)


def _named_fields(exc: LLMError) -> LLMError:
    """The error of a with-evidence call, naming the fields it expects when the model never
    replied with them (transport errors, which have a cause, are passed on as they are)."""
    if exc.__cause__ is not None:
        return exc
    return LLMError(
        f"the answerer's with-evidence call ({WITH_CONTEXT_PROMPT.name!r}) expects "
        f"{EXPECTED_FIELDS}, e.g. {{\"answer\": \"Paris\", \"supported\": true}}; {exc}"
    )


def _from_reply(reply: ContextAnswer) -> Answer:
    text = first_line(reply.answer)
    supported = bool(reply.supported) and not is_no_answer(text)
    return Answer(text, supported=supported, raw=reply.model_dump_json())
