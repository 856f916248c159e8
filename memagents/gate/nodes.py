"""LangGraph nodes of the retrieve-or-recall gate.

Three nodes and a router, each usable in any ``StateGraph`` whose state is a dict-like mapping:

* :func:`gate_node` runs a :class:`~memagents.gate.gate.RetrievalGate` (or any
  :class:`~memagents.gate.base.RetrievalPolicy`) on ``state["question"]`` and writes
  ``{"decision": Decision.to_dict(), "parametric_answer": decision.answer}``;
* :func:`route_after_gate` (or a router from :func:`make_router`) sends the run to the
  retrieval node or straight to the answer node, for ``add_conditional_edges``;
* :func:`retrieve_node` searches any langchain ``BaseRetriever`` or a ``GraphMemory`` and writes
  ``{"evidence": [{"text", "source", "score"}, ...]}``;
* :func:`answer_node` answers closed-book on the fast path (reusing the gate's answer, so the
  fast path costs no extra call) or resolves retrieved evidence against the parametric answer
  with :func:`~memagents.gate.conflict.resolve_conflict`, writing ``answer``,
  ``answer_source``, ``conflict`` and ``resolution``.

All nodes are langchain ``Runnable``s with native sync and async paths: ``invoke`` calls
``decide``/``search``/``closed_book``, ``ainvoke`` their async twins. The retrieval node reads
``k`` and the namespace from the run's ``context`` (``StateGraph(..., context_schema=...)``,
``runtime.context``), so one compiled graph serves many users.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.runnables.config import run_in_executor

from memagents.errors import InputError
from memagents.runtime import resolve_namespace, run_context

__all__ = [
    "AnswerNode",
    "GateNode",
    "RetrieveNode",
    "answer_node",
    "evidence_dicts",
    "evidence_dicts_from_state",
    "gate_node",
    "make_router",
    "retrieve_node",
    "route_after_gate",
    "to_plain",
]

Route = Literal["retrieve", "answer"]


# ------------------------------------------------------------------------------ helpers
def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


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
    value = _get(state, key)
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else repr(value)[:60]
        raise InputError(
            f"the {node} node needs a non-empty question in state[{key!r}], got {got}; "
            f"invoke the graph with {{{key!r}: 'your question'}} (or pass question_key=...)."
        )
    return value.strip()


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


# --------------------------------------------------------------------------------- gate
class GateNode(_Node):
    """A LangGraph node running a retrieve-or-recall gate on the state's question.

    Writes ``{"decision": Decision.to_dict(), "parametric_answer": decision.answer}`` (plus
    ``None`` for each of ``reset_keys``, to clear the previous turn of a checkpointed thread).
    Build it with :func:`gate_node`.

    Example:
        >>> from memagents.gate.base import Decision, RetrievalPolicy
        >>> class Short(RetrievalPolicy):
        ...     name = "short"
        ...     def decide(self, question, *, metadata=None):
        ...         return Decision(retrieve=len(question) > 20, policy=self.name, reason="len")
        >>> out = GateNode(Short()).invoke({"question": "Who wrote Velmora?"})
        >>> out["decision"]["retrieve"], out["parametric_answer"]
        (False, None)
    """

    def __init__(
        self,
        gate: Any,
        *,
        question_key: str = "question",
        metadata_key: str = "metadata",
        reset_keys: Sequence[str] = (),
        name: str = "gate",
    ) -> None:
        if not callable(getattr(gate, "decide", None)):
            raise InputError(
                f"gate_node needs a RetrievalGate or RetrievalPolicy (an object with "
                f".decide(question, metadata=...)), got {type(gate).__name__}."
            )
        self.gate = gate
        self.question_key = question_key
        self.metadata_key = metadata_key
        self.reset_keys = tuple(reset_keys)
        self.name = name

    def __repr__(self) -> str:
        return f"GateNode({self.gate!r})"

    def _metadata(self, state: Any) -> Mapping[str, Any] | None:
        metadata = _get(state, self.metadata_key)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InputError(
                f"state[{self.metadata_key!r}] must be a dict of question metadata (such as "
                f"{{'s_pop': 1200}}), got {type(metadata).__name__}."
            )
        return metadata

    def _out(self, decision: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self.reset_keys)
        out["decision"] = decision.to_dict()
        out["parametric_answer"] = decision.answer
        return out

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question = _question(state, self.question_key, "gate")
        return self._out(self.gate.decide(question, metadata=self._metadata(state)))

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question = _question(state, self.question_key, "gate")
        metadata = self._metadata(state)
        adecide = getattr(self.gate, "adecide", None)
        if callable(adecide):
            decision = await adecide(question, metadata=metadata)
        else:
            decision = await asyncio.to_thread(self.gate.decide, question, metadata=metadata)
        return self._out(decision)


def gate_node(
    gate: Any,
    *,
    question_key: str = "question",
    metadata_key: str = "metadata",
    reset_keys: Sequence[str] = (),
    name: str = "gate",
) -> GateNode:
    """A LangGraph node running ``gate``; see :class:`GateNode`."""
    return GateNode(
        gate, question_key=question_key, metadata_key=metadata_key, reset_keys=reset_keys,
        name=name,
    )


def route_after_gate(state: Any) -> Route:
    """Router for ``add_conditional_edges``: ``"retrieve"`` or ``"answer"`` (closed-book).

    >>> route_after_gate({"decision": {"retrieve": True}})
    'retrieve'
    """
    decision = _decision(state)
    if decision is None or "retrieve" not in decision:
        raise InputError(
            "route_after_gate found no decision in state['decision']: run the gate node "
            "(gate_node(...)) before this conditional edge."
        )
    return "retrieve" if decision["retrieve"] else "answer"


def make_router(retrieve: str = "retrieve", recall: str = "answer") -> Callable[[Any], str]:
    """A router like :func:`route_after_gate` returning your node names.

    Its return annotation is ``Literal[retrieve, recall]``, so LangGraph (and Studio) draw
    both edges without a ``path_map``.

    >>> make_router("search", "respond")({"decision": {"retrieve": False}})
    'respond'
    """
    if not all(isinstance(n, str) and n for n in (retrieve, recall)) or retrieve == recall:
        raise InputError(
            f"make_router needs two different node names, got {retrieve!r} and {recall!r}."
        )

    def router(state: Any) -> str:
        return retrieve if route_after_gate(state) == "retrieve" else recall

    router.__annotations__ = {"state": Any, "return": Literal[retrieve, recall]}  # type: ignore[valid-type]
    router.__name__ = router.__qualname__ = "route_after_gate"
    return router


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


class RetrieveNode(_Node):
    """A LangGraph node retrieving evidence for the state's question.

    The source is a langchain ``BaseRetriever`` (called with ``k=``; results cut to ``k``) or a
    ``GraphMemory``-like object with ``.search(query, k)`` returning hits with ``.text`` and
    ``.id`` (else its ``.as_retriever()`` is used). ``k`` is ``runtime.context.k`` when the run
    has one, else the node's; round ``n`` of a bounded re-retrieval loop (``state["retrievals"]
    == n - 1``) asks for ``n * k``. For a memory, the namespace is the node's, else the
    context's ``namespace``, else its ``user_id``, else ``config["configurable"]``'s.

    Writes ``{"evidence": [{"text", "source", "score"}], "retrievals": n, "retrieval_k": k}``.
    Build it with :func:`retrieve_node`.

    Example:
        >>> from langchain_core.documents import Document
        >>> from langchain_core.retrievers import BaseRetriever
        >>> class Fixed(BaseRetriever):
        ...     def _get_relevant_documents(self, query, *, run_manager):
        ...         return [Document("Velm is a port.", id="p1"), Document("Tarn.", id="p2")]
        >>> out = RetrieveNode(Fixed(), k=1).invoke({"question": "What is Velm?"})
        >>> out["evidence"], out["retrievals"]
        ([{'text': 'Velm is a port.', 'source': 'p1', 'score': None}], 1)
    """

    def __init__(
        self,
        source: Any,
        *,
        k: int = 3,
        question_key: str = "question",
        output_key: str = "evidence",
        namespace: str | None = None,
        name: str = "retrieve",
    ) -> None:
        self.k = _check_k(k)
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
        question = _question(state, self.question_key, "retrieve")
        context = run_context()
        base = _get(context, "k")
        base = self.k if base is None else _check_k(base, "context k")
        done = _get(state, "retrievals") or 0
        k = base * (int(done) + 1)
        kwargs: dict[str, Any] = {}
        if self.memory is not None:
            ns = resolve_namespace(self.namespace, config, context)
            if ns is not None and _accepts(self.memory.search, "namespace"):
                kwargs["namespace"] = ns
        return question, k, int(done) + 1, kwargs

    def _out(self, items: Sequence[Any], k: int, rounds: int) -> dict[str, Any]:
        return {self.output_key: evidence_dicts(list(items)[:k]), "retrievals": rounds,
                "retrieval_k": k}

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
    output_key: str = "evidence",
    namespace: str | None = None,
    name: str = "retrieve",
) -> RetrieveNode:
    """A LangGraph node retrieving evidence; see :class:`RetrieveNode`."""
    return RetrieveNode(
        retriever_or_memory, k=k, question_key=question_key, output_key=output_key,
        namespace=namespace, name=name,
    )


# ------------------------------------------------------------------------------- answer
class AnswerNode(_Node):
    """A LangGraph node answering closed-book or from evidence, conflict-aware.

    * No retrieval (``state["decision"]["retrieve"]`` false, or no evidence key): the gate's
      parametric answer when it produced one (no model call), else ``answerer.closed_book``;
      ``answer_source`` is ``"parametric"``.
    * After retrieval: :func:`~memagents.gate.conflict.resolve_conflict` weighs the evidence
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
        self.max_retrievals = None if max_retrievals is None else _check_k(
            max_retrievals, "max_retrievals")
        self.ensure_parametric = ensure_parametric
        self.name = name

    def __repr__(self) -> str:
        return f"AnswerNode({self.answerer!r}, {self.policy!r})"

    def _retrieved(self, state: Any) -> bool:
        decision = _decision(state)
        if decision is not None and not decision.get("retrieve"):
            return False
        return _get(state, "evidence") is not None

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

        question = _question(state, self.question_key, "answer")
        parametric = _get(state, "parametric_answer")
        raw = _get(state, "evidence") or []
        evidence = [Evidence(text=e["text"], source=e.get("source"), score=e.get("score"))
                    for e in evidence_dicts_from_state(raw)]
        return question, parametric if isinstance(parametric, str) else None, evidence

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        from memagents.gate.answering import Answer
        from memagents.gate.conflict import resolve_conflict

        question, parametric, evidence = self._inputs(state)
        if not self._retrieved(state):
            if parametric and parametric.strip():
                return self._closed(parametric)
            return self._closed(self.answerer.closed_book(question).text)
        known = Answer(parametric) if parametric else None
        if known is None and self.ensure_parametric:
            known = self.answerer.closed_book(question)
        resolution = resolve_conflict(
            question, known, evidence, self.answerer, policy=self._policy_for(state))
        return self._resolved(resolution)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        from memagents.gate.answering import Answer
        from memagents.gate.conflict import aresolve_conflict

        question, parametric, evidence = self._inputs(state)
        if not self._retrieved(state):
            if parametric and parametric.strip():
                return self._closed(parametric)
            return self._closed((await self.answerer.aclosed_book(question)).text)
        known = Answer(parametric) if parametric else None
        if known is None and self.ensure_parametric:
            known = await self.answerer.aclosed_book(question)
        resolution = await aresolve_conflict(
            question, known, evidence, self.answerer, policy=self._policy_for(state))
        return self._resolved(resolution)


def evidence_dicts_from_state(raw: Any) -> list[dict[str, Any]]:
    """Evidence from the state: dicts with ``text`` (as :func:`evidence_dicts` writes them),
    ``Document``s or strings."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise InputError(
            f"state['evidence'] must be a list of {{'text', 'source', 'score'}} dicts, got "
            f"{type(raw).__name__}."
        )
    out = []
    for item in raw:
        if isinstance(item, Mapping):
            if not isinstance(item.get("text"), str):
                raise InputError(f"evidence item {dict(item)!r} has no 'text' string.")
            out.append({"text": item["text"], "source": item.get("source"),
                        "score": item.get("score")})
        else:
            out.extend(evidence_dicts([item]))
    return out


def answer_node(
    answerer: Any,
    conflict_policy: Any = None,
    *,
    question_key: str = "question",
    max_retrievals: int | None = None,
    ensure_parametric: bool = False,
    name: str = "answer",
) -> AnswerNode:
    """A LangGraph node answering closed-book or from evidence; see :class:`AnswerNode`."""
    return AnswerNode(
        answerer, conflict_policy, question_key=question_key, max_retrievals=max_retrievals,
        ensure_parametric=ensure_parametric, name=name,
    )
