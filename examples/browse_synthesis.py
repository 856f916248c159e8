"""Synthesize fresh browse questions from the offline web and write them as a release.

The three agents of :mod:`memagents.browsecomp` run as one LangGraph workflow over the sample
world's website (its later snapshot, with fresh pages, served on loopback by
:func:`memagents.web.offline.offline_web`): the synthesis agent walks from seed entities hop
by hop, quoting each fact from a fetched page; the filtering agent checks the quotes, their
freshness against the time anchor, that each fact stands on two independent sites, the
subjects' popularity and that the model cannot answer without tools; the guidance agent
formalises the question as a reasoning graph and asks for another version when a clue is
redundant or a shortcut pins the answer; the browse agent and a second solver must then reach
the answer. The example prints the per-stage table and every accepted question (answer, hops
with the domains of their evidence and their freshness) and writes a versioned release:
``questions.csv`` (BrowseComp's columns, encrypted with the release's canary),
``metadata.jsonl``, ``manifest.json`` and three SVG plots.

Run without any model (the sample-world oracle plays the model: a simulation)::

    python examples/browse_synthesis.py --simulate

or with a model (any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/browse_synthesis.py --llm openai:gpt-4o-mini --out releases/

No network is used besides the model: the web is on 127.0.0.1. The tests run this file with
``--simulate`` and through the spec path against the loopback OpenAI server
(tests/test_browsecomp_examples.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.checks import site_of
from memagents.browsecomp.release import EmptyReleaseError, write_release
from memagents.browsecomp.report import stage_rows, write_plots
from memagents.browsecomp.run import synthesize


def describe(c: Candidate) -> list[str]:
    """Lines for one accepted question: question, answer, and each hop with the domains of
    its evidence and whether it is fresh (published on or after the anchor)."""
    lines = [f"Q: {c.question}", f"A: {c.answer}"]
    for i, hop in enumerate(c.hops, 1):
        domains = ", ".join(dict.fromkeys(site_of(e.url) for e in hop.evidence)) or "-"
        dates = ", ".join(sorted({e.published for e in hop.evidence if e.published})) or "?"
        fresh = {True: "fresh", False: "stale", None: "undated"}[hop.fresh]
        lines.append(f"  hop {i}: {hop.subject} --{hop.relation}--> {hop.object}  "
                     f"[{fresh}; published {dates}; evidence on {domains}]")
    return lines


def run(*, anchor: str = "2026-07-01", n: int = 4, simulate: bool = False, llm: Any = None,
        seeds: list[str] | None = None, max_seeds: int = 20, out: str | Path | None = None,
        echo: Any = print) -> dict[str, Any]:
    """Synthesize on the offline web and write a release into ``out`` (default: a new
    temporary folder); returns ``{"result", "release", "accepted"}``."""
    result = synthesize(anchor=anchor, n=n, offline=True, simulate=simulate, llm=llm,
                        seeds=seeds or (), max_seeds=max_seeds)
    stats = result["stats"]
    echo(f"model: {result['model']}; anchor {anchor}; offline web snapshot "
         f"{result['web']['snapshot']} ({result['web']['snapshot_date']})")
    echo(f"{'stage':<12} {'entered':>7} {'rejected':>8} {'passed':>6}")
    for row in stage_rows(stats):
        echo(f"{row['stage']:<12} {row['entered']:>7} {row['rejected']:>8} {row['passed']:>6}")
    echo(f"accepted {stats.get('accepted', 0)} of {stats.get('seeds', 0)} seeds; "
         f"{stats.get('llm_calls', 0)} LLM calls, {stats.get('fetches', 0)} fetches")
    candidates = [Candidate.from_dict(c) for c in result["candidates"]]
    accepted = [c for c in candidates if c.status == "accepted"]
    for c in accepted:
        echo("")
        for line in describe(c):
            echo(line)
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="memagents-bench-"))
    try:
        release = write_release(folder, candidates, anchor=anchor, manifest_info=result)
    except EmptyReleaseError as exc:
        echo(f"\nno release written: {exc}")
        return {"result": result, "release": None, "accepted": accepted}
    write_plots(release.path, candidates, stats)
    echo(f"\nrelease {release.version}: {release.path}")
    echo("  " + ", ".join(sorted(p.name for p in release.path.iterdir())))
    echo("  questions.csv is encrypted with the canary in manifest.json (BrowseComp's scheme);"
         " read it with memagents.eval.load_questions")
    return {"result": result, "release": release, "accepted": accepted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true",
                        help="the sample-world oracle plays the model (a simulation, no LLM)")
    parser.add_argument("--llm", default=None, help="chat model spec (default: MEMAGENTS_LLM)")
    parser.add_argument("--anchor", default="2026-07-01",
                        help="time anchor YYYY-MM-DD: facts published on or after it are fresh")
    parser.add_argument("--n", type=int, default=4, help="questions to release at most")
    parser.add_argument("--seed", action="append", default=None,
                        help="a seed entity (repeatable; default: the world's, fresh first)")
    parser.add_argument("--max-seeds", type=int, default=20, help="seeds to try at most")
    parser.add_argument("--out", default=None, help="releases folder (default: a temp folder)")
    args = parser.parse_args(argv)
    llm = None
    if not args.simulate:
        from memagents.config import get_settings

        llm = args.llm or get_settings().llm
        if not llm:
            print("pass --simulate (no model), or --llm openai:MODEL / set MEMAGENTS_LLM (and "
                  "OPENAI_API_KEY / OPENAI_BASE_URL)")
            return 2
    run(anchor=args.anchor, n=args.n, simulate=args.simulate, llm=llm, seeds=args.seed,
        max_seeds=args.max_seeds, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
