"""Black-box retrieve-or-recall policies: verbalised confidence and self-consistency.

Both need only a chat model's text (no logprobs): :class:`VerbalizedConfidence` asks for a
closed-book answer with a 0-100 confidence; :class:`SelfConsistency` samples N closed-book
answers and measures their agreement (spec §4). Both keep the closed-book answer in
``Decision.answer``.

Example:
    >>> from memagents.testing import ScriptedChatModel
    >>> llm = ScriptedChatModel(responses=["Paris", "Paris", "Lyon"])
    >>> d = SelfConsistency(llm, samples=3, agreement=0.6).decide("Capital of France?")
    >>> d.retrieve, d.answer
    (False, 'Paris')
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from memagents.errors import InputError, LLMError
from memagents.eval.scoring import answers_agree, normalize_answer
from memagents.gate._llm_base import _LLMPolicy, _read, _text, _view
from memagents.gate.base import Decision, check_fraction, check_question
from memagents.models import PromptTemplate, register_prompt

__all__ = ["ConfidentAnswer", "SelfConsistency", "VerbalizedConfidence"]

CONFIDENCE_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.verbalized_confidence",
        system="Answer the question from your own knowledge with a short answer (a name, place or "
        "phrase), then say how confident you are that it is correct, from 0 to 100 (percent). If "
        "unsure, still give your best guess with a low confidence.",
        user="Q: {question}",
        description="Closed-book answer plus a verbalized 0-100 confidence.",
    )
)
SAMPLE_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.closed_book_sample",
        system="Answer the question from your own knowledge with a short answer only (a name, "
        "place or phrase).",
        user="Q: {question}",
        description="One closed-book sample for self-consistency.",
    )
)


class ConfidentAnswer(BaseModel):
    """A closed-book answer with a verbalized confidence, stored in percent (0 to 100).

    Models state confidence both ways, so a number in [0, 1] is read as a fraction (0.9 is
    90 %) and one in (1, 100] as a percentage; a string with a ``%`` sign is a percentage
    whatever its size ("0.5%" is 0.5 %). Booleans are not confidences (``true`` is rejected,
    hence re-asked), nor are NaN or values outside those ranges.

    Example:
        >>> ConfidentAnswer(answer="Paris", confidence="85%").confidence
        85.0
        >>> ConfidentAnswer(answer="Paris", confidence=0.9).confidence
        90.0
    """

    answer: str = Field(description="Short answer: a name, place or phrase.")
    confidence: float = Field(ge=0, le=100, description="Confidence it is correct, 0-100 (%).")

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic turns only ValueError into a validation error
            raise ValueError(  # noqa: TRY004
                "confidence must be a number from 0 to 100 (percent), not a boolean")
        if isinstance(value, str):
            text = value.strip()
            if text.endswith("%"):
                return text.rstrip("%").strip()
            try:
                value = float(text)
            except ValueError:
                return value  # pydantic names the problem
        if isinstance(value, (int, float)) and 0 <= value <= 1:
            return float(value) * 100.0
        return value


class VerbalizedConfidence(_LLMPolicy):
    """Retrieve when the model's stated confidence (0-100 %) is below ``threshold`` (a fraction).

    Uses :meth:`StructuredLLM.call` with :class:`ConfidentAnswer`, so a malformed reply (a
    boolean or out-of-range confidence included) is re-asked; a reply that never parses
    retrieves with ``fallback=True``. A confidence in [0, 1] is a fraction (0.9 is 90 %), one in
    (1, 100] a percentage. The answer is kept.
    An abstaining or empty answer retrieves whatever the confidence.

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> llm = ScriptedChatModel(default={"answer": "Paris", "confidence": 92})
        >>> d = VerbalizedConfidence(llm, threshold=0.7).decide("Capital of France?")
        >>> d.retrieve, d.answer, d.signals["confidence"]
        (False, 'Paris', 0.92)
    """

    name = "confidence"

    def __init__(
        self, llm: Any, *, threshold: float = 0.7, prompt: PromptTemplate | str | None = None
    ) -> None:
        super().__init__(llm, prompt or "gate.verbalized_confidence")
        self.threshold = check_fraction(threshold, "threshold")

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        try:
            value = self.llm.call(self.template, ConfidentAnswer, question=check_question(question))
        except LLMError as exc:
            return self._unparsed(exc)
        return self._judge(value)

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        try:
            value = await self.llm.acall(
                self.template, ConfidentAnswer, question=check_question(question)
            )
        except LLMError as exc:
            return self._unparsed(exc)
        return self._judge(value)

    def _unparsed(self, exc: LLMError) -> Decision:
        if exc.__cause__ is not None:  # transport/HTTP failure, not an unparseable reply
            raise exc
        return Decision(
            retrieve=True,
            policy=self.name,
            fallback=True,
            reason="the reply never gave a parseable answer and 0-100 confidence: "
            "fell back to retrieving",
            signals={"confidence": None, "threshold": self.threshold, "error": str(exc)[:300]},
        )

    def _judge(self, value: ConfidentAnswer) -> Decision:
        confidence = round(value.confidence / 100.0, 6)
        kind, answer = _read(value.answer.strip(), "")
        signals = {"confidence": confidence, "threshold": self.threshold}
        if kind != "answer":
            return Decision(
                retrieve=True,
                policy=self.name,
                signals=signals,
                fallback=kind == "garbage",
                reason=f"no usable closed-book answer ({kind}): retrieving",
            )
        retrieve = confidence < self.threshold
        cmp = "<" if retrieve else ">="
        return Decision(
            retrieve=retrieve,
            policy=self.name,
            answer=answer,
            signals=signals,
            reason=f"verbalized confidence {confidence:.0%} {cmp} threshold "
            f"{self.threshold:.0%}: {'retrieving' if retrieve else 'answering from memory'}",
        )


class SelfConsistency(_LLMPolicy):
    """Retrieve when N sampled closed-book answers agree less than ``agreement``.

    Samples are drawn with ``temperature`` on models that declare it (a copy of the model;
    others are called as they are). Agreement is the share of samples agreeing with the best
    supported sample (:func:`answers_agree`: normalised whole-word containment); abstentions
    and empty replies agree with nothing. The answer is the first best-supported sample.

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> llm = ScriptedChatModel(responses=["Paris", "Paris, France", "Lyon"])
        >>> d = SelfConsistency(llm, samples=3, agreement=0.6).decide("Capital of France?")
        >>> d.retrieve, d.answer, round(d.signals["agreement"], 2)
        (False, 'Paris', 0.67)
    """

    name = "self-consistency"

    def __init__(
        self,
        llm: Any,
        *,
        samples: int = 5,
        agreement: float = 0.6,
        temperature: float = 0.7,
        prompt: PromptTemplate | str | None = None,
    ) -> None:
        super().__init__(llm, prompt or "gate.closed_book_sample")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise InputError(f"samples must be an int >= 2, got {samples!r}.")
        self.samples = samples
        self.agreement = check_fraction(agreement, "agreement")
        self.temperature = float(temperature)
        model = self.llm.model
        if "temperature" in getattr(type(model), "model_fields", {}):
            model = model.model_copy(update={"temperature": self.temperature})
        self.sample_llm = _view(self.llm, model)

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        q = check_question(question)
        return self._judge([_text(self._ask(self.sample_llm, q)) for _ in range(self.samples)])

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        q = check_question(question)
        replies = await asyncio.gather(
            *(self._aask(self.sample_llm, q) for _ in range(self.samples)), return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return self._judge([_text(r) for r in replies])  # type: ignore[arg-type]

    def _judge(self, texts: Sequence[str]) -> Decision:
        read = [_read(t, "") for t in texts]
        answers = [a for _, a in read]
        support = [
            sum(1 for b in answers if b is not None and answers_agree(a, b)) if a is not None else 0
            for a in answers
        ]
        best = max(range(len(support)), key=lambda i: (support[i], -i))
        share = support[best] / len(texts)
        retrieve = share < self.agreement
        usable = sum(a is not None for a in answers)
        signals = {
            "agreement": share,
            "threshold": self.agreement,
            "samples": len(texts),
            "usable": usable,
            "answers": [normalize_answer(a or "") for a in answers],
        }
        garbage = usable == 0 and all(k == "garbage" for k, _ in read)
        cmp = "<" if retrieve else ">="
        return Decision(
            retrieve=retrieve,
            policy=self.name,
            answer=answers[best],
            signals=signals,
            fallback=garbage,
            reason=(
                "no sample gave a usable answer: fell back to retrieving"
                if garbage
                else f"{support[best]}/{len(texts)} samples agree (agreement {share:.0%} {cmp} "
                f"{self.agreement:.0%}): "
                f"{'retrieving' if retrieve else 'answering from memory'}"
            ),
        )
