"""Which knobs of graph memory's ``default`` preset hold on questions they were not tuned on.

Run: ``.venv/bin/python benchmarks/musique_defaults_cv.py`` (about 2 minutes on 2 cores; needs
the MiniLM vectors cached by ``musique_graph.py``; strings missing from the cache are encoded).

Setting: the one of ``musique_graph.py`` (shared MuSiQue corpus and GPT-3.5 triples, MiniLM for
every string, no recognition filter, 50 dev questions, recall@k = |gold in top k| / |gold|),
on the graph of the ``default`` preset (the ``hipporag2`` search on it gives the same top-10
lists as on the ``hipporag2`` graph for all 50 questions; checked below).

Candidate knobs, each a *family* of configurations that includes the official one
(``hipporag2``: top-5 seed phrases, passage-node weight 0.05, damping 0.5, PPR order):

* ``window``: order the graph's top ``w`` by dense cosine (``rerank_window``). Why it should
  generalise: dense is the better ranker at ranks 1-2 on this data (spec §3), the graph at 5+;
  with ``w <= 5`` recall at ``w`` and deeper is unchanged by construction.
* ``dense_head``: dense's top ``h`` first, then the PPR order (same reason, a harder split);
  ``window_or_dense_head`` lets the training folds choose between the two.
* ``rrf``: reciprocal rank fusion of the PPR and dense rankings at every depth,
  ``1/(c + r_ppr) + lam/(c + r_dense)``. Why: the standard, scale-free fusion.
* ``mix``: a calibrated score mix at every depth, ``(1-a) minmax(log ppr) + a minmax(cos)``.
* ``seeds``: every phrase of a kept fact seeds PPR (no top-5 cut), optionally weighting each fact
  by ``exp((cos - cos_max) / tau)`` (a softmax over the raw cosines) instead of the min-max
  score over all facts, which is ~1 for all five linked facts; or the top 5 keeping phrases
  tied at the cut. Why: the cut splits exact ties.
* ``passage_weight`` and ``damping``: the two PPR constants (official 0.05 and 0.5).
* ``joint``: the product of seeds, passage weight, damping and windows 0/3/5.
* ``fixed: ...``: single configurations, nothing chosen (the previous default, chosen on all 50
  questions, is listed for reference: its numbers here are not held out).

Protocol: 5-fold cross-validation stratified by hop count (2-hop vs 3-4-hop), repeated with 20
random fold splits. In every split each family chooses on the four training folds the
configuration with the highest mean of R@2, R@5 and R@10 (ties: the earlier one, the official
first) and is scored on the held-out fold; each question is held out once per repeat, and its
held-out recall is the mean over the 20 repeats. Paired bootstrap (10,000 resamples of the 50
questions, percentile 95% CI) of the per-question differences against the official package's
rankings (``reference_rankings_dev.json``), the ``hipporag2`` preset and dense retrieval.

A knob *survives* when at some k its CI against the official rankings excludes 0 above, and at
no k it is significantly below. Writes ``benchmarks/results/musique_defaults_cv.json`` (fold
assignments, per-split choices, held-out per-question recalls, CIs) and prints the table.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from musique_graph import RESULTS, MiniLMCache, graph_strings

from memagents.eval import load_musique
from memagents.graphmem.core.config import PRESETS, PPRConfig
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.matrices import GraphMatrices
from memagents.graphmem.core.search import GraphSearcher, Linking, minmax

KS = (2, 5, 10)
FOLDS, REPEATS, CV_SEED = 5, 20, 13
RESAMPLES, BOOT_SEED = 10_000, 20250213
SEEDS = (
    "top5",
    "top5ties",
    "all",
    "soft0.1",
    "soft0.05",
    "soft0.02",
)  # "soft<tau>": all, softmax weights
PASSAGE_WEIGHTS = (0.02, 0.05, 0.1, 0.2)
DAMPINGS = (0.3, 0.5, 0.7)
OFFICIAL = ("top5", 0.05, 0.5)
DECISION = {
    "adopted": "rerank_window=3 on the official ranking (official seeds, weight, damping)",
    "why": (
        "the window family is never significantly below the official rankings at any k, its "
        "R@5 and R@10 equal the faithful ranking's by construction (only ranks 1-3 are "
        "reordered), and its size is stable under cross-validation (3 in 94 of 100 splits); "
        "its R@2 gain is not significant with 50 questions. Every knob that moves R@5 or R@10 "
        "(seeds, passage weight, damping, fusion at every depth, joint) is left at the "
        "official value: none gained significantly held out, and the previous default's "
        "in-sample gains at R@5 and R@10 did not hold on unseen questions."
    ),
}


# ----------------------------------------------------------------------------- PPR scores
def seed_weights(m: GraphMatrices, linking: Linking, mode: str) -> dict[int, float]:
    """Phrase node -> reset weight: official rule (mean of ``w(fact) / |passages(phrase)|``),
    ``w`` the min-max fact score or, for ``soft<tau>``, ``exp((cos - cos_max) / tau)``."""
    facts = list(linking.linked)
    if mode.startswith("soft"):
        cos = np.array([f.cosine for _, f in facts])
        w = np.exp((cos - cos.max()) / float(mode[4:]))
    else:
        w = np.array([f.score for _, f in facts])
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    for (fi, _), wf in zip(facts, w):
        for node in (int(m.fact_subject[fi]), int(m.fact_object[fi])):
            total[node] = total.get(node, 0.0) + float(wf) / m.phrase_passage_count[node]
            count[node] = count.get(node, 0) + 1
    first = {n: i for i, n in enumerate(total)}
    ranked = sorted(total, key=lambda n: (-total[n] / count[n], first[n]))
    if mode == "top5ties":  # the cut never splits an exact tie
        keep = min(5, len(ranked))
        while (
            keep < len(ranked)
            and abs(total[ranked[keep]] / count[ranked[keep]] - total[ranked[4]] / count[ranked[4]])
            < 1e-12
        ):
            keep += 1
        ranked = ranked[:keep]
    elif mode.startswith("top"):
        ranked = ranked[: int(mode[3:])]
    return {n: total[n] / count[n] for n in ranked}


def ppr_scores(m: GraphMatrices, links: list[Linking]) -> dict[tuple, np.ndarray]:
    """Passage PPR probabilities (questions x passages) for every seeds x weight x damping."""
    n_ph = len(m.phrases)
    out = {}
    for d in DAMPINGS:
        solver = m.solver(PPRConfig(damping=d))
        for mode in SEEDS:
            seeds = [seed_weights(m, link, mode) for link in links]
            for pw in PASSAGE_WEIGHTS:
                arr = np.zeros((len(links), len(m.passages)))
                for b, link in enumerate(links):
                    reset = np.zeros(m.n_nodes)
                    for node, w in seeds[b].items():
                        reset[node] = w
                    reset[n_ph:] = pw * minmax(link.dense)
                    arr[b] = solver.solve(reset)[0][n_ph:]
                out[(mode, pw, d)] = arr
    return out


# --------------------------------------------------------------------------------- rankers
def order(score: np.ndarray, depth: int = 10) -> np.ndarray:
    """Top ``depth`` indices per row by descending score, ties by index (as GraphSearcher)."""
    return np.argsort(-score, axis=1, kind="stable")[:, :depth]


def ranks(score: np.ndarray) -> np.ndarray:
    o = np.argsort(-score, axis=1, kind="stable")
    r = np.empty_like(o)
    np.put_along_axis(r, o, np.arange(1, o.shape[1] + 1)[None, :], axis=1)
    return r


def window(ppr: np.ndarray, dense: np.ndarray, w: int) -> np.ndarray:
    top = order(ppr)
    for b in range(len(top)) if w > 1 else ():
        head = top[b, :w]
        top[b, :w] = head[np.lexsort((head, -dense[b, head]))]
    return top


def dense_head(ppr: np.ndarray, dense: np.ndarray, h: int) -> np.ndarray:
    """Dense's top ``h`` first, then the PPR order of the rest."""
    top_d, top_p = order(dense, h), order(ppr, 10 + h)
    return np.array(
        [
            np.concatenate([d, [j for j in p if j not in set(d.tolist())]])[:10]
            for d, p in zip(top_d, top_p)
        ]
    )


def rrf(ppr: np.ndarray, dense: np.ndarray, c: float, lam: float) -> np.ndarray:
    return order(1 / (c + ranks(ppr)) + lam / (c + ranks(dense)))


def mix(ppr: np.ndarray, dense: np.ndarray, a: float) -> np.ndarray:
    def mm(x: np.ndarray) -> np.ndarray:
        lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
        return (x - lo) / np.where(hi > lo, hi - lo, 1)

    return order((1 - a) * mm(np.log(ppr + 1e-12)) + a * mm(dense))


def config_name(ppr_key: tuple, ranker: tuple) -> str:
    mode, pw, d = ppr_key
    return f"{mode} pw={pw} d={d} " + ":".join(str(x) for x in ranker)


def families() -> dict[str, list[tuple[tuple, tuple]]]:
    """Family -> its configurations ``(ppr key, ranker)``, the official one first."""
    off = (OFFICIAL, ("window", 0))
    joint = [
        ((s, pw, d), ("window", w))
        for s, pw, d, w in itertools.product(SEEDS, PASSAGE_WEIGHTS, DAMPINGS, (0, 3, 5))
    ]
    joint.remove(off)
    return {
        "window": [off] + [(OFFICIAL, ("window", w)) for w in (3, 4, 5)],
        "rrf": [off] + [(OFFICIAL, ("rrf", c, lam)) for c in (10, 60) for lam in (0.25, 0.5, 1.0)],
        "dense_head": [off] + [(OFFICIAL, ("head", h)) for h in (1, 2)],
        "window_or_dense_head": [off]
        + [(OFFICIAL, ("window", w)) for w in (3, 4, 5)]
        + [(OFFICIAL, ("head", h)) for h in (1, 2)],
        "mix": [off] + [(OFFICIAL, ("mix", a)) for a in (0.1, 0.2, 0.3, 0.5)],
        "seeds": [off] + [((s, 0.05, 0.5), ("window", 0)) for s in SEEDS[1:]],
        "passage_weight": [off]
        + [(("top5", pw, 0.5), ("window", 0)) for pw in PASSAGE_WEIGHTS if pw != 0.05],
        "damping": [off] + [(("top5", 0.05, d), ("window", 0)) for d in DAMPINGS if d != 0.5],
        "joint": [off] + joint,
        # fixed configurations, no choice: the previous default (chosen on all 50 questions,
        # so its numbers here are not held out) and the official ranking with the window
        "fixed: previous default (all seeds, window 5)": [(("all", 0.05, 0.5), ("window", 5))],
        "fixed: official seeds, window 5": [(OFFICIAL, ("window", 5))],
        "fixed: official seeds, window 3": [(OFFICIAL, ("window", 3))],
        "fixed: official seeds, dense top 2 first": [(OFFICIAL, ("head", 2))],
        "fixed: official seeds keeping ties at the cut": [(("top5ties", 0.05, 0.5), ("window", 0))],
    }


# -------------------------------------------------------------------------------- statistics
def recall_matrix(top: np.ndarray, gold: list[np.ndarray]) -> np.ndarray:
    """(questions, len(KS)) recall@k."""
    return np.array([[np.isin(g, top[b, :k]).mean() for k in KS] for b, g in enumerate(gold)])


def paired_bootstrap(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Mean of ``a - b`` over questions, percentile 95% CI, wins / ties / losses."""
    d = np.asarray(a, float) - np.asarray(b, float)
    rng = np.random.default_rng(BOOT_SEED)
    means = d[rng.integers(0, len(d), size=(RESAMPLES, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {
        "diff": round(float(d.mean()), 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "p_not_below": round(float((means >= -1e-12).mean()), 3),
        "wins": int((d > 1e-9).sum()),
        "ties": int((np.abs(d) <= 1e-9).sum()),
        "losses": int((d < -1e-9).sum()),
    }


def cross_validate(
    recalls: dict[str, np.ndarray], configs: list[str], splits: list[tuple], n: int
) -> tuple[np.ndarray, list[str]]:
    """Held-out recall (repeats, questions, len(KS)) and the configuration chosen per split."""
    held = np.zeros((REPEATS, n, len(KS)))
    chosen = []
    stack = np.stack([recalls[c] for c in configs])  # (configs, questions, KS)
    for s, (train, test) in enumerate(splits):
        objective = stack[:, train].mean(axis=(1, 2))
        best = int(np.flatnonzero(objective >= objective.max() - 1e-12)[0])
        chosen.append(configs[best])
        held[s // FOLDS, test] = stack[best, test]
    return held, chosen


# ------------------------------------------------------------------------------------ main
class Study:
    """The MuSiQue graph of the ``default`` preset, the linked questions and the PPR grid."""

    def __init__(self) -> None:
        data = load_musique()
        self.qids = [q["id"] for q in data.questions]
        qtexts = [q["question"] for q in data.questions]
        emb = MiniLMCache()
        emb.ensure(graph_strings(data.passages) + qtexts)
        self.index = {}
        for preset in ("default", "hipporag2"):
            self.index[preset] = GraphIndex(PRESETS[preset].graph, embed=emb)
            self.index[preset].add(data.passages)
        self.m = self.index["default"].matrices()
        self.qtexts, self.qvec = qtexts, emb(qtexts)
        links = GraphSearcher(self.index["default"], "hipporag2").link_many(
            qtexts, query_vectors=(self.qvec, self.qvec)
        )
        self.dense = np.stack([link.dense for link in links])
        self.pos = {p: j for j, p in enumerate(self.m.passages)}
        self.gold = [np.array([self.pos[p] for p in data.gold[q]]) for q in self.qids]
        self.official = self.recall(
            [[self.pos[p] for p in data.reference["hipporag2_official"][q]] for q in self.qids]
        )
        self.ppr = ppr_scores(self.m, links)

    def recall(self, top: Any) -> np.ndarray:
        return recall_matrix(np.asarray(top), self.gold)

    def searcher_top10(self, preset: str, graph: str) -> np.ndarray:
        res = GraphSearcher(self.index[graph], preset).search_many(
            self.qtexts, k=10, query_vectors=(self.qvec, self.qvec)
        )
        return np.array([[self.pos[h.passage_id] for h in r.hits] for r in res])

    def rank_all(self, configs: set[tuple[tuple, tuple]]) -> dict[str, np.ndarray]:
        """Configuration name -> top-10 passage indices per question."""
        rankers = {"window": window, "rrf": rrf, "mix": mix, "head": dense_head}
        return {
            config_name(key, r): rankers[r[0]](self.ppr[key], self.dense, *r[1:])
            for key, r in configs
        }


def family_row(
    study: Study, recalls: dict[str, np.ndarray], names: list[str], splits: list[tuple]
) -> dict[str, Any]:
    n = len(study.qids)
    held, chosen = cross_validate(recalls, names, splits, n)
    per_q = held.mean(axis=0)
    everything = [(np.arange(n), np.arange(n))]
    row: dict[str, Any] = {
        "candidates": len(names),
        "held_out": {f"R@{k}": round(float(per_q[:, i].mean()), 4) for i, k in enumerate(KS)},
        "held_out_per_repeat": {
            f"R@{k}": [round(float(x), 4) for x in held[:, :, i].mean(axis=1)]
            for i, k in enumerate(KS)
        },
        "choices": {c: chosen.count(c) for c in dict.fromkeys(chosen)},
        "chosen_on_all_50": cross_validate(recalls, names, everything, n)[1][0],
    }
    baselines = {
        "vs_official": study.official,
        "vs_hipporag2_preset": recalls[config_name(OFFICIAL, ("window", 0))],
        "vs_dense": study.recall(order(study.dense)),
    }
    for ref_name, ref in baselines.items():
        row[ref_name] = {
            f"R@{k}": paired_bootstrap(per_q[:, i], ref[:, i]) for i, k in enumerate(KS)
        }
    cis = [row["vs_official"][f"R@{k}"]["ci95"] for k in KS]
    row["survives"] = any(lo > 0 for lo, _ in cis) and not any(hi < 0 for _, hi in cis)
    row["never_significantly_below_official"] = not any(hi < 0 for _, hi in cis)
    row["choices_per_split"] = chosen
    row["held_out_per_question"] = {
        f"R@{k}": [round(float(x), 4) for x in per_q[:, i]] for i, k in enumerate(KS)
    }
    return row


def main() -> None:
    t0 = time.perf_counter()
    study = Study()
    t_ppr = time.perf_counter() - t0
    fams = families()
    tops = study.rank_all({c for cs in fams.values() for c in cs})
    recalls = {name: study.recall(top) for name, top in tops.items()}

    # the study's rankings are the searcher's, and the two graphs rank alike
    checks = {}
    for preset, graph in (
        ("hipporag2", "default"),
        ("hipporag2", "hipporag2"),
        ("default", "default"),
    ):
        got = study.searcher_top10(preset, graph)
        name = next((c for c in tops if np.array_equal(tops[c], got)), None)
        if name is None:  # the closest configuration, for the record
            name = max(tops, key=lambda c: int((tops[c] == got).all(axis=1).sum()))
        checks[f"{preset} preset on the {graph} graph"] = {
            "study_config": name,
            "top10_identical": int((tops[name] == got).all(axis=1).sum()),
        }

    strata = [0 if q.startswith("2hop") else 1 for q in study.qids]
    cv = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=CV_SEED)
    splits = list(cv.split(np.zeros(len(strata)), strata))
    fold_of = np.zeros((REPEATS, len(strata)), dtype=int)
    for s, (_, test) in enumerate(splits):
        fold_of[s // FOLDS, test] = s % FOLDS
    rows = {
        fam: family_row(study, recalls, [config_name(*c) for c in cs], splits)
        for fam, cs in fams.items()
    }
    baselines = {
        "official HippoRAG 2 (reference)": study.official,
        "hipporag2 preset": recalls[config_name(OFFICIAL, ("window", 0))],
        "dense (MiniLM)": study.recall(order(study.dense)),
    }
    out: dict[str, Any] = {
        "setting": "MuSiQue shared corpus, GPT-3.5 triples, MiniLM, no filter, 50 dev questions",
        "protocol": {
            "folds": FOLDS,
            "repeats": REPEATS,
            "cv_seed": CV_SEED,
            "strata": "2-hop vs 3-4-hop",
            "objective": "mean of R@2, R@5, R@10 on the training folds; ties: official first",
            "bootstrap": {"resamples": RESAMPLES, "seed": BOOT_SEED, "ci": "percentile 95%"},
            "survives": "CI vs official excludes 0 above at some k, significantly below at none",
        },
        "decision": {
            "survivors": [f for f, r in rows.items() if r["survives"]],
            "never_significantly_below_official": [
                f for f, r in rows.items() if r["never_significantly_below_official"]
            ],
            **DECISION,
        },
        "baselines": {
            name: {f"R@{k}": round(float(r[:, i].mean()), 4) for i, k in enumerate(KS)}
            for name, r in baselines.items()
        },
        "searcher_checks": checks,
        "families": rows,
        "question_ids": study.qids,
        "fold_assignments": fold_of.tolist(),
        "seconds": {"ppr_grid": round(t_ppr, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "musique_defaults_cv.json").write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))


def table(out: dict[str, Any]) -> str:
    """Markdown: held-out recall and the paired differences with their CIs."""
    lines = [
        "| knob family (candidates) | held-out R@2 / R@5 / R@10 | vs official @2 | @5 | @10"
        + " | vs dense @2 | survives |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(c: dict[str, Any]) -> str:
        return (
            f"{c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] {c['wins']}/{c['losses']}"
        )

    for fam, r in out["families"].items():
        h = r["held_out"]
        lines.append(
            f"| {fam} ({r['candidates']}) | {h['R@2']:.3f} / {h['R@5']:.3f} / {h['R@10']:.3f} | "
            + " | ".join(cell(r["vs_official"][f"R@{k}"]) for k in KS)
            + f" | {cell(r['vs_dense']['R@2'])} | {'yes' if r['survives'] else 'no'} |"
        )
    lines.append("")
    for name, b in out["baselines"].items():
        lines.append(f"{name}: " + " / ".join(f"{v:.4f}" for v in b.values()))
    for fam, r in out["families"].items():
        lines.append(f"{fam}: chosen per split {r['choices']}")
    for name, c in out["searcher_checks"].items():
        lines.append(f"{name}: {c['study_config']}, top-10 identical {c['top10_identical']}/50")
    lines.append(f"decision: {out['decision']['adopted']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
