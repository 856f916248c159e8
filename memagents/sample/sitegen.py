"""Build the offline web of a sample world from its entities, facts and passages.

Four domains: an encyclopedia (one article per entity, the article text is the entity's
passage, plus an infobox), a news site (short items that mention facts in passing, dated 2023
to mid-2026), a registry of companies and universities, and a catalogue of books and albums.
Same-domain links are relative, cross-domain links absolute; every public page is reachable
from its domain's home page, and each domain has pages under the disallowed ``/private/``.

Example:
    >>> from memagents.sample import SampleWorld
    >>> site = SampleWorld.generate(0, size="tiny").website
    >>> len(site.domains), all(d.endswith(".test") for d in site.domains)
    (4, True)
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import NamedTuple, TypeAlias

from memagents.sample.names import NameForge, slugify
from memagents.sample.schema import Entity, Fact, Passage, render_object
from memagents.sample.website import Page, Website

__all__ = ["NewsItem", "Revise", "build_website"]

_Seg: TypeAlias = str | tuple[str, str]  # plain text, or (label, href)
#: ``revise(url, drawn_date, render)`` decides a page's date: ``render(date)`` builds the page.
Revise: TypeAlias = Callable[[str, str, Callable[[str], Page]], Page]
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ROBOTS = "User-agent: *\nDisallow: /private/\n"
_INFOBOX = {"born_on": "Born", "born_in": "Birthplace", "occupation": "Occupation",
            "educated_at": "Education", "employer": "Employer", "spouse_of": "Spouse",
            "member_of": "Band", "located_in": "Location", "capital_of": "Capital of",
            "founded_in": "Founded", "founded_by": "Founder", "headquartered_in": "Headquarters",
            "industry": "Industry", "formed_in": "Origin", "signed_to": "Label",
            "genre": "Genre", "released_by": "Artist", "released_in": "Released",
            "author": "Author", "publisher": "Publisher", "published_in": "Published",
            "flows_through": "Flows through", "length": "Length", "elevation": "Elevation"}


class _Doc:
    """Accumulates one page's HTML body, visible text and links."""

    def __init__(self, domain: str, title: str, published: str) -> None:
        self.domain, self.title, self.published = domain, title, published
        self.body: list[str] = []
        self.text: list[str] = [title]
        self.links: list[str] = []

    def _inline(self, segs: Sequence[_Seg]) -> tuple[str, str]:
        out, plain = [], []
        for seg in segs:
            if isinstance(seg, str):
                out.append(html.escape(seg))
                plain.append(seg)
                continue
            label, url = seg
            href = url[len(f"https://{self.domain}"):] if url.startswith(
                f"https://{self.domain}/") else url
            out.append(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')
            plain.append(label)
            self.links.append(url)
        return "".join(out), "".join(plain)

    def p(self, *segs: _Seg, tag: str = "p") -> None:
        markup, plain = self._inline(segs)
        self.body.append(f"<{tag}>{markup}</{tag}>")
        self.text.append(plain)

    def items(self, rows: Sequence[Sequence[_Seg]], heading: str = "") -> None:
        if heading:
            self.p(heading, tag="h2")
        lis = []
        for row in rows:
            markup, plain = self._inline(row)
            lis.append(f"<li>{markup}</li>")
            self.text.append(plain)
        self.body.append("<ul>" + "".join(lis) + "</ul>")

    def table(self, rows: Sequence[tuple[str, Sequence[_Seg]]]) -> None:
        trs = []
        for label, value in rows:
            markup, plain = self._inline(value)
            trs.append(f"<tr><th>{html.escape(label)}</th><td>{markup}</td></tr>")
            self.text.append(f"{label}: {plain}")
        self.body.append('<table class="infobox">' + "".join(trs) + "</table>")

    def page(self, path: str, kind: str, site_name: str, entity_ids: Sequence[str] = (),
             facts: Sequence[Fact] = (), published: str | None = None) -> Page:
        published = published or self.published
        d = date.fromisoformat(published)
        human = f"{d.day} {d.strftime('%B')} {d.year}"
        text = [*self.text[:1], f"Published {human}", *self.text[1:]]
        doc = (
            '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title></head>\n<body>\n"
            f'<header><a href="/">{html.escape(site_name)}</a></header>\n<main><article>\n'
            f"<h1>{html.escape(self.title)}</h1>\n"
            f'<p class="meta">Published <time datetime="{published}">{human}</time></p>\n'
            + "\n".join(self.body) + "\n</article></main>\n</body>\n</html>\n"
        )
        url = f"https://{self.domain}{path}"
        return Page(url, self.domain, path, self.title, doc, "\n".join(text),
                    tuple(self.links), published, kind, tuple(entity_ids), tuple(facts))


def _day(rng: random.Random, start: date, end: date) -> str:
    return date.fromordinal(rng.randint(start.toordinal(), end.toordinal())).isoformat()


class _Site:
    """The pages being built, the domains, and URL helpers."""

    def __init__(self, forge: NameForge, world_name: str, entities: Sequence[Entity],
                 revise: Revise | None = None) -> None:
        self.revise = revise
        self.by_id = {e.id: e for e in entities}
        self.names = {e.id: e.name for e in entities}
        self.slug = {e.id: slugify(e.name) for e in entities}
        self.wiki = f"wiki.{world_name.lower()}.test"
        self.news = f"news.{forge.root().lower()}.test"
        self.registry = f"registry.{forge.root().lower()}.test"
        self.catalog = f"catalog.{forge.root().lower()}.test"
        self.titles = {self.wiki: f"{world_name} Wiki",
                       self.news: f"The {self.news.split('.')[1].title()} Herald",
                       self.registry: "Register of Companies and Institutions",
                       self.catalog: "Union Catalogue of Books and Recordings"}
        self.pages: dict[str, Page] = {}

    def add(self, doc: _Doc, path: str, kind: str, ids: Sequence[str] = (),
            stated: Sequence[Fact] = ()) -> None:
        def render(published: str) -> Page:
            return doc.page(path, kind, self.titles[doc.domain], ids, stated, published)

        url = f"https://{doc.domain}{path}"
        page = render(doc.published) if self.revise is None else self.revise(
            url, doc.published, render)
        self.pages[page.url] = page

    def wiki_url(self, eid: str) -> str:
        return f"https://{self.wiki}/wiki/{self.slug[eid]}.html"

    def side_url(self, eid: str) -> str | None:
        etype = self.by_id[eid].type
        if etype in ("company", "university"):
            folder = "companies" if etype == "company" else "universities"
            return f"https://{self.registry}/{folder}/{self.slug[eid]}.html"
        if etype in ("book", "album"):
            return f"https://{self.catalog}/{etype}s/{self.slug[eid]}.html"
        return None

    def value(self, f: Fact) -> _Seg:
        if f.literal:
            return render_object(f, self.names)
        return (self.names[f.object], self.wiki_url(f.object))


def build_website(seed: int, forge: NameForge, world_name: str, entities: Sequence[Entity],
                  facts: Sequence[Fact], passages: Sequence[Passage],
                  support: dict[Fact, tuple[str, ...]], *, fresh: Sequence[NewsItem] = (),
                  revise: Revise | None = None) -> Website:
    """Build every page and ``robots.txt`` of the offline web.

    With the defaults this is the web of snapshot 0; a later snapshot passes its facts, the
    news items reporting its changes (``fresh``) and a ``revise`` hook that dates each page.

    Args:
        seed: The world seed.
        forge: The world's name forge (domain and prize names are claimed from it).
        world_name: The world's name, used for the encyclopedia's domain.
        entities: All entities.
        facts: All facts.
        passages: All passages (an article's text is its entity's passage).
        support: Fact -> passage ids stating it.
        fresh: Extra news items, appended after the drawn ones (their URLs are on the news
            domain, which is the same for every snapshot of a world).
        revise: Decides each page's date from its URL, the drawn date and a renderer; None
            keeps the drawn dates.

    Returns:
        The website.
    """
    rng = random.Random(f"{seed}:website")
    site = _Site(forge, world_name, entities, revise)
    own: dict[str, list[Fact]] = {}
    for f in facts:
        own.setdefault(f.subject_id, []).append(f)
    one = {(f.subject_id, f.relation): f for f in facts}
    stated_in: dict[str, list[Fact]] = {}
    for f, pids in sorted(support.items()):
        for pid in pids:
            stated_in.setdefault(pid, []).append(f)
    items = _news(rng, forge, site.news, entities, one, site.names, site.wiki_url) + list(fresh)
    in_news: dict[str, list[str]] = {}
    for item in items:
        for eid in item[3]:
            in_news.setdefault(eid, []).append(item[0])
    _wiki_pages(rng, site, world_name, entities, passages, own, stated_in, in_news)
    _news_pages(items, site)
    _record_pages(rng, site, entities, own, one)
    robots = {d: _ROBOTS for d in site.titles}
    return Website(dict(sorted(site.pages.items())), dict(sorted(robots.items())))


def _wiki_pages(rng: random.Random, site: _Site, world_name: str, entities: Sequence[Entity],
                passages: Sequence[Passage], own: dict[str, list[Fact]],
                stated_in: dict[str, list[Fact]], in_news: dict[str, list[str]]) -> None:
    wiki, names, by_id = site.wiki, site.names, site.by_id
    drafts = sorted(rng.sample(sorted(by_id), 2))
    twins: dict[str, list[str]] = {}
    for e in entities:
        if e.distractor_of:
            twins.setdefault(e.distractor_of, []).append(e.id)
    for p in sorted(passages, key=lambda p: p.entity_id):
        eid = p.entity_id
        doc = _Doc(wiki, p.title, _day(rng, date(2019, 1, 1), date(2026, 3, 31)))
        doc.table([(_INFOBOX[f.relation], [site.value(f)]) for f in own.get(eid, [])])
        doc.p(p.text)
        ends = {f.object for f in stated_in[p.id] if not f.literal}
        ends |= {f.subject_id for f in stated_in[p.id]}
        twin = by_id[eid].distractor_of
        related = sorted(ends - {eid}) + twins.get(eid, []) + ([twin] if twin else [])
        doc.items([[(names[r], site.wiki_url(r))] for r in related], "See also")
        etype = by_id[eid].type
        links: list[list[_Seg]] = [[(f"Category: {etype}",
                                     f"https://{wiki}/category/{etype}.html")]]
        record = site.side_url(eid)
        if record:
            links.append([("Registry or catalogue record", record)])
        links += [[("In the news", u)] for u in in_news.get(eid, [])]
        if eid in drafts:
            links.append([("Unpublished draft",
                           f"https://{wiki}/private/drafts/{site.slug[eid]}.html")])
        if rng.random() < 0.25:
            links.append([("Archived copy", f"https://archive.example/{wiki}/{site.slug[eid]}")])
        doc.items(links, "Links")
        add_ids = [eid, *dict.fromkeys(related)]
        site.add(doc, f"/wiki/{site.slug[eid]}.html", "article", add_ids, stated_in[p.id])
    for eid in drafts:
        doc = _Doc(wiki, f"Draft: {names[eid]}", "2026-04-01")
        doc.p("This draft revision is private and must not be crawled or indexed.")
        doc.p("Back to ", (names[eid], site.wiki_url(eid)), ".")
        site.add(doc, f"/private/drafts/{site.slug[eid]}.html", "private", [eid])
    types = sorted({e.type for e in entities})
    home = _Doc(wiki, site.titles[wiki], "2026-01-05")
    home.p(f"The free encyclopedia of {world_name} and its neighbours.")
    home.items([[(f"{t.title()} articles", f"https://{wiki}/category/{t}.html")] for t in types])
    site.add(home, "/", "home")
    for t in types:
        members = sorted((e for e in entities if e.type == t), key=lambda e: e.name)
        doc = _Doc(wiki, f"Category: {t}", "2026-01-05")
        doc.items([[(e.name, site.wiki_url(e.id))] for e in members])
        site.add(doc, f"/category/{t}.html", "index", [e.id for e in members])


def _record_pages(rng: random.Random, site: _Site, entities: Sequence[Entity],
                  own: dict[str, list[Fact]], one: dict[tuple[str, str], Fact]) -> None:
    listed: dict[str, list[list[_Seg]]] = {site.registry: [], site.catalog: []}
    filings = []
    for e in sorted(entities, key=lambda e: e.name):
        url = site.side_url(e.id)
        if url is None:
            continue
        domain = site.registry if e.type in ("company", "university") else site.catalog
        shown = list(own.get(e.id, []))
        label = one.get((one[(e.id, "released_by")].object, "signed_to")) if (
            e.type == "album" and (e.id, "released_by") in one) else None
        if label is not None:
            shown.append(label)
        doc = _Doc(domain, e.name, _day(rng, date(2020, 1, 1), date(2026, 5, 31)))
        rows = [(_INFOBOX[f.relation], [site.value(f)]) for f in shown]
        doc.table([("Name", [(e.name, site.wiki_url(e.id))]), ("Record type", [e.type]), *rows])
        if e.type == "company" and rng.random() < 0.3:
            filings.append(e)
            doc.p("Confidential filings: ", (
                "annual return", f"https://{domain}/private/filings/{site.slug[e.id]}.html"), ".")
        ids = [e.id] + [f.object for f in shown if not f.literal]
        site.add(doc, url[len(f"https://{domain}"):], "registry" if domain == site.registry
                 else "catalog", list(dict.fromkeys(ids)), shown)
        listed[domain].append([(e.name, url), f" ({e.type})"])
    for e in filings:
        doc = _Doc(site.registry, f"Annual return: {e.name}", "2026-02-27")
        doc.p("Confidential. This filing is excluded from crawling by robots.txt.")
        doc.p("Public record: ", (e.name, site.side_url(e.id) or ""), ".")
        site.add(doc, f"/private/filings/{site.slug[e.id]}.html", "private", [e.id])
    for domain, records in listed.items():
        home = _Doc(domain, site.titles[domain], "2026-01-05")
        home.items(records, "Records")
        if domain == site.catalog:
            home.items([[("Pending reviews", f"https://{domain}/private/reviews/pending.html")]],
                       "Staff")
            doc = _Doc(domain, "Pending reviews", "2026-03-03")
            doc.p("Internal queue. Not for crawlers.")
            site.add(doc, "/private/reviews/pending.html", "private")
        site.add(home, "/", "home")


class NewsItem(NamedTuple):
    """One news story before it becomes a page.

    Attributes:
        url: Canonical URL on the news domain.
        headline: Title.
        lead: The story's paragraph: plain strings and ``(label, href)`` links.
        entity_ids: Entities it is about (the first one first).
        facts: Facts it states.
        published: ISO date.

    Example:
        >>> item = NewsItem("https://news.x.test/2026/08/001-a.html", "A", ["A."], [], [],
        ...                 "2026-08-03")
        >>> item.published
        '2026-08-03'
    """

    url: str
    headline: str
    lead: list[_Seg]
    entity_ids: list[str]
    facts: list[Fact]
    published: str


_NEEDS = {"company": ("industry", "founded_by"), "band": ("genre", "formed_in"),
          "book": ("genre", "author"), "person": ("occupation", "born_in"),
          "university": ("founded_in", "located_in")}
_LEADS = {
    "company": ("{e} to open a new office",
                "{e}, the {a} company founded by {b}, said on {w} it would open a new office."),
    "band": ("{e} announce a spring tour",
             "{e}, the {a} band formed in {b}, announced a spring tour on {w}."),
    "book": ("{e} shortlisted for the {p} Prize",
             "{e}, the {a} book written by {b}, was shortlisted for the {p} Prize on {w}."),
    "person": ("{e} receives the {p} Medal",
               "{e}, the {a} born in {b}, received the {p} Medal on {w}."),
    "university": ("{e} opens a new library",
                   "{e}, founded in {a}, opened a new library in {b} on {w}."),
}


def _news(rng: random.Random, forge: NameForge, domain: str, entities: Sequence[Entity],
          one: dict[tuple[str, str], Fact], names: dict[str, str], wiki_url: Callable[[str], str]
          ) -> list[NewsItem]:
    """Draft news items: (url, headline, lead segments, entity ids, facts stated, date)."""
    pool = [e for e in entities if e.type in _NEEDS and not e.distractor_of
            and all((e.id, r) in one for r in _NEEDS[e.type])]
    weights = [e.popularity ** 0.5 for e in pool]
    items: list[NewsItem] = []
    for index in range(max(8, len(entities) // 5)):
        e = rng.choices(pool, weights)[0]
        a, b = (one[(e.id, r)] for r in _NEEDS[e.type])
        day = _day(rng, date(2023, 1, 1), date(2026, 6, 30))
        fill = {"a": render_object(a, names), "p": forge.root(),
                "w": _WEEKDAYS[date.fromisoformat(day).weekday()]}
        head_t, lead_t = _LEADS[e.type]
        head = head_t.format(e=e.name, **fill)
        lead: list[_Seg] = []
        for piece in re.split(r"(\{[eb]\})", lead_t.format(e="{e}", b="{b}", **fill)):
            if piece == "{e}":
                lead.append((e.name, wiki_url(e.id)))
            elif piece == "{b}":
                lead.append((names[b.object], wiki_url(b.object)))
            elif piece:
                lead.append(piece)
        url = f"https://{domain}/{day[:4]}/{day[5:7]}/{index + 1:03d}-{slugify(head)}.html"
        items.append(NewsItem(url, head, lead, [e.id, b.object], [a, b], day))
    return items


def _news_pages(items: list[NewsItem], site: _Site) -> None:
    domain = site.news
    for url, head, lead, ids, stated, day in items:
        doc = _Doc(domain, head, day)
        doc.p(*lead)
        doc.p("Further details were not disclosed.")
        related = [u for u in (site.side_url(x) for x in ids) if u]
        if related:
            doc.items([[("Record", u)] for u in related], "Related records")
        site.add(doc, url[len(f"https://{domain}"):], "news", ids, stated)
    home = _Doc(domain, "Latest news", "2026-07-01")
    ordered = sorted(items, key=lambda it: (it[5], it[0]), reverse=True)
    home.items([[(it[1], it[0]), f" ({it[5]})"] for it in ordered])
    home.items([[("Embargoed: annual report", f"https://{domain}/private/embargoed/report.html")]],
               "Staff")
    site.add(home, "/", "home")
    doc = _Doc(domain, "Embargoed: annual report", "2026-07-01")
    doc.p("Embargoed material. Crawlers must respect robots.txt and stay out of /private/.")
    site.add(doc, "/private/embargoed/report.html", "private")
