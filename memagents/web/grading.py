"""BrowseComp-compatible grading with an LLM judge: one response, batches, whole runs.

:class:`BrowseCompGrader` sends each (question, response, correct answer) to the judge with
BrowseComp's grader prompt (the HLE judge, registered as ``web.browsecomp_judge``) and reads the
reply with :func:`memagents.eval.browsecomp.parse_judge_reply`, which takes the verdict from the
captured ``yes|no`` group (the reference grader compares the whole match and scores 0). A reply
without a ``correct:`` line is re-asked once with a reminder of the format; if the second reply
has none either, the verdict is recorded as ``unparsable`` (``correct=None``): it never counts as
correct, and the report counts it. A missing response is not sent to the judge (``missing``,
not correct). With ``exact_match=True`` a response whose ``Exact Answer`` equals the correct
answer after normalisation is graded correct without a call (off by default, so accuracy stays
comparable with judge-only numbers).

:func:`grade_run` grades a whole run and returns a :class:`GradeReport`
(:mod:`memagents.eval.browsecomp_report`, re-exported here): accuracy over every question,
both calibration errors, counts of missing and malformed responses, the per-item
:class:`Verdict` s. The confidence of an item is the judge's ``confidence:`` (the judge prompt
puts 100 when the response states none), else (no judge call, or a judge reply without a
number) the response's own ``Confidence:`` line read by
:func:`~memagents.eval.browsecomp.parse_confidence`, under the same rule: 100 when it states no
number, absent or unparsable (the unparsable ones are counted in the report).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from memagents.errors import InputError, MemagentsError
from memagents.eval.browsecomp import (
    GRADER_TEMPLATE,
    ParsedResponse,
    parse_judge_reply,
    parse_response,
)
from memagents.eval.browsecomp_files import BrowseQuestion
from memagents.eval.browsecomp_report import GradeReport, Verdict
from memagents.eval.scoring import normalize_answer
from memagents.models import PromptTemplate, StructuredLLM, register_prompt
from memagents.models.chat import model_name

__all__ = ["JUDGE_PROMPT", "REMINDER", "BrowseCompGrader", "GradeReport", "Verdict",
           "grade_run"]

#: The judge prompt: BrowseComp's grader template, word for word, as one user message.
JUDGE_PROMPT = register_prompt(PromptTemplate(
    name="web.browsecomp_judge", system="", user=GRADER_TEMPLATE,
    description="BrowseComp / HLE judge: does the response's final answer match the correct "
                "answer (extracted_final_answer, reasoning, correct: yes|no, confidence)."))

#: Sent once after a judge reply without a ``correct:`` line.
REMINDER = ("Your reply has no line 'correct: yes' or 'correct: no'. Reply again in exactly the "
            "required format, one field per line:\nextracted_final_answer: ...\nreasoning: "
            "...\ncorrect: yes or no\nconfidence: ...")


def _stated(parsed: ParsedResponse) -> float:
    """The response's confidence under the judge prompt's rule: 100 when it states no number
    (absent, or a line such as ``Confidence: high``, which the report counts as unparsable)."""
    return 100.0 if parsed.confidence is None else parsed.confidence


def _text(message: Any) -> str:
    text = message.text
    return str(text) if isinstance(text, str) else str(text())


class BrowseCompGrader:
    """Grades responses against correct answers with BrowseComp's judge prompt.

    Args:
        llm: The judge: a spec (``"openai:gpt-4o-mini"``), a chat model or a StructuredLLM
            (default: ``MEMAGENTS_LLM``); :meth:`StructuredLLM.coerce` resolves it.
        exact_match: Grade a normalised exact match of the ``Exact Answer`` line correct
            without calling the judge (off by default, to stay comparable).
        max_concurrency: Judge calls in flight in the batch methods (default: the LLM's).
        template: The judge prompt (default :data:`JUDGE_PROMPT`).

    Example:
        >>> from memagents.testing import ScriptedChatModel
        >>> judge = ScriptedChatModel(default="extracted_final_answer: Velmora\\n"
        ...     "reasoning: Same port.\\ncorrect: yes\\nconfidence: 80")
        >>> v = BrowseCompGrader(judge).grade("Which port?", "Exact Answer: Velmora\\n"
        ...                                   "Confidence: 80%", "Velmora")
        >>> v.correct, v.extracted_answer, v.confidence
        (True, 'Velmora', 80.0)
    """

    def __init__(self, llm: Any = None, *, exact_match: bool = False,
                 max_concurrency: int | None = None,
                 template: PromptTemplate | str = JUDGE_PROMPT) -> None:
        self.llm = StructuredLLM.coerce(llm, require="BrowseComp grading (the judge)")
        self.exact_match = exact_match
        self.max_concurrency = int(max_concurrency or self.llm.max_concurrency)
        if self.max_concurrency < 1:
            raise InputError("max_concurrency must be >= 1.")
        self.template = template

    # -- one item -------------------------------------------------------------------------

    def _prepare(self, question: str, response: str | None, correct_answer: str,
                 id: str | None) -> tuple[Verdict | None, dict[str, Any]]:
        """A verdict needing no call (missing response, exact match), or the call's inputs."""
        if not isinstance(correct_answer, str) or not correct_answer.strip():
            raise InputError(f"item {id!r}: the correct answer is empty; every graded question "
                             "needs its reference answer.")
        if response is None or not response.strip():
            return Verdict(id=id, correct=False, extracted_answer=None, confidence=None,
                           status="missing"), {}
        parsed = parse_response(response)
        own = {"response_answer": parsed.exact_answer,
               "confidence_status": parsed.confidence_status}
        if (self.exact_match and parsed.exact_answer is not None
                and normalize_answer(parsed.exact_answer)
                and normalize_answer(parsed.exact_answer) == normalize_answer(correct_answer)):
            return Verdict(id=id, correct=True, extracted_answer=parsed.exact_answer,
                           confidence=_stated(parsed), status="exact_match",
                           confidence_source="response", **own), {}
        variables = {"question": question, "response": response,
                     "correct_answer": correct_answer}
        return None, {"variables": variables, "own": own, "fallback": _stated(parsed)}

    def _messages(self, variables: Mapping[str, Any]) -> list[Any]:
        template = self.template
        if isinstance(template, str):
            from memagents.models import get_prompt

            template = get_prompt(template)
        return template.format(**variables)

    def _verdict(self, id: str | None, replies: list[str], plan: Mapping[str, Any]) -> Verdict:
        judged = parse_judge_reply(replies[-1])
        confidence, source = judged.confidence, "judge"
        if confidence is None:
            confidence, source = plan["fallback"], "response"
        return Verdict(id=id, correct=judged.correct, extracted_answer=judged.extracted_answer,
                       confidence=confidence, reasoning=judged.reasoning, raw_reply=replies[-1],
                       status="judged" if judged.parsed else "unparsable",
                       reasks=len(replies) - 1,
                       confidence_source=source if confidence is not None else None,
                       **plan["own"])

    def grade(self, question: str, response: str | None, correct_answer: str, *,
              id: str | None = None) -> Verdict:
        """Grade one response (one judge call, two if the first reply has no verdict).

        A failing judge call (after the LLM's own retries) gives an ``error`` verdict.
        """
        done, plan = self._prepare(question, response, correct_answer, id)
        if done is not None:
            return done
        messages = self._messages(plan["variables"])
        replies: list[str] = []
        try:
            replies.append(_text(self.llm.chat(messages)))
            if not parse_judge_reply(replies[0]).parsed:
                replies.append(_text(self.llm.chat(
                    [*messages, AIMessage(content=replies[0]), HumanMessage(content=REMINDER)])))
        except MemagentsError as exc:
            return self._failed(id, replies, plan, exc)
        return self._verdict(id, replies, plan)

    async def agrade(self, question: str, response: str | None, correct_answer: str, *,
                     id: str | None = None) -> Verdict:
        """Async twin of :meth:`grade`."""
        done, plan = self._prepare(question, response, correct_answer, id)
        if done is not None:
            return done
        messages = self._messages(plan["variables"])
        replies: list[str] = []
        try:
            replies.append(_text(await self.llm.achat(messages)))
            if not parse_judge_reply(replies[0]).parsed:
                replies.append(_text(await self.llm.achat(
                    [*messages, AIMessage(content=replies[0]), HumanMessage(content=REMINDER)])))
        except MemagentsError as exc:
            return self._failed(id, replies, plan, exc)
        return self._verdict(id, replies, plan)

    @staticmethod
    def _failed(id: str | None, replies: list[str], plan: Mapping[str, Any],
                exc: BaseException) -> Verdict:
        return Verdict(id=id, correct=None, extracted_answer=None, confidence=None,
                       raw_reply=replies[-1] if replies else None, status="error",
                       reasks=max(len(replies) - 1, 0), error=str(exc), **plan["own"])

    # -- batches --------------------------------------------------------------------------

    def grade_many(self, items: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """Grade ``items`` (dicts with ``question``, ``response``, ``correct_answer`` and an
        optional ``id``) with up to ``max_concurrency`` judge calls at once; input order kept.
        """
        items = _check_items(items)
        if not items:
            return []

        def run(item: Mapping[str, Any]) -> Verdict:
            return self.grade(item["question"], item.get("response"), item["correct_answer"],
                              id=item.get("id"))

        contexts = [contextvars.copy_context() for _ in items]
        workers = min(self.max_concurrency, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memagents-grade") as pool:
            return list(pool.map(lambda ctx, item: ctx.run(run, item), contexts, items))

    async def agrade_many(self, items: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """Async twin of :meth:`grade_many`, bounded by an ``asyncio.Semaphore``."""
        items = _check_items(items)
        slots = asyncio.Semaphore(self.max_concurrency)

        async def run(item: Mapping[str, Any]) -> Verdict:
            async with slots:
                return await self.agrade(item["question"], item.get("response"),
                                         item["correct_answer"], id=item.get("id"))

        return list(await asyncio.gather(*(run(item) for item in items)))

    def grade_run(self, questions: Sequence[BrowseQuestion],
                  responses: Sequence[str | None] | Mapping[str, str | None], *,
                  rms_mode: str = "faithful", beta: int = 100,
                  unknown_answer_ids: Sequence[str] = ()) -> GradeReport:
        """Grade every question's response; see :func:`grade_run`."""
        if isinstance(responses, Mapping):
            ordered = [responses.get(q.id) for q in questions]
        else:
            ordered = list(responses)
            if len(ordered) != len(questions):
                raise InputError(f"{len(ordered)} responses for {len(questions)} questions: "
                                 "pass one response (or None) per question.")
        calls_before = self.llm.usage.llm_calls
        verdicts = self.grade_many([
            {"id": q.id, "question": q.question, "response": r, "correct_answer": q.answer}
            for q, r in zip(questions, ordered, strict=True)])
        return GradeReport(verdicts=tuple(verdicts), rms_mode=rms_mode, beta=beta,
                           unknown_answer_ids=tuple(unknown_answer_ids),
                           judge=model_name(self.llm.model) or type(self.llm.model).__name__,
                           llm_calls=self.llm.usage.llm_calls - calls_before)


def _check_items(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, Mapping) or "question" not in item or \
                "correct_answer" not in item:
            raise InputError(f"items[{i}] needs the keys question, response and "
                             "correct_answer.")
    return out


def grade_run(questions: Sequence[BrowseQuestion],
              responses: Sequence[str | None] | Mapping[str, str | None], *, llm: Any = None,
              exact_match: bool = False, max_concurrency: int | None = None,
              rms_mode: str = "faithful", beta: int = 100,
              unknown_answer_ids: Sequence[str] = ()) -> GradeReport:
    """Grade a run: one response per question (a list in question order, or ``{id: text}``).

    Args:
        questions: The benchmark questions with their answers.
        responses: The responses; ``None`` or blank counts as missing.
        llm: The judge (see :class:`BrowseCompGrader`).
        exact_match: The exact-match fast path (off by default).
        max_concurrency: Judge calls in flight.
        rms_mode: ``faithful`` (default, comparable with published numbers) or ``corrected``.
        beta: Bin size of ``rms_calib_err_beta100``.
        unknown_answer_ids: Answer records that matched no question (reported).
    """
    grader = BrowseCompGrader(llm, exact_match=exact_match, max_concurrency=max_concurrency)
    return grader.grade_run(questions, responses, rms_mode=rms_mode, beta=beta,
                            unknown_answer_ids=unknown_answer_ids)
