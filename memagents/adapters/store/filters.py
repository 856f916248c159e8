"""Pure helpers of :class:`~memagents.adapters.store.MemoryStore`: op validation, filters,
namespace matching and the texts an item contributes to the graph.

The semantics follow LangGraph's reference ``InMemoryStore``:

* ``filter``: each key of the filter is looked up in the item's value (missing: ``None``). A
  plain value matches by equality, a dict without ``$`` keys matches a nested dict key by key, a
  list matches a list of the same length element by element, and a dict of operators applies
  each of ``$eq $ne $gt $gte $lt $lte`` (the four range operators compare as numbers).
* namespace conditions: ``prefix``/``suffix`` paths where ``"*"`` matches any one label.

One deliberate difference: a range operator on a value that is not a number (a missing field,
``None``, a word) does not match, where ``InMemoryStore`` raises ``TypeError``/``ValueError`` in
the middle of the search. SQL stores behave like this module.

Example:
    >>> matches_filter({"score": 4.5, "tags": ["a"]}, {"score": {"$gte": 4}, "tags": ["a"]})
    True
    >>> matches_filter({"color": "red"}, {"size": {"$gt": 1}})
    False
    >>> namespace_matches(("users", "7", "prefs"), [("prefix", ("users", "*")), ("suffix", ("prefs",))])
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langgraph.store.base import (
    GetOp,
    ListNamespacesOp,
    PutOp,
    SearchOp,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from memagents.errors import InputError

__all__ = [
    "OPERATORS",
    "check_ops",
    "check_value",
    "item_texts",
    "matches_filter",
    "namespace_matches",
    "passage_id",
]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
"""Filter operators, as in LangGraph's stores."""

_OPS = (GetOp, SearchOp, PutOp, ListNamespacesOp)


def check_ops(ops: Sequence[Any]) -> None:
    """Validate a batch before anything runs: op types, namespace labels, TTL.

    Labels are checked for every op (``validate_op_namespace``), as LangGraph asks of stores
    that serialise namespaces as text; the stricter ``put`` rules (non-empty namespace, root
    label not ``"langgraph"``) stay with :meth:`BaseStore.put`, so ops passed straight to
    ``batch`` behave as in ``InMemoryStore``.

    Raises:
        InvalidNamespaceError: A label is empty, not a string, or holds ``.`` or NUL.
        NotImplementedError: A ``PutOp`` asks for a TTL (this store keeps items forever).
        ValueError: An op is not one of LangGraph's four op types.
    """
    for op in ops:
        if not isinstance(op, _OPS):
            raise ValueError(f"Unknown operation type: {type(op)}")  # noqa: TRY004 - as LangGraph
        validate_op_namespace(op)
        if isinstance(op, PutOp) and op.ttl is not None:
            raise NotImplementedError(
                "TTL is not supported by MemoryStore: put items with ttl=None (items are "
                "kept until deleted), or use a LangGraph store with TTL support."
            )


# ------------------------------------------------------------------------------ filters
def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value passes a search ``filter`` (see the module docstring)."""
    if not filter:
        return True
    return all(_compare(value.get(key), wanted) for key, wanted in filter.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            return all(_operator(actual, op, arg) for op, arg in wanted.items())
        if not isinstance(actual, dict):
            return False
        return all(_compare(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted))
        )
    return bool(actual == wanted)


def _operator(actual: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return bool(actual == arg)
    if op == "$ne":
        return bool(actual != arg)
    if op not in OPERATORS:
        raise ValueError(
            f"Unsupported operator: {op}; use one of {', '.join(OPERATORS)} or a plain value."
        )
    a, b = _number(actual), _number(arg)
    if a is None or b is None:
        return False
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    return a <= b


def _number(x: Any) -> float | None:
    """``float(x)`` as ``InMemoryStore`` does (numbers, bools, numeric strings), else None."""
    if x is None or isinstance(x, (dict, list, tuple)):
        return None
    try:
        out = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


# ----------------------------------------------------------------------------- namespaces
def namespace_matches(
    namespace: tuple[str, ...], conditions: Iterable[tuple[str, Sequence[str]]]
) -> bool:
    """Whether a namespace meets every ``(match_type, path)`` condition (``"*"``: any label)."""
    for match_type, path in conditions:
        if len(namespace) < len(path):
            return False
        if match_type == "prefix":
            pairs = zip(namespace, path)
        elif match_type == "suffix":
            pairs = zip(reversed(namespace), reversed(tuple(path)))
        else:
            raise ValueError(f"Unsupported match type: {match_type}; use 'prefix' or 'suffix'.")
        if any(p != "*" and label != p for label, p in pairs):
            return False
    return True


# ---------------------------------------------------------------------------------- texts
def item_texts(value: Mapping[str, Any], paths: Sequence[str]) -> dict[str, str]:
    """The texts an item contributes to the graph: ``{field label: text}``.

    Paths are LangGraph index paths (``"$"``, ``"a.b"``, ``"msgs[*].content"``). A path that
    yields several texts contributes one passage per text, labelled ``"path.i"`` as LangGraph
    labels its vectors; texts without any non-space character are skipped (a graph passage
    needs content).

    >>> item_texts({"text": "hi", "tags": ["x", "y"], "n": 3}, ["text", "tags[*]", "missing"])
    {'text': 'hi', 'tags[*].0': 'x', 'tags[*].1': 'y'}
    """
    out: dict[str, str] = {}
    for path in paths:
        texts = get_text_at_path(value, path if path == "$" else tokenize_path(path))
        for i, text in enumerate(texts):
            label = f"{path}.{i}" if len(texts) > 1 else path
            if text.strip():
                out[label] = text
    return out


def passage_id(key: str, label: str) -> str:
    """Graph passage id of one field of an item: the key itself for a whole-value (``"$"``)
    passage, else ``["key", "field"]`` as JSON; the two forms never collide.

    >>> passage_id("note-1", "$"), passage_id("note-1", "text")
    ('note-1', '["note-1", "text"]')
    """
    if label == "$" and not key.startswith("["):
        return key
    return json.dumps([key, label], ensure_ascii=False)


def check_value(value: Any, key: str) -> str:
    """JSON text of an item value; raise :class:`InputError` naming the fix otherwise."""
    if not isinstance(value, Mapping):
        raise InputError(
            f"the value of item {key!r} must be a dict (a Mapping), got {type(value).__name__}."
        )
    try:
        return json.dumps(dict(value), ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the value of item {key!r} is not JSON-serialisable ({exc}); MemoryStore keeps "
            "values as JSON: store strings, numbers, booleans, None, lists and dicts."
        ) from None
