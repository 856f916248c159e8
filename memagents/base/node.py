"""The one node base under every LangGraph node of memagents.

A :class:`Node` is a langchain ``Runnable`` with a sync body (:meth:`Node._run`) and an async
body (:meth:`Node._arun`), so LangGraph calls the sync path under ``invoke`` and the native
async path under ``ainvoke`` (the default async body runs the sync one in a worker thread).
State and context are read through the package's conventions (:mod:`memagents.base.state`) and
the one namespace rule (:mod:`memagents.base.namespaces`).

Example:
    >>> class Echo(Node):
    ...     name = "echo"
    ...     def _run(self, state, config):
    ...         return {"answer": self.question(state)}
    >>> Echo().invoke({"messages": [("user", "Where is Velm?")]})
    {'answer': 'Where is Velm?'}
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

from memagents.base.namespaces import NamespaceSpec, context_value, resolve_namespace, run_context
from memagents.base.state import QUESTION, state_question, surface_notes

__all__ = ["Node"]


class Node(Runnable[Any, dict[str, Any]]):
    """Base of the package's LangGraph nodes: subclasses implement ``_run`` (and ``_arun``).

    Attributes:
        name: The node's name (LangGraph uses it when the node is added without one).
        namespace: The node's namespace or template (see :mod:`memagents.base.namespaces`).
        question_key: Where the node reads its question (else the last human message).
    """

    name: str | None = None
    namespace: NamespaceSpec | None = None
    question_key: str = QUESTION

    # --------------------------------------------------------------- bodies
    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _run(state, config).")

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        return await asyncio.to_thread(self._run, state, config)

    # --------------------------------------------------------------- conventions
    def question(self, state: Any) -> str:
        """The question of ``state`` (``state[question_key]``, else the last human message)."""
        return state_question(state, self.question_key, self.name or type(self).__name__)

    def resolve_namespace(self, config: RunnableConfig | None) -> str | None:
        """The namespace of this run, by the one namespace rule (``None``: the default)."""
        return resolve_namespace(self.namespace, ensure_config(config), run_context())

    def notes(self, notes: Any) -> dict[str, Any]:
        """A ``notes`` state update for ``notes`` (also logged; ``{}`` when there are none)."""
        return surface_notes(notes, where=f"{self.name or type(self).__name__} node")

    @staticmethod
    def value(state: Any, key: str, default: Any = None) -> Any:
        """``state[key]`` for mappings, ``state.key`` otherwise, else ``default``."""
        found = context_value(state, key)
        return default if found is None else found

    # --------------------------------------------------------------- Runnable
    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Run the node synchronously (same as :meth:`invoke`)."""
        return self.invoke(state, config)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._run, input, ensure_config(config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._arun, input, ensure_config(config))
