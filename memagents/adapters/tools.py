"""Agent tools over any memagents memory: ``search_memory`` and ``save_memory``.

- ``search_memory(query, k)``: the memory's search, formatted for a model (rank, item id and
  text, best first).
- ``save_memory(text)``: store a passage with the memory's ``add`` (a capability that needs a
  chat model to store, such as graph memory's triple extraction, answers with a readable error
  instead of crashing the agent when none is configured).

Both are ``StructuredTool``s with sync and async implementations. Errors a model can act on
(empty query, bad ``k``, no chat model, failed extraction) come back as the tool's text
(``ToolException`` handled by the tool), so an agent reads them in its ``ToolMessage``. The
namespace is the ``namespace`` given here (a name or a template like ``"users/{user_id}"``),
else the one namespace rule of :mod:`memagents.base.namespaces`. A search's notes are logged at
WARNING on the ``"memagents"`` logger, and shown to the model when nothing was found.

Example:
    >>> from memagents.base import InMemoryMemory
    >>> memory = InMemoryMemory()
    >>> _ = memory.add(["Ada lives in Velm."], ids=["m1"])
    >>> search, save = create_memory_tools(memory)
    >>> print(search.invoke({"query": "Where does Ada live?"}))
    Found 1 memory for 'Where does Ada live?':
    [1] id=m1
    Ada lives in Velm.
    >>> save.invoke({"text": "Bo lives in Tarn."})[:15]
    'Saved to memory'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, create_model

from memagents.base.memory import Memory
from memagents.base.namespaces import NamespaceSpec, resolve_namespace, run_context
from memagents.base.results import AddResult, SearchHits
from memagents.base.state import surface_notes
from memagents.errors import ConfigError, MemagentsError

__all__ = [
    "SaveMemoryInput",
    "SearchMemoryInput",
    "create_memory_tools",
    "create_save_memory_tool",
    "create_search_memory_tool",
]

MAX_K = 50

SEARCH_DESCRIPTION = (
    "Search long-term memory for stored passages relevant to a question. Returns the best passages, best first, with their ids, or says that nothing was found."
)
SAVE_DESCRIPTION = (
    "Save a fact or a short passage to long-term memory so it can be found later with "
    "search_memory. Write self-contained sentences with full names (no pronouns)."
)


class SearchMemoryInput(BaseModel):
    """Arguments of ``search_memory``."""

    query: str = Field(description="The question or topic to look up, in natural language.")
    k: int = Field(default=5, ge=1, le=MAX_K, description="How many passages to return.")


class SaveMemoryInput(BaseModel):
    """Arguments of ``save_memory``."""

    text: str = Field(description="The self-contained fact or passage to remember.")


def _search_schema(k: int) -> type[BaseModel]:
    if k == SearchMemoryInput.model_fields["k"].default:
        return SearchMemoryInput
    return create_model(
        "SearchMemoryInput",
        __base__=SearchMemoryInput,
        k=(int, Field(default=k, ge=1, le=MAX_K, description="How many passages to return.")),
    )


def format_hits(query: str, hits: SearchHits) -> str:
    """Hits as text for a model: a header line, then ``[rank] id=...`` and the text per hit."""
    surface_notes(getattr(hits, "notes", None), where="search_memory tool")
    if not hits:
        why = f" ({'; '.join(hits.notes)})" if hits.notes else ""
        return f"No memories found for {query!r}{why}."
    noun = "memory" if len(hits) == 1 else "memories"
    lines = [f"Found {len(hits)} {noun} for {query!r}:"]
    for h in hits:
        lines.append(f"[{h.rank or len(lines)}] id={h.id}\n{h.text}")
    return "\n".join(lines)


def _saved_message(text: str, result: AddResult) -> str:
    if result.failed:
        error = next(iter(result.failed.values()))
        raise ToolException(
            f"Could not extract facts from the text ({error}). It is kept and retried the next "
            "time something is saved; try again later or rephrase it as simple sentences."
        )
    pid = result.ids[0] if result.ids else "?"
    verb = "Already in memory" if result.unchanged else "Saved to memory"
    return f"{verb} (id={pid}, namespace={result.namespace!r}): {text}"


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors()]
        return "Invalid arguments, fix them and call again: " + "; ".join(parts)
    return f"Invalid arguments, fix them and call again: {exc}"


def _tool_error(exc: MemagentsError, action: str) -> ToolException:
    if isinstance(exc, ConfigError) and action == "save":
        return ToolException(
            "Could not save to memory: no chat model or extractor is configured to extract "
            f"facts, so this memory is read-only here. (For the developer: {exc})"
        )
    return ToolException(f"Could not {action} memory: {exc}")


def create_search_memory_tool(
    memory: Memory,
    *,
    namespace: NamespaceSpec | None = None,
    k: int = 5,
    name: str = "search_memory",
    description: str = SEARCH_DESCRIPTION,
    search_options: dict[str, Any] | None = None,
) -> StructuredTool:
    """The ``search_memory`` tool (see the module docstring); ``k`` is the default count,
    ``search_options`` the capability options of every search."""
    options = dict(search_options or {})
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be an integer from 1 to {MAX_K}, got {k!r}.")

    def search_memory(query: str, config: RunnableConfig, k: int = k) -> str:
        try:
            ns = resolve_namespace(namespace, config, run_context())
            return format_hits(query, memory.search(query, k, namespace=ns, **options))
        except MemagentsError as exc:
            raise _tool_error(exc, "search") from exc

    async def asearch_memory(query: str, config: RunnableConfig, k: int = k) -> str:
        try:
            ns = resolve_namespace(namespace, config, run_context())
            return format_hits(query, await memory.asearch(query, k, namespace=ns, **options))
        except MemagentsError as exc:
            raise _tool_error(exc, "search") from exc

    return StructuredTool.from_function(
        func=search_memory,
        coroutine=asearch_memory,
        name=name,
        description=description,
        args_schema=_search_schema(k),
        handle_tool_error=True,
        handle_validation_error=_validation_message,
    )


def create_save_memory_tool(
    memory: Memory,
    *,
    namespace: NamespaceSpec | None = None,
    name: str = "save_memory",
    description: str = SAVE_DESCRIPTION,
) -> StructuredTool:
    """The ``save_memory`` tool (see the module docstring)."""

    def save_memory(text: str, config: RunnableConfig) -> str:
        try:
            ns = resolve_namespace(namespace, config, run_context())
            return _saved_message(text, memory.add([text], namespace=ns))
        except MemagentsError as exc:
            raise _tool_error(exc, "save") from exc

    async def asave_memory(text: str, config: RunnableConfig) -> str:
        try:
            ns = resolve_namespace(namespace, config, run_context())
            return _saved_message(text, await memory.aadd([text], namespace=ns))
        except MemagentsError as exc:
            raise _tool_error(exc, "save") from exc

    return StructuredTool.from_function(
        func=save_memory,
        coroutine=asave_memory,
        name=name,
        description=description,
        args_schema=SaveMemoryInput,
        handle_tool_error=True,
        handle_validation_error=_validation_message,
    )


def create_memory_tools(
    memory: Memory,
    *,
    namespace: NamespaceSpec | None = None,
    k: int = 5,
    include: Sequence[str] = ("search", "save"),
    search_description: str = SEARCH_DESCRIPTION,
    search_options: dict[str, Any] | None = None,
) -> list[BaseTool]:
    """``[search_memory, save_memory]`` over ``memory`` (pick with ``include``).

    Args:
        memory: The memory the tools read and write.
        namespace: Fixed namespace or template (default: resolved per run).
        k: Default number of passages ``search_memory`` returns.
        include: Which tools to build, in order: ``"search"`` and/or ``"save"``.
        search_description: What the model reads about ``search_memory`` (a capability
            says what its search is good at).
        search_options: Capability options of every search.
    """
    makers: dict[str, Any] = {
        "search": lambda: create_search_memory_tool(
            memory, namespace=namespace, k=k, description=search_description,
            search_options=search_options,
        ),
        "save": lambda: create_save_memory_tool(memory, namespace=namespace),
    }
    unknown = [i for i in include if i not in makers]
    if unknown or isinstance(include, str):
        raise ConfigError(f"include must list 'search' and/or 'save', got {include!r}.")
    return [makers[i]() for i in include]
