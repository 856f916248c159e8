"""The HGMem loop's named prompts and the pydantic schemas of their replies.

Four prompts, one per LLM step of the loop (``../shared/docs/methods/hgmem.md`` §6-8):

* ``hypermem.evolve``: insert and update memory points from the step's retrieved tables;
* ``hypermem.merge``: merge related points into higher-order ones;
* ``hypermem.plan``: judge the memory (sufficient / dig deeper / explore), raise concerns and
  write one new sub-query per concern, in the same reply (the paper's separate sub-query
  call is folded in, so a question costs at most ``2 + 3 × steps`` calls);
* ``hypermem.answer``: the final answer from memory points and evidence.

Each reply is JSON validated by a schema below through
:meth:`~memagents.models.StructuredLLM.call`, so a malformed reply is re-asked on that path
(never a full restart, as in the authors' code). The schemas are lenient where a model is
likely to stray harmlessly: the planner's judgement accepts the paper's case labels
(``"1"``, ``"2.1"``, ``"2.2"``), lists accept ``null``, extra concerns are cut to three.
Change wording globally with :func:`memagents.models.override_prompt`.

Example:
    >>> plan = PlanOutput.model_validate(
    ...     {"judgement": "2.2", "concerns": [{"text": "Who?", "query": "Who founded it?"}]})
    >>> plan.judgement, plan.concerns[0].subquery
    ('explore', 'Who founded it?')
    >>> EvolveOutput.model_validate({"inserts": None}).inserts
    []
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from memagents.models import PromptTemplate, register_prompt

__all__ = [
    "ANSWER_PROMPT",
    "EVOLVE_PROMPT",
    "MAX_CONCERNS",
    "MERGE_PROMPT",
    "PLAN_PROMPT",
    "AnswerOutput",
    "Concern",
    "EvolveOutput",
    "InsertRequest",
    "MergeGroup",
    "MergeOutput",
    "PlanOutput",
    "UpdateRequest",
]

MAX_CONCERNS = 3
"""Most concerns the planner may raise per step (the authors' limit)."""

_IDS = "Memory points are shown as `[mp-0001] (Entity; Entity) description`; refer to them by id."

EVOLVE_PROMPT = register_prompt(PromptTemplate(
    name="hypermem.evolve",
    description="Insert and update memory points from one step's retrieved information.",
    system=(
        "You maintain the working memory of a research assistant answering a question. "
        + _IDS + " Read the retrieved information and write what helps answer the main "
        "question into memory:\n"
        "- insert a new point for new relevant knowledge: a concise summary in your own words "
        "(do not copy) of how several closely associated entities relate; do not force "
        "everything into one point;\n"
        "- update an existing point (by its id) when the new information corrects, extends "
        "or sharpens it;\n"
        "- prefer entity names exactly as written in the retrieved Entities table; new names "
        "are allowed;\n"
        "- cite the ids of the passages a point comes from in `sources`;\n"
        "- insert or update only when needed: with nothing relevant, return empty lists."
    ),
    user=(
        "Main question: {question}\n"
        "Current sub-queries:\n{subqueries}\n\n"
        "Memory:\n{memory}\n\n"
        "Retrieved information:\n{context}\n"
        "{feedback}"
    ),
))

MERGE_PROMPT = register_prompt(PromptTemplate(
    name="hypermem.merge",
    description="Merge semantically or logically cohesive memory points.",
    system=(
        "You organise the working memory of a research assistant. " + _IDS + " Merge groups "
        "of points that are semantically or logically cohesive into one higher-order point, "
        "anchored on the main question: write one description per group that keeps the "
        "details of its points. Rules: merge only cohesive points; groups must not overlap; "
        "leave standalone points alone; do not merge a point already much larger than the "
        "others; no forced merges. With nothing to merge, return an empty list."
    ),
    user="Main question: {question}\n\nMemory:\n{memory}",
))

PLAN_PROMPT = register_prompt(PromptTemplate(
    name="hypermem.plan",
    description="Judge whether the memory answers the question, else raise concerns and write "
                "one retrieval sub-query per concern.",
    system=(
        "You plan the research of an assistant whose working memory is shown below. "
        + _IDS + " Judge the memory against the main question:\n"
        "- `sufficient`: the memory answers the question; raise no concern;\n"
        "- `dig_deeper`: specific points need more detail; each concern names the ids of the "
        "points it is about in `points`;\n"
        "- `explore`: knowledge outside the memory is missing; concerns name no points.\n"
        "Raise at most " + str(MAX_CONCERNS) + " concerns, fewer when the memory already "
        "covers most of the question. For each concern write exactly one retrieval sub-query "
        "in its `subquery`: it must differ in meaning from the main question and from every "
        "earlier sub-query, cover a new dimension of information, and stay relevant to the "
        "main question. Neighbouring entities are given as hints; do not be bounded by them. "
        "Also say whether the main question asks for a single fact (`single_fact`: one "
        "entity, date, place or number) rather than a synthesis."
    ),
    user=(
        "Main question: {question}\n\nMemory:\n{memory}\n\n"
        "Earlier sub-queries:\n{asked}\n\n"
        "Hints (entities next to the memory, not in it):\n{hints}"
    ),
))

ANSWER_PROMPT = register_prompt(PromptTemplate(
    name="hypermem.answer",
    description="Answer the main question from memory points and selected evidence.",
    system=(
        "You answer a question from a research assistant's working memory and the evidence "
        "passages behind it. " + _IDS + " Use only the memory and the evidence. If they do "
        "not contain the answer, say you do not know (set `known` to false) and say what is "
        "missing. Give a short answer, then a one-paragraph explanation."
    ),
    user="Question: {question}\n\nMemory:\n{memory}\n\nEvidence:\n{evidence}",
))


def _listify(value: Any) -> Any:
    return [] if value is None else value


class InsertRequest(BaseModel):
    """A point to insert."""

    entities: list[str] = Field(description="Names of the entities the point links (>= 1).")
    description: str = Field(description="The relation between them, in your own words.")
    sources: list[str] = Field(default_factory=list,
                               description="Ids of the passages it comes from.")

    nulls_to_lists = field_validator("entities", "sources", mode="before")(_listify)


class UpdateRequest(BaseModel):
    """A point to rewrite, by id."""

    id: str = Field(description="Id of the point to update, e.g. mp-0003.")
    description: str = Field(description="Its new description.")
    entities: list[str] | None = Field(
        default=None, description="Its new entity names, or null to keep them.")
    sources: list[str] = Field(default_factory=list,
                               description="Ids of the passages the update comes from.")

    nulls_to_lists = field_validator("sources", mode="before")(_listify)


class EvolveOutput(BaseModel):
    """Reply of ``hypermem.evolve``."""

    inserts: list[InsertRequest] = Field(default_factory=list, description="New points.")
    updates: list[UpdateRequest] = Field(default_factory=list, description="Rewritten points.")

    nulls_to_lists = field_validator("inserts", "updates", mode="before")(_listify)


class MergeGroup(BaseModel):
    """Points to merge into one."""

    ids: list[str] = Field(description="Ids of the points to merge (>= 2).")
    description: str = Field(description="The merged point's description.")


class MergeOutput(BaseModel):
    """Reply of ``hypermem.merge``."""

    merges: list[MergeGroup] = Field(default_factory=list,
                                     description="Groups to merge; [] if none.")

    nulls_to_lists = field_validator("merges", mode="before")(_listify)


_JUDGEMENTS = {"1": "sufficient", "2.1": "dig_deeper", "2.2": "explore",
               "dig deeper": "dig_deeper", "dig-deeper": "dig_deeper", "local": "dig_deeper",
               "global": "explore", "enough": "sufficient"}


class Concern(BaseModel):
    """Something the memory lacks, and the sub-query that retrieves it."""

    text: str = Field(description="What is missing or unclear.")
    points: list[str] = Field(default_factory=list,
                              description="Ids of the points it is about ([] to explore).")
    subquery: str = Field(
        default="", validation_alias=AliasChoices("subquery", "query", "sub_query"),
        description="One retrieval sub-query for this concern, new and different from the "
                    "main question and every earlier sub-query.")

    nulls_to_lists = field_validator("points", mode="before")(_listify)

    @field_validator("subquery", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return "" if value is None else value


class PlanOutput(BaseModel):
    """Reply of ``hypermem.plan``: the judgement, and per concern its sub-query."""

    judgement: Literal["sufficient", "dig_deeper", "explore"] = Field(
        description="sufficient, dig_deeper or explore.")
    concerns: list[Concern] = Field(default_factory=list,
                                    description=f"At most {MAX_CONCERNS} concerns.")
    single_fact: bool | None = Field(
        default=None, description="Whether the main question asks for a single fact.")

    nulls_to_lists = field_validator("concerns", mode="before")(_listify)

    @field_validator("judgement", mode="before")
    @classmethod
    def _judgement(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            key = value.strip().casefold()
            return _JUDGEMENTS.get(key, key)
        return value

    @field_validator("concerns", mode="after")
    @classmethod
    def _at_most(cls, value: list[Concern]) -> list[Concern]:
        return value[:MAX_CONCERNS]


class AnswerOutput(BaseModel):
    """Reply of ``hypermem.answer``."""

    answer: str = Field(description="The short answer (or that you do not know).")
    explanation: str = Field(default="", description="One paragraph: why, from which points.")
    known: bool = Field(default=True, description="False when the memory lacks the answer.")
