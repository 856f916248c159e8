"""Evaluation helpers shared by tests, benchmarks and the demo: metrics, dataset loaders,
PopQA's containment scoring, and the model-free half of BrowseComp grading (templates, reply
parsing, canary encryption, benchmark files, both calibration errors, reliability diagrams).

Example:
    >>> from memagents.eval import recall_at_k
    >>> recall_at_k(["a", "x", "b"], ["a", "b"], 2)
    0.5
"""

from __future__ import annotations

from memagents.eval.browsecomp import (
    GRADER_TEMPLATE,
    QUERY_TEMPLATE,
    JudgeReply,
    ParsedResponse,
    decrypt,
    encrypt,
    format_grader_prompt,
    format_query,
    parse_judge_reply,
    parse_response,
)
from memagents.eval.browsecomp_files import (
    AnswerRecord,
    BrowseQuestion,
    align_answers,
    load_answers,
    load_questions,
    write_answers,
    write_questions,
)
from memagents.eval.browsecomp_report import GradeReport, Verdict
from memagents.eval.calibration import (
    CALIBRATION_METRICS,
    ReliabilityBin,
    ece5,
    reliability_bins,
    rms_calib_err_beta100,
    write_reliability_diagram,
)
from memagents.eval.metrics import mean_recall, paired_wins, recall_at_k
from memagents.eval.musique import MusiqueData, load_musique
from memagents.eval.popqa import PopQAItem, load_popqa, relation_of
from memagents.eval.scoring import has_answer, is_correct

__all__ = [
    "CALIBRATION_METRICS",
    "GRADER_TEMPLATE",
    "QUERY_TEMPLATE",
    "AnswerRecord",
    "BrowseQuestion",
    "GradeReport",
    "JudgeReply",
    "MusiqueData",
    "ParsedResponse",
    "PopQAItem",
    "ReliabilityBin",
    "Verdict",
    "align_answers",
    "decrypt",
    "ece5",
    "encrypt",
    "format_grader_prompt",
    "format_query",
    "has_answer",
    "is_correct",
    "load_answers",
    "load_musique",
    "load_popqa",
    "load_questions",
    "mean_recall",
    "paired_wins",
    "parse_judge_reply",
    "parse_response",
    "recall_at_k",
    "relation_of",
    "reliability_bins",
    "rms_calib_err_beta100",
    "write_answers",
    "write_questions",
    "write_reliability_diagram",
]
