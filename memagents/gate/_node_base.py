"""Plumbing shared by the gate's LangGraph nodes: state access, checks, the Runnable base.

Example:
    >>> _get({"k": 3}, "k"), _check_k(2)
    (3, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

from memagents.errors import InputError
from memagents.runtime import context_value, state_question

__all__ = ["to_plain"]

# ------------------------------------------------------------------------------ helpers
def _get(obj: Any, key: str, default: Any = None) -> Any:
    value = context_value(obj, key)
    return default if value is None else value


def to_plain(value: Any) -> Any:
    """A JSON-friendly copy of results (dataclasses, ``to_dict()`` objects, pydantic models).

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class P:
    ...     text: str
    ...     tags: tuple = ()
    >>> to_plain({"a": P("x", ("t",))})
    {'a': {'text': 'x', 'tags': ['t']}}
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_plain(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return to_plain(dump())
    return str(value)


def _question(state: Any, key: str, node: str) -> str:
    """``state[key]``, else the last human message (:func:`memagents.runtime.state_question`)."""
    return state_question(state, key, node)


def _decision(state: Any) -> Mapping[str, Any] | None:
    decision = _get(state, "decision")
    if decision is None:
        return None
    if isinstance(decision, Mapping):
        return decision
    if hasattr(decision, "to_dict"):
        return decision.to_dict()
    raise InputError(
        f"state['decision'] must be a Decision or its to_dict(), got {type(decision).__name__}."
    )


def _check_k(k: Any, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"{what} must be a positive integer, got {k!r}.")
    return k


class _Node(Runnable[Any, dict[str, Any]]):
    """Shared plumbing: a Runnable whose sync/async bodies are ``_run``/``_arun``."""

    name: str | None = None

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        raise NotImplementedError

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        raise NotImplementedError

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


