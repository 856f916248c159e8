"""The gate workflow's retrieval and answer nodes (see :mod:`memagents.gate.nodes`).

Both follow the package's state convention (:mod:`memagents.base`): retrieved material is
``state["documents"]``, a list of langchain ``Document``; notes go to ``state["notes"]`` and
the ``"memagents"`` logger.

Example:
    >>> evidence_dicts(["Velmora is a port."])[0]["text"]
    'Velmora is a port.'
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import run_in_executor

from memagents.base import check_k
from memagents.base.namespaces import resolve_namespace, run_context
from memagents.base.node import Node
from memagents.base.state import as_documents, state_question, surface_notes
from memagents.errors import InputError
from memagents.gate._node_base import _decision, _get, to_plain

__all__ = [
    "AnswerNode",
    "RetrieveNode",
    "answer_node",
    "evidence_dicts",
    "evidence_dicts_from_state",
    "retrieve_node",
]


# ---------------------------------------------------------------------------- retrieval
def evidence_dicts(items: Sequence[Any]) -> list[dict[str, Any]]:
    """``Document``s or memory hits as ``[{"text", "source", "score"}]`` (plain, JSON-ready).

    >>> from langchain_core.documents import Document
    >>> evidence_dicts([Document("Velm is a port.", id="p1", metadata={"score": 0.5})])
    [{'text': 'Velm is a port.', 'source': 'p1', 'score': 0.5}]
    """
    out = []
    for item in items:
        if isinstance(item, Document):
            meta = item.metadata or {}
            inner = meta.get("memagents") if isinstance(meta.get("memagents"), Mapping) else {}
            text = item.page_content
            source = item.id or meta.get("source") or meta.get("id")
            score = inner.get("score", meta.get("score"))
        elif isinstance(item, str):
            text, source, score = item, None, None
        else:
            text = _get(item, "text", _get(item, "page_content"))
            source = _get(item, "id", _get(item, "source"))
            score = _get(item, "score")
        if not isinstance(text, str):
            raise InputError(
                f"retrieval returned a {type(item).__name__} without text; retrievers must "
                "return Documents, memory search hits with .text, or strings."
            )
        out.append({
            "text": text,
            "source": None if source is None else str(source),
            "score": None if score is None else float(score),
        })
    return out


def _native_async(retriever: BaseRetriever) -> bool:
    """Whether the retriever overrides ``_aget_relevant_documents`` (real async)."""
    return type(retriever)._aget_relevant_documents is not BaseRetriever._aget_relevant_documents


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class RetrieveNode(Node):
    """A LangGraph node retrieving evidence for the state's question.

    The source is a langchain ``BaseRetriever`` (called with ``k=``; results cut to ``k``) or a
    ``GraphMemory``-like object with ``.search(query, k)`` returning hits with ``.text`` and
    ``.id`` (else its ``.as_retriever()`` is used). ``k`` is ``runtime.context.k`` when the run
    has one, else the node's; round ``n`` of a bounded re-retrieval loop (``state["retrievals"]
    == n - 1``) asks for ``n * k``. For a memory, the namespace follows
    :mod:`memagents.base`: the node's ``namespace`` (or template such as
    ``"users/{user_id}"``), else ``config["configurable"]["namespace"]``, else
    ``context.namespace``, else the memory's default.

    Writes ``{"documents": [Document], "retrievals": n, "retrieval_k": k}`` (each document's
    ``metadata`` has ``id``, ``source`` and ``score``), plus ``{"notes": [...]}`` when a memory
    search has notes (also logged at WARNING). Build it with :func:`retrieve_node`.

    Example:
        >>> from langchain_core.documents import Document
        >>> from langchain_core.retrievers import BaseRetriever
        >>> class Fixed(BaseRetriever):
        ...     def _get_relevant_documents(self, query, *, run_manager):
        ...         return [Document("Velm is a port.", id="p1"), Document("Tarn.", id="p2")]
        >>> out = RetrieveNode(Fixed(), k=1).invoke({"question": "What is Velm?"})
        >>> [(d.page_content, d.metadata["source"]) for d in out["documents"]], out["retrievals"]
        ([('Velm is a port.', 'p1')], 1)
    """

    def __init__(
        self,
        source: Any,
        *,
        k: int = 3,
        question_key: str = "question",
        output_key: str = "documents",
        namespace: str | None = None,
        name: str = "retrieve",
    ) -> None:
        self.k = check_k(k)
        self.question_key = question_key
        self.output_key = output_key
        self.namespace = namespace
        self.name = name
        self.source = source
        self.retriever: BaseRetriever | None = None
        self.memory: Any = None
        if isinstance(source, BaseRetriever):
            self.retriever = source
        elif callable(getattr(source, "search", None)):
            self.memory = source
        elif callable(getattr(source, "as_retriever", None)):
            self.retriever = source.as_retriever()
        else:
            raise InputError(
                f"retrieve_node needs a langchain BaseRetriever or a memory with "
                f".search(query, k) (e.g. GraphMemory), got {type(source).__name__}."
            )

    def __repr__(self) -> str:
        return f"RetrieveNode({self.source!r}, k={self.k})"

    def _plan(self, state: Any, config: RunnableConfig) -> tuple[str, int, int, dict[str, Any]]:
        question = state_question(state, self.question_key, "retrieve")
        context = run_context()
        base = _get(context, "k")
        base = self.k if base is None else check_k(base, "context k")
        done = _get(state, "retrievals") or 0
        k = base * (int(done) + 1)
        kwargs: dict[str, Any] = {}
        if self.memory is not None:
            ns = resolve_namespace(self.namespace, config, context)
            if ns is not None and _accepts(self.memory.search, "namespace"):
                kwargs["namespace"] = ns
        return question, k, int(done) + 1, kwargs

    def _out(self, items: Sequence[Any], k: int, rounds: int) -> dict[str, Any]:
        notes = surface_notes(getattr(items, "notes", None), where=f"retrieve node {self.name!r}")
        return {self.output_key: as_documents(list(items)[:k]), "retrievals": rounds,
                "retrieval_k": k, **notes}

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question, k, rounds, kwargs = self._plan(state, config)
        if self.retriever is not None:
            items = self.retriever.invoke(question, config, k=k)
        else:
            items = self.memory.search(question, k, **kwargs)
        return self._out(items, k, rounds)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question, k, rounds, kwargs = self._plan(state, config)
        if self.retriever is not None and _native_async(self.retriever):
            items = await self.retriever.ainvoke(question, config, k=k)
        elif self.retriever is not None:
            # BaseRetriever's default async path drops to a signature without ``k`` (and
            # fails when the sync one takes it): run the sync path in an executor instead.
            items = await run_in_executor(config, self.retriever.invoke, question, config, k=k)
        elif callable(getattr(self.memory, "asearch", None)):
            items = await self.memory.asearch(question, k, **kwargs)
        else:
            items = await asyncio.to_thread(self.memory.search, question, k, **kwargs)
        return self._out(items, k, rounds)


def retrieve_node(
    retriever_or_memory: Any,
    *,
    k: int = 3,
    question_key: str = "question",
    output_key: str = "documents",
    namespace: str | None = None,
    name: str = "retrieve",
) -> RetrieveNode:
    """A LangGraph node retrieving ``documents``; see :class:`RetrieveNode`."""
    return RetrieveNode(
        retriever_or_memory, k=k, question_key=question_key, output_key=output_key,
        namespace=namespace, name=name,
    )


# ------------------------------------------------------------------------------- answer
class AnswerNode(Node):
    """A LangGraph node answering closed-book or from evidence, conflict-aware.

    * No retrieval (``state["decision"]["retrieve"]`` false, or neither a decision nor
      documents): the gate's parametric answer when it produced one (no model call), else
      ``answerer.closed_book``; ``answer_source`` is ``"parametric"``.
    * The gate decided to retrieve but ``state[documents_key]`` is missing (no retrieval node
      wrote it: a wiring mistake): the same closed-book answer, never silently: a note saying
      so goes to ``state["notes"]`` and the ``"memagents"`` logger at WARNING.
    * After retrieval (``state[documents_key]``: ``Document``s, or ``{"text", "source",
      "score"}`` dicts; anything else raises :class:`~memagents.errors.InputError`):
      :func:`~memagents.gate.conflict.resolve_conflict` weighs the evidence
      against the parametric answer (``Answer(state["parametric_answer"])``, or a fresh
      closed-book answer when ``ensure_parametric``) under ``conflict_policy``; writes its
      ``answer``, ``source`` (as ``answer_source``), ``conflict`` and the whole resolution.
      Once ``state["retrievals"]`` reaches ``max_retrievals``, a resolution may no longer ask
      for more retrieval: the policy's ``ask_more_when_unsupported`` is switched off.

    Build it with :func:`answer_node`.

    Example:
        >>> from memagents.gate.answering import Answerer
        >>> from memagents.testing import ScriptedChatModel
        >>> node = AnswerNode(Answerer(ScriptedChatModel(default="Velmora")))
        >>> out = node.invoke({"question": "Capital of Quillmere?",
        ...                    "decision": {"retrieve": False}, "parametric_answer": None})
        >>> out["answer"], out["answer_source"], out["conflict"]
        ('Velmora', 'parametric', False)
    """

    def __init__(
        self,
        answerer: Any,
        conflict_policy: Any = None,
        *,
        question_key: str = "question",
        documents_key: str = "documents",
        max_retrievals: int | None = None,
        ensure_parametric: bool = False,
        name: str = "answer",
    ) -> None:
        if not callable(getattr(answerer, "closed_book", None)):
            raise InputError(
                f"answer_node needs an Answerer (memagents.gate.answering.Answerer), got "
                f"{type(answerer).__name__}."
            )
        from memagents.gate.conflict import ConflictPolicy

        self.answerer = answerer
        self.policy = conflict_policy if conflict_policy is not None else ConflictPolicy()
        self.question_key = question_key
        self.documents_key = documents_key
        self.max_retrievals = None if max_retrievals is None else check_k(
            max_retrievals, "max_retrievals")
        self.ensure_parametric = ensure_parametric
        self.name = name

    def __repr__(self) -> str:
        return f"AnswerNode({self.answerer!r}, {self.policy!r})"

    def _plan(self, state: Any) -> tuple[bool, list[str]]:
        """Whether to answer from the documents, and the notes to surface."""
        decision = _decision(state)
        if decision is not None and not decision.get("retrieve"):
            return False, []
        key = self.documents_key
        raw = _get(state, key)
        if raw is not None:
            if evidence_dicts_from_state(raw, key):
                return True, []
            note = ("the gate decided to retrieve but retrieval found no documents "
                    f"(state[{key!r}] is empty); answering without evidence")
            return True, [note]
        if decision is None:
            return False, []
        hint = next((
            f" (the state has {old!r}: retrieved material now lives in {key!r})"
            for old in ("evidence", "docs", "context") if old != key and _get(state, old)
        ), "")
        note = (f"the gate decided to retrieve but state[{key!r}] holds no documents{hint}: "
                "no retrieval node wrote them (memory.node() and retrieve_node() write "
                "'documents'; wire one between the gate and this node); answering closed-book")
        return False, [note]

    def _policy_for(self, state: Any) -> Any:
        done = _get(state, "retrievals") or 0
        if (self.max_retrievals is not None and done >= self.max_retrievals
                and getattr(self.policy, "ask_more_when_unsupported", False)):
            return dataclasses.replace(self.policy, ask_more_when_unsupported=False)
        return self.policy

    @staticmethod
    def _closed(text: str) -> dict[str, Any]:
        return {"answer": text, "answer_source": "parametric", "conflict": False,
                "resolution": None}

    @staticmethod
    def _resolved(resolution: Any) -> dict[str, Any]:
        return {"answer": resolution.answer, "answer_source": resolution.source,
                "conflict": bool(resolution.conflict), "resolution": to_plain(resolution)}

    def _inputs(self, state: Any) -> tuple[str, str | None, list[Any]]:
        from memagents.gate.conflict import Evidence

        question = state_question(state, self.question_key, "answer")
        parametric = _get(state, "parametric_answer")
        raw = _get(state, self.documents_key)
        evidence = [] if raw is None else [
            Evidence(text=e["text"], source=e.get("source"), score=e.get("score"))
            for e in evidence_dicts_from_state(raw, self.documents_key)]
        return question, parametric if isinstance(parametric, str) else None, evidence

    def _noted(self, update: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        return {**update, **surface_notes(notes, where=f"answer node {self.name!r}")}

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        from memagents.gate.answering import Answer
        from memagents.gate.conflict import resolve_conflict

        use_documents, notes = self._plan(state)
        question, parametric, evidence = self._inputs(state)
        if not use_documents:
            if parametric and parametric.strip():
                return self._noted(self._closed(parametric), notes)
            return self._noted(self._closed(self.answerer.closed_book(question).text), notes)
        known = Answer(parametric) if parametric else None
        if known is None and self.ensure_parametric:
            known = self.answerer.closed_book(question)
        resolution = resolve_conflict(
            question, known, evidence, self.answerer, policy=self._policy_for(state))
        return self._noted(self._resolved(resolution), notes)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        from memagents.gate.answering import Answer
        from memagents.gate.conflict import aresolve_conflict

        use_documents, notes = self._plan(state)
        question, parametric, evidence = self._inputs(state)
        if not use_documents:
            if parametric and parametric.strip():
                return self._noted(self._closed(parametric), notes)
            text = (await self.answerer.aclosed_book(question)).text
            return self._noted(self._closed(text), notes)
        known = Answer(parametric) if parametric else None
        if known is None and self.ensure_parametric:
            known = await self.answerer.aclosed_book(question)
        resolution = await aresolve_conflict(
            question, known, evidence, self.answerer, policy=self._policy_for(state))
        return self._noted(self._resolved(resolution), notes)


def evidence_dicts_from_state(raw: Any, key: str = "documents") -> list[dict[str, Any]]:
    """Evidence from ``state[key]``: ``Document``s (the convention), dicts with ``text``
    (``{"text", "source", "score"}``, the former format) or strings.

    Raises:
        InputError: ``raw`` is not a list of those, naming ``state[key]``.
    """
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
        raise InputError(
            f"state[{key!r}] must be a list of langchain Documents (or {{'text', 'source', "
            f"'score'}} dicts), got {type(raw).__name__}; write it with memory.node() or "
            "retrieve_node()."
        )
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, Mapping):
            if not isinstance(item.get("text"), str):
                raise InputError(
                    f"state[{key!r}][{i}] ({dict(item)!r:.100}) has no 'text' string; use "
                    "Documents or {'text', 'source', 'score'} dicts."
                )
            out.append({"text": item["text"], "source": item.get("source"),
                        "score": item.get("score")})
        elif isinstance(item, (Document, str)):
            out.extend(evidence_dicts([item]))
        else:
            raise InputError(
                f"state[{key!r}][{i}] is a {type(item).__name__}; expected a langchain "
                "Document (or a {'text', 'source', 'score'} dict)."
            )
    return out


def answer_node(
    answerer: Any,
    conflict_policy: Any = None,
    *,
    question_key: str = "question",
    documents_key: str = "documents",
    max_retrievals: int | None = None,
    ensure_parametric: bool = False,
    name: str = "answer",
) -> AnswerNode:
    """A LangGraph node answering closed-book or from ``documents``; see :class:`AnswerNode`."""
    return AnswerNode(
        answerer, conflict_policy, question_key=question_key, documents_key=documents_key,
        max_retrievals=max_retrievals, ensure_parametric=ensure_parametric, name=name,
    )
