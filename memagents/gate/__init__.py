"""Retrieve-or-recall gate: decide when an agent needs retrieval, answer with conflict awareness.

Policies (Adapt-LLM's retrieval token, Mallen et al.'s popularity threshold, Self-RAG-style
token probability, verbalised confidence, self-consistency, and their combinations) all return
a :class:`Decision` with its reason and signals. :class:`RetrievalGate` wraps one for use as a
Python object or a LangGraph node; :func:`build_adaptive_rag` compiles the whole workflow.

This package is the runtime gate only. The research tooling (the PopQA evaluation harness,
threshold tuning, training-set export, plots and the ``memagents gate`` commands) lives in
:mod:`memagents.gate.research`, which imports the gate, never the other way round; PopQA's
containment scoring (``is_correct``, ``has_answer``) is in :mod:`memagents.eval.scoring`.

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
from memagents.gate.nodes import answer_node, gate_node, retrieve_node, route_after_gate
from memagents.gate.policies import AllOf, Always, AnyOf, Never, PopularityThreshold, Vote
from memagents.gate.policies_blackbox import SelfConsistency, VerbalizedConfidence
from memagents.gate.policies_llm import AdaptLLM, TokenProbability
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
    "Evidence",
    "Never",
    "POLICY_NAMES",
    "PopularityThreshold",
    "Resolution",
    "RetrievalGate",
    "RetrievalPolicy",
    "SelfConsistency",
    "TokenProbability",
    "VerbalizedConfidence",
    "Vote",
    "answer_node",
    "build_adaptive_rag",
    "gate_node",
    "resolve_conflict",
    "retrieve_node",
    "route_after_gate",
]
