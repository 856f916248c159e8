"""Test doubles for memagents and for its users' own tests.

- :class:`OpenAIServer` (and the :func:`openai_server` context manager): an OpenAI-compatible
  HTTP server on loopback with scripted replies (:class:`Reply`, :class:`ToolCall`) and injected
  faults (:class:`Fault`: 429/500 statuses, delays, truncated or wrong JSON, disconnects), for
  integration tests with the real ``openai`` SDK or ``ChatOpenAI``.
- :class:`ScriptedChatModel`: an in-process langchain chat model driven by the same rules.
- :class:`FakeEmbeddings` / :func:`fake_vector`: deterministic lexical vectors, for tests only.
- :class:`SearchServer` (and :func:`search_server`): SearxNG, Brave Search and Tavily wire
  formats on loopback, with key checks, recorded requests and the same :class:`Fault` kinds.
- :func:`network_guard` / :func:`install_network_guard`: make any non-loopback connection fail
  loudly with :class:`NetworkBlockedError`.

Example:
    >>> from memagents.testing import ScriptedChatModel, ToolCall
    >>> llm = ScriptedChatModel(rules=[("weather", [ToolCall("get_weather", {"city": "Oslo"})])])
    >>> llm.invoke("What's the weather in Oslo?").tool_calls[0]["args"]
    {'city': 'Oslo'}
"""

from __future__ import annotations

from memagents.testing._script import Reply, ToolCall, UnscriptedCallError
from memagents.testing.chat import ScriptedChatModel
from memagents.testing.embeddings import FakeEmbeddings, fake_vector
from memagents.testing.guard import (
    NetworkBlockedError,
    blocked_attempts,
    install_network_guard,
    is_network_guard_installed,
    network_guard,
    uninstall_network_guard,
)
from memagents.testing.search_servers import SearchRequest, SearchServer, search_server
from memagents.testing.server import Fault, OpenAIServer, RecordedRequest, openai_server

__all__ = [
    "FakeEmbeddings",
    "Fault",
    "NetworkBlockedError",
    "OpenAIServer",
    "RecordedRequest",
    "Reply",
    "ScriptedChatModel",
    "SearchRequest",
    "SearchServer",
    "ToolCall",
    "UnscriptedCallError",
    "blocked_attempts",
    "fake_vector",
    "install_network_guard",
    "is_network_guard_installed",
    "network_guard",
    "openai_server",
    "search_server",
    "uninstall_network_guard",
]
