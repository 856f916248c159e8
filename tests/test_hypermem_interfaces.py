"""The hypergraph memory's interfaces: the package's lazy exports, the ``memagents hypermem``
command line over a graph memory (loopback OpenAI server), the LangGraph Server entry and the
example agent."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from memagents import hypermem

# ------------------------------------------------------------------------- exports


def test_exports_are_sorted_resolvable_and_lazy() -> None:
    assert hypermem.__all__ == sorted(hypermem.__all__)
    for name in hypermem.__all__:
        value = getattr(hypermem, name)
        module = importlib.import_module(hypermem._WHERE[name])
        assert value is getattr(module, name), name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hypermem.Nope  # type: ignore[attr-defined]
    assert set(hypermem.__all__) <= set(dir(hypermem))
    code = ("import json, sys, memagents.hypermem as h; before = sorted(m for m in ('networkx', "
            "'langgraph', 'langchain_core', 'tiktoken') if m in sys.modules); "
            "h.build_hypergraph_rag; print(json.dumps([before, 'langgraph' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == [[], True], "cheap import; a name loads its module"
