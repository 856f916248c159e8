"""The arithmetic of CORE, as pure functions: credit, utility, retrieval, sampling, admission.

* **Credit** (``../shared/docs/methods/core.md`` §5): every insight injected into a rollout
  gets the same utility ``u = r − b_p`` (:func:`utility`), folded into its running mean on
  that problem (:func:`running_mean`).
* **Retrieval score** (§6, concrete form ours): for a problem ``q`` with nearest training
  problems ``N_k(q)``, ``score(i, q) = Σ n(i,p)·ū(i,p) / Σ n(i,p)`` over ``p ∈ N_k(q)`` (0
  when the insight was never used there), plus ``c·√(ln(T+1)/(1+n_i))`` while training
  (:func:`neighbour_utility`, :func:`ucb_bonus`): the paper-like fixed neighbourhood
  (``neighbourhood="knn"``).
* **Kernel neighbourhood** (ours, the default): every training problem ``p`` weighs
  ``w_p = exp(−(s* − s_p)/h)``, ``s_p`` its cosine to ``q`` and ``s*`` the nearest one's (so
  the nearest weighs 1 and a problem ``h`` less similar weighs 1/e), and
  ``score(i, q) = Σ w_p·n(i,p)·ū(i,p) / (Σ w_p·n(i,p) + n₀)``: a similarity-weighted mean
  utility shrunk toward 0 by ``n₀`` pseudo-uses, so evidence from dissimilar problems alone
  counts little (:func:`kernel_weights`, :func:`kernel_utility`). The bandwidth ``h`` is
  chosen on the training problems by leave-one-problem-out prediction of each insight's
  measured utility (:func:`loo_bandwidth`).
* **Sampling** (§3): failure-biased, mixed with uniform (:func:`sampling_weights`), with a
  success estimate that starts at ``b_p`` (:func:`success_estimate`).
* **Admission** (§7): the candidate alone solves its source problem (:func:`admits`).

Example:
    >>> utility(1.0, 0.3)
    0.7
    >>> running_mean(1, 0.7, -0.3)
    (2, 0.2)
    >>> neighbour_utility({"p1": (2, 0.5), "p2": (1, -0.1), "p9": (4, 1.0)}, ["p1", "p2"])
    (0.3, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "admits",
    "bootstrap_ci",
    "cosine_top",
    "kernel_utility",
    "kernel_weights",
    "loo_bandwidth",
    "neighbour_utility",
    "running_mean",
    "sampling_weights",
    "success_estimate",
    "ucb_bonus",
    "utility",
]


def utility(reward: float, baseline: float) -> float:
    """The utility of one use: ``r − b_p`` (positive only when the attempt beats the
    problem's usual success rate).

    >>> utility(0.0, 0.25)
    -0.25
    """
    return round(float(reward) - float(baseline), 12)


def running_mean(n: int, mean: float, value: float) -> tuple[int, float]:
    """Fold ``value`` into a mean over ``n`` values: ``(n + 1, new mean)``.

    >>> running_mean(0, 0.0, 0.5)
    (1, 0.5)
    """
    n1 = n + 1
    return n1, round(mean + (value - mean) / n1, 12)


def neighbour_utility(uses: Mapping[str, tuple[int, float]], neighbours: Sequence[str],
                      left_out: Mapping[str, tuple[int, float]] | None = None
                      ) -> tuple[float, int]:
    """An insight's use-weighted mean utility over the ``neighbours`` problems, and the
    number of uses it rests on; ``(0.0, 0)`` without any use there.

    With ``left_out`` (contrast credit), a problem's utility is the mean utility when
    injected minus the mean utility of the rollouts that left the insight out (``b_p``
    cancels: the difference of mean rewards), where such rollouts exist.

    Args:
        uses: Problem id -> ``(n(i,p), ū(i,p))`` of one insight.
        neighbours: The problems that count (the nearest training problems).
        left_out: Problem id -> ``(count, mean utility)`` of the rollouts leaving it out.

    >>> neighbour_utility({"p1": (3, 0.5)}, ["p2"])
    (0.0, 0)
    >>> neighbour_utility({"p1": (2, 0.5), "p2": (2, 0.5)}, ["p1", "p2"], {"p1": (4, 0.6)})
    (0.2, 4)
    """
    total_n = 0
    total = 0.0
    for p in dict.fromkeys(neighbours):
        n, mean = uses.get(p, (0, 0.0))
        if left_out is not None and n and p in left_out:
            mean -= left_out[p][1]
        total_n += n
        total += n * mean
    if total_n == 0:
        return 0.0, 0
    return round(total / total_n, 12), total_n


def kernel_weights(sims: Sequence[float] | np.ndarray, bandwidth: float) -> np.ndarray:
    """Kernel weights ``exp(−(s* − s_p)/h)`` of problems with cosines ``sims`` to a query:
    the nearest weighs 1; ``h = inf`` weighs every problem 1.

    >>> kernel_weights([0.9, 0.8, 0.5], 0.1).round(4).tolist()
    [1.0, 0.3679, 0.0183]
    """
    s = np.asarray(sims, dtype=float)
    if s.size == 0:
        return np.zeros(0)
    if not math.isfinite(bandwidth):
        return np.ones_like(s)
    return np.exp(-(s.max() - s) / max(bandwidth, 1e-12))


def kernel_utility(uses: Mapping[str, tuple[int, float]], weights: Mapping[str, float],
                   left_out: Mapping[str, tuple[int, float]] | None = None, *,
                   prior: float = 1.0) -> tuple[float, int]:
    """An insight's similarity-weighted mean utility, shrunk toward 0 by ``prior``
    pseudo-uses: ``Σ w_p·n(i,p)·ū(i,p) / (Σ w_p·n(i,p) + n₀)``, and the uses it rests on
    (problems of weight ≥ 0.01); ``(0.0, 0)`` without any use on a weighted problem.

    ``left_out`` (contrast credit) replaces ``ū(i,p)`` by the mean when injected minus the
    mean when left out, as :func:`neighbour_utility` does.

    Args:
        uses: Problem id -> ``(n(i,p), ū(i,p))`` of one insight.
        weights: Problem id -> kernel weight (problems missing weigh 0).
        left_out: Problem id -> ``(count, mean utility)`` of the rollouts leaving it out.
        prior: ``n₀``, pseudo-uses at utility 0.

    >>> kernel_utility({"p1": (3, 0.5), "p2": (2, -0.5)}, {"p1": 1.0, "p2": 0.5})
    (0.2, 5)
    >>> kernel_utility({"p1": (3, 0.5)}, {"p1": 1.0}, {"p1": (2, 0.25)}, prior=0.0)
    (0.25, 3)
    """
    num = den = 0.0
    evidence = 0
    for p, (n, mean) in uses.items():
        w = float(weights.get(p, 0.0))
        if n <= 0 or w <= 0.0:
            continue
        if left_out is not None and p in left_out:
            mean -= left_out[p][1]
        num += w * n * mean
        den += w * n
        evidence += n if w >= 0.01 else 0
    if den <= 0.0:
        return 0.0, 0
    return round(num / (den + prior), 12), evidence


BANDWIDTHS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, math.inf)
"""Candidate bandwidths of :func:`loo_bandwidth` (cosine units; ``inf``: every problem
weighs the same)."""


def loo_bandwidth(sims: np.ndarray, counts: np.ndarray, means: np.ndarray, *,
                  prior: float = 1.0, grid: Sequence[float] = BANDWIDTHS
                  ) -> tuple[float, dict[float, float]]:
    """The bandwidth that best predicts, for each training problem left out, the measured
    utility of each insight used on it from the other problems (kernel-weighted as
    :func:`kernel_utility`, the nearest *other* problem weighing 1): the
    leave-one-problem-out mean squared error, weighted by uses. Ties go to the wider
    bandwidth (the smoother estimate); without any insight used on two problems, ``inf``.

    Args:
        sims: ``P × P`` cosines between the training problems.
        counts: ``I × P`` uses ``n(i,p)``.
        means: ``I × P`` mean utilities ``ū(i,p)`` (any value where ``n`` is 0).
        prior: ``n₀`` of :func:`kernel_utility`.
        grid: The candidate bandwidths.

    Returns:
        The chosen bandwidth and the error of every candidate.

    >>> sims = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.2], [0.2, 0.2, 1.0]])
    >>> counts = np.array([[4, 4, 4], [4, 4, 4]])
    >>> means = np.array([[0.5, 0.5, -0.5], [-0.5, -0.5, 0.5]])
    >>> loo_bandwidth(sims, counts, means, prior=0.0, grid=(0.1, math.inf))[0]
    0.1
    """
    n = np.asarray(counts, dtype=float)
    m = np.where(n > 0, np.asarray(means, dtype=float), 0.0)
    s = np.asarray(sims, dtype=float)
    p = s.shape[0]
    if p < 2 or n.size == 0 or not ((n > 0).sum(axis=1) >= 2).any():
        return math.inf, {}
    off = ~np.eye(p, dtype=bool)
    nearest = np.where(off, s, -np.inf).max(axis=1, keepdims=True)
    errors: dict[float, float] = {}
    for h in grid:
        w = (np.ones((p, p)) if not math.isfinite(h)
             else np.exp(-(nearest - s) / max(h, 1e-12)))
        w = np.where(off, w, 0.0)  # w[p, q]: weight of problem q when p is left out
        pred = (n * m) @ w.T / np.maximum(n @ w.T + prior, 1e-12)
        errors[h] = round(float((n * (m - pred) ** 2).sum() / n.sum()), 12)
    best = min(errors.values())
    return max(h for h, e in errors.items() if e <= best + 1e-12), errors


def ucb_bonus(c: float, total_retrievals: int, uses: int) -> float:
    """The exploration bonus ``c·√(ln(T+1)/(1+n_i))`` (0 when ``c`` or ``T`` is 0).

    >>> round(ucb_bonus(0.3, 99, 0), 4), round(ucb_bonus(0.3, 99, 8), 4)
    (0.6438, 0.2146)
    """
    if c <= 0 or total_retrievals <= 0:
        return 0.0
    return c * math.sqrt(math.log(total_retrievals + 1) / (1 + max(uses, 0)))


def success_estimate(baseline: float, recent: Sequence[float], window: int) -> float:
    """A problem's current success rate ``s_p``: the mean of its last ``window`` training
    rewards, the missing ones filled with ``b_p`` (so it starts at the baseline).

    >>> success_estimate(0.2, [1.0, 1.0], 4)
    0.6
    """
    last = list(recent)[-window:] if window > 0 else []
    filled = last + [baseline] * (window - len(last))
    return round(sum(filled) / max(len(filled), 1), 12)


def sampling_weights(success: Sequence[float], uniform_mix: float) -> np.ndarray:
    """Problem sampling probabilities: ``mix/N + (1 − mix)·(1 − s_p)/Σ(1 − s)``; uniform
    when every problem is always solved.

    >>> sampling_weights([0.0, 1.0], 0.5).tolist()
    [0.75, 0.25]
    """
    s = np.clip(np.asarray(success, dtype=float), 0.0, 1.0)
    n = len(s)
    if n == 0:
        return np.zeros(0)
    uniform = np.full(n, 1.0 / n)
    fail = 1.0 - s
    if fail.sum() <= 0:
        return uniform
    weights: np.ndarray = uniform_mix * uniform + (1.0 - uniform_mix) * fail / fail.sum()
    return weights / weights.sum()


def admits(rewards: Sequence[float], baseline: float, *, rule: str = "solved",
           margin: float = 0.0) -> bool:
    """The admission decision for one candidate's admission rollouts.

    ``"solved"`` (the paper's rule): most samples solve the problem (one sample: it is
    solved). ``"margin"``: the mean reward beats ``b_p`` by more than ``margin``.

    >>> admits([1.0], 0.9), admits([0.0], 0.0), admits([1.0, 0.0, 1.0], 0.5, rule="margin")
    (True, False, True)
    """
    if not rewards:
        return False
    if rule == "margin":
        return sum(rewards) / len(rewards) - baseline > margin
    solved = sum(1 for r in rewards if r >= 1.0 - 1e-9)
    return solved * 2 > len(rewards)


def cosine_top(matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Row indices of the ``k`` rows most similar to ``vector`` (unit rows), best first;
    ties broken by row order.

    >>> cosine_top(np.eye(3, dtype=np.float32), np.array([0.0, 1.0, 0.0]), 2)
    [(1, 1.0), (0, 0.0)]
    """
    if matrix.size == 0 or k <= 0:
        return []
    sims = matrix @ vector.astype(matrix.dtype)
    order = np.lexsort((np.arange(len(sims)), -np.round(sims, 6)))[:k]
    return [(int(i), round(float(sims[i]), 6)) for i in order]


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of ``values``.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0, 1.0)
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (round(float(data.mean()), 6), round(float(low), 6), round(float(high), 6))
