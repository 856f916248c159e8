"""A ReAct-style browse agent as a compiled LangGraph graph.

::

    START -> think --(search / fetch)--> act --> think ...
               |  \\--(tool budget spent)--> answer -> END
               \\--(answer)--> END

``think`` asks the model for one action (a schema through the shared structured-call path: a
malformed reply is re-asked, never a restart), ``act`` runs it (a search backend, or the safe
fetcher) and appends what it saw to the transcript, ``answer`` answers from the transcript when
the tool budget is spent. Every action counts against ``max_tool_calls`` (an invalid one too),
so a run always ends; the transcript shown to the model stays within ``max_context_tokens``
(:mod:`memagents.web.browse.context`); an LLM :class:`~memagents.models.Budget` stops the run
cleanly with a note. The answer cites only pages the agent fetched (other citations are dropped
with a note) and comes back in BrowseComp's response format (``response``), ready for
:mod:`memagents.eval.browsecomp` grading.

Web text is data, never instructions: it reaches the model only inside fences a page cannot
close (:func:`~memagents.web.browse.context.fence_page`), under a system rule saying so.

Example:
    >>> import json
    >>> from memagents.testing import ScriptedChatModel
    >>> from memagents.web.search.base import SearchBackend, SearchResult
    >>> class OneHit(SearchBackend):
    ...     name = "demo"
    ...     def _search(self, query, k):
    ...         return [SearchResult(title="Velm Press", url="https://wiki.test/velm",
    ...                              snippet="Founded by Ada Korvin.", backend="demo", rank=1)]
    >>> class Pages:
    ...     def fetch(self, url):
    ...         from types import SimpleNamespace
    ...         return SimpleNamespace(url=url, final_url=url, title="Velm Press",
    ...             text="Velm Press was founded by Ada Korvin.", published="2026-01-05")
    >>> replies = iter([{"action": "search", "query": "Velm Press founder"},
    ...     {"action": "fetch", "url": "https://wiki.test/velm"},
    ...     {"action": "answer", "exact_answer": "Ada Korvin", "confidence": 90,
    ...      "explanation": "The page says so.", "citations": ["https://wiki.test/velm"]}])
    >>> llm = ScriptedChatModel(rules=[(lambda m: True, lambda m: json.dumps(next(replies)))])
    >>> out = build_browse_agent(llm, OneHit(), Pages()).invoke(
    ...     {"question": "Who founded Velm Press?"})
    >>> out["answer"], out["citations"], out["tool_calls"]
    ('Ada Korvin', ['https://wiki.test/velm'], 2)
    >>> print(out["response"])
    Explanation: The page says so.
    Exact Answer: Ada Korvin
    Confidence: 90%
"""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from memagents.base.node import Node
from memagents.errors import BudgetExceeded, InputError, MemagentsError
from memagents.models import Budget, StructuredLLM
from memagents.models.usage import Usage, track_usage
from memagents.web.browse.context import fence_results, render_transcript, select_text
from memagents.web.browse.prompts import ANSWER_PROMPT, STEP_PROMPT, BrowseAction, FinalAnswer

__all__ = ["BrowseSettings", "BrowseState", "build_browse_agent", "browse_response"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BrowseSettings:
    """Budgets of one browse run.

    Attributes:
        max_tool_calls: Searches plus fetches (EvoBrowseComp evaluates with at most 40).
        max_context_tokens: Budget of the transcript shown to the model at each step.
        page_tokens: Budget of one page's text in the transcript.
        search_k: Results per search.

    Example:
        >>> BrowseSettings(max_tool_calls=10).page_tokens
        1500
    """

    max_tool_calls: int = 20
    max_context_tokens: int = 12_000
    page_tokens: int = 1_500
    search_k: int = 5

    def __post_init__(self) -> None:
        for name in ("max_tool_calls", "max_context_tokens", "page_tokens", "search_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"BrowseSettings({name}={value!r}): use a positive integer.")
        if self.page_tokens > self.max_context_tokens:
            raise InputError(f"BrowseSettings(page_tokens={self.page_tokens}) exceeds "
                             f"max_context_tokens={self.max_context_tokens}: lower page_tokens.")


def _add_usage(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = out.get(key, 0) + value
    return out


class BrowseState(TypedDict, total=False):
    """The agent's state (plain values; checkpoint-friendly).

    Attributes:
        question: The question.
        messages: Optional chat input: the last human message is the question when
            ``question`` is not given.
        steps: The transcript: ``{"n", "kind": "search"|"fetch"|"invalid", ...}`` per action.
        tool_calls: Actions run so far.
        action: The action chosen by ``think``, run next by ``act``.
        answer / explanation / confidence / citations: The final answer.
        response: The answer in BrowseComp's response format.
        stop_reason: ``answered``, ``tool_budget`` or ``budget``.
        notes: What the nodes had to say (also logged).
        usage: LLM usage of this run.
    """

    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    steps: list[dict[str, Any]]
    tool_calls: int
    action: dict[str, Any] | None
    answer: str | None
    explanation: str | None
    confidence: float | None
    citations: list[str]
    response: str | None
    stop_reason: str | None
    notes: Annotated[list[str], operator.add]
    usage: Annotated[dict[str, Any], _add_usage]


def browse_response(explanation: str, exact_answer: str, confidence: float | None) -> str:
    """BrowseComp's response format (``Explanation`` / ``Exact Answer`` / ``Confidence``).

    >>> browse_response("x", "Ada", 80.0).splitlines()[-1]
    'Confidence: 80%'
    """
    conf = 0.0 if confidence is None else confidence
    return (f"Explanation: {explanation.strip()}\nExact Answer: {exact_answer.strip()}\n"
            f"Confidence: {conf:.0f}%")


def _url_key(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.netloc.lower()}{parts.path.rstrip('/') or '/'}"


@dataclass(frozen=True, slots=True)
class _Parts:
    llm: StructuredLLM
    search: Any
    fetcher: Any
    settings: BrowseSettings


class _BrowseNode(Node):
    def __init__(self, parts: _Parts) -> None:
        self.parts = parts

    def transcript(self, state: Any) -> str:
        return render_transcript(state.get("steps") or [], self.parts.settings.max_context_tokens,
                                 self.parts.llm.tokenizer)


def _final(state: Any, reply: FinalAnswer, reason: str) -> dict[str, Any]:
    fetched = {_url_key(u) for s in state.get("steps") or () if s.get("kind") == "fetch"
               and not s.get("error") for u in (s.get("url"), s.get("final_url")) if u}
    kept, dropped = [], []
    for url in dict.fromkeys(reply.citations):
        (kept if _url_key(url) in fetched else dropped).append(url)
    notes = ([f"dropped citations of pages the agent never fetched: {', '.join(dropped)}"]
             if dropped else [])
    answer = reply.exact_answer.strip() or "unknown"
    return {"answer": answer, "explanation": reply.explanation, "confidence": reply.confidence,
            "citations": kept, "stop_reason": reason, "action": None, "notes": notes,
            "response": browse_response(reply.explanation, answer, reply.confidence)}


def _budget_stop(exc: BudgetExceeded) -> dict[str, Any]:
    explanation = f"The LLM budget ran out before an answer: {exc}"
    return {"answer": "unknown", "explanation": explanation, "confidence": 0.0,
            "citations": [], "stop_reason": "budget", "action": None,
            "response": browse_response(explanation, "unknown", 0.0),
            "notes": [f"budget exhausted: {exc}"]}


class _LLMNode(_BrowseNode):
    template: Any
    schema: type[FinalAnswer]

    def variables(self, state: Any) -> dict[str, Any]:
        return {"question": state["question"], "transcript": self.transcript(state)}

    def apply(self, state: Any, reply: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _finish(self, update: dict[str, Any], usage: Usage) -> dict[str, Any]:
        notes = update.pop("notes", None)
        if usage.llm_calls or usage.failures:
            update["usage"] = usage.as_dict()
        update.update(self.notes(notes))
        return update

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        with track_usage() as used:
            try:
                reply = self.parts.llm.call(self.template, self.schema, **self.variables(state))
            except BudgetExceeded as exc:
                return self._finish(_budget_stop(exc), used)
        return self._finish(self.apply(state, reply), used)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        with track_usage() as used:
            try:
                reply = await self.parts.llm.acall(self.template, self.schema,
                                                   **self.variables(state))
            except BudgetExceeded as exc:
                return self._finish(_budget_stop(exc), used)
        return self._finish(self.apply(state, reply), used)


class ThinkNode(_LLMNode):
    """Chooses the next action (one structured call)."""

    name = "think"
    template = STEP_PROMPT
    schema = BrowseAction

    def variables(self, state: Any) -> dict[str, Any]:
        left = self.parts.settings.max_tool_calls - int(state.get("tool_calls") or 0)
        return {**super().variables(state), "calls_left": left}

    def apply(self, state: Any, reply: Any) -> dict[str, Any]:
        if reply.action == "answer":
            return _final(state, reply, "answered")
        return {"action": reply.model_dump(include={"thought", "action", "query", "url",
                                                     "look_for"})}


class AnswerNode(_LLMNode):
    """Answers from the transcript once the tool budget is spent (one structured call)."""

    name = "answer"
    template = ANSWER_PROMPT
    schema = FinalAnswer

    def apply(self, state: Any, reply: Any) -> dict[str, Any]:
        out = _final(state, reply, "tool_budget")
        spent = (f"tool budget of {self.parts.settings.max_tool_calls} calls spent; answered "
                 "from what was read")
        out["notes"] = [spent, *out["notes"]]
        return out


class ActNode(_BrowseNode):
    """Runs the chosen action and appends what it saw to the transcript (no LLM call)."""

    name = "act"

    def _prepare(self, state: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        steps = list(state.get("steps") or [])
        action = dict(state.get("action") or {})
        step = {"n": len(steps) + 1, "kind": action.get("action"),
                "thought": action.get("thought") or ""}
        return step, steps

    def _record(self, state: Any, steps: list[dict[str, Any]],
                step: dict[str, Any]) -> dict[str, Any]:
        return {"steps": [*steps, step], "action": None,
                "tool_calls": int(state.get("tool_calls") or 0) + 1}

    def _check(self, step: dict[str, Any], action: dict[str, Any]) -> str | None:
        if step["kind"] == "search":
            query = (action.get("query") or "").strip()
            step["query"] = query
            return None if query else "a search needs a non-empty 'query'"
        url = (action.get("url") or "").strip()
        step["url"] = url
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            return f"a fetch needs an absolute http(s) 'url', got {url!r}"
        return None

    def _observe_search(self, step: dict[str, Any], results: Any) -> None:
        step["observation"] = fence_results(step["query"], results)
        step["urls"] = [r.url for r in results]

    def _observe_page(self, state: Any, step: dict[str, Any], action: dict[str, Any],
                      page: Any) -> None:
        focus = f"{state['question']} {action.get('look_for') or ''}"
        pages = sum(1 for s in state.get("steps") or () if s.get("kind") == "fetch")
        step.update(final_url=getattr(page, "final_url", None) or step["url"],
                    title=getattr(page, "title", "") or "",
                    published=getattr(page, "published", None), ref=f"P{pages + 1}",
                    fetched_at=getattr(page, "fetched_at", None),
                    text=select_text(getattr(page, "text", "") or "", focus,
                                     self.parts.settings.page_tokens, self.parts.llm.tokenizer))

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        step, steps = self._prepare(state)
        action = dict(state.get("action") or {})
        problem = self._check(step, action)
        try:
            if problem:
                step["error"] = problem
            elif step["kind"] == "search":
                self._observe_search(step, self.parts.search.search(
                    step["query"], k=self.parts.settings.search_k))
            else:
                self._observe_page(state, step, action, self.parts.fetcher.fetch(step["url"]))
        except MemagentsError as exc:  # a refused or failed fetch/search: the run goes on
            step["error"] = str(exc)
        return self._record(state, steps, step)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        step, steps = self._prepare(state)
        action = dict(state.get("action") or {})
        problem = self._check(step, action)
        try:
            if problem:
                step["error"] = problem
            elif step["kind"] == "search":
                self._observe_search(step, await self.parts.search.asearch(
                    step["query"], k=self.parts.settings.search_k))
            else:
                afetch = getattr(self.parts.fetcher, "afetch", None)
                page = (await afetch(step["url"]) if afetch is not None
                        else await asyncio.to_thread(self.parts.fetcher.fetch, step["url"]))
                self._observe_page(state, step, action, page)
        except MemagentsError as exc:
            step["error"] = str(exc)
        return self._record(state, steps, step)


def _after_think(state: Any) -> Literal["act", "__end__"]:
    return END if state.get("stop_reason") else "act"


def _make_before_think(settings: BrowseSettings) -> Any:
    def route(state: Any) -> Literal["think", "answer"]:
        spent = int(state.get("tool_calls") or 0) >= settings.max_tool_calls
        return "answer" if spent else "think"
    return route


class _StartNode(Node):
    name = "start"

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        return {"question": self.question(state), "steps": [], "tool_calls": 0, "action": None,
                "answer": None, "explanation": None, "confidence": None, "citations": [],
                "response": None, "stop_reason": None}


def build_browse_agent(
    llm: Any,
    search: Any,
    fetcher: Any,
    *,
    settings: BrowseSettings | None = None,
    budget: Budget | None = None,
    checkpointer: Any = None,
    name: str = "browse_agent",
) -> Any:
    """Compile the browse agent.

    Args:
        llm: Chat model: a ``BaseChatModel``, a spec (``"openai:gpt-4o-mini"``) or a
            :class:`~memagents.models.StructuredLLM`.
        search: A search backend (:class:`~memagents.web.search.base.SearchBackend`, or any
            object with ``search(query, k=)`` / ``asearch``).
        fetcher: The page fetcher (:class:`~memagents.web.fetch.Fetcher`, or any object with
            ``fetch(url)`` / ``afetch(url)`` returning a page with ``text``).
        settings: :class:`BrowseSettings` (tool, context and page budgets).
        budget: LLM budget, checked before every call.
        checkpointer: Optional LangGraph checkpointer.
        name: Graph name.

    Returns:
        The compiled graph: input ``{"question": ...}`` (or a human message in
        ``messages``), final state :class:`BrowseState`.
    """
    for what, obj, method in (("search", search, "search"), ("fetcher", fetcher, "fetch")):
        if not callable(getattr(obj, method, None)):
            raise InputError(f"{what} must have a {method}() method (a search backend from "
                             "memagents.web.search, a memagents.web.fetch.Fetcher), got "
                             f"{type(obj).__name__}.")
    opts = settings or BrowseSettings()
    structured = StructuredLLM.coerce(llm, budget=budget)
    if structured.configured:
        _ = structured.tokenizer  # resolve now, not inside an event loop
    parts = _Parts(llm=structured, search=search, fetcher=fetcher, settings=opts)
    builder = StateGraph(BrowseState)
    builder.add_node("start", _StartNode())
    for node in (ThinkNode(parts), ActNode(parts), AnswerNode(parts)):
        builder.add_node(node.name, node)
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", _make_before_think(opts), ["think", "answer"])
    builder.add_conditional_edges("think", _after_think, ["act", END])
    builder.add_conditional_edges("act", _make_before_think(opts), ["think", "answer"])
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer, name=name)
