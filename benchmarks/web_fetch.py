"""The web fetcher on the offline web: throughput with politeness honoured, and extraction quality.

Run: ``.venv/bin/python benchmarks/web_fetch.py [--seed 0] [--rounds 3]`` (about half a minute).

The sample world's website (353 pages on 4 ``.test`` domains) is served on loopback by
:func:`memagents.sample.serve_website`; the fetcher reaches it through its resolve map and
allowlist (``server.resolve_setting`` / ``server.allow_hosts_setting``), exactly as a user of
``memagents sample serve`` would. Everything goes through the real path: SSRF check of the mapped
address, robots.txt (fetched once per domain, ``/private/`` disallowed), per-host concurrency 4,
real sockets, extraction with trafilatura and htmldate.

1. **Throughput, cold cache**: every public page (the 11 private ones are refused by robots.txt,
   checked separately), ``afetch_many``; pages/s over the best of ``--rounds`` rounds, each
   with a fresh fetcher. The server reports the most requests in flight per host (must be <= 4).
   Again with 50 ms of server latency per request, where requests to one host overlap: the
   server's in-flight peak per host must be exactly 4, and the floor is the largest domain's
   pages / 4 x 50 ms.
2. **Throughput, warm cache**: the same URLs again on the same fetcher: no request may reach the
   server.
3. **Interval honoured**: with ``min_interval=0.05`` s, 20 pages per domain; the smallest gap
   between two requests to one host where they leave the client (an httpx transport records
   them; must be >= 0.05 s), and as the server saw them arrive (informational: the server runs
   in this process, so its threads' timestamps jitter with the GIL).
4. **Extraction quality** per page: the fraction of its known facts (``Page.facts``) whose
   subject name and rendered object both appear in the extracted text (the rule of
   ``tests/test_sample_web.py``); title and publication date equal to the page record; links
   covering the record's links; the header's site name absent from the text (boilerplate), on
   the pages as served and on a variant with an injected ``<nav>`` menu, ``<aside>`` sidebar
   and ``<footer>`` on every page.

Writes ``benchmarks/results/web_fetch.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memagents.sample import SampleWorld, serve_website
from memagents.sample.schema import render_object
from memagents.sample.website import Page, Website
from memagents.web.fetch import FetchedPage, Fetcher, FetchSettings

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {"cold_pages_per_s": 20.0, "warm_pages_per_s": 500.0, "fact_recall": 0.98}
NAV = ('<nav class="menu"><a href="/">Front page</a> <a href="/about.html">About this site</a> '
       '<a href="/contact.html">Contact the editors</a> <a href="/donate.html">Donate today</a>'
       "</nav>")
ASIDE = ('<aside class="sidebar"><h3>Most read this week</h3><ul><li>Sidebar teaser about '
         "weather</li><li>Sidebar teaser about markets</li></ul></aside>")
FOOTER = ("<footer><p>Copyright 2026 Offline Web Publishing. All rights reserved.</p>"
          '<p><a href="/privacy.html">Privacy policy</a> · <a href="/terms.html">Terms of use'
          "</a></p></footer>")
BOILERPLATE = ("About this site", "Contact the editors", "Donate today", "Most read this week",
               "Sidebar teaser", "All rights reserved", "Privacy policy", "Terms of use")


def settings_for(server: Any, **extra: Any) -> FetchSettings:
    return FetchSettings(resolve=server.resolve_setting,
                         allow_hosts=tuple(server.allow_hosts_setting.split(",")),
                         per_host_concurrency=4, **extra)


async def crawl(settings: FetchSettings, urls: list[str], *, warm: bool = False
                ) -> tuple[float, float | None, list[FetchedPage | Exception]]:
    """Seconds for a cold pass (and a warm pass on the same fetcher), and the cold results."""
    async with Fetcher(settings) as fetcher:
        start = time.perf_counter()
        results = await fetcher.afetch_many(urls, concurrency=64)
        cold = time.perf_counter() - start
        warm_s = None
        if warm:
            start = time.perf_counter()
            again = await fetcher.afetch_many(urls, concurrency=64)
            warm_s = time.perf_counter() - start
            assert all(isinstance(p, FetchedPage) and p.from_cache for p in again)
    return cold, warm_s, list(results)


class Recorder(httpx.AsyncHTTPTransport):
    """Records when each request (but robots.txt) leaves the client, per Host header."""

    def __init__(self, times: dict[str, list[float]]) -> None:
        super().__init__()
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/robots.txt":
            self.times.setdefault(request.headers["host"], []).append(time.monotonic())
        return await super().handle_async_request(request)


def smallest_gap(times: dict[str, list[float]]) -> float:
    gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    return min(gaps)


def with_boilerplate(site: Website) -> Website:
    pages = {}
    for url, page in site.pages.items():
        html = page.html.replace("<body>\n", f"<body>\n{NAV}\n{ASIDE}\n", 1)
        html = html.replace("</main>", f"</main>\n{FOOTER}", 1)
        pages[url] = replace(page, html=html)
    return Website(pages, dict(site.robots))


def site_name(page: Page) -> str:
    match = re.search(r'<header><a href="/">([^<]*)</a></header>', page.html)
    return match.group(1).replace("&amp;", "&") if match else ""


def quality(world: SampleWorld, site: Website, results: dict[str, FetchedPage],
            boilerplate: tuple[str, ...] = ()) -> dict[str, Any]:
    names = {e.id: e.name for e in world.entities}
    per_page, facts_found, facts_total = [], 0, 0
    titles = dates = links = header_absent = header_pages = bp_absent = 0
    misses: list[dict[str, str]] = []
    for url, page in site.pages.items():
        fetched = results.get(url)
        if fetched is None:
            continue
        text = fetched.text
        found = 0
        for fact in page.facts:
            ok = names[fact.subject_id] in text and render_object(fact, names) in text
            found += ok
            if not ok and len(misses) < 10:
                misses.append({"url": url, "fact": fact.key})
        facts_found += found
        facts_total += len(page.facts)
        if page.facts:
            per_page.append(found / len(page.facts))
        titles += fetched.title == page.title
        dates += fetched.published == page.published
        links += set(page.links) <= set(fetched.links)
        if page.kind != "home":
            header_pages += 1
            header_absent += site_name(page) not in text
        bp_absent += all(b not in text for b in boilerplate)
    n = len(results)
    return {
        "pages": n, "pages_with_facts": len(per_page), "facts": facts_total,
        "fact_recall_macro": round(sum(per_page) / len(per_page), 4),
        "fact_recall_micro": round(facts_found / facts_total, 4),
        "title_exact": round(titles / n, 4), "date_exact": round(dates / n, 4),
        "links_covered": round(links / n, 4),
        "header_site_name_absent": round(header_absent / header_pages, 4),
        **({"injected_boilerplate_absent": round(bp_absent / n, 4)} if boilerplate else {}),
        "missed_examples": misses,
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    world = SampleWorld.generate(args.seed)
    site = world.website
    public = [u for u, p in site.pages.items() if p.kind != "private"]
    private = [u for u, p in site.pages.items() if p.kind == "private"]
    out: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                           "cpus": os.cpu_count(), "seed": args.seed, "pages": len(site.pages),
                           "public_pages": len(public), "domains": len(site.domains),
                           "goals": GOALS}

    with serve_website(world) as server:
        # 1-2. throughput, cold then warm
        rounds = []
        for _ in range(args.rounds):
            server.reset_stats()
            cold, warm, results = asyncio.run(crawl(settings_for(server), public, warm=True))
            counts = server.counts()
            robots = sum(1 for r in server.requests if r.path == "/robots.txt")
            assert warm is not None
            rounds.append({"cold_s": cold, "warm_s": warm, "requests": sum(counts.values()),
                           "robots_fetches": robots, "max_in_flight": server.max_in_flight()})
        errors = [r for r in results if not isinstance(r, FetchedPage)]
        best_cold = min(r["cold_s"] for r in rounds)
        best_warm = min(r["warm_s"] for r in rounds)
        pages = {u: r for u, r in zip(public, results) if isinstance(r, FetchedPage)}
        peak = max(max(r["max_in_flight"].values()) for r in rounds)
        out["throughput"] = {
            "per_host_concurrency": 4, "robots_checked": True, "urls": len(public),
            "errors": len(errors), "cold_pages_per_s": round(len(public) / best_cold, 1),
            "warm_pages_per_s": round(len(public) / best_warm, 1),
            "cold_s_rounds": [round(r["cold_s"], 3) for r in rounds],
            "warm_s_rounds": [round(r["warm_s"], 4) for r in rounds],
            "requests_per_round": rounds[0]["requests"],
            "robots_fetches_per_round": rounds[0]["robots_fetches"],
            "max_in_flight_per_host": peak,
        }

        # 1b. the same with 50 ms of server latency per request (requests overlap per host)
        server.latency = 0.05
        server.reset_stats()
        slow_s, _, _ = asyncio.run(crawl(settings_for(server), public))
        out["throughput_latency_50ms"] = {
            "cold_pages_per_s": round(len(public) / slow_s, 1),
            "max_in_flight_per_host": max(server.max_in_flight().values()),
            "floor_s": round(max(sum(1 for u in public if f"//{d}/" in u) for d in site.domains)
                             / 4 * 0.05, 2),
            "seconds": round(slow_s, 2),
        }
        server.latency = 0.0

        async def refused() -> list[str]:
            async with Fetcher(settings_for(server)) as fetcher:
                res = await fetcher.afetch_many(private)
            return [getattr(r, "reason", "ok") for r in res]

        reasons = asyncio.run(refused())
        out["robots"] = {"private_urls": len(private),
                         "refused_by_robots": reasons.count("robots")}

        # 3. interval honoured: where requests leave the client, and as the server saw them
        arrivals: dict[str, list[float]] = {}
        sent: dict[str, list[float]] = {}
        lock = threading.Lock()

        def note(host: str, path: str) -> None:
            if path != "/robots.txt":
                with lock:
                    arrivals.setdefault(host, []).append(time.monotonic())

        server.on_request = note
        sample = [u for d in site.domains for u in [x for x in public if f"//{d}/" in x][:20]]

        async def spaced() -> None:
            client = httpx.AsyncClient(transport=Recorder(sent), trust_env=False)
            async with Fetcher(settings_for(server, min_interval=0.05), client=client) as f:
                await f.afetch_many(sample)
            await client.aclose()

        asyncio.run(spaced())
        server.on_request = None
        out["interval"] = {"min_interval_s": 0.05, "pages": len(sample),
                           "smallest_gap_sent_s": round(smallest_gap(sent), 4),
                           "smallest_gap_at_server_s": round(smallest_gap(arrivals), 4)}

        # 4. extraction quality, as served and with injected boilerplate
        out["extraction"] = quality(world, site, pages)
        noisy = with_boilerplate(site)
        server.use(noisy)
        _, _, noisy_results = asyncio.run(crawl(settings_for(server), public))
        noisy_pages = {u: r for u, r in zip(public, noisy_results) if isinstance(r, FetchedPage)}
        out["extraction_with_boilerplate"] = quality(world, noisy, noisy_pages, BOILERPLATE)

    t, e = out["throughput"], out["extraction"]
    out["meets_goals"] = {
        "cold_pages_per_s": t["cold_pages_per_s"] >= GOALS["cold_pages_per_s"],
        "warm_pages_per_s": t["warm_pages_per_s"] >= GOALS["warm_pages_per_s"],
        "fact_recall": e["fact_recall_micro"] >= GOALS["fact_recall"]
        and out["extraction_with_boilerplate"]["fact_recall_micro"] >= GOALS["fact_recall"],
        "politeness": t["max_in_flight_per_host"] <= 4 and t["robots_fetches_per_round"] == 4
        and out["throughput_latency_50ms"]["max_in_flight_per_host"] == 4
        and out["robots"]["refused_by_robots"] == len(private)
        and out["interval"]["smallest_gap_sent_s"] >= 0.05,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_fetch.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("goals",)}, indent=2))
    return out


if __name__ == "__main__":
    main()
