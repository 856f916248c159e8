"""Helpers for code running inside a LangGraph run: the run's context and per-run namespaces.

Every capability's nodes, retrievers and tools resolve "whose memory is this run about" the
same way, first match wins:

1. the ``namespace`` given to the node or tool; it may be a langmem-style template such as
   ``"users/{langgraph_user_id}"`` (or a tuple ``("users", "{user_id}")``, joined with ``/``),
   filled from ``config["configurable"]`` and then from the run's ``context``;
2. ``config["configurable"]["namespace"]``;
3. ``runtime.context`` (``StateGraph(..., context_schema=...)``): its ``namespace``, else its
   ``user_id``, as an attribute or a key;
4. ``config["configurable"]["user_id"]`` (LangGraph Server sets it, blank when anonymous);
5. ``None``: the memory's default namespace.

Blank strings count as absent.

Example:
    >>> resolve_namespace("users/{langgraph_user_id}",
    ...                   {"configurable": {"langgraph_user_id": "ada"}})
    'users/ada'
    >>> resolve_namespace(None, {"configurable": {"user_id": ""}}, {"user_id": "bo"})
    'bo'
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from memagents.errors import NamespaceError

__all__ = ["NamespaceSpec", "context_value", "resolve_namespace", "run_context"]

NamespaceSpec = str | Sequence[str]
"""A namespace, a template with ``{fields}``, or a tuple of parts joined with ``/``."""


def run_context() -> Any:
    """The ``runtime.context`` of the LangGraph run in progress, or ``None`` outside one."""
    try:
        from langgraph.runtime import get_runtime

        return getattr(get_runtime(), "context", None)
    except (ImportError, RuntimeError, KeyError, TypeError, AttributeError):
        return None


def context_value(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def resolve_namespace(
    namespace: NamespaceSpec | None,
    config: Mapping[str, Any] | None = None,
    context: Any = None,
) -> str | None:
    """The namespace of one run (see the module docstring); ``None`` means the default."""
    configurable = dict((config or {}).get("configurable") or {})
    if namespace is not None:
        if not isinstance(namespace, str):
            if not all(isinstance(part, str) for part in namespace):
                raise NamespaceError(f"namespace parts must be strings, got {namespace!r}.")
            namespace = "/".join(namespace)
        return _fill(namespace, configurable, context)
    candidates = (
        configurable.get("namespace"),
        context_value(context, "namespace"),
        context_value(context, "user_id"),
        configurable.get("user_id"),
    )
    return next((c for c in map(_text, candidates) if c is not None), None)


def _fill(template: str, configurable: Mapping[str, Any], context: Any) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise NamespaceError(
            f"namespace template {template!r} is malformed ({exc}); use named fields such as "
            "'users/{langgraph_user_id}'."
        ) from None
    if not fields:
        return template
    values: dict[str, str] = {}
    for name in fields:
        value = configurable.get(name)
        if value is None:
            value = context_value(context, name)
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int)):
            raise NamespaceError(
                f"namespace template {template!r} needs {name!r}: pass it as "
                f"config={{'configurable': {{{name!r}: ...}}}} or in the graph's context "
                "(StateGraph(..., context_schema=...), invoke(..., context=...))."
            )
        values[name] = str(value)
    try:
        return template.format_map(values)
    except (ValueError, IndexError) as exc:
        raise NamespaceError(
            f"namespace template {template!r} is malformed ({exc}); use named fields such as "
            "'users/{langgraph_user_id}'."
        ) from None
