"""BrowseComp-compatible grading without a model: templates, parsing, canary encryption, files.

The pure half of BrowseComp grading (the LLM judge lives in :mod:`memagents.web.grading`,
calibration errors in :mod:`memagents.eval.calibration`). Spec:
``shared/docs/methods/browse_benchmarks.md`` §2.2.

* :data:`QUERY_TEMPLATE` asks the answering model for ``Explanation:``, ``Exact Answer:`` and
  ``Confidence:`` lines; :data:`GRADER_TEMPLATE` is the judge prompt. Both are the texts of
  ``openai/simple-evals`` ``browsecomp_eval.py`` (MIT), themselves from Humanity's Last Exam,
  kept word for word so verdicts compare with published numbers.
* :func:`parse_response` reads a model's answer: the exact answer, and the confidence (a
  percentage or a 0-100 number; **absent -> 100**, as the judge prompt says; present but
  unreadable -> ``None``, reported as unparsable).
* :func:`parse_judge_reply` reads the judge's ``extracted_final_answer`` / ``reasoning`` /
  ``correct`` / ``confidence`` lines and takes the verdict from the **captured group**
  (``yes`` or ``no``). The reference grader searches ``correct: (yes|no)`` but returns
  ``match.group(0)`` (the whole match, ``"correct: yes"``) and compares it with ``"yes"``, so
  its accuracy is always 0 (fixes proposed in simple-evals PRs #67, #82 and #93);
  :func:`simple_evals_grade` reproduces both behaviours for tests and comparisons.
* :func:`encrypt` / :func:`decrypt`: BrowseComp's canary scheme (key = SHA-256 of the canary
  repeated to the length; ciphertext = base64 of plaintext XOR key). Decryption happens in
  memory only: never write the plaintext of an encrypted benchmark into the repository
  (spec §8). Files (CSV and JSON Lines questions, JSON Lines answers) are in
  :mod:`memagents.eval.browsecomp_files`.

Example:
    >>> parsed = parse_response("Explanation: it fits.\\nExact Answer: Velmora\\nConfidence: 85%")
    >>> parsed.exact_answer, parsed.confidence
    ('Velmora', 85.0)
    >>> parse_judge_reply("extracted_final_answer: Velmora\\ncorrect: yes").correct
    True
    >>> decrypt(encrypt("Velmora", "canary"), "canary")
    'Velmora'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from memagents.errors import InputError

__all__ = [
    "GRADER_TEMPLATE",
    "QUERY_TEMPLATE",
    "ConfidenceStatus",
    "JudgeReply",
    "ParsedResponse",
    "decrypt",
    "derive_key",
    "encrypt",
    "format_grader_prompt",
    "format_query",
    "parse_confidence",
    "parse_judge_reply",
    "parse_response",
    "simple_evals_grade",
]

#: The answering prompt (``{Question}`` is the question), word for word as in
#: simple-evals ``browsecomp_eval.py`` (from HLE ``run_model_predictions.py``).
QUERY_TEMPLATE = """
{Question}

Your response should be in the following format:
Explanation: {{your explanation for your final answer}}
Exact Answer: {{your succinct, final answer}}
Confidence: {{your confidence score between 0% and 100% for your answer}}
""".strip()

#: The judge prompt (``{question}``, ``{response}``, ``{correct_answer}``), word for word as in
#: simple-evals ``browsecomp_eval.py`` (from HLE ``run_judge_results.py``).
GRADER_TEMPLATE = r"""
Judge whether the following [response] to [question] is correct or not based on the precise and unambiguous [correct_answer] below.

[question]: {question}

[response]: {response}

Your judgement must be in the format and criteria specified below:

extracted_final_answer: The final exact answer extracted from the [response]. Put the extracted answer as 'None' if there is no exact, final answer to extract from the response.

[correct_answer]: {correct_answer}

reasoning: Explain why the extracted_final_answer is correct or incorrect based on [correct_answer], focusing only on if there are meaningful differences between [correct_answer] and the extracted_final_answer. Do not comment on any background to the problem, do not attempt to solve the problem, do not argue for any answer different than [correct_answer], focus only on whether the answers match.

correct: Answer 'yes' if extracted_final_answer matches the [correct_answer] given above, or is within a small margin of error for numerical problems. Answer 'no' otherwise, i.e. if there if there is any inconsistency, ambiguity, non-equivalency, or if the extracted answer is incorrect.


confidence: The extracted confidence score between 0|\%| and 100|\%| from [response]. Put 100 if there is no confidence score available.
""".strip()

#: ``ok``: a number was read; ``absent``: no confidence line (counts as 100, the judge
#: prompt's rule); ``unparsable``: a confidence line without a number.
ConfidenceStatus = Literal["ok", "absent", "unparsable"]

# a field line, with the decorations models add: "**Exact Answer:** X", "- exact answer: X"
_LINES = re.IGNORECASE | re.MULTILINE
_PREFIX = r"^[ \t>*_#-]*"
_SUFFIX = r"[ \t*_]*:[ \t*_]*"
_EXACT = re.compile(_PREFIX + r"exact[ \t]+answer" + _SUFFIX + r"(.*)$", _LINES)
_CONFIDENCE = re.compile(_PREFIX + r"confidence(?:[ \t]+score)?" + _SUFFIX + r"(.*)$", _LINES)
_EXPLANATION = re.compile(_PREFIX + r"explanation" + _SUFFIX, _LINES)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(%?)")
_EXTRACTED = re.compile(_PREFIX + r"extracted_final_answer" + _SUFFIX + r"(.*)$", _LINES)
_REASONING = re.compile(_PREFIX + r"reasoning" + _SUFFIX, _LINES)
_CORRECT_LINE = re.compile(_PREFIX + r"correct[ \t*_]*:[ \t*_'\"]*(yes|no)\b", _LINES)
# the reference pattern (searched anywhere), our fallback when no line starts with "correct:"
_CORRECT_ANYWHERE = re.compile(r"correct: (yes|no)", re.IGNORECASE)
_JUDGE_CONFIDENCE = re.compile(_PREFIX + r"confidence" + _SUFFIX + r"(.*)$", _LINES)
_NONE_ANSWERS = frozenset({"", "none", "n/a", "null"})


def _unquote(text: str) -> str:
    """Drop markdown bold and one pair of quotes around the whole text (``'None'``), never a
    quote that belongs to the answer (``the "Sole Survivor"``)."""
    text = text.strip().strip("*").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        text = text[1:-1].strip()
    return text


def format_query(question: str) -> str:
    """The answering prompt of ``question`` (:data:`QUERY_TEMPLATE`)."""
    return QUERY_TEMPLATE.format(Question=question)


def format_grader_prompt(question: str, response: str, correct_answer: str) -> str:
    """The judge prompt (:data:`GRADER_TEMPLATE`) of one graded item."""
    return GRADER_TEMPLATE.format(question=question, response=response,
                                  correct_answer=correct_answer)


def parse_confidence(text: str | None) -> tuple[float | None, ConfidenceStatus]:
    """The confidence in a response: ``(value, status)``, ``value`` a percentage in [0, 100].

    ``Confidence: 85%`` and ``Confidence: 85`` read 85; values above 100 are clipped to 100
    (as BrowseComp-Plus does). No confidence line reads ``(100.0, "absent")``: the judge prompt
    says "Put 100 if there is no confidence score available". A line without a number (``high``)
    reads ``(None, "unparsable")``. The last confidence line wins.

    >>> parse_confidence("Confidence: 72.5 %"), parse_confidence("no such line")
    ((72.5, 'ok'), (100.0, 'absent'))
    >>> parse_confidence("Confidence: very high")
    (None, 'unparsable')
    """
    lines = _CONFIDENCE.findall(text or "")
    if not lines:
        return 100.0, "absent"
    number = _NUMBER.search(lines[-1])
    if number is None:
        return None, "unparsable"
    return min(float(number.group(1)), 100.0), "ok"


@dataclass(frozen=True, kw_only=True)
class ParsedResponse:
    """What a response in the query template's format says.

    Attributes:
        exact_answer: The ``Exact Answer:`` line's text (the last such line), or ``None``.
        confidence: Percentage in [0, 100]; 100 when absent, ``None`` when unparsable.
        confidence_status: ``ok``, ``absent`` or ``unparsable``.
        explanation: The ``Explanation:`` text up to the next field, or ``None``.

    Example:
        >>> ParsedResponse(exact_answer=None, confidence=100.0, confidence_status="absent",
        ...                explanation=None).malformed
        True
    """

    exact_answer: str | None
    confidence: float | None
    confidence_status: ConfidenceStatus
    explanation: str | None

    @property
    def malformed(self) -> bool:
        """No ``Exact Answer:`` line, or a confidence line without a number."""
        return self.exact_answer is None or self.confidence_status == "unparsable"


def parse_response(text: str | None) -> ParsedResponse:
    """Read a response written to :data:`QUERY_TEMPLATE` (see :func:`parse_confidence`).

    >>> r = parse_response("**Exact Answer:** 1867\\nConfidence: 90")
    >>> r.exact_answer, r.confidence, r.malformed
    ('1867', 90.0, False)
    """
    body = text or ""
    answers = [a.strip().strip("*").strip() for a in _EXACT.findall(body)]
    exact = answers[-1] if answers and answers[-1] else None
    confidence, status = parse_confidence(body)
    explanation = None
    start = _EXPLANATION.search(body)
    if start is not None:
        rest = body[start.end():]
        stops = [m.start() for m in (_EXACT.search(rest), _CONFIDENCE.search(rest)) if m]
        explanation = rest[:min(stops)].strip() if stops else rest.strip()
        explanation = explanation or None
    return ParsedResponse(exact_answer=exact, confidence=confidence,
                          confidence_status=status, explanation=explanation)


@dataclass(frozen=True, kw_only=True)
class JudgeReply:
    """A judge reply read field by field.

    Attributes:
        extracted_answer: ``extracted_final_answer`` (``None`` when absent or "None").
        reasoning: The ``reasoning:`` text up to the ``correct:`` line, or ``None``.
        correct: The captured ``yes``/``no`` as a bool; ``None`` when the reply has no verdict.
        confidence: The judge's ``confidence:`` number (clipped to 100), or ``None``.

    Example:
        >>> JudgeReply(extracted_answer=None, reasoning=None, correct=None,
        ...            confidence=None).parsed
        False
    """

    extracted_answer: str | None
    reasoning: str | None
    correct: bool | None
    confidence: float | None

    @property
    def parsed(self) -> bool:
        """True when the reply carries a verdict."""
        return self.correct is not None


def parse_judge_reply(text: str | None) -> JudgeReply:
    """Read a judge reply written to :data:`GRADER_TEMPLATE`.

    The verdict is the **captured group** of the first line reading ``correct: yes|no``
    (markdown bold and case tolerated); without such a line, the reference's own pattern
    searched anywhere. Never the whole match (the reference grader's bug, see the module).

    >>> reply = parse_judge_reply("**extracted_final_answer:** None\\n"
    ...                           "**reasoning:** No answer given.\\n**correct:** no\\n"
    ...                           "**confidence:** 100%")
    >>> reply.extracted_answer, reply.reasoning, reply.correct, reply.confidence
    (None, 'No answer given.', False, 100.0)
    """
    body = text or ""
    verdict = _CORRECT_LINE.search(body) or _CORRECT_ANYWHERE.search(body)
    correct = None if verdict is None else verdict.group(1).lower() == "yes"
    extracted = _EXTRACTED.search(body)
    answer = _unquote(extracted.group(1)) if extracted else None
    if answer is not None and answer.lower() in _NONE_ANSWERS:
        answer = None
    reasoning = None
    start = _REASONING.search(body)
    if start is not None:
        rest = body[start.end():]
        stop = _CORRECT_LINE.search(rest)
        reasoning = (rest[:stop.start()] if stop else rest).strip() or None
    confidence = None
    line = _JUDGE_CONFIDENCE.search(body)
    if line is not None and (number := _NUMBER.search(line.group(1))) is not None:
        confidence = min(float(number.group(1)), 100.0)
    return JudgeReply(extracted_answer=answer, reasoning=reasoning, correct=correct,
                      confidence=confidence)


def simple_evals_grade(reply: str, *, whole_match: bool = False) -> str:
    """The grade the reference grader derives from a judge reply, with or without its bug.

    ``openai/simple-evals`` ``browsecomp_eval.py`` (``grade_sample``) searches
    ``correct: (yes|no)`` and returns ``match.group(0)``, the whole match; the caller compares
    that with ``"yes"``, which never holds, so every item scores 0. ``whole_match=True``
    reproduces that; the default returns the captured group, as PRs #67, #82 and #93 propose.
    "no" when nothing matches, as the reference defaults.

    >>> simple_evals_grade("correct: yes"), simple_evals_grade("correct: yes", whole_match=True)
    ('yes', 'correct: yes')
    """
    match = re.search(r"correct: (yes|no)", reply)
    if match is None:
        return "no"
    return match.group(0) if whole_match else match.group(1)


# -- canary encryption ----------------------------------------------------------------------


def derive_key(canary: str, length: int) -> bytes:
    """SHA-256 of ``canary`` (UTF-8), repeated and cut to ``length`` bytes.

    >>> len(derive_key("x", 70)), derive_key("x", 70)[:32] == derive_key("x", 70)[32:64]
    (70, True)
    """
    digest = hashlib.sha256(canary.encode("utf-8")).digest()
    whole, part = divmod(length, len(digest))
    return digest * whole + digest[:part]


def _xor(data: bytes, canary: str) -> bytes:
    key = derive_key(canary, len(data))
    return bytes(a ^ b for a, b in zip(data, key, strict=True))


def encrypt(plaintext: str, canary: str) -> str:
    """Base64 of ``plaintext`` (UTF-8) XOR the canary key: BrowseComp's field encryption."""
    return base64.b64encode(_xor(plaintext.encode("utf-8"), canary)).decode("ascii")


def decrypt(field: str, canary: str) -> str:
    """The plaintext of an encrypted field (the inverse of :func:`encrypt`), in memory.

    Raises:
        InputError: ``field`` is not base64, or the canary does not decrypt it to UTF-8 text.
    """
    try:
        data = base64.b64decode(field.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InputError("an encrypted field is not base64 text: the file is not encrypted "
                         "(drop --canary / canary=) or it is damaged.") from None
    try:
        return _xor(data, canary).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the canary does not decrypt this file (the result is not UTF-8 "
                         "text): pass the canary string the file was encrypted with.") from None
