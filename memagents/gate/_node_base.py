"""Plumbing shared by the gate's LangGraph nodes: state access and JSON-friendly results.

The node base itself is the package's one :class:`~memagents.base.node.Node`.

Example:
    >>> _get({"k": 3}, "k")
    3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from memagents.base.namespaces import context_value
from memagents.errors import InputError

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

