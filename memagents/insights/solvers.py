"""Solvers (one rollout: a problem plus injected insights in, an :class:`Attempt` out) and
the rendering of insight blocks and traces.

A solver is any callable ``solver(problem, insights) -> Attempt``, ``insights`` being the
insight texts to inject (already within the token budget). Two are built in:

* :class:`LLMSolver`: one structured call (``insights.solve``) through
  :class:`~memagents.models.StructuredLLM`; the trace is the model's reasoning;
* :class:`GraphSolver`: a multi-step LangGraph run (a ``create_react_agent``, say): the
  insight block goes in as a system message, the problem as a human message; the answer is
  the last AI message and the trace is every message, tool calls included, which the
  reflection reads (:func:`render_trace`).

Example:
    >>> print(insight_block(["Count both ends.", "Round up."], max_tokens=100)[1])
    <BLANKLINE>
    <BLANKLINE>
    Insights learned from earlier attempts (apply those that fit):
    - Count both ends.
    - Round up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memagents.insights.prompts import INSIGHTS_HEADER, SOLVE_PROMPT, SolveOutput
from memagents.insights.records import Attempt, Problem
from memagents.models import StructuredLLM, Tokenizer, get_tokenizer, truncate_to_tokens

__all__ = ["GraphSolver", "LLMSolver", "insight_block", "render_trace"]


def insight_block(texts: Sequence[str], *, max_tokens: int,
                         tokenizer: Tokenizer | None = None) -> tuple[list[int], str, int]:
    """The insight block for ``texts`` (in rank order) within ``max_tokens`` tokens.

    Insights are taken in order while the block (header included) fits; one that does not
    fit is skipped and the next ones are still tried. Returns the indices of the texts kept,
    the block (with its leading blank lines; ``""`` when none is kept) and its tokens.

    >>> insight_block(["x " * 200, "Round up."], max_tokens=40)[0]
    [1]
    """
    tok = tokenizer or get_tokenizer()
    header = "\n\n" + INSIGHTS_HEADER
    used = tok.count(header)
    chosen: list[int] = []
    for i, text in enumerate(texts):
        cost = tok.count("\n- " + " ".join(str(text).split()))
        if used + cost <= max_tokens:
            chosen.append(i)
            used += cost
    if not chosen:
        return [], "", 0
    block = header + "".join("\n- " + " ".join(str(texts[i]).split()) for i in chosen)
    return chosen, block, tok.count(block)


def _role(message: Any) -> str:
    if isinstance(message, dict):
        return str(message.get("role") or message.get("type") or "message")
    if isinstance(message, tuple) and len(message) == 2:
        return str(message[0])
    return str(getattr(message, "type", "message"))


def _content(message: Any) -> str:
    if isinstance(message, dict):
        content = message.get("content")
    elif isinstance(message, tuple) and len(message) == 2:
        content = message[1]
    else:
        content = getattr(message, "content", "")
    if isinstance(content, list):
        content = " ".join(p if isinstance(p, str) else str(p.get("text", ""))
                           for p in content if isinstance(p, (str, dict)))
    return " ".join(str(content or "").split())


def _tool_calls(message: Any) -> list[str]:
    calls = (message.get("tool_calls") if isinstance(message, dict)
             else getattr(message, "tool_calls", None)) or []
    out = []
    for call in calls:
        name = call.get("name") if isinstance(call, dict) else getattr(call, "name", "?")
        args = call.get("args") if isinstance(call, dict) else getattr(call, "args", {})
        out.append(f"{name}({json.dumps(args, ensure_ascii=False, default=str)})")
    return out


def render_trace(trace: Any, *, max_tokens: int | None = None,
                 tokenizer: Tokenizer | None = None) -> str:
    """A trace as text: a string as is; the messages of a multi-step run one per line
    (``role: text``, each tool call as ``-> tool(args)``, a tool result as
    ``tool[name]: text``). Over ``max_tokens``, the middle is cut (head and tail kept).

    >>> from langchain_core.messages import AIMessage, ToolMessage
    >>> print(render_trace([("user", "Weather in Oslo?"),
    ...     AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "1"}]),
    ...     ToolMessage("rain", tool_call_id="1", name="weather"), AIMessage("Rain.")]))
    user: Weather in Oslo?
    ai: -> weather({"city": "Oslo"})
    tool[weather]: rain
    ai: Rain.
    """
    if isinstance(trace, str):
        text = trace
    elif trace is None:
        text = ""
    else:
        lines = []
        for message in trace:
            role = _role(message)
            if role == "system":
                continue
            name = (message.get("name") if isinstance(message, dict)
                    else getattr(message, "name", None))
            label = f"tool[{name}]" if role == "tool" and name else role
            parts = [p for p in [_content(message)] if p]
            parts += [f"-> {c}" for c in _tool_calls(message)]
            lines.append(f"{label}: {' '.join(parts)}")
        text = "\n".join(lines)
    if max_tokens is None:
        return text
    tok = tokenizer or get_tokenizer()
    if tok.count(text) <= max_tokens:
        return text
    half = max(max_tokens // 2 - 4, 1)
    head = truncate_to_tokens(text, half, tok)
    lo, hi = len(head), len(text)  # the shortest suffix start whose tail fits
    while lo < hi:
        mid = (lo + hi) // 2
        if tok.count(text[mid:]) <= half:
            hi = mid
        else:
            lo = mid + 1
    tail_start = lo
    return head + "\n[... trace cut ...]\n" + text[tail_start:]


class LLMSolver:
    """One structured call per rollout (prompt ``insights.solve``).

    Args:
        llm: Chat model, spec or :class:`~memagents.models.StructuredLLM`.

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> solver = LLMSolver(ScriptedChatModel(default={"reasoning": "4", "answer": "4"}))
        >>> solver(Problem(id="p", text="2 + 2?"), ["Add carefully."]).answer
        '4'
    """

    def __init__(self, llm: Any) -> None:
        self.llm = StructuredLLM.coerce(llm, require="solving problems")

    def __call__(self, problem: Problem, insights: Sequence[str], *,
                 block: str | None = None) -> Attempt:
        text = block if block is not None else (
            insight_block(insights, max_tokens=10**9)[1] if insights else "")
        out = self.llm.call(SOLVE_PROMPT, SolveOutput, problem=problem.text, insights=text)
        return Attempt(answer=out.answer.strip(), trace=out.reasoning)


class GraphSolver:
    """A LangGraph run per rollout: ``{"messages": [system insights?, human problem]}`` in,
    the last AI message's text out as the answer, every message as the trace.

    Args:
        graph: A compiled graph over ``messages`` (``create_react_agent(...)``, say).
        config: Config passed to each run (a fresh ``thread_id`` is not set for you).

    Example:
        >>> from langgraph.prebuilt import create_react_agent
        >>> from memagents.testing import ScriptedChatModel
        >>> agent = create_react_agent(ScriptedChatModel(default="4"), tools=[])
        >>> GraphSolver(agent)(Problem(id="p", text="2 + 2?"), ["Add carefully."]).answer
        '4'
    """

    def __init__(self, graph: Any, *, config: dict[str, Any] | None = None) -> None:
        self.graph = graph
        self.config = config

    def __call__(self, problem: Problem, insights: Sequence[str], *,
                 block: str | None = None) -> Attempt:
        text = block if block is not None else (
            insight_block(insights, max_tokens=10**9)[1] if insights else "")
        messages: list[tuple[str, str]] = []
        if text.strip():
            messages.append(("system", text.strip()))
        messages.append(("user", problem.text))
        state = self.graph.invoke({"messages": messages}, self.config)
        history = list(state.get("messages") or [])
        answer = next((_content(m) for m in reversed(history)
                       if _role(m) in ("ai", "assistant") and _content(m)), "")
        return Attempt(answer=answer, trace=history)
