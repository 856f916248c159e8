"""Helpers for code running inside a LangGraph run: the run's context, per-run namespaces, the
question of a state, retrieved documents and notes.

**The namespace rule.** Every memagents node, retriever and tool resolves "whose memory is this
run about" the same way, first match wins:

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

**State keys.** Retrieved material lives in ``state["documents"]``, a list of langchain
``Document`` (``page_content`` is the text; ``metadata`` has ``id``, ``source`` and ``score``,
plus the memory's scores under ``"memagents"``), the LangChain/LangGraph RAG convention: every
memagents node that retrieves writes it and every node that answers from evidence reads it.
What a search has to say (an empty namespace, a skipped recognition filter) goes to
``state["notes"]`` (``list[str]``; declare it as ``Annotated[list[str], operator.add]``; a state
without that key drops it silently) and is always logged at WARNING on the ``"memagents"``
logger. A node's question is ``state["question"]``, else the text of the last human message in
``state["messages"]``, so the nodes work in a ``MessagesState`` graph.

Example:
    >>> resolve_namespace("users/{user_id}", {"configurable": {"user_id": "ada"}})
    'users/ada'
    >>> resolve_namespace(("users", "{user_id}"), None, {"user_id": "bo"})
    'users/bo'
    >>> resolve_namespace(None, {"configurable": {"namespace": "team"}}, {"namespace": "bo"})
    'team'
    >>> resolve_namespace(None, {"configurable": {"user_id": "ada"}}, {"user_id": "bo"}) is None
    True
    >>> state_question({"messages": [("user", "Where is Velm?")]})
    'Where is Velm?'
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memagents.errors import InputError, NamespaceError

__all__ = [
    "NamespaceSpec",
    "as_documents",
    "context_value",
    "last_message_text",
    "logger",
    "resolve_namespace",
    "run_context",
    "state_question",
    "surface_notes",
]

logger = logging.getLogger("memagents")
"""The package's logger: nodes log their notes here at WARNING."""

NamespaceSpec = str | Sequence[str]
"""A namespace, a template with ``{fields}``, or a tuple of parts joined with ``/``."""

_HUMAN = ("human", "user")


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


# ------------------------------------------------------------------------ messages, question
def _message_role(message: Any) -> str | None:
    if isinstance(message, Mapping):
        role = message.get("role") or message.get("type")
    elif isinstance(message, tuple) and len(message) == 2:
        role = message[0]
    else:
        role = getattr(message, "type", None)
    return role if isinstance(role, str) else None


def _message_text(message: Any) -> str:
    if isinstance(message, Mapping):
        content = message.get("content")
    elif isinstance(message, tuple) and len(message) == 2:
        content = message[1]
    else:
        content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str) or (isinstance(p, Mapping) and p.get("type") == "text")
        ]
        return "".join(parts)
    return ""


def last_message_text(state: Any, roles: Sequence[str]) -> str | None:
    """Text of the last message in ``state["messages"]`` whose role is in ``roles``.

    >>> last_message_text({"messages": [("user", "hi"), ("ai", "hello")]}, ("human", "user"))
    'hi'
    """
    messages = context_value(state, "messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return None
    for message in reversed(messages):
        if _message_role(message) in roles:
            text = _message_text(message).strip()
            if text:
                return text
    return None


def state_question(state: Any, key: str = "question", node: str = "memagents") -> str:
    """The question of ``state``: ``state[key]``, else the last human message's text.

    Raises:
        InputError: ``state[key]`` is not a string, or there is no question at all.
    """
    value = context_value(state, key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is not None and not isinstance(value, str):
        raise InputError(
            f"state[{key!r}] must be a string question (the {node} node reads it), got "
            f"{type(value).__name__}."
        )
    text = last_message_text(state, _HUMAN)
    if text is None:
        got = "nothing" if value is None else repr(value)[:60]
        raise InputError(
            f"the {node} node found no question (state[{key!r}] is {got}): invoke the graph "
            f"with {{{key!r}: 'your question'}}, add a human message to state['messages'], "
            "or pass question_key=...."
        )
    return text


# -------------------------------------------------------------------------------- documents
def _score(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if math.isfinite(score) else None


def _document(text: str, metadata: Mapping[str, Any], doc_id: Any, score: Any) -> Any:
    from langchain_core.documents import Document

    inner = metadata.get("memagents") if isinstance(metadata.get("memagents"), Mapping) else {}
    doc_id = doc_id if doc_id not in (None, "") else metadata.get("id")
    doc_id = None if doc_id in (None, "") else str(doc_id)
    source = metadata.get("source")
    score = score if score is not None else inner.get("score", metadata.get("score"))
    meta = {
        "id": doc_id,
        "source": source if isinstance(source, str) and source else doc_id,
        "score": _score(score),
        **{k: v for k, v in metadata.items() if k not in ("id", "source", "score")},
    }
    return Document(page_content=text, metadata=meta, id=doc_id)


def as_documents(items: Iterable[Any], *, what: str = "retrieval") -> list[Any]:
    """Retrieved material as langchain ``Document``s following the package's convention.

    Accepts ``Document``s, memory search hits (``.text``, ``.id``, ``.score``), dicts
    ``{"text", "source", "score"}`` (the former evidence format) and strings. Each document's
    ``metadata`` gets ``id`` (the passage id), ``source`` (a ``source`` already in the metadata,
    else the id) and ``score`` (a float or ``None``); other metadata is kept.

    >>> d = as_documents([{"text": "Velm is a port.", "source": "p1", "score": 0.5}])[0]
    >>> d.page_content, d.id, d.metadata
    ('Velm is a port.', 'p1', {'id': 'p1', 'source': 'p1', 'score': 0.5})
    """
    from langchain_core.documents import Document

    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InputError(
            f"{what} must be a list of Documents, got {type(items).__name__}."
        )
    out = []
    for item in items:
        if isinstance(item, Document):
            out.append(_document(item.page_content, item.metadata or {}, item.id, None))
        elif isinstance(item, str):
            out.append(_document(item, {}, None, None))
        elif isinstance(item, Mapping):
            text = item.get("text", item.get("page_content"))
            if not isinstance(text, str):
                raise InputError(
                    f"{what} item {dict(item)!r:.120} has no 'text' string; use Documents or "
                    "{'text', 'source', 'score'} dicts."
                )
            meta = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else {}
            doc_id = item.get("id", item.get("source"))
            out.append(_document(text, {**meta, "source": item.get("source")}, doc_id,
                                 item.get("score")))
        elif isinstance(getattr(item, "text", None), str):
            to_document = getattr(item, "to_document", None)
            if callable(to_document):
                doc = to_document()
                out.append(_document(doc.page_content, doc.metadata or {}, doc.id, None))
            else:
                out.append(_document(item.text, {}, getattr(item, "id", None),
                                     getattr(item, "score", None)))
        else:
            raise InputError(
                f"{what} returned a {type(item).__name__}; expected Documents, memory search "
                "hits (with .text), {'text', 'source', 'score'} dicts or strings."
            )
    return out


# ------------------------------------------------------------------------------------ notes
def surface_notes(notes: Iterable[Any] | None, *, where: str, key: str = "notes") -> dict[str, Any]:
    """Log each note at WARNING on the ``"memagents"`` logger and return ``{key: notes}``
    (``{}`` when there is none), a state update for a ``notes`` channel. The one expected note
    of a memory without a chat model ("recognition filter skipped: no chat model
    configured") is logged at INFO.

    LangGraph drops update keys a state schema does not declare, so the update is harmless
    in a state without ``notes``; the log line is what remains there.
    """
    kept = [str(n) for n in notes or () if n]
    for note in kept:
        level = logging.INFO if note in _EXPECTED_NOTES else logging.WARNING
        logger.log(level, "%s: %s", where, note)
    return {key: kept} if kept else {}


#: Notes about an expected configuration, logged at INFO rather than WARNING: a memory opened
#: without a chat model says so on every search unless a filter was asked for.
_EXPECTED_NOTES = frozenset({"recognition filter skipped: no chat model configured"})
