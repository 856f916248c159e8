"""The contract every retrieve-or-recall policy follows.

A policy looks at a question (and whatever it knows: metadata such as entity popularity, a
closed-book answer, the model's own signals) and returns a :class:`Decision`: retrieve or
answer from parametric memory, with the reason and the signals behind it. Policies are small
objects with the same interface, so they compose (:mod:`memagents.gate.policies`).

Example:
    >>> class Shorter(RetrievalPolicy):
    ...     name = "short-questions-recall"
    ...     def decide(self, question, *, metadata=None):
    ...         retrieve = len(question.split()) > 6
    ...         return Decision(retrieve=retrieve, policy=self.name,
    ...                         reason="long question" if retrieve else "short question",
    ...                         signals={"words": len(question.split())})
    >>> d = Shorter().decide("Who wrote Velmora?")
    >>> d.retrieve, d.reason, d.signals
    (False, 'short question', {'words': 3})
"""

from __future__ import annotations

import asyncio
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from memagents.errors import InputError

__all__ = ["Decision", "RetrievalPolicy", "check_fraction", "check_question"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """A retrieve-or-recall decision.

    Attributes:
        retrieve: True to retrieve evidence, False to answer from parametric memory.
        policy: Name of the policy that decided.
        reason: One human-readable sentence saying why.
        signals: The numbers behind it (popularity, P(<RET>), confidence, agreement...).
        answer: The closed-book answer when the policy produced one (Adapt-LLM, confidence,
            self-consistency policies do), else ``None``.
        fallback: True when the policy could not use its primary signal (missing popularity,
            no logprobs, unparseable reply) and fell back as configured; ``reason`` says so.
        children: Decisions of the sub-policies of a combination.
    """

    retrieve: bool
    policy: str
    reason: str
    signals: Mapping[str, Any] = field(default_factory=dict)
    answer: str | None = None
    fallback: bool = False
    children: tuple[Decision, ...] = ()

    def with_reason(self, reason: str) -> Decision:
        """A copy with another reason."""
        return replace(self, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (for state, logs and result files)."""
        return {
            "retrieve": self.retrieve,
            "policy": self.policy,
            "reason": self.reason,
            "signals": dict(self.signals),
            "answer": self.answer,
            "fallback": self.fallback,
            "children": [c.to_dict() for c in self.children],
        }


class RetrievalPolicy(ABC):
    """Decides whether a question needs retrieval.

    Subclasses implement :meth:`decide`; :meth:`adecide` defaults to running it in a thread
    and should be overridden by policies that call a model (to use its async API).
    """

    name: str = "policy"

    @abstractmethod
    def decide(self, question: str, *, metadata: Mapping[str, Any] | None = None) -> Decision:
        """Decide for one question. ``metadata`` carries per-question facts (e.g. ``s_pop``)."""

    async def adecide(
        self, question: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Decision:
        """Async twin of :meth:`decide`."""
        return await asyncio.to_thread(self.decide, question, metadata=metadata)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def check_question(question: Any) -> str:
    """The stripped question, or InputError for anything but a non-empty string."""
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"question must be a non-empty string, got {question!r}.")
    return question.strip()


def check_fraction(value: Any, name: str) -> float:
    """``value`` as a float in [0, 1], or InputError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        raise InputError(f"{name} must be a fraction between 0 and 1 (0.7 = 70%), got {value!r}.")
    return float(value)
