"""Search backends against loopback servers speaking their wire formats, and the local index."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from memagents.config import Settings, get_settings
from memagents.errors import BackendError, ConfigError, InputError
from memagents.models import RetryPolicy
from memagents.sample import SampleWorld
from memagents.testing import Fault, SearchServer
from memagents.web.search import (
    BraveSearch,
    FallbackSearch,
    LocalSearch,
    SearchError,
    SearchResult,
    SearxNGSearch,
    TavilySearch,
    open_search,
)
from memagents.web.search.base import iso_date

DOCS = [
    {"title": "Aeralla Mirith", "url": "https://wiki.firdoria.test/wiki/aeralla-mirith.html",
     "content": "Aeralla Mirith is a keyboardist born in Traethaven.", "published": "2021-04-01"},
    {"title": "The Odalven Ferns", "url": "https://wiki.firdoria.test/wiki/the-odalven-ferns.html",
     "content": "The Odalven Ferns are a band; Aeralla Mirith plays keyboards.",
     "published": "2022-02-03"},
    {"title": "Traethaven", "url": "https://wiki.firdoria.test/wiki/traethaven.html",
     "content": "Traethaven is a city.", "published": None},
]
KEY = "test-key"
POLICY = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=8.0, jitter=0.0)


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BRAVE_SEARCH_API_KEY", "TAVILY_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def backend(flavor: str, server: SearchServer, sleeps: list[float], **kw: Any) -> Any:
    """A backend of ``flavor`` pointed at ``server``, with a fake sleep and no jitter."""
    common: dict[str, Any] = {"retry": POLICY, "sleep": sleeps.append, **kw}

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    common.setdefault("asleep", asleep)
    if flavor == "searxng":
        return SearxNGSearch(server.base_url, **common)
    if flavor == "brave":
        return BraveSearch(KEY, base_url=server.base_url, **common)
    return TavilySearch(KEY, base_url=server.base_url, **common)


@pytest.fixture(params=["searxng", "brave", "tavily"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(flavor: str) -> Any:
    with SearchServer(flavor, documents=DOCS, api_key=KEY) as srv:  # type: ignore[arg-type]
        yield srv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- request shapes and parsing ---------------------------------------------------------------
def test_searxng_request_and_parsing(sleeps: list[float]) -> None:
    with SearchServer("searxng", documents=DOCS) as server:
        search = SearxNGSearch(server.base_url + "/", time_range="year", categories="general")
        hits = search.search("keyboardist Traethaven", k=5)
        req = server.records[0]
    assert (req.method, req.path) == ("GET", "/search")
    assert req.params == {"q": "keyboardist Traethaven", "format": "json", "pageno": "1",
                          "time_range": "year", "categories": "general"}
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"] == get_settings().web_user_agent
    assert [h.url for h in hits] == [DOCS[0]["url"], DOCS[2]["url"]]
    first = hits[0]
    assert (first.title, first.published, first.backend, first.rank) == (
        "Aeralla Mirith", "2021-04-01", "searxng", 1)
    assert first.snippet.startswith("Aeralla Mirith is a keyboardist")
    assert first.score == pytest.approx(1.0) and hits[1].score == pytest.approx(0.5)
    assert hits[1].published is None and hits[1].rank == 2


def test_searxng_pages_until_k() -> None:
    docs = [{"title": f"Doc {i}", "url": f"https://a.test/{i}", "content": "alpha"}
            for i in range(5)]
    with SearchServer("searxng", documents=docs, page_size=2) as server:
        hits = SearxNGSearch(server.base_url).search("alpha", k=5)
        pages = [r.params["pageno"] for r in server.records]
    assert pages == ["1", "2", "3"]
    assert [h.url for h in hits] == [f"https://a.test/{i}" for i in range(5)]
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_searxng_json_disabled_says_how_to_enable_it(sleeps: list[float]) -> None:
    with SearchServer("searxng", documents=DOCS, json_enabled=False) as server:
        with pytest.raises(SearchError) as err:
            backend("searxng", server, sleeps).search("keyboardist")
        assert len(server.records) == 1  # a 403 is not retried
    assert err.value.kind == "forbidden" and err.value.status == 403
    assert "SearxNG returned 403" in str(err.value)
    assert "search.formats" in str(err.value) and "json" in str(err.value)


def test_brave_request_and_parsing() -> None:
    with SearchServer("brave", documents=DOCS, api_key=KEY) as server:
        hits = BraveSearch(KEY, base_url=server.base_url, freshness="py",
                           country="us").search("Aeralla keyboardist", k=3)
        req = server.records[0]
    assert (req.method, req.path) == ("GET", "/res/v1/web/search")
    assert req.params == {"q": "Aeralla keyboardist", "count": "3", "offset": "0",
                          "freshness": "py", "country": "us"}
    assert req.headers["x-subscription-token"] == KEY
    assert len(server.records) == 1  # more_results_available is false: no second page
    assert [h.url for h in hits] == [DOCS[0]["url"], DOCS[1]["url"]]
    assert hits[0].snippet == "Aeralla Mirith is a keyboardist born in Traethaven."  # no <strong>
    assert hits[0].published == "2021-04-01" and hits[1].published == "2022-02-03"
    assert hits[0].score is None and hits[0].backend == "brave"


def test_brave_pages_by_offset_for_large_k() -> None:
    docs = [{"title": f"D{i}", "url": f"https://a.test/{i}", "content": "beta"}
            for i in range(30)]
    with SearchServer("brave", documents=docs, api_key=KEY) as server:
        hits = BraveSearch(KEY, base_url=server.base_url).search("beta", k=25)
        shapes = [(r.params["count"], r.params["offset"]) for r in server.records]
    assert shapes == [("20", "0"), ("20", "1")]
    assert len(hits) == 25 and hits[-1].url == "https://a.test/24"


def test_tavily_request_and_parsing() -> None:
    with SearchServer("tavily", documents=DOCS, api_key=KEY) as server:
        hits = TavilySearch(KEY, base_url=server.base_url, topic="news",
                            search_depth="advanced").search("keyboardist", k=4)
        req = server.records[0]
    assert (req.method, req.path) == ("POST", "/search")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["content-type"] == "application/json"
    assert req.body == {"query": "keyboardist", "max_results": 4, "search_depth": "advanced",
                        "topic": "news", "include_answer": False, "include_raw_content": False}
    assert [h.url for h in hits] == [DOCS[0]["url"]]
    assert hits[0].published == "2021-04-01"  # from the RFC 2822 published_date of news
    assert hits[0].score == pytest.approx(1.0)


def test_tavily_caps_max_results_at_20() -> None:
    with SearchServer("tavily", documents=DOCS, api_key=KEY) as server:
        TavilySearch(KEY, base_url=server.base_url).search("band", k=50)
        assert server.records[0].body["max_results"] == 20  # type: ignore[index]
        assert len(server.records) == 1


# -- keys, URLs and auth errors ------------------------------------------------------------------
def test_missing_url_and_keys_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="MEMAGENTS_SEARXNG_URL"):
        SearxNGSearch()
    with pytest.raises(ConfigError, match="MEMAGENTS_SEARXNG_URL"):
        SearxNGSearch("localhost:8080")
    with pytest.raises(ConfigError, match=r"MEMAGENTS_BRAVE_API_KEY \(or BRAVE_SEARCH_API_KEY\)"):
        BraveSearch()
    with pytest.raises(ConfigError, match=r"MEMAGENTS_TAVILY_API_KEY \(or TAVILY_API_KEY\)"):
        TavilySearch()
    monkeypatch.setenv("BRAVE_SEARCH_API_KEY", "from-env")
    monkeypatch.setenv("MEMAGENTS_SEARXNG_URL", "http://127.0.0.1:1")
    assert BraveSearch()._key == "from-env"
    assert SearxNGSearch().url == "http://127.0.0.1:1"
    with pytest.raises(ConfigError, match="freshness"):
        BraveSearch("k", freshness="yesterday")
    with pytest.raises(ConfigError, match="topic"):
        TavilySearch("k", topic="sports")


def test_brave_wrong_key_is_an_auth_error(sleeps: list[float]) -> None:
    with SearchServer("brave", documents=DOCS, api_key="right") as server:
        with pytest.raises(SearchError) as err:
            backend("brave", server, sleeps).search("keyboardist")
        assert len(server.records) == 1 and not server.records[0].authorised
    assert err.value.kind == "auth" and err.value.status == 422
    assert "SUBSCRIPTION_TOKEN_INVALID" in str(err.value)
    assert "check MEMAGENTS_BRAVE_API_KEY (or BRAVE_SEARCH_API_KEY)" in str(err.value)
    assert sleeps == []


@pytest.mark.parametrize(("status", "kind"), [(401, "auth"), (403, None)])
def test_401_and_403_say_which_key_to_check(
    flavor: str, server: SearchServer, sleeps: list[float], status: int, kind: str | None
) -> None:
    server.inject(Fault.status(status))
    with pytest.raises(SearchError) as err:
        backend(flavor, server, sleeps).search("keyboardist")
    assert err.value.status == status and sleeps == [] and len(server.records) == 1
    label = {"searxng": "SearxNG", "brave": "Brave Search", "tavily": "Tavily"}[flavor]
    assert str(err.value).startswith(f"{label} returned {status}: ")
    setting = {"searxng": "search.formats", "brave": "MEMAGENTS_BRAVE_API_KEY",
               "tavily": "MEMAGENTS_TAVILY_API_KEY"}[flavor]
    if status == 401 and flavor == "searxng":
        setting = "MEMAGENTS_SEARXNG_URL"
    assert setting in str(err.value)
    expected = kind or ("auth" if flavor == "brave" else "forbidden")
    assert err.value.kind == expected


def test_tavily_wrong_key_and_plan_limit(sleeps: list[float]) -> None:
    refused = "Tavily returned 401: .*MEMAGENTS_TAVILY_API_KEY"
    with SearchServer("tavily", documents=DOCS, api_key="right") as server, pytest.raises(
        SearchError, match=refused
    ):
        backend("tavily", server, sleeps).search("keyboardist")
    with SearchServer("tavily", documents=DOCS, api_key=KEY) as server:
        server.inject(Fault.status(432, message="Plan limit exceeded"))
        with pytest.raises(SearchError) as err:
            backend("tavily", server, sleeps).search("keyboardist")
    assert err.value.kind == "rate_limited" and "Plan limit exceeded" in str(err.value)
    assert sleeps == []


# -- retries, faults and fallbacks ---------------------------------------------------------------
def test_429_waits_as_the_server_asks(
    flavor: str, server: SearchServer, sleeps: list[float]
) -> None:
    server.inject(Fault.status(429, retry_after=2.5))
    hits = backend(flavor, server, sleeps).search("keyboardist")
    assert sleeps == [2.5]  # Retry-After, or Brave's X-RateLimit-Reset
    assert [h.url for h in hits] == [DOCS[0]["url"]]
    # SearxNG has no "more results" flag: it asks for page 2 when page 1 had fewer than k
    assert [r.fault is not None for r in server.records][:2] == [True, False]


def test_500_then_success_backs_off(flavor: str, server: SearchServer, sleeps: list[float]) -> None:
    server.inject(Fault.status(500), times=2)
    hits = backend(flavor, server, sleeps).search("keyboardist")
    assert sleeps == [0.5, 1.0] and len(hits) == 1
    assert len(server.records) == 3 + (flavor == "searxng")


def test_persistent_5xx_gives_up_with_a_clear_error(
    flavor: str, server: SearchServer, sleeps: list[float]
) -> None:
    server.inject(Fault.status(503), times=10)
    with pytest.raises(SearchError) as err:
        backend(flavor, server, sleeps).search("keyboardist")
    assert sleeps == [0.5, 1.0, 2.0] and len(server.records) == 4
    assert err.value.kind == "unavailable" and err.value.status == 503
    assert "returned 503 after 4 attempts" in str(err.value)
    assert isinstance(err.value, BackendError)


@pytest.mark.parametrize("fault", [Fault.truncated_json(), Fault.invalid_json()])
def test_malformed_json_is_a_bad_response(
    flavor: str, server: SearchServer, sleeps: list[float], fault: Fault
) -> None:
    server.inject(fault)
    with pytest.raises(SearchError) as err:
        backend(flavor, server, sleeps).search("keyboardist")
    assert err.value.kind == "bad_response" and len(server.records) == 1
    assert server.base_url in str(err.value) and "API" in str(err.value)


def test_slow_and_dropped_requests_are_retried(sleeps: list[float]) -> None:
    with SearchServer("brave", documents=DOCS, api_key=KEY) as server:
        server.inject(Fault.delay(60.0))  # cut by the timeout; the good request after the
        server.inject(Fault.disconnect())  # retries must fit in it on a loaded machine too
        hits = backend("brave", server, sleeps, timeout=2.0).search("keyboardist")
    assert len(hits) == 1 and sleeps == [0.5, 1.0]


def test_down_backend_is_skipped_and_reported(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    down = SearxNGSearch(f"http://127.0.0.1:{free_port()}", retry=POLICY, sleep=sleeps.append)
    with pytest.raises(SearchError) as err:
        down.search("keyboardist")
    assert err.value.kind == "unavailable" and "unreachable after 4 attempts" in str(err.value)
    assert "MEMAGENTS_SEARXNG_URL" in str(err.value)
    sleeps.clear()
    with SearchServer("brave", documents=DOCS, api_key=KEY) as server:
        brave = backend("brave", server, sleeps)
        with caplog.at_level(logging.WARNING, logger="memagents"):
            report = FallbackSearch([down, brave]).run("keyboardist", k=3)
    assert report.backend == "brave" and [r.url for r in report.results] == [DOCS[0]["url"]]
    assert [(s.backend, s.kind) for s in report.skipped] == [("searxng", "unavailable")]
    assert "unreachable" in report.skipped[0].reason
    assert any("searxng skipped" in rec.getMessage() for rec in caplog.records)


def test_fallback_raises_only_when_every_backend_failed(sleeps: list[float]) -> None:
    with SearchServer("tavily", documents=DOCS, api_key="other") as server:
        tavily = backend("tavily", server, sleeps)
        down = SearxNGSearch(f"http://127.0.0.1:{free_port()}", retry=POLICY,
                             sleep=sleeps.append)
        with pytest.raises(SearchError) as err:
            FallbackSearch([tavily, down]).search("keyboardist")
    message = str(err.value)
    assert "tavily (auth)" in message and "searxng (unavailable)" in message
    empty = LocalSearch.from_pages([{"url": "https://a.test/", "title": "A", "text": "zeta"}])
    full = LocalSearch.from_pages(DOCS)
    report = FallbackSearch([empty, full], skip_empty=True).run("keyboardist")
    assert report.backend == "local" and report.skipped[0].kind == "empty"
    assert FallbackSearch([empty, full]).run("keyboardist").results == []
    with pytest.raises(InputError):
        FallbackSearch([])


async def test_async_search_and_fallback(flavor: str, server: SearchServer,
                                         sleeps: list[float]) -> None:
    server.inject(Fault.status(429, retry_after=1.0))
    search = backend(flavor, server, sleeps)
    hits = await search.asearch("keyboardist", k=2)
    assert [h.url for h in hits] == [DOCS[0]["url"]] and sleeps == [1.0]
    down = SearxNGSearch(f"http://127.0.0.1:{free_port()}", retry=POLICY, sleep=sleeps.append,
                         asleep=search._asleep)
    report = await FallbackSearch([down, search]).arun("band")
    assert report.backend == flavor and report.skipped[0].backend == "searxng"
    sync_hits = search.search("keyboardist", k=2)
    assert sync_hits == hits


def test_injected_client_and_transport() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"type": "search", "web": {"results": [
            {"title": "T", "url": "https://t.test/", "description": "<b>x</b> &amp; y",
             "age": "2 days ago"}]}})

    client = httpx.Client(transport=httpx.MockTransport(handle))
    with BraveSearch("k", client=client) as brave:
        hit = brave.search("x")[0]
    assert not client.is_closed  # an injected client stays open
    assert (hit.snippet, hit.published) == ("x & y", None)
    assert str(seen[0].url).startswith("https://api.search.brave.com/res/v1/web/search?q=x")
    with BraveSearch("k", transport=httpx.MockTransport(handle)) as brave:
        assert brave.search("x")[0].url == "https://t.test/"
        owned = brave._client
    assert owned is not None and owned.is_closed


async def test_injected_transport_serves_async_too() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [{"url": "https://t.test/", "title": "T",
                                                      "content": "c", "score": 0.5}]})

    tavily = TavilySearch("k", transport=httpx.MockTransport(handle))
    assert [h.score for h in await tavily.asearch("q")] == [0.5]


def test_bad_queries_are_refused_before_any_request(
    flavor: str, server: SearchServer, sleeps: list[float]
) -> None:
    search = backend(flavor, server, sleeps)
    with pytest.raises(InputError, match="query is empty"):
        search.search("   ")
    with pytest.raises(InputError, match="string"):
        search.search(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="k must be"):
        search.search("x", k=0)
    with pytest.raises(InputError, match="shorten"):
        search.search("x" * 5000)
    assert server.records == []


# -- the local index ---------------------------------------------------------------------------------
def test_local_index_over_a_folder(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "owls.html").write_text(
        "<html><head><title>Owls</title><script>var owl = 1;</script></head><body>"
        "<nav>Home | About</nav><article><h1>Owls</h1><p>Barn owls hunt voles at night in "
        "open fields.</p></article></body></html>", encoding="utf-8")
    (tmp_path / "foxes.md").write_text(
        "---\ntitle: Red foxes\ndate: 2025-03-04\n---\n# Foxes\n\nRed foxes hunt at dusk.\n",
        encoding="utf-8")
    (tmp_path / "notes.txt").write_text("Field notes\nVoles hide from owls.\n", encoding="utf-8")
    (tmp_path / ".hidden.md").write_text("owls owls owls", encoding="utf-8")
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /owls/", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    index = LocalSearch.from_folder(tmp_path, base_url="https://notes.test/")
    assert len(index) == 3
    hits = index.search("owls voles", k=5)
    assert [h.url for h in hits] == ["https://notes.test/docs/owls.html",
                                     "https://notes.test/notes.txt"]
    assert hits[0].title == "Owls" and "voles" in hits[0].snippet and "var owl" not in hits[0].snippet
    fox = index.search("fox dusk")[0]
    assert (fox.title, fox.published) == ("Red foxes", "2025-03-04")
    assert LocalSearch.from_folder(tmp_path).search("dusk")[0].url.startswith("file://")
    with pytest.raises(InputError, match="not a folder"):
        LocalSearch.from_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .html"):
        LocalSearch.from_folder(tmp_path / "empty")


@pytest.fixture(scope="module")
def website() -> Any:
    return SampleWorld.generate(0).website


@pytest.fixture(scope="module")
def site_index(website: Any) -> LocalSearch:
    return LocalSearch.from_website(website)


def test_local_index_finds_entity_articles_on_the_sample_website(
    website: Any, site_index: LocalSearch
) -> None:
    articles = [p for p in website.pages.values() if p.kind == "article"]
    assert len(articles) > 200
    assert not any("/private/" in d.url for d in site_index.documents)
    found = sum(a.url in [h.url for h in site_index.search(a.title, k=3)] for a in articles)
    assert found / len(articles) >= 0.98
    hit = next(h for h in site_index.search("Aeralla Mirith", k=3)
               if h.url.endswith("/aeralla-mirith.html"))
    assert "Aeralla" in hit.snippet and hit.published == "2021-04-01"
    assert len(hit.snippet) <= 250


def test_local_ordering_is_deterministic(website: Any, site_index: LocalSearch) -> None:
    twins = [{"url": f"https://t.test/{c}", "title": "Twin", "text": "same words"}
             for c in "cab"]
    index = LocalSearch.from_pages(twins)
    assert [h.url for h in index.search("same words")] == [
        "https://t.test/a", "https://t.test/b", "https://t.test/c"]
    pages = [p for p in reversed(list(website.pages.values())) if website.is_allowed(p.url)]
    reversed_index = LocalSearch.from_pages(pages)
    for query in ("synth-pop band", "born in Traethaven", "medal"):
        ours = site_index.search(query, k=10)
        assert ours == site_index.search(query, k=10)
        assert reversed_index.search(query, k=10) == ours


def test_local_hybrid_save_and_load(tmp_path: Path) -> None:
    pages = [dict(d, text=d["content"]) for d in DOCS]
    hybrid = LocalSearch.from_pages(pages, embeddings="hash:64")
    hits = hybrid.search("keyboardist", k=3)
    assert hits[0].url == DOCS[0]["url"] and len(hits) == 3  # dense adds the other pages
    assert hits[0].score == pytest.approx(2 / 61)  # first in both rankings
    path = hybrid.save(tmp_path / "index.json")
    loaded = LocalSearch.load(path)
    assert loaded.search("keyboardist", k=3) == hits
    assert json.loads(path.read_text())["embeddings"] == "hash:64"
    with pytest.raises(InputError, match="LocalSearch.save"):
        LocalSearch.load(tmp_path / "nothing.json")


def test_local_rejects_bad_pages() -> None:
    with pytest.raises(InputError, match="url"):
        LocalSearch.from_pages([{"title": "no url", "text": "x"}])
    assert LocalSearch.from_pages([]).search("anything") == []


# -- the factory ---------------------------------------------------------------------------------
def test_open_search_specs(tmp_path: Path) -> None:
    settings = Settings(searxng_url="http://127.0.0.1:1", brave_api_key="b")
    default = open_search(settings=settings)
    assert isinstance(default, FallbackSearch)
    assert [b.name for b in default.backends] == ["searxng", "brave"]
    assert isinstance(open_search("tavily", settings=Settings(tavily_api_key="t")), TavilySearch)
    assert open_search("searxng:http://127.0.0.1:2/", settings=settings).url == (
        "http://127.0.0.1:2")
    (tmp_path / "a.md").write_text("# Alpha\nalpha text", encoding="utf-8")
    local = open_search(f"local:{tmp_path}")
    assert isinstance(local, LocalSearch) and local.search("alpha")[0].title == "Alpha"
    saved = local.save(tmp_path / "i.json")
    assert len(open_search(f"local:{saved}")) == 1
    with pytest.raises(ConfigError, match="no web search backend is configured"):
        open_search(settings=Settings())
    with pytest.raises(ConfigError, match="use searxng, searxng:URL, brave, tavily, local:PATH"):
        open_search("google")
    with pytest.raises(ConfigError, match="MEMAGENTS_BRAVE_API_KEY"):
        open_search("brave,local:" + str(tmp_path), settings=Settings())


def test_results_and_dates() -> None:
    result = SearchResult(title="t", url="u", snippet="s", backend="b", rank=1)
    assert result.to_dict() == {"title": "t", "url": "u", "snippet": "s", "published": None,
                                "backend": "b", "rank": 1, "score": None}
    assert iso_date("2026-01-05T10:00:00+02:00") == "2026-01-05"
    assert iso_date("1 April 2021") == iso_date("Apr 1, 2021") == "2021-04-01"
    assert iso_date("yesterday") is None and iso_date(12) is None
