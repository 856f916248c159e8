"""Graph memory: HippoRAG 2 knowledge-graph memory searched with Personalized PageRank.

Example:
    >>> from memagents.graphmem import PRESETS
    >>> sorted(PRESETS)
    ['default', 'hipporag2']
"""

from __future__ import annotations

from memagents.graphmem.core.config import PRESETS, GraphConfig, PPRConfig, Preset, SearchConfig
from memagents.graphmem.core.graph import GraphDelta, GraphIndex
from memagents.graphmem.core.search import Explanation, GraphSearcher
from memagents.graphmem.extraction import Extraction, Extractor, LLMExtractor
from memagents.graphmem.memory import GraphMemory
from memagents.graphmem.recognition import LLMFactFilter
from memagents.graphmem.results import AddResult, DeleteResult, MemoryHit, SearchHits

__all__ = [
    "AddResult",
    "DeleteResult",
    "Explanation",
    "Extraction",
    "Extractor",
    "GraphConfig",
    "GraphDelta",
    "GraphIndex",
    "GraphMemory",
    "GraphSearcher",
    "LLMExtractor",
    "LLMFactFilter",
    "MemoryHit",
    "PPRConfig",
    "PRESETS",
    "Preset",
    "SearchConfig",
    "SearchHits",
]
