"""Retrieve-or-recall policies that ask the chat model itself.

* :class:`AdaptLLM`: Adapt-LLM's parametric prompt; the model answers or emits ``<RET>``.
* :class:`TokenProbability`: the same prompt with logprobs; retrieve when P(``<RET>``) at the
  first generated position exceeds a threshold (Self-RAG-style calibrated gating).
* :class:`VerbalizedConfidence` and :class:`SelfConsistency` live in
  :mod:`memagents.gate.policies_blackbox` and are importable from here too.

Every call goes through :class:`~memagents.models.StructuredLLM` (retries, budget, usage), with
real async twins. Prompts are registered as ``gate.*`` templates users can override. Each
policy keeps the model's closed-book answer in ``Decision.answer`` when it produced one, even
when it decides to retrieve (conflict-aware answering compares it with the evidence).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage

from memagents.errors import InputError
from memagents.gate._llm_base import (
    _LLMPolicy,
    _read,
    _text,
    _view,
)
from memagents.gate.base import Decision, check_fraction, check_question
from memagents.gate.policies_blackbox import ConfidentAnswer, SelfConsistency, VerbalizedConfidence
from memagents.models import PromptTemplate, register_prompt

__all__ = [
    "AdaptLLM",
    "ConfidentAnswer",
    "SelfConsistency",
    "TokenProbability",
    "VerbalizedConfidence",
    "logprob_problem",
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

    Raises:
        InputError: a malformed position (see :func:`logprob_problem`).
    """
    problem = logprob_problem(position)
    if problem is not None:
        raise InputError(f"malformed logprobs: {problem}.")
    candidates = {e["token"]: float(e["logprob"]) for e in position.get("top_logprobs") or ()}
    candidates.setdefault(position["token"], float(position["logprob"]))
    wanted = token.lower()
    mass = sum(
        math.exp(lp)
        for t, lp in candidates.items()
        if (p := t.lstrip().lower()) and (wanted.startswith(p) or p.startswith(wanted))
    )
    return round(min(mass, 1.0), 12)


def _logprob_error(entry: Any, where: str) -> str | None:
    if not isinstance(entry, Mapping):
        return f"{where} is a {type(entry).__name__}, not an object"
    if not isinstance(entry.get("token"), str):
        return f"{where} has no string 'token'"
    value = entry.get("logprob")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{where} has no numeric 'logprob' (got {value!r:.40})"
    if math.isnan(value) or value > 1e-6:
        return f"{where} has logprob {value!r}, not a log-probability (<= 0)"
    return None


def logprob_problem(position: Any) -> str | None:
    """What is wrong with one generated position of OpenAI-shaped logprobs, or ``None``.

    A position is an object with a string ``token``, a ``logprob`` that is a number <= 0 (not
    NaN, not a boolean; ``-inf`` is probability 0) and optional ``top_logprobs``, a list of
    objects of the same shape.

    >>> logprob_problem({"token": "<", "logprob": float("nan")})
    'the first token has logprob nan, not a log-probability (<= 0)'
    """
    problem = _logprob_error(position, "the first token")
    if problem is not None:
        return problem
    top = position.get("top_logprobs")
    if top is None:
        return None
    if isinstance(top, (str, bytes, Mapping)) or not isinstance(top, Sequence):
        return f"top_logprobs is a {type(top).__name__}, not a list"
    for i, entry in enumerate(top):
        problem = _logprob_error(entry, f"top_logprobs[{i}]")
        if problem is not None:
            return problem
    return None


def _first_position(message: AIMessage) -> tuple[Mapping[str, Any] | None, str | None]:
    """The first non-blank generated position and ``None``, or ``None`` and why (``None``
    when the provider sent no logprobs at all)."""
    logprobs = (message.response_metadata or {}).get("logprobs")
    if logprobs is None:
        return None, None
    if not isinstance(logprobs, Mapping):
        return None, f"logprobs is a {type(logprobs).__name__}, not an object"
    content = logprobs.get("content")
    if content is None:
        return None, None
    if isinstance(content, (str, bytes, Mapping)) or not isinstance(content, Sequence):
        return None, f"logprobs.content is a {type(content).__name__}, not a list"
    for entry in content:
        problem = logprob_problem(entry)
        if problem is not None:
            return None, problem
        if entry["token"].strip():
            return entry, None
    return None, None


class TokenProbability(_LLMPolicy):
    """Retrieve when P(retrieval token) at the first generated position exceeds a threshold.

    One call with the Adapt-LLM prompt and logprobs requested (``logprobs``/``top_logprobs`` set
    on models that declare them, such as ``ChatOpenAI``, and bound on ``ScriptedChatModel``);
    P is computed by :func:`p_token`. The reply's closed-book answer, if any, is kept. When the
    provider returns no logprobs, or malformed ones (a missing or NaN ``logprob``, a
    ``top_logprobs`` that is not a list of ``{"token", "logprob"}``; see
    :func:`logprob_problem`), the policy falls back (``fallback=True``) to
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
        position, problem = _first_position(message)
        if position is None:
            mode = self.on_missing_logprobs
            retrieve = kind != "answer" if mode == "token" else mode == "retrieve"
            how = (
                f"the reply's {'answer' if kind == 'answer' else kind}"
                if mode == "token"
                else f"on_missing_logprobs={mode!r}"
            )
            why = "logprobs unavailable from the model" if problem is None else (
                f"malformed logprobs from the model ({problem})")
            signals: dict[str, Any] = {
                "p_ret": None,
                "logprobs": False if problem is None else "malformed",
                "threshold": self.threshold,
                "token": self.token,
                "reply": text[:200],
            }
            if problem is not None:
                signals["error"] = problem
            return Decision(
                retrieve=retrieve,
                policy=self.name,
                answer=answer,
                fallback=True,
                reason=f"{why}: decided by {how} ({'retrieve' if retrieve else 'recall'})",
                signals=signals,
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


