"""The package's state-key convention, shared by every LangGraph node of memagents.

* The question of a node is ``state["question"]``, else the text of the last human message in
  ``state["messages"]`` (:func:`state_question`), so nodes work in a ``MessagesState`` graph.
* Retrieved material lives in ``state["documents"]``, a list of langchain ``Document``
  (``page_content`` is the text; ``metadata`` has ``id``, ``source`` and ``score``, plus the
  memory's scores under ``"memagents"``), the LangChain/LangGraph RAG convention: every node
  that retrieves writes it, every node that answers from evidence reads it (:func:`as_documents`).
* What a step has to say (an empty namespace, a skipped filter) goes to ``state["notes"]``
  (``list[str]``; declare it as ``Annotated[list[str], operator.add]``; LangGraph drops the key
  from a state that does not declare it) and is always logged at WARNING on the ``"memagents"``
  logger (:func:`surface_notes`).

Example:
    >>> state_question({"messages": [("user", "Where is Velm?")]})
    'Where is Velm?'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memagents.base.namespaces import context_value
from memagents.errors import InputError

__all__ = [
    "DOCUMENTS",
    "NOTES",
    "QUESTION",
    "as_documents",
    "last_message_text",
    "logger",
    "state_question",
    "surface_notes",
    "turn_question",
]

QUESTION = "question"
DOCUMENTS = "documents"
NOTES = "notes"

logger = logging.getLogger("memagents")
"""The package's logger: nodes log their notes here at WARNING."""

_HUMAN = ("human", "user")


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


def turn_question(state: Any, *, previous: str | None, key: str = "question",
                  node: str = "memagents") -> str:
    """The question of this turn of a checkpointed thread.

    In a thread, ``state[key]`` still holds the previous turn's question when the next turn
    arrives as a human message only: :func:`state_question` would answer the old question
    again. A turn's question is therefore the last message when it is a human message not yet
    answered (the node answering appends an AI message), unless ``state[key]`` was given anew
    (it differs from ``previous``, the question the thread answered last); otherwise
    ``state[key]``, else the last human message.

    Args:
        state: The graph state.
        previous: The question the thread answered last (``None`` on a first turn).
        key: The question key.
        node: Node name for error messages.

    Example:
        >>> old = {"question": "Where is Velm?", "messages": [("user", "Where is Velm?"),
        ...        ("ai", "Quessa."), ("user", "Who founded it?")]}
        >>> turn_question(old, previous="Where is Velm?")
        'Who founded it?'
        >>> turn_question({**old, "question": "When?"}, previous="Where is Velm?")
        'When?'
    """
    messages = context_value(state, "messages")
    last = (messages[-1] if isinstance(messages, Sequence) and not isinstance(messages, str)
            and messages else None)
    if last is not None and _message_role(last) in _HUMAN:
        text = _message_text(last).strip()
        given = context_value(state, key)
        fresh = isinstance(given, str) and given.strip() and given.strip() != (previous or "")
        if text and not fresh:
            return text
    return state_question(state, key, node)


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
    """Log each note on the ``"memagents"`` logger (at its :class:`~memagents.base.Note`
    level: WARNING for plain strings) and return ``{key: notes}`` as plain strings (``{}``
    when there is none), a state update for a ``notes`` channel.

    LangGraph drops update keys a state schema does not declare, so the update is harmless
    in a state without ``notes``; the log line is what remains there.
    """
    kept = [n for n in notes or () if n]
    for note in kept:
        logger.log(getattr(note, "level", logging.WARNING), "%s: %s", where, note)
    return {key: [str(n) for n in kept]} if kept else {}
