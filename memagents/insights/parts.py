"""What the learning steps share: the store's parts, and one verified attempt.

:class:`StoreParts` bundles what a store holds (tables, ranker, settings, model, embeddings,
tokenizer) so the training loop, the evaluation, the reflection and the ExpeL baseline take
one argument and never import the facade. :func:`attempt` runs one rollout: the solver with
the selected insights, then the verifier, each failure turned into a failed rollout with its
error (a solver that raises, a verifier that raises or hangs), never a crash of the run.

Example:
    >>> from memagents.insights.records import Problem
    >>> from memagents.insights.retrieval import Selection
    >>> solver = lambda problem, insights, block=None: Attempt(answer="4")
    >>> attempt(solver, "numeric", Problem(id="p", text="2+2?", answer="4"), Selection(),
    ...         timeout=1.0)[1:]
    (1.0, None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memagents.errors import BudgetExceeded, ConfigError, InputError
from memagents.insights.db import InsightDB
from memagents.insights.records import Attempt, Problem
from memagents.insights.retrieval import Ranker, Selection
from memagents.insights.settings import InsightSettings
from memagents.insights.solvers import render_trace
from memagents.insights.verifiers import Verifier, run_verifier, verifier_for
from memagents.models import StructuredLLM, Tokenizer

__all__ = ["Solver", "StoreParts", "attempt"]

Solver = Callable[..., Attempt]
"""``solver(problem, insight_texts, block=...) -> Attempt`` (see
:mod:`memagents.insights.solvers`)."""


@dataclass(kw_only=True)
class StoreParts:
    """The parts of one open store (see the module docstring).

    Attributes:
        db: Tables.
        ranker: Insight ranking and selection.
        settings: Parameters.
        llm: The structured model path (reflection, ExpeL edits, the default solver).
        embed: ``embed(texts) -> unit rows``.
        tokenizer: Token counting (tiktoken, offline).
    """

    db: InsightDB
    ranker: Ranker
    settings: InsightSettings
    llm: StructuredLLM
    embed: Callable[[Sequence[str]], np.ndarray]
    tokenizer: Tokenizer


def resolve_verifier(problem: Problem, given: Any, timeout: float) -> Verifier:
    """The verifier of one problem: the one given (a callback, or a spec for all problems),
    else the problem's own spec, else exact match."""
    if given is not None:
        return verifier_for(given, timeout=timeout)
    return verifier_for(problem.verifier, timeout=timeout)


def attempt(solver: Solver, verifier: Any, problem: Problem, selection: Selection, *,
            timeout: float, max_trace_tokens: int | None = None,
            tokenizer: Tokenizer | None = None) -> tuple[Attempt, float, str | None]:
    """One rollout: ``(attempt, reward, error)``.

    The solver gets the selected insight texts and block. A solver error (the model failed
    after its retries, say) is a failed rollout with the error; a budget stop
    (:class:`~memagents.errors.BudgetExceeded`) and a missing model
    (:class:`~memagents.errors.ConfigError`) propagate, since no further rollout can run.
    """
    try:
        result = solver(problem, selection.texts, block=selection.block)
    except (BudgetExceeded, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the rollout's error
        return Attempt(answer="", trace=""), 0.0, f"solver failed: {type(exc).__name__}: {exc}"
    if not isinstance(result, Attempt):
        raise InputError(f"a solver must return an Attempt, got {type(result).__name__}.")
    result.prompt_tokens = selection.tokens
    try:
        check = resolve_verifier(problem, verifier, timeout)
    except (ConfigError, InputError) as exc:
        return result, 0.0, f"verifier unusable: {exc}"
    reward, error = run_verifier(check, result.answer, problem, timeout=timeout)
    if max_trace_tokens is not None:
        result.trace = render_trace(result.trace, max_tokens=max_trace_tokens,
                                    tokenizer=tokenizer)
    return result, reward, error
