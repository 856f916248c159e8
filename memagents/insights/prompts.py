"""The insight store's named prompts and the pydantic schemas of their replies.

* ``insights.solve``: solve a problem with the injected insights (the rollout);
* ``insights.reflect``: contrast a failed attempt with the nearest successful one and write
  short insights (CORE's contrastive reflection);
* ``insights.expel``: edit the ExpeL-style rule list from the same contrast (the baseline).

Replies are JSON validated through :meth:`~memagents.models.StructuredLLM.call`, so a
malformed reply is re-asked. The reflection schema is lenient, as models stray harmlessly:
plain strings, ``lesson``/``rule`` for ``text``, ``null`` lists. Change wording globally with
:func:`memagents.models.override_prompt`.

Example:
    >>> ReflectOutput.model_validate({"insights": ["Round up.", {"lesson": "Check units."}]}
    ...                              ).insights[1].text
    'Check units.'
    >>> SolveOutput.model_validate({"answer": 42}).answer
    '42'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from memagents.models import PromptTemplate, register_prompt

__all__ = [
    "EXPEL_PROMPT",
    "INSIGHTS_HEADER",
    "REFLECT_PROMPT",
    "SOLVE_PROMPT",
    "Draft",
    "ExpelOp",
    "ExpelOutput",
    "ReflectOutput",
    "SolveOutput",
]

INSIGHTS_HEADER = "Insights learned from earlier attempts (apply those that fit):"
"""First line of the injected insight block (one ``- insight`` line follows per insight)."""

SOLVE_PROMPT = register_prompt(PromptTemplate(
    name="insights.solve",
    description="Solve one problem, with the injected insights in the system prompt.",
    system=(
        "You solve problems carefully. Reason step by step in `reasoning`, then put the final "
        "answer alone in `answer` (no explanation there).{insights}"
    ),
    user="Problem:\n{problem}",
))

REFLECT_PROMPT = register_prompt(PromptTemplate(
    name="insights.reflect",
    description="Contrast a failed attempt with a successful one; write short insights.",
    system=(
        "You study why an attempt at a problem failed by contrasting it with a successful "
        "attempt at the same or a similar problem. Write short insights: general strategies, "
        "state-tracking habits or checks that distinguish the successful attempt and would "
        "turn failures like this one into successes on similar problems. Each insight is one "
        "or two sentences, states a general rule (no numbers specific to these problems) and "
        "is useful on its own. Label each `specific` (for problems like these) or `meta` "
        "(for any problem). Write at most {max_insights}; write none if the contrast teaches "
        "nothing."
    ),
    user=(
        "FAILED ATTEMPT\nProblem: {failed_problem}\nAttempt:\n{failed_trace}\n"
        "Final answer: {failed_answer}\nVerifier: {failed_feedback}\n\n"
        "SUCCESSFUL ATTEMPT ({relation})\nProblem: {success_problem}\nAttempt:\n"
        "{success_trace}\nFinal answer: {success_answer}"
    ),
))

EXPEL_PROMPT = register_prompt(PromptTemplate(
    name="insights.expel",
    description="ExpeL-style baseline: edit the rule list from a failed/successful contrast.",
    system=(
        "You maintain a numbered list of rules that help solve problems. Compare the failed "
        "attempt with the successful one and edit the list with operations: `add` a new "
        "general rule (in `text`), `upvote` a rule the contrast supports, `downvote` a rule "
        "the contrast shows wrong or misleading, `edit` a rule to improve it (its number in "
        "`rule`, the new wording in `text`). Use at most {max_ops} operations; none if "
        "nothing should change."
    ),
    user=(
        "RULES\n{rules}\n\n"
        "FAILED ATTEMPT\nProblem: {failed_problem}\nAttempt:\n{failed_trace}\n"
        "Final answer: {failed_answer}\n\n"
        "SUCCESSFUL ATTEMPT ({relation})\nProblem: {success_problem}\nAttempt:\n"
        "{success_trace}\nFinal answer: {success_answer}"
    ),
))


def _text(value: Any) -> Any:
    return "" if value is None else value if isinstance(value, str) else str(value)


class SolveOutput(BaseModel):
    """A solve rollout's reply: the reasoning (the trace) and the final answer."""

    reasoning: str = ""
    answer: str

    _coerce = field_validator("reasoning", "answer", mode="before")(_text)


class Draft(BaseModel):
    """One candidate insight."""

    text: str = Field(validation_alias=AliasChoices("text", "insight", "lesson", "rule"))
    label: str = "specific"

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> str:
        return "meta" if str(value or "").strip().lower() == "meta" else "specific"


class ReflectOutput(BaseModel):
    """A reflection's reply: candidate insights (possibly none)."""

    insights: list[Draft] = Field(default_factory=list)

    @field_validator("insights", mode="before")
    @classmethod
    def _drafts(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"text": v} if isinstance(v, str) else v for v in value]


class ExpelOp(BaseModel):
    """One edit of the ExpeL-style rule list."""

    op: Literal["add", "upvote", "downvote", "edit"]
    rule: int | None = None
    text: str | None = None

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: Any) -> Any:
        return str(value or "").strip().lower()


class ExpelOutput(BaseModel):
    """An ExpeL reflection's reply: the list edits."""

    operations: list[ExpelOp] = Field(default_factory=list)

    @field_validator("operations", mode="before")
    @classmethod
    def _ops(cls, value: Any) -> Any:
        return [] if value is None else value
