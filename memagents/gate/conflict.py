"""Conflict-aware answering: when retrieved evidence and parametric memory disagree.

Xie et al. (ICLR 2024) find models adopt a single *coherent* counter-evidence passage even
against correct memory, and Mallen et al. find a retrieved passage that lacks the answer often
hurts (top-1 recall 0.14 on the 10% of PopQA questions retrieval harms). So instead of silently
concatenating, :func:`resolve_conflict`:

1. answers from the evidence (:meth:`Answerer.with_evidence`, or a given ``evidence_answer``);
2. finds which passages contain the evidence answer (provenance, PopQA's containment rule);
3. compares it with the closed-book answer (normalised match or containment either way; an
   optional LLM judge, prompt ``gate.conflict_judge``, for answers that differ in wording);
4. follows a :class:`ConflictPolicy`: prefer evidence that supports an answer; keep the
   parametric answer when the evidence supports none (or ask for more retrieval); abstain when
   there is nothing to answer with.

Example:
    >>> from memagents.gate.answering import Answer
    >>> class Reader:  # any object with with_evidence() works; Answerer is the real one
    ...     def with_evidence(self, question, passages):
    ...         return Answer("Quillmere", supported=True)
    >>> r = resolve_conflict("Where is Hollin Bay?", Answer("Velmora"),
    ...                      [Evidence("Hollin Bay lies in Quillmere.", source="p7")], Reader())
    >>> r.answer, r.source, r.conflict, [e.source for e in r.supporting]
    ('Quillmere', 'evidence', True, ['p7'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from memagents.errors import ConfigError, InputError
from memagents.eval.scoring import answers_agree, normalize_answer
from memagents.gate.answering import Answer, is_no_answer
from memagents.models import PromptTemplate, register_prompt

__all__ = [
    "CONFLICT_JUDGE_PROMPT",
    "ConflictPolicy",
    "Evidence",
    "JudgeVerdict",
    "Resolution",
    "answers_agree",
    "aresolve_conflict",
    "normalize_answer",
    "resolve_conflict",
]

Source = Literal["parametric", "evidence", "abstain", "need_more_retrieval"]

CONFLICT_JUDGE_PROMPT = register_prompt(
    PromptTemplate(
        name="gate.conflict_judge",
        system=(
            "You compare two short answers to the same question and decide whether they name "
            "the same thing (aliases, abbreviations and different wording of one entity count "
            "as the same; different entities or values do not)."
        ),
        user="Question: {question}\nAnswer A: {first}\nAnswer B: {second}",
        description="LLM judge: do two answers to a question agree?",
    )
)



class JudgeVerdict(BaseModel):
    """The structured reply of the ``gate.conflict_judge`` prompt."""

    same: bool = Field(description="True when both answers name the same thing.")
    explanation: str = Field(default="", description="One short sentence.")


@dataclass(frozen=True, slots=True)
class Evidence:
    """A retrieved passage with its provenance.

    Example:
        >>> Evidence("Velmora is a port.", source="wiki:Velmora", score=1.56).source
        'wiki:Velmora'
    """

    text: str
    source: str | None = None
    score: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ConflictPolicy:
    """What to do when memory and evidence disagree or the evidence is weak.

    Attributes:
        prefer_evidence_when_supported: When the evidence supports an answer, use it (even
            against the closed-book answer). False keeps the closed-book answer when one exists.
        keep_parametric_when_unsupported: When the evidence supports no answer, keep the
            closed-book answer (PopQA's lesson). False uses the unsupported evidence answer.
        ask_more_when_unsupported: When the evidence supports no answer, return
            ``source="need_more_retrieval"`` (the provisional answer is the closed-book one).
        use_llm_judge: When the answers differ as strings, ask the model (prompt
            ``gate.conflict_judge``) whether they still name the same thing.

    Example:
        >>> ConflictPolicy(ask_more_when_unsupported=True).prefer_evidence_when_supported
        True
    """

    prefer_evidence_when_supported: bool = True
    keep_parametric_when_unsupported: bool = True
    ask_more_when_unsupported: bool = False
    use_llm_judge: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """The outcome of :func:`resolve_conflict`, with both answers and the provenance.

    Attributes:
        answer: The answer to give ('' when abstaining).
        source: Where it came from: ``parametric``, ``evidence``, ``abstain`` or
            ``need_more_retrieval``.
        conflict: True when the closed-book and evidence answers disagree.
        parametric_answer: The closed-book answer (None when there was none).
        evidence_answer: The answer read from the evidence (None when there was none).
        supporting: The passages containing the evidence answer.
        reason: One sentence explaining the choice.
        evidence_supported: Whether the evidence was judged to support its answer.

    Example:
        >>> Resolution(answer="", source="abstain", conflict=False, parametric_answer=None,
        ...            evidence_answer=None, reason="nothing to answer with").to_dict()["source"]
        'abstain'
    """

    answer: str
    source: Source
    conflict: bool
    parametric_answer: str | None
    evidence_answer: str | None
    supporting: list[Evidence] = field(default_factory=list)
    reason: str
    evidence_supported: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict."""
        return {
            "answer": self.answer,
            "source": self.source,
            "conflict": self.conflict,
            "parametric_answer": self.parametric_answer,
            "evidence_answer": self.evidence_answer,
            "evidence_supported": self.evidence_supported,
            "supporting": [
                {"source": e.source, "score": e.score, "text": e.text} for e in self.supporting
            ],
            "reason": self.reason,
        }


def _contains(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` as whole words."""
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) is not None


def _evidence(evidence: Sequence[Evidence | str]) -> list[Evidence]:
    if isinstance(evidence, (str, Evidence)):
        raise InputError("evidence must be a sequence of Evidence (or passage strings).")
    out = []
    for i, e in enumerate(evidence):
        if isinstance(e, str):
            e = Evidence(e)
        if not isinstance(e, Evidence) or not isinstance(e.text, str):
            raise InputError(f"evidence[{i}] is {type(e).__name__}; pass Evidence or str.")
        if e.text.strip():
            out.append(e)
    return out


def _answer_text(answer: Answer | str | None) -> str | None:
    text = answer.text if isinstance(answer, Answer) else answer
    return None if is_no_answer(text) else str(text).strip()


def _judge_llm(answerer: Any) -> Any:
    llm = getattr(answerer, "llm", None)
    if llm is None or not hasattr(llm, "call"):
        raise ConfigError(
            "ConflictPolicy(use_llm_judge=True) needs an answerer with an .llm (a "
            "StructuredLLM), e.g. Answerer(llm); or set use_llm_judge=False."
        )
    return llm


@dataclass
class _State:
    question: str
    parametric: str | None
    evidence: list[Evidence]
    evidence_answer: Answer | None = None


def _decide(state: _State, policy: ConflictPolicy, judged_same: bool | None) -> Resolution:
    """Apply ``policy`` once both answers (and the optional judge verdict) are known."""
    p = state.parametric
    ev = state.evidence_answer
    e = _answer_text(ev) if ev is not None else None
    supporting = [x for x in state.evidence if e and _contains(normalize_answer(x.text),
                                                               normalize_answer(e))]
    if e is None:
        supported = False
    elif ev is not None and ev.supported is not None:
        supported = ev.supported
    else:
        supported = bool(supporting)
    agree = answers_agree(p, e) or bool(judged_same)
    conflict = p is not None and e is not None and not agree
    how = "agrees with" if not conflict else "contradicts"
    where = (
        f"{len(supporting)} of {len(state.evidence)} passage(s) contain it"
        if supporting
        else "no passage contains it verbatim"
    )
    if judged_same and not answers_agree(p, e):
        how = "agrees (LLM judge) with"

    def result(answer: str, source: Source, reason: str) -> Resolution:
        return Resolution(answer=answer, source=source, conflict=conflict, parametric_answer=p,
                          evidence_answer=e, supporting=supporting, reason=reason,
                          evidence_supported=supported)

    if e is not None and supported:
        if p is None:
            return result(e, "evidence", f"the evidence supports {e!r} ({where}); no "
                                         "closed-book answer to compare")
        if not conflict:
            return result(e, "evidence", f"the evidence answer {e!r} {how} the closed-book "
                                         f"answer {p!r} ({where})")
        if policy.prefer_evidence_when_supported:
            return result(e, "evidence", f"knowledge conflict: the evidence supports {e!r} "
                                         f"({where}) and {how} the closed-book answer {p!r}; "
                                         "preferring coherent evidence")
        return result(p, "parametric", f"knowledge conflict: the evidence supports {e!r} "
                                       f"({where}) but the policy keeps the closed-book answer "
                                       f"{p!r}")
    lacking = ("there is no evidence (empty retrieval result)" if not state.evidence else
               "the evidence gives no answer" if e is None else
               f"the evidence does not support its answer {e!r}")
    if policy.ask_more_when_unsupported:
        return result(p or "", "need_more_retrieval",
                      f"{lacking}; asking for more retrieval"
                      + (f" (provisional closed-book answer {p!r})" if p else ""))
    if p is not None and (policy.keep_parametric_when_unsupported or e is None):
        return result(p, "parametric", f"{lacking}; keeping the closed-book answer {p!r}")
    if e is not None:
        tail = ("no closed-book answer to fall back on" if p is None else
                f"the policy prefers it over the closed-book answer {p!r}")
        return result(e, "evidence", f"{lacking}; using it unverified: {tail}")
    return result("", "abstain", f"{lacking} and there is no closed-book answer; abstaining")


def _prepare(question: str, parametric: Answer | str | None,
             evidence: Sequence[Evidence | str]) -> _State:
    if not isinstance(question, str) or not question.strip():
        raise InputError("question must be a non-empty string.")
    return _State(question.strip(), _answer_text(parametric), _evidence(evidence))


def _needs_judge(state: _State, policy: ConflictPolicy) -> tuple[str, str] | None:
    e = _answer_text(state.evidence_answer) if state.evidence_answer else None
    if policy.use_llm_judge and state.parametric and e and not answers_agree(state.parametric, e):
        return state.parametric, e
    return None


def resolve_conflict(
    question: str,
    parametric: Answer | str | None,
    evidence: Sequence[Evidence | str],
    answerer: Any,
    policy: ConflictPolicy = ConflictPolicy(),
    *,
    evidence_answer: Answer | None = None,
) -> Resolution:
    """Answer from evidence, compare with the closed-book answer and apply ``policy``.

    Args:
        question: The question.
        parametric: The closed-book answer (an :class:`Answer` or text), or ``None``.
        evidence: Retrieved passages (:class:`Evidence` or strings); blanks are dropped.
        answerer: An :class:`~memagents.gate.answering.Answerer` (anything with
            ``with_evidence``; ``.llm`` is needed for the LLM judge).
        policy: The :class:`ConflictPolicy`.
        evidence_answer: An answer already read from ``evidence`` (skips the model call).

    Returns:
        The :class:`Resolution` (deterministic given the model's replies).
    """
    state = _prepare(question, parametric, evidence)
    if evidence_answer is not None:
        state.evidence_answer = evidence_answer
    elif state.evidence:
        state.evidence_answer = answerer.with_evidence(
            state.question, [e.text for e in state.evidence]
        )
    pair, same = _needs_judge(state, policy), None
    if pair is not None:
        verdict = _judge_llm(answerer).call(CONFLICT_JUDGE_PROMPT.name, JudgeVerdict,
                                            question=state.question, first=pair[0],
                                            second=pair[1])
        same = verdict.same
    return _decide(state, policy, same)


async def aresolve_conflict(
    question: str,
    parametric: Answer | str | None,
    evidence: Sequence[Evidence | str],
    answerer: Any,
    policy: ConflictPolicy = ConflictPolicy(),
    *,
    evidence_answer: Answer | None = None,
) -> Resolution:
    """Async twin of :func:`resolve_conflict` (uses ``awith_evidence`` and ``acall``)."""
    state = _prepare(question, parametric, evidence)
    if evidence_answer is not None:
        state.evidence_answer = evidence_answer
    elif state.evidence:
        state.evidence_answer = await answerer.awith_evidence(
            state.question, [e.text for e in state.evidence]
        )
    pair, same = _needs_judge(state, policy), None
    if pair is not None:
        verdict = await _judge_llm(answerer).acall(CONFLICT_JUDGE_PROMPT.name, JudgeVerdict,
                                                   question=state.question, first=pair[0],
                                                   second=pair[1])
        same = verdict.same
    return _decide(state, policy, same)
