"""The browse agent: a ReAct-style LangGraph agent over a search backend and the safe fetcher.

See :mod:`memagents.web.browse.agent` (the graph), :mod:`memagents.web.browse.context` (fenced
web text within a token budget) and :mod:`memagents.web.browse.prompts` (named prompts).
"""

from __future__ import annotations

from memagents.web.browse.agent import (
    BrowseSettings,
    BrowseState,
    browse_response,
    build_browse_agent,
)

__all__ = ["BrowseSettings", "BrowseState", "browse_response", "build_browse_agent"]
