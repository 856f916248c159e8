"""The namespace rule: whose memory a LangGraph run is about.

Every memagents node, retriever and tool resolves the namespace of a run the same way, first
match wins:

1. the ``namespace`` given to the node, retriever or tool; it may be a langmem-style template
   such as ``"users/{user_id}"`` (or a tuple ``("users", "{user_id}")``, joined with ``/``),
   each field filled from ``config["configurable"]`` and then from the run's ``context``
   (``StateGraph(..., context_schema=...)``), as an attribute or a key; a field that is missing
   or blank raises :class:`~memagents.errors.NamespaceError`;
2. ``config["configurable"]["namespace"]``;
3. the run's ``context.namespace`` (an attribute or a key);
4. else ``None``: the memory's default namespace (``"default"``).

Nothing else becomes a namespace: a ``user_id`` in ``configurable`` (LangGraph Server sets one)
or in the context selects a user's memory only through a template that names it, such as
``namespace="users/{user_id}"``. Blank strings count as absent.

A namespace name is at most 256 printable characters (:func:`check_namespace`).

Example:
    >>> resolve_namespace("users/{user_id}", {"configurable": {"user_id": "ada"}})
    'users/ada'
    >>> resolve_namespace(("users", "{user_id}"), None, {"user_id": "bo"})
    'users/bo'
    >>> resolve_namespace(None, {"configurable": {"namespace": "team"}}, {"namespace": "bo"})
    'team'
    >>> resolve_namespace(None, {"configurable": {"user_id": "ada"}}, {"user_id": "bo"}) is None
    True
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


# ------------------------------------------------------------------------------ namespaces
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
    candidates = (configurable.get("namespace"), context_value(context, "namespace"))
    return next((c for c in map(_text, candidates) if c is not None), None)


def _fill(template: str, configurable: Mapping[str, Any], context: Any) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise NamespaceError(
            f"namespace template {template!r} is malformed ({exc}); use named fields such as "
            "'users/{user_id}'."
        ) from None
    if not fields:
        return template
    values: dict[str, str] = {}
    for name in fields:
        value = configurable.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = context_value(context, name)
        if (value is None or isinstance(value, bool) or not isinstance(value, (str, int))
                or (isinstance(value, str) and not value.strip())):
            raise NamespaceError(
                f"namespace template {template!r} needs {name!r} (missing or blank): pass it "
                f"as config={{'configurable': {{{name!r}: ...}}}} or in the graph's context "
                "(StateGraph(..., context_schema=...), invoke(..., context=...))."
            )
        values[name] = str(value)
    try:
        return template.format_map(values)
    except (ValueError, IndexError) as exc:
        raise NamespaceError(
            f"namespace template {template!r} is malformed ({exc}); use named fields such as "
            "'users/{user_id}'."
        ) from None
