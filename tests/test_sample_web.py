"""The sample world's offline web (links, robots.txt, dates, httpx transport) and its export."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
import pytest

from memagents.errors import InputError
from memagents.sample import RELATIONS, SampleWorld, Website, export_sample
from memagents.sample.export import site_path
from memagents.sample.schema import render_object


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0)


@pytest.fixture(scope="module")
def site(world: SampleWorld) -> Website:
    return world.website


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.times: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"] or "")
        if tag == "time" and found.get("datetime"):
            self.times.append(found["datetime"] or "")


def _parse(html: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(html)
    return parser


def test_pages_span_several_domains_and_kinds(site: Website) -> None:
    assert len(site.domains) == 4
    assert all(d.endswith(".test") for d in site.domains)
    assert {d.split(".")[0] for d in site.domains} == {"wiki", "news", "registry", "catalog"}
    kinds = {p.kind for p in site.pages.values()}
    assert kinds == {"home", "index", "article", "news", "registry", "catalog", "private"}
    for url, page in site.pages.items():
        assert url == page.url == f"https://{page.domain}{page.path}"
        assert page.html.startswith("<!DOCTYPE html>") and page.title in page.text


def test_html_links_and_dates_match_the_page_record(site: Website) -> None:
    for page in site.pages.values():
        parsed = _parse(page.html)
        resolved = [urljoin(page.url, href) for href in parsed.hrefs]
        assert tuple(resolved[1:]) == page.links, page.url  # [0] is the header's home link
        assert parsed.times == [page.published]
        assert "2019-01-01" <= page.published <= "2026-12-31"


def test_every_link_resolves_or_is_intentionally_external(site: Website) -> None:
    external = 0
    for page in site.pages.values():
        for link in page.links:
            if site.is_external(link):
                assert urlsplit(link).hostname.endswith(".example"), link  # type: ignore[union-attr]
                external += 1
            else:
                assert site.get(link) is not None, (page.url, link)
    assert external > 0


def test_cross_domain_links_exist(site: Website) -> None:
    pairs = {(page.domain, urlsplit(link).hostname) for page in site.pages.values()
             for link in page.links if not site.is_external(link)}
    crossing = {(a, b) for a, b in pairs if a != b}
    for domain in site.domains:
        assert any(a == domain for a, _ in crossing), f"{domain} links to no other domain"
        assert any(b == domain for _, b in crossing), f"no other domain links to {domain}"


def test_robots_disallow_private_pages_that_exist(site: Website) -> None:
    for domain in site.domains:
        robots = site.robots[domain]
        assert "Disallow: /private/" in robots
        private = [p for p in site.pages.values() if p.domain == domain and p.kind == "private"]
        assert private, f"{domain} has no page under /private/"
        parser = RobotFileParser()
        parser.parse(robots.splitlines())
        for page in private:
            assert page.path.startswith("/private/")
            assert not parser.can_fetch("*", page.url) and not site.is_allowed(page.url)
            assert any(page.url in other.links for other in site.pages.values()
                       if other.kind != "private"), f"{page.url} is not linked: crawlers never see it"
        assert site.is_allowed(site.home(domain))
    public = [p for p in site.pages.values() if p.kind != "private"]
    assert all(site.is_allowed(p.url) for p in public)


def test_polite_crawl_from_home_pages_reaches_every_public_page(site: Website) -> None:
    queue = deque(site.home(d) for d in site.domains)
    seen: set[str] = set(queue)
    while queue:
        page = site.get(queue.popleft())
        assert page is not None
        for link in page.links:
            if link not in seen and not site.is_external(link) and site.is_allowed(link):
                seen.add(link)
                queue.append(link)
    public = {u for u, p in site.pages.items() if p.kind != "private"}
    assert seen == public


def test_articles_carry_passages_and_news_mention_facts_in_passing(world: SampleWorld,
                                                                   site: Website) -> None:
    names = {e.id: e.name for e in world.entities}
    articles = [p for p in site.pages.values() if p.kind == "article"]
    assert len(articles) == len(world.passages)
    by_entity = {p.entity_id: p for p in world.passages}
    for page in articles:
        assert by_entity[page.entity_ids[0]].text in page.text
    news = [p for p in site.pages.values() if p.kind == "news"]
    assert len(news) >= 20
    assert len({p.published for p in news}) >= 15
    assert any(p.published >= "2026-01-01" for p in news)
    for page in news:
        assert 1 <= len(page.facts) <= 3
        for fact in page.facts:
            assert fact in world.fact_passages
            assert names[fact.subject_id] in page.text
            assert render_object(fact, names) in page.text
            assert RELATIONS[fact.relation].phrase  # a known relation
    assert world.website.pages_about(news[0].entity_ids[0])


def test_mock_transport_serves_pages_robots_and_404(site: Website) -> None:
    page = next(p for p in site.pages.values() if p.kind == "article")
    with httpx.Client(transport=site.mock_transport()) as client:
        response = client.get(page.url + "#section")
        assert response.status_code == 200 and response.text == page.html
        assert response.headers["content-type"].startswith("text/html")
        assert "last-modified" in response.headers
        robots = client.get(f"https://{page.domain}/robots.txt")
        assert robots.status_code == 200 and robots.text == site.robots[page.domain]
        assert robots.headers["content-type"].startswith("text/plain")
        assert client.get(f"https://{page.domain}/wiki/missing.html").status_code == 404
        head = client.head(page.url)
        assert head.status_code == 200 and head.content == b""
        assert client.post(page.url).status_code == 405
        with pytest.raises(httpx.ConnectError):
            client.get("https://archive.example/anything")


async def test_mock_transport_works_with_async_clients(site: Website) -> None:
    home = site.home(site.domains[0])
    async with httpx.AsyncClient(transport=site.mock_transport()) as client:
        response = await client.get(home)
    assert response.status_code == 200 and "<a href" in response.text


def test_url_helpers_reject_bad_input(site: Website) -> None:
    with pytest.raises(InputError, match="URL"):
        site.get("wiki/relative.html")
    with pytest.raises(InputError, match="domain"):
        site.home("unknown.test")
    assert site.get(site.home(site.domains[0]).replace("https", "http")) is not None


def test_export_writes_records_site_and_manifest(world: SampleWorld, tmp_path: Path) -> None:
    manifest = export_sample(world, tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert manifest["seed"] == 0 and manifest["size"] == "small"
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest, rel
    expected = {"entities.jsonl": len(world.entities), "facts.jsonl": len(world.facts),
                "passages.jsonl": len(world.passages), "questions.jsonl": len(world.questions),
                "popqa.jsonl": len(world.popqa), "site/pages.jsonl": len(world.website.pages)}
    for rel, count in expected.items():
        rows = [json.loads(line) for line in (tmp_path / rel).read_text().splitlines()]
        assert len(rows) == count, rel
    popqa = json.loads((tmp_path / "popqa.jsonl").read_text().splitlines()[0])
    assert {"question", "possible_answers", "s_pop", "prop", "prop_id", "subj", "obj"} <= set(popqa)
    question = json.loads((tmp_path / "questions.jsonl").read_text().splitlines()[0])
    assert len(question["chain"]) == question["hops"] == len(question["gold_passage_ids"])
    for domain in world.website.domains:
        assert (tmp_path / "site" / domain / "robots.txt").read_text() == world.website.robots[
            domain]
    for page in world.website.pages.values():
        assert (tmp_path / "site" / page.domain / site_path(page.path)).read_text() == page.html
    assert site_path("/") == "index.html"
    with pytest.raises(InputError, match=r"\.\."):
        site_path("/../escape.html")
