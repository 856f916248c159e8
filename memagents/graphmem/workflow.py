"""A compiled example workflow: a ReAct-style agent that remembers across threads.

The agent has two tools, ``remember`` and ``recall``, that write to and search the LangGraph
store it is compiled with; with ``memory.as_store()`` the search is HippoRAG 2 Personalized
PageRank over the memory's graph. Memories are scoped per user (``("memories", user_id)``,
with ``user_id`` from ``config["configurable"]``), so a fact told in one thread is recalled in
any later thread of the same user and never in another user's.

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> from memagents.testing import ScriptedChatModel
    >>> llm = ScriptedChatModel(default="Hello!")
    >>> agent = build_memory_agent(llm, store=InMemoryStore())
    >>> out = agent.invoke({"messages": [("user", "hi")]}, {"configurable": {"user_id": "u1"}})
    >>> out["messages"][-1].content
    'Hello!'
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import InjectedStore, ToolNode, tools_condition
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict

from memagents.models import resolve_chat_model

__all__ = ["AGENT_SYSTEM_PROMPT", "AgentState", "build_memory_agent", "memory_tools"]

AGENT_SYSTEM_PROMPT = (
    "You are a helpful assistant with long-term memory that persists across conversations. "
    "When the user tells you something worth remembering about themselves or their world, "
    "call `remember` with one self-contained sentence. Before answering a question that may "
    "depend on earlier conversations, call `recall`. Answer briefly."
)


class AgentState(TypedDict):
    """Conversation state: the message list (appended to by every node)."""

    messages: Annotated[list[AnyMessage], add_messages]


def _namespace(config: RunnableConfig) -> tuple[str, str]:
    user = (config.get("configurable") or {}).get("user_id") or "default"
    return ("memories", str(user))


def memory_tools(k: int = 5) -> list[Any]:
    """The ``remember`` and ``recall`` tools; they use the graph's store (injected)."""

    @tool
    def remember(
        text: str,
        config: RunnableConfig,
        store: Annotated[BaseStore, InjectedStore()],
    ) -> str:
        """Store one self-contained sentence in long-term memory."""
        key = uuid.uuid5(uuid.NAMESPACE_URL, text).hex
        store.put(_namespace(config), key, {"text": text})
        return f"Remembered: {text}"

    @tool
    def recall(
        query: str,
        config: RunnableConfig,
        store: Annotated[BaseStore, InjectedStore()],
    ) -> str:
        """Search long-term memory for what is relevant to the query."""
        items = store.search(_namespace(config), query=query, limit=k)
        if not items:
            return "No memories found."
        return "\n".join(f"- {item.value.get('text', item.value)}" for item in items)

    return [remember, recall]


def build_memory_agent(
    llm: BaseChatModel | str,
    *,
    store: BaseStore | None = None,
    checkpointer: Any = None,
    k: int = 5,
    system_prompt: str = AGENT_SYSTEM_PROMPT,
) -> Any:
    """Compile the memory agent.

    Args:
        llm: A tool-calling chat model or a spec such as ``"openai:gpt-4o-mini"``.
        store: The long-term store, e.g. ``GraphMemory.open(...).as_store()``. When ``None``
            (LangGraph Server), the platform's store is injected at run time.
        checkpointer: Optional short-term (thread) memory.
        k: Memories returned by ``recall``.
        system_prompt: Instructions for the agent.
    """
    model = resolve_chat_model(llm) if isinstance(llm, str) else llm
    tools = memory_tools(k)
    bound = model.bind_tools(tools)

    def agent(state: AgentState) -> dict[str, Any]:
        reply = bound.invoke([SystemMessage(system_prompt), *state["messages"]])
        return {"messages": [reply]}

    async def aagent(state: AgentState) -> dict[str, Any]:
        reply = await bound.ainvoke([SystemMessage(system_prompt), *state["messages"]])
        return {"messages": [reply]}

    from langchain_core.runnables import RunnableLambda

    builder = StateGraph(AgentState)
    builder.add_node("agent", RunnableLambda(agent, afunc=aagent))
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(store=store, checkpointer=checkpointer)
