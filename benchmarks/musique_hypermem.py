"""HGMem loop on the shared MuSiQue sample, driven by an oracle planner: an UPPER BOUND.

Run: ``.venv/bin/python benchmarks/musique_hypermem.py`` (``--limit N`` for the first N
questions, ``--steps 1 2 3 4`` to choose the step limits).

**Oracle-planner upper bound.** There is no LLM here. The loop (``build_hypergraph_rag``) runs
unchanged over a :class:`~memagents.graphmem.GraphMemory` built from the shared GPT-3.5
triples with all-MiniLM-L6-v2, and talks to an "LLM" through the real ``openai`` client
(``ChatOpenAI`` -> HTTP -> :class:`~memagents.testing.OpenAIServer` on loopback) whose replies
are Python functions of the request:

* the planner follows the question's gold ``question_decomposition``: the loop's step 1 always
  retrieves the main question itself (the loop's fixed first sub-query), which stands for hop
  1; after step ``s`` the planner asks every hop not yet asked whose ``#j`` dependencies were
  all asked at steps <= ``s``, with ``#j`` filled by hop ``j``'s gold answer (a Wikidata-style
  ``X >> relation`` hop is phrased ``relation of X``), written as each concern's ``subquery``
  (the planner writes the sub-queries in its reply). A hop with dependencies is a
  ``dig_deeper`` concern naming the memory points inserted at its dependencies' steps; one
  without is an ``explore`` concern. ``sufficient`` once every hop was asked;
  ``single_fact`` is true (MuSiQue questions are factoid), so ``merge="auto"`` skips merging;
* evolve inserts one memory point per step: the step's top 3 retrieved relations (parsed from
  the prompt's Relations table) as its description, their subjects/objects plus the top 2
  rows of the Entities table as its entities (no gold knowledge). Two variants: ``relations``
  cites no passage; ``relations+cite3`` also cites the step's top 3 passages of the Passages
  table in ``sources``, as the evolve prompt asks a model to cite what it read;
* merge answers "no merge"; the final answer is the gold answer, so **answer accuracy is not
  measured**, only whether the evidence the loop hands to the reader holds the gold passages.

Measured: recall of the gold (supporting) passages in the final evidence after runs capped at
1, 2, 3, 4 steps, the number of evidence passages, and at the same per-question number of
passages single-shot dense retrieval (MiniLM cosine) and single-shot graph memory
(``memory.search``, ``default`` preset); LLM calls and tokens per question (the agent's usage;
the server counts whitespace words, so tiktoken counts of the recorded requests are given
too); re-asks of malformed replies; wall time per step excluding model time (total minus the
time inside the server's reply functions and inside the embedder).

Retrieval settings compared (:data:`SETTINGS`): ``baseline`` (attribution off, entity
linking by entity names: the default before this comparison), ``+attribution``
(``RetrievalSettings.attribution``), ``+attribution+relations-linking`` and
``+attribution+both-linking`` (``entity_linking``). Each is compared with the baseline (the
linking ones with ``+attribution`` too) by a paired bootstrap of the per-question recall
difference (10,000 resamples, fixed seed), with wins / ties / losses. Decision rule, fixed
before the run: a change becomes the library default only if its 95% CI lies above 0 for
``relations+cite3`` (the closer bound) and does not lie below 0 for ``relations``; never
because of individual questions.

Vectors come from ``musique_graph.py``'s :class:`MiniLMCache` (``benchmarks/.cache/``); the
graph memory folder is ``benchmarks/.cache/hypermem_graph/`` (built once, reused). Writes
``benchmarks/results/musique_hypermem.json`` (summaries, comparisons, per-question recall and
passage counts in ``ids`` order), the full per-question rows (evidence ids, timings) to
``benchmarks/.cache/musique_hypermem_rows.json``, and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
from langchain_core.embeddings import Embeddings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from musique_graph import CACHE, RESULTS, MiniLMCache, graph_strings

from memagents.eval import load_musique
from memagents.graphmem import GraphMemory
from memagents.hypermem import prompts as hp
from memagents.hypermem.nodes import HypergraphOptions
from memagents.hypermem.retrieval import RetrievalSettings
from memagents.hypermem.workflow import HypergraphRAGContext, build_hypergraph_rag
from memagents.models.prompts import PromptTemplate
from memagents.models.tokens import count_tokens
from memagents.testing import OpenAIServer

GRAPH_DIR = CACHE / "hypermem_graph"
LABEL = "oracle-planner upper bound"
VARIANTS = {"relations": 0, "relations+cite3": 3}  # evolve variant -> passages cited
#: retrieval settings compared (``RetrievalSettings`` fields); baseline = the default before
#: attribution was adopted (attribution off, entity linking by entity names)
SETTINGS: dict[str, dict[str, Any]] = {
    "baseline": {"attribution": False},
    "+attribution": {"attribution": True},
    "+attribution+relations-linking": {"attribution": True, "entity_linking": "relations"},
    "+attribution+both-linking": {"attribution": True, "entity_linking": "both"},
}
PRIMARY = "relations+cite3"  # the evolve variant closer to a model citing what it read
RESAMPLES, SEED = 10_000, 20240601


# ------------------------------------------------------------------------------ embeddings
class CachedMiniLM(Embeddings):
    """A langchain embedder over :class:`MiniLMCache`: cached strings cost nothing, others
    are encoded by the model (persisted to the shared cache only for large batches; graph
    memory keeps every vector in its own folder anyway). Accumulates model seconds."""

    model = "all-MiniLM-L6-v2"

    def __init__(self, cache: MiniLMCache) -> None:
        self.cache = cache
        self.seconds = 0.0
        self.lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache.vectors]
        if missing:
            t0 = time.perf_counter()
            if len(missing) >= 200:
                self.cache.ensure(missing)
            else:
                self.cache.vectors.update(zip(missing, self.cache.encode(missing)))
            with self.lock:
                self.seconds += time.perf_counter() - t0
        return [self.cache.vectors[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def open_memory(data: Any, emb: CachedMiniLM) -> GraphMemory:
    memory = GraphMemory.open(GRAPH_DIR, embeddings=emb, preset="default", use_filter=False)
    have = memory.stats()["passages"]
    indexed = have.get("indexed", 0) if isinstance(have, dict) else have
    if indexed != len(data.passages):
        print(f"building graph memory in {GRAPH_DIR} ...", flush=True)
        emb.cache.ensure(graph_strings(data.passages))
        t = time.perf_counter()
        memory.add_triples([(text, triples) for _, text, triples in data.passages],
                           ids=[pid for pid, _, _ in data.passages])
        print(f"built in {time.perf_counter() - t:.1f} s", flush=True)
    return memory


# ---------------------------------------------------------------------------------- oracle
def hop_query(template: str, answers: dict[int, str]) -> str:
    """Hop text with ``#j`` filled by gold answers; ``X >> rel`` becomes ``rel of X``."""
    text = re.sub(r"#(\d+)", lambda m: answers[int(m.group(1))], template).strip()
    if ">>" in text:
        subject, relation = (s.strip() for s in text.split(">>", 1))
        text = f"{relation} of {subject}"
    return text


def hop_deps(template: str) -> set[int]:
    return {int(j) for j in re.findall(r"#(\d+)", template)}


class Oracle:
    """The scripted "LLM" for one question: plans from the gold decomposition."""

    def __init__(self, q: dict[str, Any], cite: int = 0) -> None:
        self.cite = cite
        self.question = q["question"]
        self.gold = q["answer"]
        hops = q["question_decomposition"]
        self.answers = {i: h["answer"] for i, h in enumerate(hops, 1)}
        self.hops = {i: (hop_query(h["question"], self.answers), hop_deps(h["question"]))
                     for i, h in enumerate(hops, 1)}
        self.asked_at: dict[int, int] = {1: 1}  # hop -> step; the main question stands for hop 1
        self.step = 0
        self.inserted: dict[int, str] = {}  # step -> description of the point inserted
        self.schedule: list[list[str]] = [[self.question]]

    def evolve(self, text: str) -> dict[str, Any]:
        self.step += 1
        ents, rels, passages = parse_tables(text)
        top = rels[:3]
        names = list(dict.fromkeys([n for s, _, o in top for n in (s, o)] + ents[:2]))
        if not names:
            return {"inserts": [], "updates": []}
        desc = "; ".join(f"{s} {p} {o}" for s, p, o in top) or "; ".join(ents[:3])
        desc = f"(step {self.step}) {desc}"
        self.inserted[self.step] = desc
        sources = passages[: self.cite]
        return {"inserts": [{"entities": names, "description": desc, "sources": sources}],
                "updates": []}

    def _point_ids(self, text: str, steps: set[int]) -> list[str]:
        ids = []
        for m in re.finditer(r"^\[(mp-\d+)\][^\n]*?\(step (\d+)\)", text, re.MULTILINE):
            if int(m.group(2)) in steps:
                ids.append(m.group(1))
        return ids

    def plan(self, text: str) -> dict[str, Any]:
        ready = [i for i, (_, deps) in self.hops.items()
                 if i not in self.asked_at and all(d in self.asked_at for d in deps)]
        if not ready:
            return {"judgement": "sufficient", "concerns": [], "single_fact": True}
        concerns = []
        for i in ready:
            query, deps = self.hops[i]
            points = self._point_ids(text, {self.asked_at[d] for d in deps}) if deps else []
            concerns.append({"text": query, "subquery": query, "points": points})
            self.asked_at[i] = self.step + 1
        local = any(c["points"] for c in concerns)
        self.schedule.append([c["subquery"] for c in concerns])
        return {"judgement": "dig_deeper" if local else "explore", "concerns": concerns,
                "single_fact": True}

    def answer(self, text: str) -> dict[str, Any]:
        return {"answer": self.gold, "explanation": "oracle: the gold answer", "known": True}


def parse_tables(text: str) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    """Entity names, relations and passage ids of the evolve prompt's retrieved tables,
    in order (best first)."""
    part = text.split("Retrieved information:", 1)[-1]
    ents: list[str] = []
    rels: list[tuple[str, str, str]] = []
    passages: list[str] = []
    section = None
    for line in part.splitlines():
        s = line.strip()
        if s in ("Entities:", "Relations:", "Passages:"):
            section = s[:-1]
            continue
        if section == "Passages" and (m := re.match(r"\[([^\]]+)\]", s)):
            passages.append(m.group(1))
            continue
        if not s.startswith("- "):
            continue
        body = s[2:]
        if section == "Entities":
            name = body.split(": ", 1)[0]
            ents.append(re.sub(r" \([^)]*\)$", "", name).strip())
        elif section == "Relations":
            bits = [b.strip() for b in body.split(" | ")]
            if len(bits) == 3:
                rels.append((bits[0], bits[1], bits[2]))
    return ents, rels, passages


def hypermem_templates() -> dict[str, PromptTemplate]:
    """The loop's prompt templates by name, read from the module at run time."""
    return {v.name: v for v in vars(hp).values()
            if isinstance(v, PromptTemplate) and v.name.startswith("hypermem.")}


class OracleLLM:
    """Dispatches each chat request to its question's oracle by prompt template; times it."""

    def __init__(self, questions: list[dict[str, Any]]) -> None:
        self.cite = 0
        self.questions = {q["question"]: q for q in questions}
        self.oracles: dict[str, Oracle] = {}
        self.seconds = 0.0
        self.kinds: list[str] = []
        self.completion_tiktoken = 0
        self.prompt_tiktoken = 0
        self.templates = hypermem_templates()

    def reset(self, q: dict[str, Any]) -> None:
        self.oracles[q["question"]] = Oracle(q, self.cite)

    def kind(self, text: str) -> str:
        for name, t in self.templates.items():
            head = (t.system or "")[:120]
            if head and head in text:
                return name.split(".", 1)[1]
        for marker, kind in (("Retrieved information:", "evolve"), ("Evidence:", "answer"),
                             ("Hints", "plan")):
            if marker in text:
                return kind
        return "merge"

    def __call__(self, body: dict[str, Any]) -> str:
        t0 = time.perf_counter()
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        kind = self.kind(text)
        question = next((q for q in self.questions if q in text), None)
        if question is None:
            raise RuntimeError("no known question in the prompt")
        oracle = self.oracles[question]
        if kind == "merge":
            reply: dict[str, Any] = {"merges": []}
        else:
            reply = getattr(oracle, kind)(text)
        out = json.dumps(reply)
        self.kinds.append(kind)
        self.prompt_tiktoken += count_tokens(text)
        self.completion_tiktoken += count_tokens(out)
        self.seconds += time.perf_counter() - t0
        return out


# -------------------------------------------------------------------------------- measures
def recall(ids: list[str], gold: list[str]) -> float:
    return len(set(ids) & set(gold)) / len(gold) if gold else 0.0


def hop_gold(q: dict[str, Any], by_text: dict[str, str]) -> dict[int, str | None]:
    """Hop number -> id of its supporting passage (matched by title and text)."""
    paras = q["paragraphs"]
    out = {}
    for i, h in enumerate(q["question_decomposition"], 1):
        p = paras[h["paragraph_support_idx"]]
        out[i] = by_text.get(p["title"] + "\n" + p["paragraph_text"])
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_musique()
    questions = data.questions[: args.limit] if args.limit else data.questions
    by_text = {text: pid for pid, text, _ in data.passages}
    cache = MiniLMCache()
    emb = CachedMiniLM(cache)
    memory = open_memory(data, emb)
    cache.ensure([q["question"] for q in data.questions])
    oracle = OracleLLM(questions)
    out: dict[str, Any] = {
        "label": LABEL,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "questions": len(questions),
        "hops": {str(n): sum(len(q["question_decomposition"]) == n for q in questions)
                 for n in (2, 3, 4)},
        "templates_seen": sorted(oracle.templates),
        "runs": {},
    }
    # warm the knowledge view and the query path once (not timed)
    memory.search_entities("warm up", 1)
    memory.search_passages("warm up", 1)
    with OpenAIServer() as server:
        server.add_rule(lambda body: True, oracle)
        llm = server.chat_model(max_retries=0)
        graphs = {name: build_hypergraph_rag(llm, memory, options=HypergraphOptions(
            retrieval=RetrievalSettings(**kw))) for name, kw in SETTINGS.items()
            if name in args.settings}
        for graph in graphs.values():  # warm-up runs, not recorded: first-call costs
            oracle.reset(questions[0])
            graph.invoke({"question": questions[0]["question"]},
                         context=HypergraphRAGContext(max_steps=2))
        for setting, variant, steps in [(g, v, n) for g in graphs for v in VARIANTS
                                        for n in args.steps]:
            graph = graphs[setting]
            oracle.cite = VARIANTS[variant]
            rows = []
            t_run = time.perf_counter()
            for q in questions:
                oracle.reset(q)
                gold = data.gold[q["id"]]
                n_req = len(server.chat_requests)
                llm_s, emb_s, tok_p, tok_c = (oracle.seconds, emb.seconds,
                                              oracle.prompt_tiktoken, oracle.completion_tiktoken)
                t0 = time.perf_counter()
                state = graph.invoke({"question": q["question"]},
                                     context=HypergraphRAGContext(max_steps=steps))
                wall = time.perf_counter() - t0
                ev = [p["id"] for p in state.get("evidence") or ()]
                usage = state.get("usage") or {}
                hops = hop_gold(q, by_text)
                rows.append({
                    "id": q["id"], "hops": len(q["question_decomposition"]),
                    "steps": state.get("step"), "stop_reason": state.get("stop_reason"),
                    "evidence": ev, "n_evidence": len(ev),
                    "pool": len(state.get("retrieved") or ()),
                    "recall": recall(ev, gold),
                    "pool_recall": recall(list(state.get("retrieved") or ()), gold),
                    "hop_in_evidence": {str(i): (pid in ev) for i, pid in hops.items()
                                        if pid},
                    "hop_in_pool": {str(i): (pid in (state.get("retrieved") or ()))
                                    for i, pid in hops.items() if pid},
                    "asked": list(state.get("asked") or ()),
                    "points": len((state.get("memory") or {}).get("points") or ()),
                    "llm_calls": usage.get("llm_calls", 0),
                    "server_requests": len(server.chat_requests) - n_req,
                    "prompt_tokens": usage.get("prompt_tokens", 0),
                    "completion_tokens": usage.get("completion_tokens", 0),
                    "prompt_tokens_tiktoken": oracle.prompt_tiktoken - tok_p,
                    "completion_tokens_tiktoken": oracle.completion_tiktoken - tok_c,
                    "retries": usage.get("retries", 0), "failures": usage.get("failures", 0),
                    "wall_s": wall, "llm_reply_s": oracle.seconds - llm_s,
                    "embed_s": emb.seconds - emb_s,
                })
            key = f"{setting}|{variant}:{steps}"
            out["runs"][key] = {"setting": setting, "retrieval": SETTINGS[setting],
                                "variant": variant, "max_steps": steps, "rows": rows,
                                "run_s": round(time.perf_counter() - t_run, 1)}
            print(f"{setting} {variant} max_steps={steps}: recall {np.mean([r['recall'] for r in rows]):.4f} "
                  f"with {np.mean([r['n_evidence'] for r in rows]):.1f} passages "
                  f"({out['runs'][key]['run_s']} s)", flush=True)
    # single-shot baselines at each question's evidence budget
    for r in out["runs"].values():
        dense10, graph10 = [], []
        for row, q in zip(r["rows"], questions):
            gold = data.gold[q["id"]]
            n = row["n_evidence"]
            dense = [h.id for h in memory.search_passages(q["question"], max(n, 10))]
            ppr = [h.id for h in memory.search(q["question"], k=max(n, 10))]
            row["dense_recall"] = recall(dense[:n], gold) if n else 0.0
            row["graph_recall"] = recall(ppr[:n], gold) if n else 0.0
            dense10.append(recall(dense[:10], gold))
            graph10.append(recall(ppr[:10], gold))
        r["summary"] = summarise(r["rows"])
        r["summary"]["dense_R@10"] = round(float(np.mean(dense10)), 4)
        r["summary"]["graph_R@10"] = round(float(np.mean(graph10)), 4)
    out["ids"] = [q["id"] for q in questions]
    out["comparisons"] = compare(out)
    out["load_average_at_end"] = round(os.getloadavg()[0], 2)
    memory.close()
    return out


def paired_bootstrap(a: list[float], b: list[float], resamples: int = RESAMPLES,
                     seed: int = SEED) -> dict[str, Any]:
    """Mean of the per-question differences ``a - b``, its percentile 95% CI over
    ``resamples`` paired resamples of the questions (fixed seed), and wins / ties / losses."""
    d = np.asarray(a, float) - np.asarray(b, float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean_diff": round(float(d.mean()), 4), "ci95": [round(float(lo), 4),
                                                              round(float(hi), 4)],
            "excludes_0": bool(lo > 0 or hi < 0), "wins": int((d > 0).sum()),
            "ties": int((d == 0).sum()), "losses": int((d < 0).sum()),
            "resamples": resamples, "seed": seed}


def compare(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Each setting vs the baseline (and each linking setting vs ``+attribution``), per
    evolve variant and step limit: recall and evidence passages, paired bootstrap."""
    runs = out["runs"]
    rows = []
    for r in runs.values():
        refs = ["baseline"] + (["+attribution"] if "linking" in r["setting"] else [])
        for ref in refs:
            base = runs.get(f"{ref}|{r['variant']}:{r['max_steps']}")
            if base is None or base is r:
                continue
            rows.append({
                "setting": r["setting"], "vs": ref, "variant": r["variant"],
                "max_steps": r["max_steps"],
                "recall": [base["summary"]["recall"], r["summary"]["recall"]],
                "passages": [base["summary"]["evidence_passages_mean"],
                             r["summary"]["evidence_passages_mean"]],
                **paired_bootstrap([x["recall"] for x in r["rows"]],
                                   [x["recall"] for x in base["rows"]])})
    return rows


def compact(out: dict[str, Any]) -> dict[str, Any]:
    """The results file: summaries, comparisons and per-question recall / passage counts
    (in ``ids`` order); per-question evidence ids and timings stay in the cache file."""
    small = {k: v for k, v in out.items() if k != "runs"}
    small["runs"] = {k: {"setting": r["setting"], "retrieval": r["retrieval"],
                         "variant": r["variant"], "max_steps": r["max_steps"],
                         "run_s": r["run_s"], "summary": r["summary"],
                         "recall": [round(x["recall"], 4) for x in r["rows"]],
                         "n_evidence": [x["n_evidence"] for x in r["rows"]]}
                     for k, r in out["runs"].items()}
    return small


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        return round(float(np.mean([r[key] for r in rows])), 4)

    steps = sum(r["steps"] or 0 for r in rows)
    own = [r["wall_s"] - r["llm_reply_s"] for r in rows]
    own_no_emb = [r["wall_s"] - r["llm_reply_s"] - r["embed_s"] for r in rows]
    hop_miss: dict[str, list[int]] = {}
    for r in rows:
        for i, ok in r["hop_in_evidence"].items():
            pos = "first" if i == "1" else ("last" if int(i) == r["hops"] else "middle")
            hop_miss.setdefault(pos, [0, 0])
            hop_miss[pos][1] += 1
            hop_miss[pos][0] += int(not ok)
    pool_but_not_ev = sum(1 for r in rows for i, ok in r["hop_in_evidence"].items()
                          if not ok and r["hop_in_pool"].get(i))
    return {
        "recall": mean("recall"), "dense_recall_same_budget": mean("dense_recall"),
        "graph_recall_same_budget": mean("graph_recall"), "pool_recall": mean("pool_recall"),
        "evidence_passages_mean": mean("n_evidence"),
        "evidence_passages_median": float(np.median([r["n_evidence"] for r in rows])),
        "evidence_passages_max": max(r["n_evidence"] for r in rows),
        "pool_passages_mean": mean("pool"), "steps_mean": mean("steps"),
        "questions_at_goal_recall_1": sum(r["recall"] == 1.0 for r in rows),
        "llm_calls_mean": mean("llm_calls"), "llm_calls_max": max(r["llm_calls"] for r in rows),
        "calls_within_2_plus_3_steps": all(r["llm_calls"] <= 2 + 3 * (r["steps"] or 0)
                                           for r in rows),
        "server_requests_mean": mean("server_requests"),
        "prompt_tokens_mean": mean("prompt_tokens"),
        "completion_tokens_mean": mean("completion_tokens"),
        "prompt_tokens_tiktoken_mean": mean("prompt_tokens_tiktoken"),
        "completion_tokens_tiktoken_mean": mean("completion_tokens_tiktoken"),
        "malformed_reasks": sum(r["retries"] for r in rows),
        "failures": sum(r["failures"] for r in rows),
        "ms_per_step_excl_llm": round(1000 * sum(own) / max(steps, 1), 1),
        "ms_per_step_excl_llm_and_embedding": round(1000 * sum(own_no_emb) / max(steps, 1), 1),
        "embedding_ms_per_step": round(1000 * sum(r["embed_s"] for r in rows) / max(steps, 1),
                                       1),
        "gold_hops_missing_from_evidence": hop_miss,
        "missing_hops_that_were_in_pool": pool_but_not_ev,
        "stop_reasons": {k: sum(r["stop_reason"] == k for r in rows)
                         for k in sorted({str(r["stop_reason"]) for r in rows})},
    }


def table(out: dict[str, Any]) -> str:
    lines = [
        (f"MuSiQue, {out['questions']} dev questions, HGMem loop, **{LABEL}** "
        "(gold decomposition planner, gold final answer: answer accuracy not measured)"),
        "",
        ("| retrieval | evolve | max steps | steps run (mean) | evidence passages (mean / median / max) | "
        "**loop recall** | dense, same budget | graph memory, same budget | gold in retrieved "
        "pool | LLM calls / q (max) | prompt / completion tokens / q (tiktoken) | re-asks | "
        "ms / step excl. LLM (excl. LLM and embedding) |"),
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for r in out["runs"].values():
        s = r["summary"]
        lines.append(
            f"| {r['setting']} | {r['variant']} | {r['max_steps']} | {s['steps_mean']:.2f} | {s['evidence_passages_mean']:.1f} / "
            f"{s['evidence_passages_median']:.0f} / {s['evidence_passages_max']} | "
            f"**{s['recall']:.4f}** | {s['dense_recall_same_budget']:.4f} | "
            f"{s['graph_recall_same_budget']:.4f} | {s['pool_recall']:.4f} | "
            f"{s['llm_calls_mean']:.2f} ({s['llm_calls_max']}) | "
            f"{s['prompt_tokens_tiktoken_mean']:.0f} / {s['completion_tokens_tiktoken_mean']:.0f}"
            f" | {s['malformed_reasks']} | {s['ms_per_step_excl_llm']} "
            f"({s['ms_per_step_excl_llm_and_embedding']}) |")
    lines += ["", ("evolve: `relations` = one point per step from the top 3 retrieved relations "
              "(no passage cited); `relations+cite3` = the same point citing the step's top 3 "
              "passages in `sources`")]
    for r in out["runs"].values():
        if r["max_steps"] != max(x["max_steps"] for x in out["runs"].values()):
            continue
        last = r["summary"]
        lines += [
            (f"{r['setting']} {r['variant']}, max steps {r['max_steps']}: gold hops missing from the final "
            f"evidence {last['gold_hops_missing_from_evidence']} ([missing, of] by hop "
            f"position), of those in the retrieved pool: "
            f"{last['missing_hops_that_were_in_pool']}")]
    lines += ["", (f"single-shot R@10: dense {last['dense_R@10']}, graph memory "
              f"{last['graph_R@10']}"), "",
              (f"paired bootstrap of the per-question recall difference ({RESAMPLES:,} "
               f"resamples, seed {SEED}), at {max(x['max_steps'] for x in out['runs'].values())}"
               " steps:"), "",
              ("| retrieval | vs | evolve | recall | passages | difference [95% CI] | "
               "wins / ties / losses |"), "| --- | --- | --- | --- | --- | --- | --- |"]
    top = max(x["max_steps"] for x in out["runs"].values())
    for c in out["comparisons"]:
        if c["max_steps"] != top:
            continue
        lines.append(
            f"| {c['setting']} | {c['vs']} | {c['variant']} | {c['recall'][0]:.3f} -> "
            f"{c['recall'][1]:.3f} | {c['passages'][0]:.1f} -> {c['passages'][1]:.1f} | "
            f"{c['mean_diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"
            f"{' **excludes 0**' if c['excludes_0'] else ''} | "
            f"{c['wins']} / {c['ties']} / {c['losses']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                    help="retrieval settings to run (the first should be baseline)")
    ap.add_argument("--out", default=str(RESULTS / "musique_hypermem.json"))
    ap.add_argument("--rows", default=str(CACHE / "musique_hypermem_rows.json"),
                    help="full per-question rows (evidence ids, timings)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.rows).write_text(json.dumps(out) + "\n")
    Path(args.out).write_text(_dumps(compact(out)) + "\n")
    print(table(out))


def _dumps(data: Any) -> str:
    """JSON indented by object, with lists of numbers kept on one line (compact diffs)."""
    text = json.dumps(data, indent=1)
    return re.sub(r"\[\s*([-\d.,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)


if __name__ == "__main__":
    main()
