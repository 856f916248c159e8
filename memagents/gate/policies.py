"""Retrieve-or-recall policies: fixed, popularity threshold, and combinations.

Every policy has the :class:`~memagents.gate.base.RetrievalPolicy` interface
(``decide(question, *, metadata=None) -> Decision`` and ``adecide``), so they compose:

* :class:`Never`, :class:`Always`: the two baselines;
* :class:`PopularityThreshold`: Mallen et al.'s rule, retrieve when the subject's popularity is
  below a (global or per-relation) threshold;
* :class:`AnyOf`, :class:`AllOf`, :class:`Vote`: combinations of other policies;
* the model-based policies (:class:`AdaptLLM`, :class:`TokenProbability`,
  :class:`VerbalizedConfidence`, :class:`SelfConsistency`) live in
  :mod:`memagents.gate.policies_llm` and :mod:`memagents.gate.policies_blackbox`, and
  :class:`~memagents.gate.gate.RetrievalGate` builds any of them by name.
"""

from __future__ import annotations

import asyncio
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from memagents.errors import InputError
from memagents.gate.base import Decision, RetrievalPolicy, check_question

__all__ = [
    "DEFAULT_POPULARITY_THRESHOLD",
    "AllOf",
    "Always",
    "AnyOf",
    "Never",
    "PopularityThreshold",
    "Vote",
]

#: Monthly page views; about the median ``s_pop`` of PopQA (935 on the dev split). A starting
#: point only: tune it per model and relation (Mallen et al.'s search, ``memagents.gate.research.tuning``).
DEFAULT_POPULARITY_THRESHOLD = 1000.0

def _metadata(metadata: Any) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InputError(
            f"metadata must be a mapping (e.g. {{'s_pop': 142}}), got {type(metadata).__name__}."
        )
    return metadata


class _Fixed(RetrievalPolicy):
    retrieve: bool = False
    reason: str = ""

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        check_question(question)
        return Decision(retrieve=self.retrieve, policy=self.name, reason=self.reason)

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        return self.decide(question, metadata=metadata)


class Never(_Fixed):
    """Never retrieve: answer every question from parametric memory (the closed-book baseline).

    Example:
        >>> Never().decide("Who wrote Velmora?").retrieve
        False
    """

    name = "never"
    retrieve = False
    reason = "policy 'never': always answers from parametric memory"


class Always(_Fixed):
    """Always retrieve (the standard RAG baseline).

    Example:
        >>> Always().decide("Who wrote Velmora?").reason
        "policy 'always': retrieves for every question"
    """

    name = "always"
    retrieve = True
    reason = "policy 'always': retrieves for every question"


PopularitySource = Callable[[str, Mapping[str, Any]], Any] | Mapping[str, Any]


class PopularityThreshold(RetrievalPolicy):
    """Retrieve when the subject's popularity is below a threshold (Mallen et al., 2023).

    Args:
        threshold: Global threshold (popularity < threshold retrieves); ``inf`` always
            retrieves, 0 never does.
        source: Where popularity comes from: a callable ``(question, metadata) -> number|None``
            or a table ``{question: number}``. Default: ``metadata["s_pop"]``.
        per_relation: ``{relation: threshold}`` overriding the global threshold (e.g. tuning
            results; an object with a ``thresholds`` mapping or method is accepted too).
        relation_key: Metadata key naming the relation (``"prop"`` in PopQA), or a callable
            ``(question, metadata) -> relation|None``.
        on_missing: What to do when popularity is missing or invalid (None, NaN, infinite,
            negative, non-numeric): ``"retrieve"`` or ``"recall"``; the decision then has
            ``fallback=True`` and its reason says so. Numeric strings are accepted.

    Example:
        >>> policy = PopularityThreshold(1000, per_relation={"occupation": 50})
        >>> policy.decide("Who is X?", metadata={"s_pop": 142}).retrieve
        True
        >>> policy.decide("What is X's occupation?",
        ...               metadata={"s_pop": 142, "prop": "occupation"}).retrieve
        False
        >>> policy.decide("Who is Y?").fallback
        True
    """

    name = "popularity"

    def __init__(
        self,
        threshold: float = DEFAULT_POPULARITY_THRESHOLD,
        *,
        source: PopularitySource | None = None,
        per_relation: Mapping[str, float] | Any | None = None,
        relation_key: str | Callable[[str, Mapping[str, Any]], Any] = "prop",
        on_missing: Literal["retrieve", "recall"] = "retrieve",
    ) -> None:
        self.threshold = _threshold(threshold, "threshold")
        if source is not None and not (callable(source) or isinstance(source, Mapping)):
            raise InputError(
                "source must be a callable (question, metadata) -> popularity or a "
                f"dict {{question: popularity}}, got {type(source).__name__}."
            )
        self.source = source
        table = getattr(per_relation, "thresholds", per_relation)
        table = table() if callable(table) else table  # tuning results expose .thresholds()
        if table is not None and not isinstance(table, Mapping):
            raise InputError(
                f"per_relation must map relation -> threshold, got {type(per_relation).__name__}."
            )
        self.per_relation = {
            str(r): _threshold(t, f"per_relation[{r!r}]") for r, t in (table or {}).items()
        }
        if not (isinstance(relation_key, str) or callable(relation_key)):
            raise InputError("relation_key must be a metadata key or a callable.")
        self.relation_key = relation_key
        if on_missing not in ("retrieve", "recall"):
            raise InputError(f"on_missing must be 'retrieve' or 'recall', got {on_missing!r}.")
        self.on_missing = on_missing

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        question, meta = check_question(question), _metadata(metadata)
        relation = self._relation(question, meta)
        scoped = relation is not None and relation in self.per_relation
        threshold = self.per_relation[relation] if scoped else self.threshold  # type: ignore[index]
        raw, where = self._lookup(question, meta)
        popularity, problem = _popularity(raw)
        signals: dict[str, Any] = {
            "popularity": popularity,
            "threshold": threshold,
            "relation": relation,
            "threshold_scope": "relation" if scoped else "global",
        }
        if popularity is None:
            retrieve = self.on_missing == "retrieve"
            return Decision(
                retrieve=retrieve,
                policy=self.name,
                fallback=True,
                signals={**signals, "problem": f"{where}: {problem}"},
                reason=f"no usable popularity ({where} {problem}): fell back to "
                f"{'retrieving' if retrieve else 'answering from memory'} as configured "
                f"(on_missing={self.on_missing!r})",
            )
        retrieve = popularity < threshold
        scope = f"relation {relation!r}" if scoped else "global"
        return Decision(
            retrieve=retrieve,
            policy=self.name,
            signals=signals,
            reason=f"popularity {popularity:,.0f} {'<' if retrieve else '>='} {scope} threshold "
            f"{threshold:,.0f}: "
            f"{'long tail, retrieving' if retrieve else 'popular, answering from memory'}",
        )

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        return self.decide(question, metadata=metadata)

    def _relation(self, question: str, meta: Mapping[str, Any]) -> str | None:
        key = self.relation_key
        value = key(question, meta) if callable(key) else meta.get(key)
        return None if value is None else str(value)

    def _lookup(self, question: str, meta: Mapping[str, Any]) -> tuple[Any, str]:
        if self.source is None:
            return meta.get("s_pop"), "metadata['s_pop']"
        if isinstance(self.source, Mapping):
            return self.source.get(question), "the popularity table"
        return self.source(question, meta), "the popularity source"


def _threshold(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        raise InputError(f"{name} must be a non-negative number of page views, got {value!r}.")
    return float(value)


def _popularity(value: Any) -> tuple[float | None, str]:
    """``(popularity, "")`` or ``(None, problem)``."""
    if value is None:
        return None, "is missing"
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None, f"is non-numeric ({value[:30]!r})"
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        return None, f"is not a number ({type(value).__name__})"
    if not math.isfinite(number):
        return None, f"is not finite ({number})"
    if number < 0:
        return None, f"is negative ({number:g})"
    return number, ""


class _Combination(RetrievalPolicy):
    """Runs child policies in order; ``lazy`` stops once the outcome is settled."""

    def __init__(
        self, *policies: RetrievalPolicy | Sequence[RetrievalPolicy], lazy: bool = False
    ) -> None:
        items: tuple[Any, ...] = policies
        if len(items) == 1 and isinstance(items[0], (list, tuple)):
            items = tuple(items[0])
        if not items:
            raise InputError(f"{type(self).__name__} needs at least one policy.")
        for i, p in enumerate(items):
            if not isinstance(p, RetrievalPolicy):
                raise InputError(
                    f"{type(self).__name__} argument {i} is "
                    f"{type(p).__name__}, not a RetrievalPolicy."
                )
        self.policies: tuple[RetrievalPolicy, ...] = items
        self.lazy = bool(lazy)

    def _settled(self, decision: Decision) -> bool:
        return False

    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        children: list[Decision] = []
        for policy in self.policies:
            children.append(policy.decide(question, metadata=metadata))
            if self.lazy and self._settled(children[-1]):
                break
        return self._combine(children)

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        if self.lazy:
            children: list[Decision] = []
            for policy in self.policies:
                children.append(await policy.adecide(question, metadata=metadata))
                if self._settled(children[-1]):
                    break
            return self._combine(children)
        results = await asyncio.gather(
            *(p.adecide(question, metadata=metadata) for p in self.policies), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self._combine(list(results))  # type: ignore[arg-type]

    def _retrieve(self, votes: int, total: int) -> bool:
        raise NotImplementedError

    def _combine(self, children: list[Decision]) -> Decision:
        votes = sum(c.retrieve for c in children)
        retrieve = self._retrieve(votes, len(children))
        skipped = len(self.policies) - len(children)
        voters = [c for c in children if c.retrieve == retrieve] or children
        because = "; ".join(f"{c.policy}: {c.reason}" for c in voters)
        note = f"; stopped early, {skipped} not run" if skipped else ""
        return Decision(
            retrieve=retrieve,
            policy=self.name,
            reason=f"{self.name} ({votes}/{len(children)} retrieve{note}) -> "
            f"{'retrieve' if retrieve else 'recall'} because {because}",
            signals={
                "retrieve_votes": votes,
                "evaluated": len(children),
                "policies": len(self.policies),
            },
            answer=next((c.answer for c in children if c.answer is not None), None),
            fallback=any(c.fallback for c in children),
            children=tuple(children),
        )


class AnyOf(_Combination):
    """Retrieve if any child policy retrieves.

    With ``lazy=True`` children run in order and stop at the first that retrieves (saving
    model calls); otherwise all run (concurrently in ``adecide``). ``answer`` is the first
    child answer available; ``fallback`` is True when any child fell back.

    Example:
        >>> d = AnyOf(Never(), Always(), lazy=True).decide("Who wrote Velmora?")
        >>> d.retrieve, [c.policy for c in d.children]
        (True, ['never', 'always'])
    """

    name = "any-of"

    def _settled(self, decision: Decision) -> bool:
        return decision.retrieve

    def _retrieve(self, votes: int, total: int) -> bool:
        return votes > 0


class AllOf(_Combination):
    """Retrieve only if every child policy retrieves (``lazy`` stops at the first recall).

    Example:
        >>> AllOf(Always(), Never()).decide("Who wrote Velmora?").retrieve
        False
    """

    name = "all-of"

    def _settled(self, decision: Decision) -> bool:
        return not decision.retrieve

    def _retrieve(self, votes: int, total: int) -> bool:
        return votes == total


class Vote(_Combination):
    """Retrieve when a majority of child policies retrieve; ``tie`` decides an even split.

    All children always run (no short-circuit).

    Example:
        >>> Vote(Always(), Always(), Never()).decide("Who wrote Velmora?").signals["retrieve_votes"]
        2
    """

    name = "vote"

    def __init__(
        self, *policies: RetrievalPolicy, tie: Literal["retrieve", "recall"] = "retrieve"
    ) -> None:
        super().__init__(*policies, lazy=False)
        if tie not in ("retrieve", "recall"):
            raise InputError(f"tie must be 'retrieve' or 'recall', got {tie!r}.")
        self.tie = tie

    def _retrieve(self, votes: int, total: int) -> bool:
        if 2 * votes == total:
            return self.tie == "retrieve"
        return 2 * votes > total
