"""Snapshots in time of the sample world: changed facts, fresh and revised pages, diffs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import pytest

from memagents.errors import InputError
from memagents.sample import (
    FactChange,
    Page,
    SampleWorld,
    SnapshotDiff,
    Website,
    snapshot_date,
)
from memagents.sample.schema import Fact, render_object

# Digests of snapshot 0, computed before snapshots existed: the world as first generated must
# never change (the demo, the graph-memory quality figures and the benchmarks depend on it).
PINNED = {
    (0, "small"): ("49be377328fa3861e675bc759694de97120715b892323fad90592608c4ce8093",
                   "d101af67fb5ff5b34307a13dc680af95589fdd8ab4d24905a18f7ae1ffbdb146", 353),
    (0, "tiny"): ("ac038f7a1b2b43b409d6623f092bb9b3131a71a3e8131907b0ca2ff8663bbc82",
                  "030213fc6ddd0957f2891059cfd455da35142326ca76a11f9ec1136cf4bbe392", 153),
    (7, "tiny"): ("73f9efa5a5e598c0542a0460c5869545d1726438b36067587ecde79507b03b47",
                  "b0e490a0cb3dd8d0161d29c20fe2f32a1e27e93d58b5155be13999632a405067", 149),
}


def site_digest(site: Website) -> str:
    h = hashlib.sha256()
    for _, page in sorted(site.pages.items()):
        h.update(json.dumps(page.to_dict(), sort_keys=True).encode())
        h.update(page.html.encode())
    for domain, robots in sorted(site.robots.items()):
        h.update(domain.encode())
        h.update(robots.encode())
    return h.hexdigest()


def world_digest(world: SampleWorld) -> str:
    h = hashlib.sha256()
    for group in (world.entities, world.facts, world.passages, world.questions, world.popqa):
        for record in group:
            h.update(json.dumps(record.to_dict(), sort_keys=True).encode())
    for fact, pids in sorted(world.fact_passages.items()):
        h.update(f"{fact.key}:{pids}".encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def w0() -> SampleWorld:
    return SampleWorld.generate(0)


@pytest.fixture(scope="module")
def w1() -> SampleWorld:
    return SampleWorld.generate(0, snapshot=1)


@pytest.fixture(scope="module")
def w2() -> SampleWorld:
    return SampleWorld.generate(0, snapshot=2)


def article_of(world: SampleWorld, entity_id: str) -> Page:
    return next(p for p in world.website.pages.values()
                if p.kind == "article" and p.entity_ids[0] == entity_id)


def stated(world: SampleWorld) -> set[Fact]:
    return {f for page in world.website.pages.values() for f in page.facts}


@pytest.mark.parametrize(("seed", "size"), sorted(PINNED))
def test_snapshot_zero_is_byte_identical_to_the_world_before_snapshots(seed: int,
                                                                       size: str) -> None:
    world = SampleWorld.generate(seed, size=size)
    site_hash, world_hash, pages = PINNED[(seed, size)]
    assert len(world.website.pages) == pages
    assert site_digest(world.website) == site_hash
    assert world_digest(world) == world_hash
    assert world.snapshot_index == 0 and world.changes == () and world.date == "2026-07-01"
    assert SampleWorld.generate(seed, size=size, snapshot=0) == world
    assert max(p.published for p in world.website.pages.values()) <= world.date


def test_snapshots_are_deterministic_and_distinct(w0: SampleWorld, w1: SampleWorld,
                                                  w2: SampleWorld) -> None:
    again = SampleWorld.generate(0, snapshot=1)
    assert again == w1 and site_digest(again.website) == site_digest(w1.website)
    assert w0.snapshot(1) == w1 and w1.snapshot(0) == w0 and w1.snapshot(1) is w1
    assert len({site_digest(w.website) for w in (w0, w1, w2)}) == 3
    assert w0.website.domains == w1.website.domains == w2.website.domains
    assert w0.entities == w1.entities == w2.entities
    assert w2.changes[:len(w1.changes)] == w1.changes
    assert "snapshot=1" in repr(w1) and "snapshot" not in repr(w0)
    assert hash(w1) != hash(w0)
    stats = w1.stats()
    assert (stats["snapshot"], stats["date"], stats["changes"]) == (1, "2026-10-01", 11)


def test_snapshot_digest_does_not_depend_on_the_hash_seed() -> None:
    code = ("from memagents.sample import SampleWorld\n"
            "from tests.test_sample_snapshots import site_digest, world_digest\n"
            "w = SampleWorld.generate(3, size='tiny', snapshot=2)\n"
            "print(site_digest(w.website), world_digest(w))\n")
    runs = set()
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True, timeout=120,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
        runs.add(out.stdout.strip())
    here = SampleWorld.generate(3, size="tiny", snapshot=2)
    assert runs == {f"{site_digest(here.website)} {world_digest(here)}"}


def test_snapshot_dates_and_range_errors() -> None:
    assert [snapshot_date(k) for k in range(4)] == [
        "2026-07-01", "2026-10-01", "2027-01-01", "2027-04-01"]
    for bad in (-1, 13, "1", True, 1.0):
        with pytest.raises(InputError, match="snapshot"):
            SampleWorld.generate(0, size="tiny", snapshot=bad)  # type: ignore[arg-type]
    world = SampleWorld.generate(0, size="tiny", snapshot=1)
    with pytest.raises(InputError, match="snapshot"):
        world.snapshot(99)
    with pytest.raises(InputError, match=r"changes_since\(2\)"):
        world.changes_since(2)


def test_changed_facts_replace_old_ones_in_facts_passages_and_pages(
        w0: SampleWorld, w1: SampleWorld) -> None:
    diff = w1.changes_since(0)
    events = {c.event for c in diff.changes}
    assert {"employer_moved", "headquarters_moved", "label_changed"} <= events
    assert {"length_revised", "elevation_revised"} <= events
    assert len(diff.changed_facts) >= 8 and diff.added_facts and diff.retired_facts
    on_pages_0, on_pages_1 = stated(w0), stated(w1)
    for old, new in diff.changed_facts:
        assert (old.subject_id, old.relation) == (new.subject_id, new.relation)
        assert old in w0.facts and old not in w1.facts
        assert new in w1.facts and new not in w0.facts
        assert new in on_pages_1 and new not in on_pages_0
        assert old in on_pages_0 and old not in on_pages_1
        assert new in w1.fact_passages and old not in w1.fact_passages
        page = article_of(w1, new.subject_id)
        assert new in page.facts and old not in page.facts
        assert render_object(new, {e.id: e.name for e in w1.entities}) in page.text
        if new.literal:
            assert render_object(new, {}) not in article_of(w0, new.subject_id).text
    for fact in diff.added_facts:
        assert fact in w1.facts and fact not in w0.facts and fact in on_pages_1
    for fact in diff.retired_facts:
        assert fact in w0.facts and fact not in w1.facts and fact not in on_pages_1
        assert not [f for f in w1.facts if (f.subject_id, f.relation) == (
            fact.subject_id, fact.relation)]


def test_fresh_pages_are_news_dated_after_the_anchor_and_linked(w0: SampleWorld,
                                                                w1: SampleWorld) -> None:
    diff = w1.changes_since(0)
    assert diff.since_date == "2026-07-01" and diff.until_date == "2026-10-01"
    assert len(diff.added_pages) == len(diff.changes) == 11
    assert set(w1.website.pages) == set(w0.website.pages) | set(diff.added_pages)
    news_home = next(p for p in w1.website.pages.values()
                     if p.kind == "home" and p.domain.startswith("news."))
    for change in diff.changes:
        page = w1.website.get(change.url)
        assert page is not None and page.kind == "news" and page.url not in w0.website.pages
        assert diff.since_date < page.published == change.on < diff.until_date
        assert change.fact.subject_id in page.entity_ids
        if change.new is not None:
            assert change.new in page.facts
        assert page.url in news_home.links
        article = article_of(w1, change.fact.subject_id)
        assert page.url in article.links  # "In the news"
        assert article.links and article.published > diff.since_date
        assert any(link == article.url for link in page.links)


def test_revised_pages_get_a_later_date_and_the_rest_keep_their_bytes(
        w0: SampleWorld, w1: SampleWorld, w2: SampleWorld) -> None:
    diff = w1.changes_since(0)
    assert len(diff.revised_pages) >= len(diff.changes)
    for url, page in w1.website.pages.items():
        before = w0.website.pages.get(url)
        if url in diff.added_pages:
            assert before is None
        elif url in diff.revised_pages:
            assert before is not None and page.html != before.html
            assert diff.since_date < page.published <= diff.until_date
        else:
            assert page == before
    assert max(p.published for p in w1.website.pages.values()) == w1.date
    later = w2.changes_since(1)
    assert not set(later.added_pages) & set(w1.website.pages)
    assert all(w2.website.pages[u].published > "2026-10-01" for u in later.revised_pages)
    total = w2.changes_since(0)
    assert set(total.added_pages) == set(diff.added_pages) | set(later.added_pages)
    assert set(total.revised_pages) >= set(later.revised_pages)
    assert w2.changes_since(2).changes == () and w2.changes_since(2).added_pages == ()


def test_every_snapshot_page_is_well_formed_and_reachable(w1: SampleWorld) -> None:
    class Times(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[str] = []
            self.hrefs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "time":
                self.times.append(found.get("datetime") or "")
            if tag == "a":
                self.hrefs.append(found.get("href") or "")

    site = w1.website
    for page in site.pages.values():
        parser = Times()
        parser.feed(page.html)
        assert parser.times == [page.published]
        assert tuple(urljoin(page.url, h) for h in parser.hrefs[1:]) == page.links
        assert page.title in page.text
        for link in page.links:
            assert site.is_external(link) or site.get(link) is not None, (page.url, link)
    queue = deque(site.home(d) for d in site.domains)
    seen = set(queue)
    while queue:
        page = site.get(queue.popleft())
        assert page is not None
        for link in page.links:
            if link not in seen and not site.is_external(link) and site.is_allowed(link):
                seen.add(link)
                queue.append(link)
    assert seen == {u for u, p in site.pages.items() if p.kind != "private"}


def test_questions_are_computed_from_the_snapshot_facts(w0: SampleWorld,
                                                        w1: SampleWorld) -> None:
    facts = set(w1.facts)
    for q in w1.questions:
        assert set(q.chain) <= facts
        assert all(w1.passage(pid) is not None for pid in q.gold_passage_ids)
        assert w1.answer_for(q) == q.answer
    assert all(pq.relation for pq in w1.popqa)
    diff = w1.changes_since(0)
    stale = [q for q in w0.questions if diff.is_stale(q)]
    assert stale and len(stale) < len(w0.questions)
    changed_answers = 0
    for q in w0.questions:
        assert w0.answer_for(q) == q.answer
        if q not in stale:
            assert w1.answer_for(q) == q.answer
        elif w1.answer_for(q) != q.answer:
            changed_answers += 1
    assert changed_answers >= 1


def test_diff_nets_out_repeated_changes_and_serialises() -> None:
    a = Fact("person:x", "employer", "company:a")
    b = Fact("person:x", "employer", "company:b")
    c = Fact("river:r", "length", "100", True)
    changes = (FactChange(1, "2026-08-01", "employer_moved", a, b, "https://n.test/1"),
               FactChange(2, "2026-11-01", "employer_moved", b, a, "https://n.test/2"),
               FactChange(2, "2026-12-01", "length_revised", c,
                          Fact("river:r", "length", "104", True), "https://n.test/3"),
               FactChange(2, "2026-12-02", "employer_left",
                          Fact("person:y", "employer", "company:a"), None, "https://n.test/4"))
    diff = SnapshotDiff(0, 2, "2026-07-01", "2027-01-01", changes, (), ())
    assert diff.changed_facts == ((c, Fact("river:r", "length", "104", True)),)
    assert diff.retired_facts == (Fact("person:y", "employer", "company:a"),)
    assert diff.added_facts == ()
    assert [ch.kind for ch in changes] == ["changed", "changed", "changed", "retired"]
    record = json.loads(json.dumps(diff.to_dict()))
    assert record["changes"][3]["new"] is None and record["retired_facts"] == [
        "person:y|employer|company:a"]


def test_mock_transport_serves_the_snapshot_with_its_dates(w1: SampleWorld) -> None:
    url = w1.changes_since(0).added_pages[0]
    with httpx.Client(transport=w1.website.mock_transport()) as client:
        response = client.get(url)
    assert response.status_code == 200 and response.text == w1.website.pages[url].html
    assert "2026" in response.headers["last-modified"]
