"""The :class:`RetrievalGate` facade: one retrieve-or-recall policy, by object or by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError, InputError
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.policies import Always, Never, PopularityThreshold
from memagents.gate.policies_blackbox import SelfConsistency, VerbalizedConfidence
from memagents.gate.policies_llm import AdaptLLM, TokenProbability
from memagents.models import Budget, StructuredLLM, Usage

__all__ = ["POLICY_NAMES", "RetrievalGate"]

_PLAIN: dict[str, Callable[..., RetrievalPolicy]] = {
    "never": Never,
    "always": Always,
    "popularity": PopularityThreshold,
}
_WITH_LLM: dict[str, Callable[..., RetrievalPolicy]] = {
    "adapt-llm": AdaptLLM,
    "token-probability": TokenProbability,
    "confidence": VerbalizedConfidence,
    "self-consistency": SelfConsistency,
}
#: Policy names :class:`RetrievalGate` accepts (``_`` and ``-`` are interchangeable).
POLICY_NAMES: tuple[str, ...] = (*_PLAIN, *_WITH_LLM)


class RetrievalGate:
    """Decides retrieve-or-recall with one policy, sync or async.

    Args:
        policy: A :class:`RetrievalPolicy`, or a name from :data:`POLICY_NAMES`.
        llm: Chat model for named LLM policies: a StructuredLLM (used as is), a langchain chat
            model or a spec (wrapped with ``settings``, ``usage``, ``budget``); default
            ``MEMAGENTS_LLM`` when set.
        settings: Settings (default: environment).
        usage: Usage counters shared by every LLM call of the gate.
        budget: Limits checked before every LLM call.
        **options: Constructor options of a named policy (``threshold=``, ``per_relation=``...).

    Raises:
        ConfigError: unknown policy name, or an LLM policy with no chat model configured.
        InputError: options with a policy object, or options the policy does not take.

    Example:
        >>> gate = RetrievalGate("popularity", threshold=500)
        >>> d = gate.decide("What is Ilda Morn's occupation?", {"s_pop": 40})
        >>> d.retrieve, d.policy, gate.llm is None
        (True, 'popularity', True)
    """

    def __init__(
        self,
        policy: RetrievalPolicy | str = "always",
        *,
        llm: Any = None,
        settings: Settings | None = None,
        usage: Usage | None = None,
        budget: Budget | None = None,
        **options: Any,
    ) -> None:
        self.settings = settings or get_settings()
        self._usage = usage
        self.llm: StructuredLLM | None = self._resolve_llm(llm, usage, budget)
        self.policy: RetrievalPolicy = self._resolve_policy(policy, options)

    def _resolve_llm(
        self, llm: Any, usage: Usage | None, budget: Budget | None
    ) -> StructuredLLM | None:
        if isinstance(llm, StructuredLLM):
            if (usage is not None and usage is not llm.usage) or (
                budget is not None and budget != llm.budget
            ):
                raise InputError(
                    "llm is a StructuredLLM: give usage= and budget= to it, not to "
                    "RetrievalGate (or pass a chat model or spec instead)."
                )
            return llm
        if llm is None and self.settings.llm is None:
            return None
        return StructuredLLM.coerce(llm, settings=self.settings, usage=usage, budget=budget)

    def _resolve_policy(self, policy: Any, options: dict[str, Any]) -> RetrievalPolicy:
        if isinstance(policy, RetrievalPolicy):
            if options:
                raise InputError(
                    f"options {sorted(options)} only apply to a policy given by "
                    "name; configure the policy object instead."
                )
            return policy
        if not isinstance(policy, str):
            raise InputError(
                f"policy must be a RetrievalPolicy or a name ({', '.join(POLICY_NAMES)}"
                f"), got {type(policy).__name__}."
            )
        name = policy.strip().lower().replace("_", "-")
        cls = _PLAIN.get(name) or _WITH_LLM.get(name)
        if cls is None:
            raise ConfigError(
                f"unknown gate policy {policy!r}; choose one of "
                f"{', '.join(POLICY_NAMES)}, or pass a RetrievalPolicy object."
            )
        accepted = [p for p in inspect.signature(cls).parameters if p != "llm"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise InputError(
                f"policy {name!r} takes no option(s) {unknown}; it accepts "
                f"{', '.join(accepted) or 'none'}."
            )
        if name in _PLAIN:
            return cls(**options)
        if self.llm is None:
            raise ConfigError(
                f"gate policy {name!r} needs a chat model: pass llm= (a spec such "
                "as 'openai:gpt-4o-mini', a langchain chat model or a "
                "StructuredLLM) or set MEMAGENTS_LLM."
            )
        return cls(self.llm, **options)

    def decide(self, question: str, metadata: Mapping[str, Any] | None = None) -> Decision:
        """Decide for one question (``metadata`` carries e.g. ``s_pop`` and ``prop``)."""
        return self.policy.decide(question, metadata=metadata)

    async def adecide(self, question: str, metadata: Mapping[str, Any] | None = None) -> Decision:
        """Async twin of :meth:`decide` (LLM policies use the model's async API)."""
        return await self.policy.adecide(question, metadata=metadata)

    def node(self, **kwargs: Any) -> Any:
        """This gate as a LangGraph node; see :func:`memagents.gate.nodes.gate_node`.

        Use it with :func:`memagents.gate.nodes.route_after_gate` in ``add_conditional_edges``.
        """
        from memagents.gate.nodes import gate_node

        return gate_node(self, **kwargs)

    @property
    def usage(self) -> Usage:
        """LLM usage of the gate's policy (live counters when one :class:`Usage` is involved).

        The counters of the model(s) the policy calls; the gate's own (``usage=`` or ``llm``'s)
        when it calls none; a merged snapshot when a policy object combines models with
        different counters.
        """
        found = list({id(u): u for u in _usages(self.policy)}.values())
        if len(found) == 1:
            return found[0]
        if not found:
            if self._usage is None:
                self._usage = self.llm.usage if self.llm is not None else Usage()
            return self._usage
        merged = Usage()
        for u in found:
            merged.merge(u)
        return merged

    def __repr__(self) -> str:
        return f"RetrievalGate(policy={self.policy.name!r}, llm={self.llm!r})"


def _usages(policy: Any) -> Iterator[Usage]:
    llm = getattr(policy, "llm", None)
    if isinstance(llm, StructuredLLM):
        yield llm.usage
    for child in getattr(policy, "policies", ()) or ():
        yield from _usages(child)
