"""Retrieve-or-recall policies that ask the chat model itself.

* :class:`AdaptLLM`: Adapt-LLM's parametric prompt; the model answers or emits ``<RET>``.
* :class:`TokenProbability`: the same prompt with logprobs; retrieve when P(``<RET>``) at the
  first generated position exceeds a threshold (Self-RAG-style calibrated gating).
* :class:`VerbalizedConfidence`: a closed-book answer with a 0-100 confidence.
* :class:`SelfConsistency`: agreement across N sampled closed-book answers.

Every call goes through :class:`~memagents.models.StructuredLLM` (retries, budget, usage), with
real async twins. Prompts are registered as ``gate.*`` templates users can override. Each
policy keeps the model's closed-book answer in ``Decision.answer`` when it produced one, even
when it decides to retrieve (conflict-aware answering compares it with the evidence).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field, field_validator

from memagents.errors import ConfigError, InputError, LLMError
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.policies import answers_agree, check_fraction, check_question, normalize_answer
from memagents.models import PromptTemplate, StructuredLLM, get_prompt, register_prompt

__all__ = [
    "AdaptLLM",
    "ConfidentAnswer",
    "SelfConsistency",
    "TokenProbability",
    "VerbalizedConfidence",
    "as_structured_llm",
    "p_token",
]

_INSTRUCTION = "answer the question Q. If you need help answer {token} to get the context"
ADAPT_LLM_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.adapt_llm",
        system=_INSTRUCTION,
        user="Q: {question}",
        description="Adapt-LLM parametric prompt (Labruna et al.): answer, or emit the token.",
    )
)
ADAPT_LLM_ALPACA_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.adapt_llm_alpaca",
        system="",
        user="Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        f"### Instruction:\n{_INSTRUCTION}\n\n### Input:\nQ: {{question}}\n\n### Response:\n",
        description="The Adapt-LLM parametric prompt in the Alpaca layout (fine-tuned models).",
    )
)
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

_PREFIX = re.compile(r"^\s*(?:a|answer)\s*:\s*", re.IGNORECASE)
_ABSTAIN = re.compile(
    r"^(?:i\s+(?:do\s+not|don'?t|cannot|can'?t|am\s+not\s+sure|am\s+unable)|i'?m\s+(?:not\s+sure"
    r"|unable)|not\s+sure|unknown|no\s+idea|sorry)\b",
    re.IGNORECASE,
)


def as_structured_llm(llm: Any, *, what: str = "this policy") -> StructuredLLM:
    """A configured :class:`StructuredLLM` from one, a chat model, a spec, or None (env).

    Raises:
        ConfigError: no chat model is configured (names ``llm=`` and ``MEMAGENTS_LLM``).
    """
    if isinstance(llm, StructuredLLM):
        structured = llm
    elif llm is None or isinstance(llm, str) or hasattr(llm, "invoke"):
        structured = StructuredLLM(llm)
    else:
        raise InputError(
            f"llm must be a StructuredLLM, a chat model or a spec string, not {type(llm).__name__}."
        )
    if not structured.configured:
        raise ConfigError(
            f"{what} needs a chat model: pass llm= (a spec such as "
            "'openai:gpt-4o-mini', a langchain chat model or a StructuredLLM) or "
            "set MEMAGENTS_LLM."
        )
    return structured


def _view(llm: StructuredLLM, model: Any) -> StructuredLLM:
    """``llm`` with another (bound) model, sharing usage, budget, retry and slots."""
    return llm.with_model(model)


def _text(message: AIMessage) -> str:
    text = message.text
    return (str(text) if isinstance(text, str) else str(text())).strip()


def _read(text: str, token: str) -> tuple[str, str | None]:
    """Classify a reply: ``("token"|"abstain"|"garbage"|"answer", answer or None)``."""
    squashed = re.sub(r"\s+", "", text).lower()
    if token and re.sub(r"\s+", "", token).lower() in squashed:
        return "token", None
    answer = _PREFIX.sub("", text).strip()
    if not any(c.isalnum() for c in answer) or (token and token.lower().startswith(squashed)):
        return "garbage", None
    if _ABSTAIN.match(answer):
        return "abstain", None
    return "answer", answer


class _LLMPolicy(RetrievalPolicy):
    """Shared plumbing: the StructuredLLM, a prompt resolved at call time (overrides apply)."""

    def __init__(self, llm: Any, prompt: PromptTemplate | str, token: str = "") -> None:
        self.llm = as_structured_llm(llm, what=f"the {self.name!r} policy")
        if not isinstance(token, str):
            raise InputError(f"token must be a string such as '<RET>', got {token!r}.")
        self.token = token.strip()
        self.prompt = prompt
        allowed = {"question", "token"}
        extra = self.template.variables - allowed
        if "question" not in self.template.variables or extra:
            raise ConfigError(
                f"prompt {self.template.name!r} must use {{question}} and may use "
                f"{{token}}; it uses {sorted(self.template.variables)}."
            )

    @property
    def template(self) -> PromptTemplate:
        """The effective prompt (a registered name is looked up on every call)."""
        return get_prompt(self.prompt) if isinstance(self.prompt, str) else self.prompt

    def _ask(self, llm: StructuredLLM, question: str) -> AIMessage:
        return llm.chat(self.template, question=question, token=self.token)

    def _aask(self, llm: StructuredLLM, question: str) -> Awaitable[AIMessage]:
        return llm.achat(self.template, question=question, token=self.token)


class AdaptLLM(_LLMPolicy):
    """Adapt-LLM: the model answers closed-book or emits the retrieval token.

    The reply retrieves when it contains ``token`` (case- and whitespace-insensitive) or is an
    abstention ("I don't know"); otherwise it is the closed-book answer. An empty reply, one
    without letters or digits, or a cut-off token (``"<RE"``) retrieves with ``fallback=True``.

    Args:
        llm: A StructuredLLM (shares its usage and budget), a chat model, a spec, or None.
        token: The retrieval token.
        prompt: A PromptTemplate or registered name (default ``"gate.adapt_llm"``; the Alpaca
            layout for fine-tuned models is ``"gate.adapt_llm_alpaca"``).

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> llm = ScriptedChatModel(rules=[("Paris", "France"), ("Velmora", "<RET>")])
        >>> policy = AdaptLLM(llm)
        >>> policy.decide("What is Paris the capital of?").answer
        'France'
        >>> policy.decide("Who founded Velmora?").retrieve
        True
    """

    name = "adapt-llm"

    def __init__(
        self, llm: Any, *, token: str = "<RET>", prompt: PromptTemplate | str | None = None
    ) -> None:
        super().__init__(llm, prompt or "gate.adapt_llm", token)
        if not self.token:
            raise InputError("token must be a non-empty string such as '<RET>'.")

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        return self._judge(_text(self._ask(self.llm, check_question(question))))

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        return self._judge(_text(await self._aask(self.llm, check_question(question))))

    def _judge(self, text: str) -> Decision:
        kind, answer = _read(text, self.token)
        signals = {"token": self.token, "emitted_token": kind == "token", "reply": text[:200]}
        reasons = {
            "token": f"the model emitted {self.token}: it asks for context",
            "abstain": "the model abstained instead of answering: retrieving",
            "garbage": f"unusable reply {text[:40]!r} (no answer and no {self.token}): fell back "
            "to retrieving",
            "answer": f"the model answered closed-book without asking for {self.token}",
        }
        return Decision(
            retrieve=kind != "answer",
            policy=self.name,
            reason=reasons[kind],
            signals=signals,
            answer=answer,
            fallback=kind == "garbage",
        )


def p_token(position: Mapping[str, Any], token: str) -> float:
    """P(``token``) at one generated position of OpenAI-shaped logprobs.

    The rule: sum the probabilities of the chosen token and its ``top_logprobs`` alternatives
    (each counted once) whose text, without leading whitespace, is a prefix of ``token`` or
    starts with it, case-insensitively: ``"<"``, ``"<R"``, ``"<RET"`` and ``"<RET>"`` all count
    for ``"<RET>"`` (Adapt-LLM thresholds Llama-2's first piece ``"<"``). Capped at 1.

    >>> p_token({"token": "<", "logprob": math.log(0.3),
    ...          "top_logprobs": [{"token": "Paris", "logprob": math.log(0.6)},
    ...                           {"token": "<RET>", "logprob": math.log(0.1)}]}, "<RET>")
    0.4
    """
    candidates = {e["token"]: float(e["logprob"]) for e in position.get("top_logprobs") or ()}
    candidates.setdefault(position["token"], float(position["logprob"]))
    wanted = token.lower()
    mass = sum(
        math.exp(lp)
        for t, lp in candidates.items()
        if (p := t.lstrip().lower()) and (wanted.startswith(p) or p.startswith(wanted))
    )
    return round(min(mass, 1.0), 12)


def _first_position(message: AIMessage) -> Mapping[str, Any] | None:
    logprobs = (message.response_metadata or {}).get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    for entry in content or ():
        ok = isinstance(entry, Mapping) and isinstance(entry.get("token"), str)
        if not ok or not isinstance(entry.get("logprob"), (int, float)):
            return None
        if entry["token"].strip():
            return entry
    return None


class TokenProbability(_LLMPolicy):
    """Retrieve when P(retrieval token) at the first generated position exceeds a threshold.

    One call with the Adapt-LLM prompt and logprobs requested (``logprobs``/``top_logprobs`` set
    on models that declare them, such as ``ChatOpenAI``, and bound on ``ScriptedChatModel``);
    P is computed by :func:`p_token`. The reply's closed-book answer, if any, is kept. When the
    provider returns no logprobs the policy falls back (``fallback=True``) to
    ``on_missing_logprobs``: ``"token"`` (default: the hard token decision of :class:`AdaptLLM`
    on the same reply, as Self-RAG does without a threshold), ``"retrieve"`` or ``"recall"``.

    Example:
        >>> from memagents.testing import Reply, ScriptedChatModel
        >>> llm = ScriptedChatModel(default=Reply("Paris", logprobs=[
        ...     ("Paris", math.log(0.7), {"<": math.log(0.25)})]))
        >>> d = TokenProbability(llm, threshold=0.2).decide("Capital of France?")
        >>> d.retrieve, round(d.signals["p_ret"], 2), d.answer
        (True, 0.25, 'Paris')
    """

    name = "token-probability"

    def __init__(
        self,
        llm: Any,
        *,
        threshold: float = 0.2,
        token: str = "<RET>",
        on_missing_logprobs: Literal["retrieve", "recall", "token"] = "token",
        prompt: PromptTemplate | str | None = None,
        top_logprobs: int = 5,
        request_logprobs: bool | None = None,
    ) -> None:
        super().__init__(llm, prompt or "gate.adapt_llm", token)
        if not self.token:
            raise InputError("token must be a non-empty string such as '<RET>'.")
        self.threshold = check_fraction(threshold, "threshold")
        if on_missing_logprobs not in ("retrieve", "recall", "token"):
            raise InputError(
                "on_missing_logprobs must be 'retrieve', 'recall' or 'token', got "
                f"{on_missing_logprobs!r}."
            )
        if not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= 20:
            raise InputError(f"top_logprobs must be an int from 0 to 20, got {top_logprobs!r}.")
        self.on_missing_logprobs = on_missing_logprobs
        self.top_logprobs = top_logprobs
        self.logprob_llm = _view(self.llm, self._bind(request_logprobs))

    def _bind(self, request: bool | None) -> Any:
        model = self.llm.model
        fields = getattr(type(model), "model_fields", {})
        if request is not False and "logprobs" in fields:
            update: dict[str, Any] = {"logprobs": True}
            if "top_logprobs" in fields and self.top_logprobs:
                update["top_logprobs"] = self.top_logprobs
            return model.model_copy(update=update)
        scripted = type(model).__module__.startswith("memagents.testing")  # accepts any kwarg
        if request or (request is None and scripted):
            return model.bind(logprobs=True, top_logprobs=self.top_logprobs)
        return model  # unknown provider: do not send parameters it may reject

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        return self._judge(self._ask(self.logprob_llm, check_question(question)))

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        return self._judge(await self._aask(self.logprob_llm, check_question(question)))

    def _judge(self, message: AIMessage) -> Decision:
        text = _text(message)
        kind, answer = _read(text, self.token)
        position = _first_position(message)
        if position is None:
            mode = self.on_missing_logprobs
            retrieve = kind != "answer" if mode == "token" else mode == "retrieve"
            how = (
                f"the reply's {'answer' if kind == 'answer' else kind}"
                if mode == "token"
                else f"on_missing_logprobs={mode!r}"
            )
            return Decision(
                retrieve=retrieve,
                policy=self.name,
                answer=answer,
                fallback=True,
                reason=f"logprobs unavailable from the model: decided by {how} "
                f"({'retrieve' if retrieve else 'recall'})",
                signals={
                    "p_ret": None,
                    "logprobs": False,
                    "threshold": self.threshold,
                    "token": self.token,
                    "reply": text[:200],
                },
            )
        p = p_token(position, self.token)
        retrieve = p > self.threshold
        cmp = ">" if retrieve else "<="
        return Decision(
            retrieve=retrieve,
            policy=self.name,
            answer=answer,
            reason=f"P({self.token}) = {p:.3f} {cmp} threshold {self.threshold:g}: "
            f"{'retrieving' if retrieve else 'answering from memory'}"
            f"{' (the reply itself has no answer)' if answer is None and not retrieve else ''}",
            signals={
                "p_ret": p,
                "logprobs": True,
                "threshold": self.threshold,
                "token": self.token,
                "first_token": position["token"],
                "reply": text[:200],
            },
        )


class ConfidentAnswer(BaseModel):
    """A closed-book answer with a verbalized confidence from 0 to 100.

    Example:
        >>> ConfidentAnswer(answer="Paris", confidence="85%").confidence
        85.0
    """

    answer: str = Field(description="Short answer: a name, place or phrase.")
    confidence: float = Field(ge=0, le=100, description="Confidence it is correct, 0-100 (%).")

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return value.strip().rstrip("%").strip() if isinstance(value, str) else value


class VerbalizedConfidence(_LLMPolicy):
    """Retrieve when the model's stated confidence (0-100 %) is below ``threshold`` (a fraction).

    Uses :meth:`StructuredLLM.call` with :class:`ConfidentAnswer`, so a malformed reply is
    re-asked; a reply that never parses retrieves with ``fallback=True``. The answer is kept.
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
