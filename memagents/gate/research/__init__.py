"""Research tooling around the retrieve-or-recall gate: evaluation, tuning, training export.

The runtime gate (:mod:`memagents.gate`) answers questions; this package measures it. It
imports the gate, never the other way round, so an agent that only gates pays for none of it:

* :class:`Harness` runs a policy over PopQA-format data (live model or recorded outputs) and
  reports accuracy, retrieval rate and cost per relation;
* :func:`sweep` and :func:`tune_thresholds` fit Mallen et al.'s popularity thresholds from a
  closed-book and a retrieval run (:class:`TuningResult`); :mod:`.plot` draws the trade-off;
* :func:`build_training_set` writes the Adapt-LLM fine-tuning set;
* :mod:`.cli` is the ``memagents gate`` command group over all of it.

Example:
    >>> from memagents.gate.research import EvalConfig
    >>> EvalConfig(mode="parametric").mode
    'parametric'
"""

from __future__ import annotations

from memagents.gate.research.harness import EvalConfig, EvalReport, Harness
from memagents.gate.research.training import build_training_set
from memagents.gate.research.tuning import TuningResult, sweep, tune_thresholds

__all__ = [
    "EvalConfig",
    "EvalReport",
    "Harness",
    "TuningResult",
    "build_training_set",
    "sweep",
    "tune_thresholds",
]
