"""langchain-tests standard suites for the GraphMemory retriever and tools (offline).

The suites build retrievers and tools from class properties, so the memories they use are
opened once per test class by an autouse fixture (in a pytest temp folder, hash embeddings,
triples given by hand) and closed when the class is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from memagents.adapters import MemoryRetriever
from memagents.adapters.tools import create_save_memory_tool, create_search_memory_tool
from memagents.graphmem import GraphMemory
from memagents.testing import ScriptedChatModel

PASSAGES = [
    (
        "Oskar Thandrell founded Quillmere Press.",
        [("Oskar Thandrell", "founded", "Quillmere Press")],
    ),
    ("Oskar Thandrell was born in Velmora.", [("Oskar Thandrell", "born in", "Velmora")]),
    ("Velmora is a port city on the Ansel coast.", [("Velmora", "located on", "Ansel coast")]),
    ("Quillmere Press publishes atlases.", [("Quillmere Press", "publishes", "atlases")]),
    ("Mira Tolland painted the Harbor Series.", [("Mira Tolland", "painted", "Harbor Series")]),
]
EXTRACTION = '{"entities": ["Lio Brant", "Sarn"], "triples": [["Lio Brant", "moved to", "Sarn"]]}'


def _open(folder: Path, **kw: Any) -> GraphMemory:
    memory = GraphMemory.open(folder, embeddings="hash", use_filter=False, **kw)
    memory.add_triples(PASSAGES)
    return memory


class _WithMemory:
    """Opens ``cls.memory`` for the whole test class (with a chat model when ``llm``)."""

    memory: GraphMemory
    llm: bool = False

    @pytest.fixture(autouse=True, scope="class")
    def _class_memory(
        self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[None]:
        kw = {"llm": ScriptedChatModel(default=EXTRACTION)} if self.llm else {}
        memory = _open(tmp_path_factory.mktemp("graphmem-standard"), **kw)
        request.cls.memory = memory
        yield
        memory.close()


class TestGraphMemoryRetrieverStandard(_WithMemory, RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[MemoryRetriever]:
        return MemoryRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Where was the founder of Quillmere Press born?"


class _SearchTool(_WithMemory):
    @property
    def tool_constructor(self) -> Any:
        return create_search_memory_tool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "k": 3}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "Where was the founder of Quillmere Press born?", "k": 2}


class TestSearchMemoryToolUnit(_SearchTool, ToolsUnitTests):
    pass


class TestSearchMemoryToolIntegration(_SearchTool, ToolsIntegrationTests):
    def test_output_lists_passages(self, tool: BaseTool) -> None:
        text = tool.invoke(self.tool_invoke_params_example)
        assert text.count("] id=") == 2 and "Quillmere Press" in text


class _SaveTool(_WithMemory):
    llm = True

    @property
    def tool_constructor(self) -> Any:
        return create_save_memory_tool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "namespace": "standard-save"}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Lio Brant moved to Sarn."}


class TestSaveMemoryToolUnit(_SaveTool, ToolsUnitTests):
    pass


class TestSaveMemoryToolIntegration(_SaveTool, ToolsIntegrationTests):
    def test_saved_text_is_searchable(self, tool: BaseTool) -> None:
        reply = tool.invoke(self.tool_invoke_params_example)
        assert "memory (id=p-" in reply
        hits = self.memory.search("Where did Lio Brant move?", k=1, namespace="standard-save")
        assert [h.text for h in hits] == ["Lio Brant moved to Sarn."]
