"""Mallen et al.'s popularity-threshold tuning: when is retrieval worth it, per relation?

Given the results of a parametric (closed-book) run and a retrieval run over the same
questions, the search finds, for each relation, the popularity below which the retrieval answer
beats the parametric one (spec §2.3, ``adaptive-retrieval.ipynb``):

* rows with missing or negative ``s_pop`` are dropped (and counted);
* ``bootstraps`` times, a random 75/25 train/test split of all questions (seeded: same seed,
  same numbers); per relation, 10 equal-width histogram bins of ``log(s_pop)`` over all of the
  relation's questions (as the notebook does); on the train split, the bin edge ``t`` maximising
  ``Σ_{bins < t} retrieval-correct + Σ_{bins ≥ t} parametric-correct``; edge 0 is "never
  retrieve", edge 10 "always retrieve". **Tie-break**: the lowest maximising edge, i.e. the
  fewest retrievals (the notebook's ``np.argmax``); the test split then answers from retrieval
  below the edge, from memory above it;
* accuracy is pooled over the test split (the notebook's mean over relations weighted by test
  size); reported as the bootstrap mean and 2.5-97.5 percentile interval, with the retrieval
  rate and the never/always-retrieve baselines on the same splits;
* final thresholds are fit on all rows, in page views: retrieve when ``s_pop < threshold``
  (``0`` never, ``inf`` always), ready for ``PopularityThreshold(per_relation=...)``.

``s_pop == 0`` is binned as ``log(1)``. Result files: :func:`load_results`.

Example:
    >>> rows = [{"id": str(i), "prop": "genre", "s_pop": 10.0 ** (i + 1)} for i in range(4)]
    >>> par = [dict(r, is_correct=i >= 2) for i, r in enumerate(rows)]
    >>> ret = [dict(r, is_correct=i < 2) for i, r in enumerate(rows)]
    >>> result = tune_thresholds(par, ret, bootstraps=5, seed=0)
    >>> result.thresholds()["genre"] > 100, result.in_sample_accuracy
    (True, 1.0)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memagents.errors import InputError
from memagents.eval import scoring
from memagents.eval.popqa import relation_of

__all__ = [
    "ALL_QUESTIONS", "UNKNOWN_RELATION", "Estimate", "PairedResults", "RelationThreshold",
    "SweepPoint", "TuningResult", "load_results", "pair_results", "sweep", "tune_thresholds",
]

UNKNOWN_RELATION = "(unknown)"  #: group of questions without a known relation
ALL_QUESTIONS = "(all)"  #: the single group of the global (one threshold) variant
Results = str | Path | Sequence[Mapping[str, Any]]
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a result file: JSON Lines (the harness format) or Mallen's CSV (``.csv``).

    Records are checked and normalised: ``id`` as a string, ``pred`` copied to ``prediction``,
    ``is_correct`` a bool (scored from ``prediction`` and ``possible_answers`` when absent),
    ``s_pop`` a float or ``None``. Raises InputError naming the file, line and problem.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"result file {path} not found: pass a JSONL file of an eval run.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows: list[tuple[str, Any]] = [
            (f"{path}:{n}", r) for n, r in enumerate(csv.DictReader(text.splitlines()), 2)]
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"{path}:{n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not JSON ({exc.msg}); result files hold one "
                                     "JSON object per line.") from exc
    if not rows:
        raise InputError(f"result file {path} is empty.")
    return [_normalize(record, where) for where, record in rows]


def _normalize(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        raise InputError(f"{where}: a result record must be an object, got "
                         f"{type(record).__name__}.")
    out = dict(record)
    if out.get("id") in (None, ""):
        raise InputError(f"{where}: record has no id; questions are matched by id.")
    out["id"] = str(out["id"])
    if out.get("prediction") is None and "pred" in out:
        out["prediction"] = out["pred"]
    flag = out.get("is_correct")
    if isinstance(flag, str) and flag.strip().lower() in _TRUE | _FALSE:
        flag = flag.strip().lower() in _TRUE
    if flag is None:
        if out.get("prediction") is None or out.get("possible_answers") is None:
            raise InputError(f"{where} (id {out['id']}): is_correct is missing and there is no "
                             "prediction + possible_answers to score it.")
        flag = scoring.is_correct(str(out["prediction"]), out["possible_answers"])
    if not isinstance(flag, bool | np.bool_):
        raise InputError(f"{where} (id {out['id']}): is_correct must be true or false, "
                         f"got {flag!r}.")
    out["is_correct"] = bool(flag)
    pop = out.get("s_pop")
    try:
        pop = None if pop is None or str(pop).strip() == "" else float(pop)
    except ValueError:
        raise InputError(f"{where} (id {out['id']}): s_pop must be a number, got {pop!r}.") from None
    out["s_pop"] = None if pop is None or math.isnan(pop) else pop
    if out.get("mode") not in (None, "parametric", "retrieval", "adaptive"):
        raise InputError(f"{where} (id {out['id']}): unknown mode {out['mode']!r}.")
    return out


@dataclass(frozen=True, kw_only=True)
class PairedResults:
    """Parametric and retrieval outcomes of the same questions, matched by id.

    Example:
        >>> p = pair_results([{"id": "a", "prop": "genre", "s_pop": 5, "is_correct": False}],
        ...                  [{"id": "a", "prop": "genre", "s_pop": 5, "is_correct": True}])
        >>> p.ids, p.retrieval_correct, p.dropped
        (('a',), (True,), ())
    """

    ids: tuple[str, ...]
    relations: tuple[str, ...]
    s_pop: tuple[float, ...]
    parametric_correct: tuple[bool, ...]
    retrieval_correct: tuple[bool, ...]
    dropped: tuple[str, ...] = ()  #: ids left out: missing or negative ``s_pop``


def pair_results(parametric: Results, retrieval: Results) -> PairedResults:
    """Match two runs by id; InputError names ids present in only one of them."""
    runs = []
    for label, run in (("parametric", parametric), ("retrieval", retrieval)):
        records = (load_results(run) if isinstance(run, str | Path)
                   else [_normalize(r, f"{label} record {n}") for n, r in enumerate(run)])
        by_id: dict[str, dict[str, Any]] = {}
        for r in records:
            if r["id"] in by_id:
                raise InputError(f"{label} results: id {r['id']!r} appears twice.")
            if r.get("mode") not in (None, label):
                raise InputError(f"{label} results: id {r['id']!r} has mode {r['mode']!r}; "
                                 f"pass the {label} run's file here.")
            by_id[r["id"]] = r
        runs.append(by_id)
    par, ret = runs
    only_par, only_ret = sorted(par.keys() - ret.keys()), sorted(ret.keys() - par.keys())
    if only_par or only_ret:
        raise InputError("the two result files do not hold the same questions: "
                         f"{len(only_par)} only in parametric {only_par[:10]}, {len(only_ret)} "
                         f"only in retrieval {only_ret[:10]}; run both modes on the same data.")
    keep, dropped = [], []
    for qid, p in par.items():
        r = ret[qid]
        pops = [x["s_pop"] for x in (p, r) if x["s_pop"] is not None]
        if len(pops) == 2 and not math.isclose(*pops, rel_tol=1e-9):
            raise InputError(f"id {qid!r}: s_pop differs between the files ({pops[0]} vs "
                             f"{pops[1]}).")
        relation = (p.get("prop") or r.get("prop")
                    or relation_of(p.get("question") or r.get("question") or "")
                    or UNKNOWN_RELATION)
        if not pops or pops[0] < 0:
            dropped.append(qid)
        else:
            keep.append((qid, str(relation), pops[0], p["is_correct"], r["is_correct"]))
    cols = list(zip(*keep, strict=True)) if keep else [(), (), (), (), ()]
    return PairedResults(ids=tuple(cols[0]), relations=tuple(cols[1]), s_pop=tuple(cols[2]),
                         parametric_correct=tuple(cols[3]), retrieval_correct=tuple(cols[4]),
                         dropped=tuple(dropped))


def _as_paired(parametric: Results | PairedResults, retrieval: Results | None) -> PairedResults:
    if isinstance(parametric, PairedResults):
        if retrieval is not None:
            raise InputError("pass either PairedResults alone or two result files.")
        return parametric
    if retrieval is None:
        raise InputError("the retrieval run's results are missing.")
    return pair_results(parametric, retrieval)


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A bootstrap estimate: mean, 95% percentile interval and standard deviation.

    >>> Estimate(mean=0.4, low=0.35, high=0.45, std=0.02).to_dict()["high"]
    0.45
    """

    mean: float
    low: float
    high: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Estimate:
        v = np.asarray(values, dtype=float)
        lo, hi = np.percentile(v, [2.5, 97.5])
        return cls(mean=float(v.mean()), low=float(lo), high=float(hi), std=float(v.std()))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RelationThreshold:
    """The threshold of one relation fit on all rows, with the bin counts behind it.

    ``threshold`` is in page views: retrieve when ``s_pop < threshold`` (``0.0`` never,
    ``inf`` always); ``edge`` is its bin edge index (0..bins).

    >>> RelationThreshold(relation="genre", threshold=math.inf, edge=1, log_edges=(0.0, 1.0),
    ...     bin_questions=(2,), bin_parametric_correct=(0,), bin_retrieval_correct=(1,),
    ...     tuned_correct=1).rule
    'always retrieve'
    """

    relation: str
    threshold: float
    edge: int
    log_edges: tuple[float, ...]
    bin_questions: tuple[int, ...]
    bin_parametric_correct: tuple[int, ...]
    bin_retrieval_correct: tuple[int, ...]
    tuned_correct: int

    @property
    def questions(self) -> int:
        return sum(self.bin_questions)

    @property
    def retrieved(self) -> int:
        return sum(self.bin_questions[: self.edge])

    @property
    def rule(self) -> str:
        if self.edge == 0:
            return "never retrieve"
        if self.edge == len(self.bin_questions):
            return "always retrieve"
        return f"retrieve when s_pop < {self.threshold:,.6g}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["threshold"] = None if math.isinf(self.threshold) else self.threshold
        data.update(questions=self.questions, retrieved=self.retrieved, rule=self.rule,
                    parametric_correct=sum(self.bin_parametric_correct),
                    retrieval_correct=sum(self.bin_retrieval_correct))
        return data


@dataclass(frozen=True, kw_only=True)
class SweepPoint:
    """Accuracy and retrieval rate when retrieving for every ``s_pop < threshold``.

    >>> SweepPoint(threshold=100.0, questions=4, retrieved=2, correct=3).accuracy
    0.75
    """

    threshold: float
    questions: int
    retrieved: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else 0.0

    @property
    def retrieval_rate(self) -> float:
        return self.retrieved / self.questions if self.questions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": None if math.isinf(self.threshold) else self.threshold,
                "questions": self.questions, "retrieved": self.retrieved,
                "correct": self.correct, "accuracy": self.accuracy,
                "retrieval_rate": self.retrieval_rate}


@dataclass(frozen=True, kw_only=True)
class TuningResult:
    """What :func:`tune_thresholds` found (bootstrap estimates and the final fit).

    ``accuracy``, ``retrieval_rate``, ``never_accuracy``, ``always_accuracy`` are over the test
    splits; ``in_sample_*`` and ``oracle_accuracy`` (either run correct) over all kept rows.
    """

    per_relation: bool
    bootstraps: int
    seed: int
    bins: int
    train_fraction: float
    questions: int
    dropped: tuple[str, ...]
    accuracy: Estimate
    retrieval_rate: Estimate
    never_accuracy: Estimate
    always_accuracy: Estimate
    fits: tuple[RelationThreshold, ...]
    global_threshold: float
    in_sample_accuracy: float
    in_sample_retrieval_rate: float
    oracle_accuracy: float

    def thresholds(self) -> dict[str, float]:
        """Relation -> threshold in page views (the global variant: ``{"(all)": t}``)."""
        return {f.relation: f.threshold for f in self.fits}

    def policy_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``PopularityThreshold`` applying these thresholds."""
        per = {k: v for k, v in self.thresholds().items() if k != UNKNOWN_RELATION}
        return {"threshold": self.global_threshold,
                "per_relation": per if self.per_relation else None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; an infinite threshold (always retrieve) is written as null."""
        data = asdict(self)
        del data["fits"]
        per = self.policy_kwargs()["per_relation"]
        data.update(dropped=list(self.dropped), global_threshold=_finite(self.global_threshold),
                    relations=[f.to_dict() for f in self.fits],
                    policy={"threshold": _finite(self.global_threshold),
                            "per_relation": per and {k: _finite(v) for k, v in per.items()},
                            "note": "retrieve when s_pop < threshold; null = always"})
        return data


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


class _Binned:
    """Rows as arrays with each row's group and bin (edges fixed per group on all its rows)."""

    def __init__(self, pairs: PairedResults, groups: Sequence[str], bins: int) -> None:
        self.names = sorted(set(groups))
        gid = {g: i for i, g in enumerate(self.names)}
        self.group = np.array([gid[g] for g in groups], dtype=np.int64)
        logs = np.log(np.maximum(np.asarray(pairs.s_pop, dtype=float), 1.0))
        self.bin = np.zeros(len(logs), dtype=np.int64)
        self.edges: list[np.ndarray] = []
        for i in range(len(self.names)):
            rows = self.group == i
            edges = np.histogram_bin_edges(logs[rows], bins=bins)
            self.edges.append(edges)
            idx = np.searchsorted(edges, logs[rows], side="right") - 1
            self.bin[rows] = np.clip(idx, 0, bins - 1)
        self.bins = bins
        self.key = self.group * bins + self.bin
        self.par = np.asarray(pairs.parametric_correct, dtype=bool)
        self.ret = np.asarray(pairs.retrieval_correct, dtype=bool)

    def counts(self, rows: np.ndarray, flags: np.ndarray | None = None) -> np.ndarray:
        sel = rows if flags is None else rows & flags
        size = len(self.names) * self.bins
        return np.bincount(self.key[sel], minlength=size).reshape(len(self.names), self.bins)

    def best_edges(self, rows: np.ndarray) -> np.ndarray:
        """Per group, the lowest edge maximising retrieval-correct below + parametric above."""
        par, ret = self.counts(rows, self.par), self.counts(rows, self.ret)
        zero = np.zeros((len(self.names), 1), dtype=np.int64)
        below = np.concatenate([zero, np.cumsum(ret, axis=1)], axis=1)
        above = np.concatenate([np.cumsum(par[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
        return np.argmax(below + above, axis=1)

    def apply(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(retrieve?, correct?) of every row under per-group edges."""
        retrieve = self.bin < edges[self.group]
        return retrieve, np.where(retrieve, self.ret, self.par)


def tune_thresholds(parametric: Results | PairedResults, retrieval: Results | None = None, *,
                    bootstraps: int = 100, seed: int = 0, bins: int = 10,
                    train_fraction: float = 0.75, per_relation: bool = True) -> TuningResult:
    """Run the bootstrap threshold search (module docstring) and fit final thresholds.

    Args:
        parametric: The closed-book run (path or records), or a :class:`PairedResults` alone.
        retrieval: The retrieval run (path or records), matched to ``parametric`` by id.
        bootstraps: Number of random train/test splits.
        seed: Seed of the splits (same seed, same result).
        bins: Histogram bins of ``log(s_pop)`` per relation.
        train_fraction: Share of questions used to pick thresholds in each split.
        per_relation: False for one global threshold over all questions.
    """
    if bootstraps < 1 or bins < 1 or not 0.0 < train_fraction < 1.0:
        raise InputError("need bootstraps >= 1, bins >= 1 and 0 < train_fraction < 1.")
    pairs = _as_paired(parametric, retrieval)
    n = len(pairs.ids)
    n_train = round(n * train_fraction)
    if not 0 < n_train < n:
        raise InputError(f"{n} usable questions ({len(pairs.dropped)} dropped for missing "
                         "s_pop) are too few for a train/test split; need at least 2.")
    groups = pairs.relations if per_relation else [ALL_QUESTIONS] * n
    data = _Binned(pairs, groups, bins)
    rng = np.random.default_rng(seed)
    acc, rate, never, always = [], [], [], []
    for _ in range(bootstraps):
        train = np.zeros(n, dtype=bool)
        train[rng.permutation(n)[:n_train]] = True
        test = ~train
        retrieve, correct = data.apply(data.best_edges(train))
        acc.append(correct[test].mean())
        rate.append(retrieve[test].mean())
        never.append(data.par[test].mean())
        always.append(data.ret[test].mean())
    everything = np.ones(n, dtype=bool)
    final = data.best_edges(everything)
    retrieve, correct = data.apply(final)
    qs, pc, rc = data.counts(everything), data.counts(everything, data.par), \
        data.counts(everything, data.ret)
    fits = tuple(
        RelationThreshold(
            relation=name, threshold=_threshold(data.edges[g], int(final[g])),
            edge=int(final[g]), log_edges=tuple(float(e) for e in data.edges[g]),
            bin_questions=tuple(int(x) for x in qs[g]),
            bin_parametric_correct=tuple(int(x) for x in pc[g]),
            bin_retrieval_correct=tuple(int(x) for x in rc[g]),
            tuned_correct=int(correct[data.group == g].sum()))
        for g, name in enumerate(data.names))
    if per_relation:
        overall = _Binned(pairs, [ALL_QUESTIONS] * n, bins)
        global_threshold = _threshold(overall.edges[0], int(overall.best_edges(everything)[0]))
    else:
        global_threshold = fits[0].threshold
    return TuningResult(
        per_relation=per_relation, bootstraps=bootstraps, seed=seed, bins=bins,
        train_fraction=train_fraction, questions=n, dropped=pairs.dropped,
        accuracy=Estimate.of(acc), retrieval_rate=Estimate.of(rate),
        never_accuracy=Estimate.of(never), always_accuracy=Estimate.of(always), fits=fits,
        global_threshold=global_threshold, in_sample_accuracy=float(correct.mean()),
        in_sample_retrieval_rate=float(retrieve.mean()),
        oracle_accuracy=float((data.par | data.ret).mean()))


def _threshold(edges: np.ndarray, edge: int) -> float:
    """Page-view threshold of bin edge ``edge``: 0 never retrieves, the last edge always."""
    if edge == 0:
        return 0.0
    if edge == len(edges) - 1:
        return math.inf
    return float(math.exp(edges[edge]))


def sweep(parametric: Results | PairedResults, retrieval: Results | None = None,
          thresholds: Sequence[float] | None = None) -> list[SweepPoint]:
    """Accuracy vs retrieval rate of the rule ``retrieve when s_pop < t`` for each threshold.

    Default thresholds: 0, the 5%-step quantiles of ``s_pop`` and ``inf`` (never ... always).
    Points come sorted by threshold, so their retrieval rates never decrease.
    """
    pairs = _as_paired(parametric, retrieval)
    pop = np.asarray(pairs.s_pop, dtype=float)
    par = np.asarray(pairs.parametric_correct, dtype=bool)
    ret = np.asarray(pairs.retrieval_correct, dtype=bool)
    if thresholds is None:
        quantiles = np.quantile(pop, np.linspace(0, 1, 21)) if len(pop) else []
        thresholds = [0.0, *(float(q) for q in quantiles), math.inf]
    points = []
    for t in sorted({float(x) for x in thresholds}):
        if math.isnan(t):
            raise InputError("a sweep threshold is NaN.")
        retrieve = pop < t
        points.append(SweepPoint(threshold=t, questions=len(pop), retrieved=int(retrieve.sum()),
                                 correct=int(np.where(retrieve, ret, par).sum())))
    return points
