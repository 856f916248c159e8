"""The three agents as one LangGraph workflow, seeds fanned out with ``Send``.

::

    START --Send per seed--> seed: explore -> compose -> quotes -> freshness -> credibility
                                       ^                                           |
                                       +---- guidance asks for another version ----+
                                   -> popularity -> closed_book -> solvable -> unique -> done
                                   (a failed check goes straight to done)

Per seed (a compiled subgraph): the **synthesis agent** explores and composes
(:mod:`memagents.browsecomp.synthesis`); the **filtering agent** checks quotes, freshness,
credibility (corroborating each fact on other sites first), popularity and the closed-book
probe (:mod:`memagents.browsecomp.checks`); the **guidance agent** formalises the question
as a reasoning graph over every fact seen and, when a clue is redundant, a shortcut pins the
answer or the answer is not unique, sends feedback for another composition (up to
``max_iterations``); the final gates run the browse agent (solvability) and a second solver
(uniqueness). Cheap checks run first, so an LLM-heavy gate only sees survivors.

Seeds run in parallel under the run's ``max_concurrency`` (LangGraph's own limit on
concurrent tasks) and share one :class:`~memagents.models.Budget` through the model. With a
checkpointer, a run killed midway resumes without redoing finished seeds; candidates merge
by their stable id, so a resumed run never duplicates a question. The graph is async
(``await graph.ainvoke(...)``; :func:`run_synthesis` wraps it).

Counters in ``stats``: ``seeds``, ``accepted``, ``entered:<check>`` and ``rejected:<check>``
per stage, ``llm_calls``, ``fetches``, ``searches``, ``solver_tool_calls``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from memagents.browsecomp.candidate import Candidate, CheckResult, normalize_text
from memagents.browsecomp.checks import (
    PopularitySignal,
    answer_matches,
    credibility_check,
    evidence_for,
    freshness_check,
    popularity_check,
    quotes_check,
    site_of,
)
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.guidance import analyze, shortcut_check, uniqueness_check
from memagents.browsecomp.prompts import CLOSED_BOOK_PROMPT
from memagents.browsecomp.synthesis import Exploration, SynthesisSettings, compose, explore
from memagents.errors import BudgetExceeded, InputError, MemagentsError
from memagents.eval.browsecomp import format_query, parse_response
from memagents.models import Budget, StructuredLLM
from memagents.models.usage import track_usage
from memagents.web.browse import BrowseSettings, build_browse_agent

__all__ = ["CHECKS", "SynthesisState", "Toolkit", "build_synthesis", "make_guide",
           "run_synthesis"]

#: The checks after composition, in order (guidance may send a candidate back to compose).
CHECKS = ("quotes", "freshness", "credibility", "guidance", "popularity", "closed_book",
          "solvable", "unique")

Guide = Callable[[Candidate, list[dict[str, str]]], tuple[CheckResult, str]]
Solver = Callable[[str], Awaitable[dict[str, Any]]]


def _merge_candidates(old: list[dict[str, Any]] | None,
                      new: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = {c["id"]: c for c in old or ()}
    for c in new or ():
        out[c["id"]] = c
    return list(out.values())


def _add_counts(old: dict[str, int] | None, new: dict[str, int] | None) -> dict[str, int]:
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = out.get(key, 0) + value
    return out


class SynthesisState(TypedDict, total=False):
    """The run: seeds in (or ready candidates to ``verify``: they skip exploration and
    composition); candidates (accepted and rejected, as dicts) and counters out."""

    seeds: list[str]
    verify: list[dict[str, Any]]
    candidates: Annotated[list[dict[str, Any]], _merge_candidates]
    stats: Annotated[dict[str, int], _add_counts]


class _SeedOutput(TypedDict, total=False):
    candidates: Annotated[list[dict[str, Any]], _merge_candidates]
    stats: Annotated[dict[str, int], _add_counts]


class _SeedState(_SeedOutput, total=False):
    seed: str
    verify: bool
    exploration: dict[str, Any] | None
    candidate: dict[str, Any] | None
    feedback: str


@dataclass(frozen=True, kw_only=True)
class Toolkit:
    """What the agents work with.

    Attributes:
        llm: The model of all three agents (a :class:`~memagents.models.StructuredLLM`).
        search: A search backend (``asearch(query, k=)``).
        fetcher: The safe fetcher (``afetch(url)``).
        settings: :class:`~memagents.browsecomp.synthesis.SynthesisSettings`.
        guide: The guidance agent: ``(candidate, facts_seen) -> (verdict, feedback)``.
        popularity: A :class:`~memagents.browsecomp.checks.PopularitySignal`; ``None`` skips
            the popularity check (recorded as skipped).
        solver: Async ``question -> {"answer", ...}`` with tools (default: the browse agent).
        second_solver: The uniqueness solver (default: the browse agent with a larger tool
            budget; pass one built on another model for a stronger check).
    """

    llm: StructuredLLM
    search: Any
    fetcher: Any
    settings: SynthesisSettings
    guide: Guide
    popularity: PopularitySignal | None = None
    solver: Solver | None = None
    second_solver: Solver | None = None


def make_guide(base: FactBase | None = None, *, strict: bool | None = None,
               allow_redundant: bool = False) -> Guide:
    """The guidance agent: the reasoning-graph analysis of
    :mod:`memagents.browsecomp.guidance` over every fact seen while browsing plus the hops
    (and ``base``, e.g. an exact knowledge base of a sample world), as one verdict
    (``guidance``) and the report's feedback for the next version.

    What a knowledge base of *seen* facts can prove is limited: with positive clues only, more
    facts can only add solutions, so "several entities fit" (underdetermined), "none fits" or
    "another entity fits" hold on the whole web too and always fail the check; but a shortcut or
    a redundant clue found among a few seen facts may vanish among all facts. So shortcuts and
    redundancy fail the check only when ``strict`` (default: when a ``base`` knowledge base is
    given); otherwise they go into the details and the feedback, and the uniqueness gate (a
    second solver on the web) has the last word.
    """
    strict = base is not None if strict is None else strict

    def guide(candidate: Candidate, seen: list[dict[str, str]]) -> tuple[CheckResult, str]:
        triples = [(f["subject"], f["relation"], f["object"]) for f in seen
                   if f.get("subject") and f.get("relation") and f.get("object")]
        triples += [(h.subject, h.relation, h.object) for h in candidate.hops]
        kb = _with_facts(base, triples)
        report = analyze(candidate, kb)
        unique = uniqueness_check(candidate, kb, report)
        short = shortcut_check(candidate, kb, report, allow_redundant=allow_redundant)
        complement = any(c.negated for c in candidate.constraints)
        hard = [unique] if (strict or not complement or unique.details.get("status")
                            in ("invalid", "wrong_answer")) else []
        if strict:
            hard.append(short)
        failed = [r for r in hard if not r.passed]
        verdict = CheckResult(
            name="guidance", passed=not failed,
            reason="; ".join(r.reason for r in failed) or (
                "" if short.passed else f"noted, not proved on {len(kb)} seen facts: "
                f"{short.reason}"),
            details={"status": report.status, "answers": list(report.answers[:10]),
                     "redundant": list(report.redundant),
                     "shortcuts": [s.reason for s in report.shortcuts],
                     "depth": report.depth, "kinds": dict(report.kinds),
                     "kb_facts": len(kb), "strict": strict})
        return verdict, report.feedback()
    return guide


def _with_facts(base: FactBase | None, triples: list[tuple[str, str, str]]) -> FactBase:
    return FactBase(triples) if base is None else base.extended(triples)


def _agent_solver(tk: Toolkit, tool_calls: int) -> Solver:
    graph = build_browse_agent(tk.llm, tk.search, tk.fetcher,
                               settings=BrowseSettings(max_tool_calls=tool_calls))

    async def solve(question: str) -> dict[str, Any]:
        return dict(await graph.ainvoke({"question": question}))
    return solve


class _Nodes:
    """The per-seed nodes, closed over one toolkit."""

    def __init__(self, tk: Toolkit) -> None:
        self.tk = tk
        self.solver = tk.solver or _agent_solver(tk, tk.settings.solver_tool_calls)
        self.second = tk.second_solver or _agent_solver(tk, 2 * tk.settings.solver_tool_calls)

    # ------------------------------------------------------------------ synthesis agent
    async def explore(self, state: _SeedState) -> dict[str, Any]:
        with track_usage() as used:
            try:
                found = await explore(state["seed"], llm=self.tk.llm, search=self.tk.search,
                                      fetcher=self.tk.fetcher, settings=self.tk.settings)
            except BudgetExceeded as exc:
                found = Exploration(seed=state["seed"], problem=f"budget exhausted: {exc}")
            except MemagentsError as exc:  # an unusable or failed model reply: this seed only
                found = Exploration(seed=state["seed"], problem=f"{type(exc).__name__}: {exc}")
        stats = {"seeds": 1, "llm_calls": used.llm_calls, "fetches": found.fetches,
                 "searches": found.searches, "dropped_facts": found.dropped_facts}
        return {"exploration": found.to_dict(), "feedback": "", "stats": stats}

    async def compose(self, state: _SeedState) -> dict[str, Any]:
        found = Exploration.from_dict(state["exploration"] or {"seed": state["seed"]})
        previous = state.get("candidate")
        iteration = int(previous["iteration"]) + 1 if previous else 0
        stats = {"entered:compose": 1}
        if found.problem:
            candidate = Candidate(seed=found.seed, question="", answer="",
                                  hops=tuple(found.hops), anchor=self.tk.settings.anchor)
            candidate = candidate.with_check(CheckResult(name="explore", passed=False,
                                                         reason=found.problem))
            return {"candidate": candidate.to_dict(), "stats": {"rejected:explore": 1}}
        with track_usage() as used:
            try:
                candidate = await compose(found, llm=self.tk.llm, settings=self.tk.settings,
                                          feedback=state.get("feedback") or "",
                                          iteration=iteration)
            except (BudgetExceeded, MemagentsError) as exc:
                candidate = Candidate(seed=found.seed, question="", answer="",
                                      hops=tuple(found.hops), anchor=self.tk.settings.anchor,
                                      iteration=iteration).with_check(
                    CheckResult(name="compose", passed=False, reason=str(exc)))
        stats["llm_calls"] = used.llm_calls
        if previous:  # keep the history: the earlier version's verdicts come first
            candidate = replace(candidate, checks=(
                *Candidate.from_dict(previous).checks, *candidate.checks))
        if candidate.status == "rejected":
            stats["rejected:compose"] = 1
        return {"candidate": candidate.to_dict(), "stats": stats}

    # ------------------------------------------------------------------ checks
    async def check(self, name: str, state: _SeedState) -> dict[str, Any]:
        candidate = Candidate.from_dict(state["candidate"] or {})
        stats: dict[str, int] = {f"entered:{name}": 1}
        update: dict[str, Any] = {}
        with track_usage() as used:
            try:
                candidate, result, extra = await getattr(self, f"_{name}")(candidate, state,
                                                                           stats)
            except BudgetExceeded as exc:
                result, extra = CheckResult(name=name, passed=False,
                                            reason=f"budget exhausted: {exc}"), {}
            except MemagentsError as exc:  # the check could not run: never release unchecked
                result, extra = CheckResult(name=name, passed=False,
                                            reason=f"could not run: {type(exc).__name__}: "
                                                   f"{exc}"), {}
        update.update(extra)
        stats["llm_calls"] = used.llm_calls
        if not result.passed:
            stats[f"rejected:{name}"] = 1
        update["candidate"] = candidate.with_check(result).to_dict()
        update["stats"] = stats
        return update

    async def _page_text(self, url: str, stats: dict[str, int]) -> str | None:
        try:
            page = await self.tk.fetcher.afetch(url)
        except MemagentsError:
            return None
        if not getattr(page, "from_cache", False):
            stats["fetches"] = stats.get("fetches", 0) + 1
        return page.text or ""

    async def _quotes(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        urls = list(dict.fromkeys(e.url for e in c.evidence()))
        texts = {u: t for u in urls if (t := await self._page_text(u, stats)) is not None}
        return c, quotes_check(c, texts), {}

    async def _freshness(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        return c, freshness_check(c, min_fresh=self.tk.settings.min_fresh), {}

    async def _credibility(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        s = self.tk.settings
        hops = list(c.hops)
        for i, hop in enumerate(hops):
            sites = {site_of(e.url) for e in hop.evidence}
            if len(sites) >= s.min_domains:
                continue
            try:
                stats["searches"] = stats.get("searches", 0) + 1
                results = await self.tk.search.asearch(f"{hop.subject} {hop.object}",
                                                       k=s.results_per_search)
            except MemagentsError:
                continue
            for r in [r for r in results if site_of(r.url) not in sites][
                    :s.corroboration_fetches]:
                try:
                    page = await self.tk.fetcher.afetch(r.url)
                except MemagentsError:
                    continue
                stats["fetches"] = stats.get("fetches", 0) + 1
                ev = evidence_for(hop, page.final_url or r.url, page.text or "",
                                  title=page.title or "", fetched_at=page.fetched_at or "",
                                  published=page.published, sha256=getattr(page, "sha256", None))
                if ev is not None and site_of(ev.url) not in sites:
                    sites.add(site_of(ev.url))
                    hop = type(hop)(subject=hop.subject, relation=hop.relation,
                                    object=hop.object, evidence=(*hop.evidence, ev),
                                    fresh=hop.fresh)
                if len(sites) >= s.min_domains:
                    break
            hops[i] = hop
        c = replace(c, hops=tuple(hops))
        return c, credibility_check(c, min_domains=s.min_domains), {}

    async def _guidance(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        seen = list((state.get("exploration") or {}).get("seen") or [])
        verdict, feedback = self.tk.guide(c, seen)
        if (verdict.passed or c.iteration >= self.tk.settings.max_iterations
                or state.get("verify")):  # a candidate to verify has no agent to rewrite it
            return c, verdict, {}
        stats["retried:guidance"] = 1
        # another version: the verdict is recorded, the candidate goes back to compose
        retry = CheckResult(name="guidance", passed=True,
                            reason=f"another version asked: {verdict.reason}",
                            details={**verdict.details, "retry": True})
        return c, retry, {"feedback": feedback or verdict.reason}

    async def _popularity(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        if self.tk.popularity is None:
            return c, CheckResult(name="popularity", passed=True,
                                  reason="skipped: no popularity signal configured",
                                  details={"skipped": True}), {}
        signal = self.tk.popularity
        result = await asyncio.to_thread(popularity_check, c, signal,
                                         threshold=self.tk.settings.popularity_threshold)
        return c, result, {}

    async def _closed_book(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        answers = []
        for _ in range(self.tk.settings.closed_book_samples):
            reply = await self.tk.llm.achat(CLOSED_BOOK_PROMPT, query=format_query(c.question))
            answers.append(parse_response(str(reply.content)).exact_answer)
        leaks = [a for a in answers if answer_matches(a, c.answer, c.aliases)]
        reason = "" if not leaks else (f"the model answered correctly without tools in "
                                       f"{len(leaks)} of {len(answers)} tries")
        return c, CheckResult(name="closed_book", passed=not leaks, reason=reason,
                              details={"answers": answers, "samples": len(answers)}), {}

    async def _solve(self, name: str, solver: Solver, c: Candidate,
                     stats: dict[str, int]) -> CheckResult:
        out = await solver(c.question)
        stats["solver_tool_calls"] = (stats.get("solver_tool_calls", 0)
                                      + int(out.get("tool_calls") or 0))
        got = out.get("answer")
        ok = answer_matches(got, c.answer, c.aliases)
        reason = "" if ok else f"the solver answered {got!r}, not {c.answer!r}"
        return CheckResult(name=name, passed=ok, reason=reason,
                           details={"answer": got, "citations": out.get("citations") or [],
                                    "tool_calls": out.get("tool_calls")})

    async def _solvable(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        return c, await self._solve("solvable", self.solver, c, stats), {}

    async def _unique(self, c: Candidate, state: Any, stats: dict[str, int]) -> Any:
        return c, await self._solve("unique", self.second, c, stats), {}

    async def done(self, state: _SeedState) -> dict[str, Any]:
        candidate = Candidate.from_dict(state["candidate"] or {})
        if candidate.status == "pending":
            candidate = replace(candidate, status="accepted")
        stats = {"accepted": int(candidate.status == "accepted")}
        return {"candidates": [candidate.to_dict()], "stats": stats}


def _route(after: str) -> Callable[[Any], str]:
    following = CHECKS[CHECKS.index(after) + 1] if after in CHECKS[:-1] else "done"

    def route(state: Any) -> str:
        candidate = state.get("candidate") or {}
        if candidate.get("status") == "rejected":
            return "done"
        if after == "guidance" and state.get("feedback") and _asked_retry(candidate):
            return "compose"
        return following
    return route


def _asked_retry(candidate: dict[str, Any]) -> bool:
    last = (candidate.get("checks") or [{}])[-1]
    return last.get("name") == "guidance" and bool((last.get("details") or {}).get("retry"))


def _seed_graph(tk: Toolkit) -> Any:
    nodes = _Nodes(tk)
    g = StateGraph(_SeedState, output_schema=_SeedOutput)
    g.add_node("explore", nodes.explore)
    g.add_node("compose", nodes.compose)
    for name in CHECKS:
        async def run(state: Any, _name: str = name) -> dict[str, Any]:
            return await nodes.check(_name, state)
        g.add_node(name, run)
    g.add_node("done", nodes.done)
    g.add_conditional_edges(START, lambda s: CHECKS[0] if s.get("candidate") else "explore",
                            ["explore", CHECKS[0]])
    g.add_edge("explore", "compose")
    g.add_conditional_edges("compose", lambda s: "done" if (s.get("candidate") or {}).get(
        "status") == "rejected" else CHECKS[0], [CHECKS[0], "done"])
    for name in CHECKS:
        targets = ["done", *([CHECKS[CHECKS.index(name) + 1]] if name != CHECKS[-1] else [])]
        if name == "guidance":
            targets.append("compose")
        g.add_conditional_edges(name, _route(name), targets)
    g.add_edge("done", END)
    return g.compile(name="seed")


def _fan_out(state: SynthesisState) -> list[Send]:
    seeds = [s for s in dict.fromkeys(state.get("seeds") or ()) if s and s.strip()]
    sends = [Send("seed", {"seed": s.strip()}) for s in seeds]
    for data in state.get("verify") or ():
        candidate = Candidate.from_dict(data)
        sends.append(Send("seed", {"seed": candidate.seed, "candidate": candidate.to_dict(),
                                   "verify": True,
                                   "exploration": {"seed": candidate.seed, "seen": [
                                       {"subject": h.subject, "relation": h.relation,
                                        "object": h.object} for h in candidate.hops]},
                                   "stats": {"seeds": 1}}))
    return sends


def build_synthesis(llm: Any, search: Any, fetcher: Any, *, settings: SynthesisSettings,
                    guide: Guide | None = None, popularity: PopularitySignal | None = None,
                    solver: Solver | None = None, second_solver: Solver | None = None,
                    budget: Budget | None = None, checkpointer: Any = None,
                    name: str = "browse_synthesis") -> Any:
    """Compile the synthesis workflow (see the module docstring).

    Args:
        llm: The agents' model (a ``BaseChatModel``, a spec, or a StructuredLLM).
        search: A search backend; fetcher: the safe fetcher.
        settings: :class:`~memagents.browsecomp.synthesis.SynthesisSettings`.
        guide: The guidance agent (default: :func:`make_guide`, the reasoning-graph
            analysis over the facts seen).
        popularity: Popularity signal (``None``: the check is skipped, and says so).
        solver / second_solver: Override the browse-agent solvers.
        budget: LLM budget shared by every seed of the run.
        checkpointer: LangGraph checkpointer (resume a killed run).
        name: Graph name.
    """
    guide = guide or make_guide()
    structured = StructuredLLM.coerce(llm, budget=budget)
    if structured.configured:
        _ = structured.tokenizer
    tk = Toolkit(llm=structured, search=search, fetcher=fetcher, settings=settings, guide=guide,
                 popularity=popularity, solver=solver, second_solver=second_solver)
    g = StateGraph(SynthesisState)
    g.add_node("seed", _seed_graph(tk))
    g.add_conditional_edges(START, _fan_out, ["seed"])
    g.add_edge("seed", END)
    return g.compile(checkpointer=checkpointer, name=name)


async def run_synthesis(graph: Any, seeds: list[str], *, verify: list[Candidate] = (),
                        concurrency: int = 4, thread_id: str | None = None) -> dict[str, Any]:
    """Run the workflow on ``seeds`` (and ready candidates to ``verify``) with at most
    ``concurrency`` tasks at once, resuming the ``thread_id`` run when the graph has a
    checkpointer and that run did not finish."""
    if not seeds and not verify:
        raise InputError("no seeds: pass at least one seed entity (--seeds FILE or --seed).")
    config: dict[str, Any] = {"max_concurrency": concurrency}
    if thread_id:
        config["configurable"] = {"thread_id": thread_id}
        snapshot = await graph.aget_state(config) if graph.checkpointer else None
        if snapshot is not None and snapshot.next:
            return dict(await graph.ainvoke(None, config))
    return dict(await graph.ainvoke(
        {"seeds": list(seeds), "verify": [c.to_dict() for c in verify]}, config))


def seed_names(candidates: list[dict[str, Any]]) -> list[str]:
    """Seeds of candidates, normalized (for reports)."""
    return sorted({normalize_text(c.get("seed") or "") for c in candidates})
