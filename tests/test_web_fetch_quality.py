"""Quality floor of the fetcher on the offline web: the sample website served on loopback
(``memagents.sample.serve_website``), reached through the resolve map and allowlist."""

from __future__ import annotations

import pytest

from memagents.sample import SampleWorld, serve_website
from memagents.sample.schema import render_object
from memagents.web.fetch import FetchedPage, Fetcher, FetchSettings


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0, size="tiny")


async def test_extraction_keeps_known_facts_and_drops_the_header(world: SampleWorld) -> None:
    site = world.website
    names = {e.id: e.name for e in world.entities}
    public = [u for u, p in site.pages.items() if p.kind != "private"]
    private = [u for u, p in site.pages.items() if p.kind == "private"]
    with serve_website(world) as server:
        settings = FetchSettings.from_settings(None, resolve=server.resolve_setting,
                                               allow_hosts=server.allow_hosts_setting,
                                               cache_dir=None)
        async with Fetcher(settings) as fetcher:
            results = await fetcher.afetch_many(public + private)
        assert max(server.max_in_flight().values()) <= 4
        assert sum(r.path == "/robots.txt" for r in server.requests) == len(site.domains)
    pages = dict(zip(public, results[:len(public)]))
    assert all(isinstance(p, FetchedPage) for p in pages.values())
    assert all(getattr(r, "reason", None) == "robots" for r in results[len(public):])
    found = total = titles = dates = header = 0
    for url, fetched in pages.items():
        assert isinstance(fetched, FetchedPage)
        page = site.pages[url]
        for fact in page.facts:
            total += 1
            found += (names[fact.subject_id] in fetched.text
                      and render_object(fact, names) in fetched.text)
        titles += fetched.title == page.title
        dates += fetched.published == page.published
        assert set(page.links) <= set(fetched.links), url
        site_name = page.html.split('<header><a href="/">', 1)[1].split("<", 1)[0]
        header += page.kind != "home" and site_name in fetched.text
    assert total > 100 and found / total >= 0.98
    assert titles / len(pages) >= 0.98 and dates / len(pages) >= 0.98
    assert header <= 0.02 * len(pages)
