"""What can be measured on PopQA without a language model: the gate's retrieval side.

Run: ``.venv/bin/python benchmarks/popqa_gate.py`` (a few seconds; needs
``../shared/data/popqa/popqa_dev.json`` or ``MEMAGENTS_DATA_DIR``).

On the 1,783 questions of ``popqa_dev.json`` (real subject popularity ``s_pop`` and the real
top-1 Contriever passage of each question):

a. retrieval rate of ``PopularityThreshold`` for a range of thresholds (every decision made by
   the policy itself), with how often the passages it would fetch contain an answer;
b. ``has_answer`` (the top-1 passage contains an accepted answer, PopQA's containment rule) by
   popularity decile and overall (Mallen et al. report a top-1 recall of 0.42 overall);
c. ``has_answer`` by Contriever-score decile (the retrieval-side confidence signal), and the
   ROC AUC of score and popularity as predictors of ``has_answer``; per relation as well.

Writes ``benchmarks/results/popqa_gate.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memagents.eval.popqa import load_popqa, popqa_path
from memagents.gate.policies import PopularityThreshold

RESULTS = Path(__file__).resolve().parent / "results"
THRESHOLDS = (10, 30, 100, 300, 1_000, 3_000, 10_000, 100_000, 707_000)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (ties count half), via the Mann-Whitney rank sum."""
    ranks = rankdata(scores)
    pos, neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def deciles(values: np.ndarray, hit: np.ndarray) -> list[dict[str, Any]]:
    """has_answer per decile of ``values`` (rank-based, so ties never empty a decile)."""
    order = np.argsort(values, kind="stable")
    rows = []
    for d, idx in enumerate(np.array_split(order, 10), 1):
        rows.append({"decile": d, "n": len(idx), "min": float(values[idx].min()),
                     "max": float(values[idx].max()), "has_answer": float(hit[idx].mean())})
    return rows


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="PopQA file or data folder.")
    args = parser.parse_args()
    path = popqa_path(args.data)
    items = load_popqa(path)
    pop = np.array([i.s_pop for i in items], dtype=float)
    score = np.array([i.contriever_score for i in items], dtype=float)
    hit = np.array([i.has_answer for i in items], dtype=bool)
    n = len(items)

    rate_rows = []
    for t in THRESHOLDS:
        policy = PopularityThreshold(threshold=t)
        start = time.perf_counter()
        decided = np.array([policy.decide(i.question, metadata=i.metadata()).retrieve
                            for i in items])
        seconds = time.perf_counter() - start
        assert (decided == (pop < t)).all(), "policy disagrees with s_pop < threshold"
        rate_rows.append({
            "threshold": t, "retrieved": int(decided.sum()), "retrieval_rate": decided.mean(),
            "has_answer_retrieved": float(hit[decided].mean()) if decided.any() else None,
            "has_answer_not_retrieved": float(hit[~decided].mean()) if (~decided).any() else None,
            "us_per_decision": 1e6 * seconds / n})

    relations = sorted({i.prop or "(unknown)" for i in items})
    props = np.array([i.prop or "(unknown)" for i in items])
    by_relation = [{"relation": r, "n": int((props == r).sum()),
                    "median_s_pop": float(np.median(pop[props == r])),
                    "has_answer": float(hit[props == r].mean())} for r in relations]
    out = {
        "data": f"{path.parent.name}/{path.name}", "questions": n,
        "relation_coverage": sum(i.prop is not None for i in items) / n,
        "s_pop": {"min": pop.min(), "median": float(np.median(pop)), "max": pop.max()},
        "has_answer_overall": float(hit.mean()),
        "auc_has_answer": {"contriever_score": auc(score, hit), "s_pop": auc(pop, hit)},
        "retrieval_rate": rate_rows,
        "has_answer_by_popularity_decile": deciles(pop, hit),
        "has_answer_by_score_decile": deciles(score, hit),
        "has_answer_by_relation": by_relation,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()[0]},
    }
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "popqa_gate.json"
    target.write_text(json.dumps(out, indent=2, default=float) + "\n", encoding="utf-8")
    report(out)
    print(f"\nwrote {target}")
    return out


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def report(out: dict[str, Any]) -> None:
    print(f"PopQA dev: {out['questions']} questions; relation derived for "
          f"{100 * out['relation_coverage']:.1f}%; has_answer overall "
          f"{_f(out['has_answer_overall'])} (Mallen et al.: 0.42); AUC for has_answer: "
          f"Contriever score {_f(out['auc_has_answer']['contriever_score'])}, s_pop "
          f"{_f(out['auc_has_answer']['s_pop'])}\n")
    print("| threshold (s_pop <) | retrieved | retrieval rate | has_answer (retrieved) | "
          "has_answer (not retrieved) | us / decision |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in out["retrieval_rate"]:
        print(f"| {r['threshold']:,} | {r['retrieved']} | {_f(r['retrieval_rate'])} | "
              f"{_f(r['has_answer_retrieved'])} | {_f(r['has_answer_not_retrieved'])} | "
              f"{r['us_per_decision']:.1f} |")
    for key, label in (("has_answer_by_popularity_decile", "s_pop"),
                       ("has_answer_by_score_decile", "Contriever score")):
        print(f"\n| {label} decile | n | range | has_answer |")
        print("| ---: | ---: | --- | ---: |")
        for r in out[key]:
            lo, hi = (f"{r['min']:,.0f}", f"{r['max']:,.0f}") if label == "s_pop" else \
                (f"{r['min']:.3f}", f"{r['max']:.3f}")
            print(f"| {r['decile']} | {r['n']} | {lo} - {hi} | {_f(r['has_answer'])} |")
    print("\n| relation | n | median s_pop | has_answer |")
    print("| --- | ---: | ---: | ---: |")
    for r in sorted(out["has_answer_by_relation"], key=lambda r: -r["has_answer"]):
        print(f"| {r['relation']} | {r['n']} | {r['median_s_pop']:,.0f} | "
              f"{_f(r['has_answer'])} |")


if __name__ == "__main__":
    main()
