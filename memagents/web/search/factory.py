"""Open a search backend from a spec string: ``searxng``, ``brave``, ``tavily``, ``local:PATH``.

Example:
    >>> from memagents.config import Settings
    >>> from memagents.web.search import open_search
    >>> open_search("brave", settings=Settings(brave_api_key="k"))
    BraveSearch('https://api.search.brave.com')
    >>> open_search("bing")
    Traceback (most recent call last):
    ...
    memagents.errors.ConfigError: unknown search backend 'bing': use searxng, searxng:URL, brave, tavily, local:PATH (a folder or a saved index), or several joined by commas (tried in order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.web.search.base import SearchBackend
from memagents.web.search.brave import BraveSearch
from memagents.web.search.fallback import FallbackSearch
from memagents.web.search.local import LocalSearch
from memagents.web.search.searxng import SearxNGSearch
from memagents.web.search.tavily import TavilySearch

__all__ = ["ACCEPTED_SPECS", "configured_backends", "open_search"]

LOCAL_OPTIONS = frozenset({"embeddings", "passage_words", "title_weight", "rrf_k",
                           "snippet_chars"})
ACCEPTED_SPECS = (
    "searxng, searxng:URL, brave, tavily, local:PATH (a folder or a saved index), or several "
    "joined by commas (tried in order)"
)


def configured_backends(settings: Settings | None = None) -> list[str]:
    """Names of the hosted backends whose URL or key is set, in the default order.

    >>> configured_backends(Settings(tavily_api_key="t", searxng_url="http://localhost:8080"))
    ['searxng', 'tavily']
    """
    settings = settings or get_settings()
    names = []
    if settings.searxng_url:
        names.append("searxng")
    if settings.brave_api_key is not None and settings.brave_api_key.get_secret_value():
        names.append("brave")
    if settings.tavily_api_key is not None and settings.tavily_api_key.get_secret_value():
        names.append("tavily")
    return names


def open_search(
    spec: str | None = None,
    *,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
    **options: Any,
) -> SearchBackend:
    """Open the backend a spec names.

    Args:
        spec: ``searxng`` (URL from ``MEMAGENTS_SEARXNG_URL``), ``searxng:URL``, ``brave``,
            ``tavily``, ``local:PATH`` (a folder of pages, or a JSON file written by
            :meth:`LocalSearch.save`), or several of them joined by commas, which gives a
            :class:`FallbackSearch` trying them in order. None: every hosted backend whose
            URL or key is configured (SearxNG, Brave, Tavily, in that order).
        settings: Settings to read URLs and keys from (default: the environment).
        client: An ``httpx.Client`` the hosted backends send through.
        **options: :class:`LocalSearch` options (``embeddings``, ``passage_words``,
            ``title_weight``, ``rrf_k``, ``snippet_chars``) go to ``local:`` backends, the
            others (``transport=``, ``timeout=``, ``retry=``, ``sleep=``...) to the hosted ones.

    Raises:
        ConfigError: unknown spec (the message lists the accepted ones), a missing key or
            URL, or no backend configured when ``spec`` is None.
    """
    settings = settings or get_settings()
    if spec is None:
        names = configured_backends(settings)
        if not names:
            raise ConfigError(
                "no web search backend is configured: set MEMAGENTS_SEARXNG_URL, "
                "MEMAGENTS_BRAVE_API_KEY (or BRAVE_SEARCH_API_KEY) or MEMAGENTS_TAVILY_API_KEY "
                "(or TAVILY_API_KEY), or search a local index with the spec 'local:PATH'."
            )
        spec = ",".join(names)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"empty search backend spec {spec!r}: use {ACCEPTED_SPECS}.")
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    backends = [_one(part, settings, client, options) for part in parts]
    return backends[0] if len(backends) == 1 else FallbackSearch(backends)


def _one(spec: str, settings: Settings, client: httpx.Client | None,
         options: dict[str, Any]) -> SearchBackend:
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    local = {"settings": settings, **{k: v for k, v in options.items() if k in LOCAL_OPTIONS}}
    http = {"settings": settings, "client": client,
            **{k: v for k, v in options.items() if k not in LOCAL_OPTIONS}}
    if kind == "searxng":
        return SearxNGSearch(arg.strip() or None, **http)
    if kind == "brave" and not arg:
        return BraveSearch(**http)
    if kind == "tavily" and not arg:
        return TavilySearch(**http)
    if kind == "local":
        path = Path(arg.strip()).expanduser()
        if not arg.strip():
            raise ConfigError("the spec 'local:' needs a path: 'local:./pages' or "
                              "'local:index.json'.")
        if path.is_file():
            return LocalSearch.load(path, **local)
        return LocalSearch.from_folder(path, **local)
    raise ConfigError(f"unknown search backend {spec!r}: use {ACCEPTED_SPECS}.")
