"""Retrieve-or-recall gate: decide when an agent needs retrieval, answer with conflict awareness.

Policies (Adapt-LLM's retrieval token, Mallen et al.'s popularity threshold, Self-RAG-style
token probability, verbalised confidence, self-consistency, and their combinations) all return
a :class:`Decision` with its reason and signals. :class:`RetrievalGate` wraps one for use as a
Python object or a LangGraph node; :func:`build_adaptive_rag` compiles the whole workflow.

Example:
    >>> from memagents.gate import RetrievalGate
    >>> gate = RetrievalGate("popularity", threshold=1000)
    >>> d = gate.decide("Who is the author of Quillmere Tales?", metadata={"s_pop": 42})
    >>> d.retrieve, d.policy
    (True, 'popularity')
"""

from __future__ import annotations

from memagents.gate.answering import Answer, Answerer
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.conflict import ConflictPolicy, Evidence, Resolution, resolve_conflict
from memagents.gate.gate import POLICY_NAMES, RetrievalGate
from memagents.gate.harness import EvalConfig, EvalReport, Harness
from memagents.gate.nodes import answer_node, gate_node, retrieve_node, route_after_gate
from memagents.gate.policies import (
    AdaptLLM,
    AllOf,
    Always,
    AnyOf,
    Never,
    PopularityThreshold,
    SelfConsistency,
    TokenProbability,
    VerbalizedConfidence,
    Vote,
)
from memagents.gate.scoring import has_answer, is_correct
from memagents.gate.training import build_training_set
from memagents.gate.tuning import TuningResult, sweep, tune_thresholds
from memagents.gate.workflow import AdaptiveRAGContext, AdaptiveRAGState, build_adaptive_rag

__all__ = [
    "AdaptLLM",
    "AdaptiveRAGContext",
    "AdaptiveRAGState",
    "AllOf",
    "Always",
    "Answer",
    "Answerer",
    "AnyOf",
    "ConflictPolicy",
    "Decision",
    "EvalConfig",
    "EvalReport",
    "Evidence",
    "Harness",
    "Never",
    "POLICY_NAMES",
    "PopularityThreshold",
    "Resolution",
    "RetrievalGate",
    "RetrievalPolicy",
    "SelfConsistency",
    "TokenProbability",
    "TuningResult",
    "VerbalizedConfidence",
    "Vote",
    "answer_node",
    "build_adaptive_rag",
    "build_training_set",
    "gate_node",
    "has_answer",
    "is_correct",
    "resolve_conflict",
    "retrieve_node",
    "route_after_gate",
    "sweep",
    "tune_thresholds",
]
