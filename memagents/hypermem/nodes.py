"""The nodes of the HGMem loop: start, retrieve, evolve, merge, plan, sub-queries, answer.

LLM calls: ``evolve``, ``merge``, ``plan`` (which writes the sub-queries too) and ``answer``;
``start``, ``retrieve`` and ``subqueries`` (which checks the planner's sub-queries) call none.

Each node is a :class:`~memagents.base.node.Node` reading and writing plain, checkpoint-friendly
state (the memory travels as :meth:`HypergraphMemory.to_dict
<memagents.hypermem.core.HypergraphMemory.to_dict>`). LLM nodes describe their call as a
:class:`_Call` (prompt, schema, variables, what to do with the reply) and the shared driver runs
it through :meth:`StructuredLLM.call <memagents.models.StructuredLLM.call>` (sync) or
``acall`` (async): a malformed reply is re-asked on that path; a
:class:`~memagents.errors.BudgetExceeded` stops the loop cleanly (``stop_reason="budget"``,
a note) and the answer node answers from what the memory holds.

Nodes that change the memory put the step's :meth:`MemoryDiff.to_dict
<memagents.hypermem.core.MemoryDiff.to_dict>` in their update under ``"diff"``, so
``graph.stream(..., stream_mode="updates")`` shows the memory evolving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from memagents.base.knowledge import EntityHit, KnowledgeIndex
from memagents.base.node import Node
from memagents.base.state import turn_question
from memagents.errors import BudgetExceeded, InputError
from memagents.hypermem.core import Entity, HypergraphMemory, MemoryDiff, entity_key
from memagents.hypermem.prompts import (
    ANSWER_PROMPT,
    EVOLVE_PROMPT,
    MERGE_PROMPT,
    PLAN_PROMPT,
    AnswerOutput,
    EvolveOutput,
    MergeOutput,
    PlanOutput,
)
from memagents.hypermem.retrieval import (
    Evidence,
    Passage,
    RetrievalSettings,
    evidence_text,
    final_evidence,
    hints,
    hints_text,
    relation_provenance,
    retrieve,
    scope,
)
from memagents.models import PromptTemplate, StructuredLLM
from memagents.models.usage import Usage, track_usage

__all__ = [
    "HypergraphOptions",
    "LoopParts",
    "looks_single_fact",
    "should_merge",
]

MergePolicy = Literal["auto", "always", "never"]
ModePolicy = Literal["per_subquery", "per_step"]

#: Marks a usage update that starts a new turn (the reducer resets instead of adding).
USAGE_RESET = "__reset__"


@dataclass(frozen=True, kw_only=True, slots=True)
class HypergraphOptions:
    """Options of the loop (defaults: the authors' run configuration, plus our fixes).

    Attributes:
        max_steps: Retrieval rounds per question (the authors' run config: 3 turns).
        mode: ``"per_subquery"`` (paper): each sub-query investigates locally when it names
            memory points, else explores outside memory; ``"per_step"`` (the authors' code):
            one local scope for the whole step when the planner dug deeper, else no filter.
        merge: ``"always"`` merges from the second step; ``"never"`` never merges; ``"auto"``
            skips merging when the question asks for a single fact (see :func:`should_merge`).
        keep_memory: Start a question of a checkpointed thread from the memory the thread
            already holds (default: a fresh memory per question, as in the paper).
        reask_rejected: When every insert/update of an evolve reply was refused, ask once
            more with the reasons (no extra call otherwise).
        memory_tokens: Token budget of the memory shown in prompts.
        retrieval: Retrieval knobs (:class:`~memagents.hypermem.retrieval.RetrievalSettings`).

    Example:
        >>> HypergraphOptions(max_steps=2).merge
        'auto'
    """

    max_steps: int = 3
    mode: ModePolicy = "per_subquery"
    merge: MergePolicy = "auto"
    keep_memory: bool = False
    reask_rejected: bool = True
    memory_tokens: int = 3000
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)

    def __post_init__(self) -> None:
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or \
                self.max_steps < 1:
            raise InputError(f"max_steps must be a positive integer, got {self.max_steps!r}.")
        if self.mode not in ("per_subquery", "per_step"):
            raise InputError(f"mode must be 'per_subquery' or 'per_step', got {self.mode!r}.")
        if self.merge not in ("auto", "always", "never"):
            raise InputError(f"merge must be 'auto', 'always' or 'never', got {self.merge!r}.")
        if not isinstance(self.retrieval, RetrievalSettings):
            raise InputError("retrieval must be a RetrievalSettings.")


_SYNTHESIS = re.compile(
    r"\b(why|how (does|did|do|is|was|were|are|has|have)|explain|compare|comparison|"
    r"relationship|relations?|summar\w*|describe|themes?|roles?|impact|influence|evolv\w*|"
    r"overall|differences?|similarit\w*|significance|analy\w*|discuss)\b", re.IGNORECASE)
_FACT_START = re.compile(
    r"^\s*(who|whom|whose|when|where|which|what|how (many|much|old|long|far)|in what|"
    r"in which|on what|at what)\b", re.IGNORECASE)


def looks_single_fact(question: str) -> bool:
    """The lexical half of the ``merge="auto"`` heuristic: a short factoid question.

    True when the question starts like a factoid (who / when / where / which / what / how
    many...), has at most 25 words and no synthesis cue (why, how does, explain, compare,
    relationship, summarise, themes, role, impact...). The planner's own ``single_fact``
    judgement, when given, takes precedence (:func:`should_merge`).

    >>> looks_single_fact("Where was the founder of Velm Press born?")
    True
    >>> looks_single_fact("How did Ada's rivalry with Bram shape the Orlen Atlas?")
    False
    """
    return (bool(_FACT_START.search(question)) and len(question.split()) <= 25
            and not _SYNTHESIS.search(question))


def should_merge(policy: MergePolicy, question: str, single_fact: bool | None) -> bool:
    """Whether to run the merge step (from the second step on).

    ``"auto"`` skips merging for single-fact questions, where the authors report merging
    adds noise: the planner's ``single_fact`` judgement decides when it gave one, else
    :func:`looks_single_fact` does.

    >>> should_merge("auto", "Who founded Velm Press?", None)
    False
    >>> should_merge("auto", "Who founded Velm Press?", False), should_merge("never", "x", False)
    (True, False)
    """
    if policy == "never":
        return False
    if policy == "always":
        return True
    return not (single_fact if single_fact is not None else looks_single_fact(question))


@dataclass
class LoopParts:
    """What every node of one compiled loop shares."""

    llm: StructuredLLM
    index: KnowledgeIndex
    options: HypergraphOptions
    namespace: str | None = None


@dataclass
class _Call:
    """One structured LLM call of a node, and what to do with its reply."""

    template: PromptTemplate
    schema: type[BaseModel]
    variables: dict[str, Any]
    then: Callable[[Any], dict[str, Any] | _Call]
    on_budget: Callable[[BudgetExceeded], dict[str, Any]] | None = None


def _budget_stop(what: str) -> Callable[[BudgetExceeded], dict[str, Any]]:
    def stop(exc: BudgetExceeded) -> dict[str, Any]:
        return {"stop_reason": "budget",
                "notes": [(f"budget exhausted before {what}: {exc}; answering from what the "
                          "memory holds")]}
    return stop


def _memory(state: Any) -> HypergraphMemory:
    data = state.get("memory")
    return HypergraphMemory.from_dict(data) if data else HypergraphMemory()


class _LoopNode(Node):
    """A node of the loop: ``_prepare`` returns a state update or a :class:`_Call`."""

    def __init__(self, parts: LoopParts) -> None:
        self.parts = parts

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any] | _Call:
        raise NotImplementedError

    def _namespace(self, config: RunnableConfig) -> str | None:
        return self.parts.namespace or self.resolve_namespace(config)

    def _finish(self, update: dict[str, Any], usage: Usage) -> dict[str, Any]:
        out = dict(update)
        notes = out.pop("notes", None)
        if usage.llm_calls or usage.failures:
            out["usage"] = usage.as_dict()
        out.update(self.notes(notes))
        return out

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        step = self._prepare(state, config)
        usage = Usage()
        while isinstance(step, _Call):
            with track_usage() as used:
                try:
                    reply = self.parts.llm.call(step.template, step.schema, **step.variables)
                except BudgetExceeded as exc:
                    usage.merge(used)
                    return self._finish((step.on_budget or _budget_stop(self.name or ""))(exc),
                                        usage)
            usage.merge(used)
            step = step.then(reply)
        return self._finish(step, usage)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        # the KnowledgeIndex is sync (SQLite, numpy): its reads run in a worker thread, never
        # on the event loop (LangGraph Server refuses blocking calls there)
        step = await asyncio.to_thread(self._prepare, state, config)
        usage = Usage()
        while isinstance(step, _Call):
            with track_usage() as used:
                try:
                    reply = await self.parts.llm.acall(step.template, step.schema,
                                                       **step.variables)
                except BudgetExceeded as exc:
                    usage.merge(used)
                    return self._finish((step.on_budget or _budget_stop(self.name or ""))(exc),
                                        usage)
            usage.merge(used)
            step = await asyncio.to_thread(step.then, reply)
        return self._finish(step, usage)

    def memory_text(self, memory: HypergraphMemory) -> str:
        return memory.render(max_tokens=self.parts.options.memory_tokens,
                             tokenizer=self.parts.llm.tokenizer)


# ---------------------------------------------------------------------------------- start
class StartNode(_LoopNode):
    """Opens a turn: the memory (fresh, or the thread's when keeping memory), the first
    sub-query (the question itself, unfiltered), and cleared per-turn fields."""

    name = "start"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        asked = state.get("asked") or [None]
        question = turn_question(state, previous=asked[0], key=self.question_key,
                                 node=self.name)
        opts = self.parts.options
        ctx = _context(config)
        keep = _pick(state.get("keep_memory"), getattr(ctx, "keep_memory", None),
                     opts.keep_memory)
        max_steps = _pick(getattr(ctx, "max_steps", None), opts.max_steps)
        kept = bool(keep and state.get("memory"))
        memory = _memory(state) if kept else HypergraphMemory()
        return {
            "question": question, "memory": memory.to_dict(), "max_steps": max_steps,
            "subqueries": [{"query": question, "points": [], "mode": "open"}],
            "asked": [question], "step": 0,
            "retrieved": list(state.get("retrieved") or []) if kept else [],
            "context": None, "diff": None, "judgement": None, "concerns": [],
            "single_fact": None, "hints": [], "stop_reason": None, "answer": None,
            "explanation": None, "known": None, "evidence": [], "documents": [],
            "usage": {USAGE_RESET: 1},
        }


def _context(config: RunnableConfig) -> Any:
    from memagents.base.namespaces import run_context

    return run_context()


def _pick(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


# ------------------------------------------------------------------------------- retrieve
class RetrieveNode(_LoopNode):
    """Retrieves for the current sub-queries (no LLM call); starts a loop step."""

    name = "retrieve"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        opts = self.parts.options
        memory = _memory(state)
        namespace = self._namespace(config)
        subs = list(state.get("subqueries") or [])
        pairs = []
        if opts.mode == "per_step" and state.get("judgement") == "dig_deeper":
            points = list(dict.fromkeys(p for c in state.get("concerns") or ()
                                        for p in c.get("points") or ()))
            where = scope(self.parts.index, memory, points, "local", namespace=namespace,
                          hops=opts.retrieval.neighbourhood_hops)
            pairs = [(s["query"], where) for s in subs]
        else:
            for s in subs:
                mode = "open" if opts.mode == "per_step" else s.get("mode") or "global"
                pairs.append((s["query"], scope(self.parts.index, memory, s.get("points") or [],
                                                mode, namespace=namespace,
                                                hops=opts.retrieval.neighbourhood_hops)))
        found = retrieve(self.parts.index, pairs, opts.retrieval, namespace=namespace)
        step = int(state.get("step") or 0) + 1
        memory.advance()
        update: dict[str, Any] = {
            "step": step, "memory": memory.to_dict(), "context": found.to_dict(),
            "retrieved": list(dict.fromkeys([*(state.get("retrieved") or []),
                                             *(p.id for p in found.passages)])),
            "notes": found.notes,
        }
        if found.empty and not len(memory):
            update["stop_reason"] = "no_evidence"
            update["notes"] = [*found.notes, (f"step {step}: nothing retrieved and the memory "
                                             "is empty: stopping")]
        return update


# --------------------------------------------------------------------------------- evolve
def _subqueries_text(subs: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"- {s['query']}" + (f" (about {', '.join(s['points'])})"
                                          if s.get("points") else "") for s in subs) or "(none)"


class EvolveNode(_LoopNode):
    """Inserts and updates memory points from the step's retrieved tables (one LLM call;
    one re-ask with the reasons when every request was refused).

    Evidence attribution: a point's ``sources`` are the step's passages the reply cites; with
    ``RetrievalSettings.attribution``, also the step's passages that the retrieved relations
    between two of the point's entities were extracted from (provenance the index already
    knows, cited or not), and the final evidence then keeps all of a point's sources. Without
    it, a reply citing nothing gets the step's passages mentioning the point's entities.
    """

    name = "evolve"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any] | _Call:
        opts = self.parts.options
        memory = _memory(state)
        evidence = Evidence.from_dict(state.get("context"))
        last = int(state.get("step") or 0) >= int(state.get("max_steps") or opts.max_steps)
        base: dict[str, Any] = {"stop_reason": "max_steps"} if last else {}
        if evidence.empty:
            diff = MemoryDiff(step=memory.step)
            return {**base, "diff": diff.to_dict(),
                    "notes": [f"step {state.get('step')}: nothing retrieved; memory unchanged"]}
        namespace = self._namespace(config)
        variables = {
            "question": self.question(state),
            "subqueries": _subqueries_text(state.get("subqueries") or []),
            "memory": self.memory_text(memory),
            "context": evidence.text(opts.retrieval.description_chars),
            "feedback": "",
        }
        total = MemoryDiff(step=memory.step)

        def apply(reply: EvolveOutput, asked_again: bool) -> dict[str, Any] | _Call:
            nonlocal total
            diff = self._apply(memory, evidence, reply, namespace)
            total = total.combine(diff)
            requested = bool(reply.inserts or reply.updates)
            if (requested and diff.is_empty and diff.rejected and opts.reask_rejected
                    and not asked_again):
                reasons = "\n".join(f"- {r}" for r in diff.rejected)
                again = {**variables, "memory": self.memory_text(memory), "feedback": (
                    "\nYour previous requests were all refused:\n" + reasons +
                    "\nFix them (use live point ids) or return empty lists.")}
                return _Call(EVOLVE_PROMPT, EvolveOutput, again,
                             then=lambda r: apply(r, True), on_budget=done_on_budget)
            return {**base, "memory": memory.to_dict(), "diff": total.to_dict()}

        def done_on_budget(exc: BudgetExceeded) -> dict[str, Any]:
            return {**_budget_stop("the evolve re-ask")(exc), "memory": memory.to_dict(),
                    "diff": total.to_dict()}

        return _Call(EVOLVE_PROMPT, EvolveOutput, variables, then=lambda r: apply(r, False),
                     on_budget=_budget_stop(f"evolving memory at step {state.get('step')}"))

    def _apply(self, memory: HypergraphMemory, evidence: Evidence, reply: EvolveOutput,
               namespace: str | None) -> MemoryDiff:
        chars = self.parts.options.retrieval.description_chars
        by_key: dict[str, EntityHit] = {}
        for e in evidence.entities:
            by_key.setdefault(_key(e.name), e)
        names = [n for r in [*reply.inserts, *reply.updates] for n in (r.entities or ())
                 if n and n.strip()]
        missing = [n for n in dict.fromkeys(names) if _key(n) not in by_key
                   and memory.entity(n) is None]
        if missing:
            for hit in self.parts.index.get_entities(missing, namespace=namespace):
                by_key.setdefault(_key(hit.name), hit)
        step_ids = [p.id for p in evidence.passages]

        def entities(items: Sequence[str]) -> list[str | Entity]:
            out: list[str | Entity] = []
            for n in items:
                hit = by_key.get(_key(n)) if n and n.strip() else None
                if hit is None:
                    out.append(n)
                    continue
                old = memory.entity(hit.name)
                if old is not None and old.ref is not None:
                    out.append(old.name)  # already linked: nothing to attach
                    continue
                desc = " ".join(hit.description.split())
                out.append(Entity(name=hit.name, description=desc[:chars], ref=hit.name,
                                  entity_type=hit.entity_type or "",
                                  sources=tuple(hit.sources)))
            return out

        attribute = self.parts.options.retrieval.attribution

        def sources(cited: Sequence[str], items: Sequence[str]) -> list[str]:
            # what the reply cites (passages of this step); with attribution, plus the step's
            # passages its retrieved relations between the point's entities come from (and
            # no guess beyond that); without, a reply citing nothing gets the step's passages
            # mentioning the point's entities
            ok = [s for s in cited if s in step_ids]
            if attribute:
                linked = [h.name if (h := by_key.get(_key(n))) is not None else n
                          for n in items if n and n.strip()]
                known = set(relation_provenance(evidence.relations, linked, key=_key))
                return ok + [i for i in step_ids if i in known and i not in ok]
            if ok:
                return ok
            srcs = {s for n in items if (h := by_key.get(_key(n))) is not None
                    for s in h.sources}
            return [i for i in step_ids if i in srcs]

        diff = MemoryDiff(step=memory.step)
        for u in reply.updates:
            ents = None if u.entities is None else entities(u.entities)
            names_now = u.entities if u.entities is not None else [
                e.name for e in memory.entities_of(u.id)] if u.id in memory else []
            diff = diff.combine(memory.update(u.id, description=u.description, entities=ents,
                                              sources=sources(u.sources, names_now)))
        for i in reply.inserts:
            diff = diff.combine(memory.insert(i.description, entities(i.entities),
                                              sources=sources(i.sources, i.entities)))
        return diff


def _key(name: str) -> str:
    try:
        return entity_key(name)
    except InputError:
        return ""


# ---------------------------------------------------------------------------------- merge
class MergeNode(_LoopNode):
    """Merges cohesive points (one LLM call), from the second step on."""

    name = "merge"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any] | _Call:
        memory = _memory(state)
        variables = {"question": self.question(state), "memory": self.memory_text(memory)}

        def apply(reply: MergeOutput) -> dict[str, Any]:
            groups = [(g.ids, g.description) for g in reply.merges]
            diff = memory.merge_groups(groups)
            return {"memory": memory.to_dict(), "diff": diff.to_dict()}

        return _Call(MERGE_PROMPT, MergeOutput, variables, then=apply,
                     on_budget=_budget_stop(f"merging at step {state.get('step')}"))


# ----------------------------------------------------------------------------------- plan
class PlanNode(_LoopNode):
    """Judges the memory and raises up to three concerns, each with its sub-query (one LLM
    call; never in the last round)."""

    name = "plan"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any] | _Call:
        memory = _memory(state)
        question = self.question(state)
        found = hints(self.parts.index, memory, question, self.parts.options.retrieval.hint_k,
                      namespace=self._namespace(config))
        variables = {"question": question, "memory": self.memory_text(memory),
                     "asked": "\n".join(f"- {q}" for q in state.get("asked") or ()) or "(none)",
                     "hints": hints_text(found)}

        def apply(reply: PlanOutput) -> dict[str, Any]:
            concerns, notes = [], []
            for c in reply.concerns:
                live = [memory.resolve(p) for p in c.points]
                points = [p for p in dict.fromkeys(live) if p is not None]
                if len(points) < len(c.points):
                    notes.append(f"plan: concern {c.text!r:.60} names unknown points "
                                 f"{[p for p in c.points if memory.resolve(p) is None]}")
                if reply.judgement == "explore":
                    points = []
                concerns.append({"text": c.text, "points": points, "query": c.subquery})
            update: dict[str, Any] = {"judgement": reply.judgement, "concerns": concerns,
                                      "single_fact": reply.single_fact,
                                      "hints": [h.name for h in found], "notes": notes}
            if reply.judgement == "sufficient":
                update["stop_reason"] = "sufficient"
            elif not concerns:
                update["stop_reason"] = "no_concerns"
                notes.append(f"plan: judged {reply.judgement} but raised no concern: answering")
            return update

        return _Call(PLAN_PROMPT, PlanOutput, variables, then=apply,
                     on_budget=_budget_stop(f"planning at step {state.get('step')}"))


# ----------------------------------------------------------------------------- sub-queries
def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


class SubQueryNode(_LoopNode):
    """Checks the planner's sub-queries (no LLM call): one per concern, in order; a missing
    or blank one falls back to its concern's text; repeats of the question or of earlier
    sub-queries (case and punctuation aside) are dropped. Nothing new left: stop."""

    name = "subqueries"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        concerns = list(state.get("concerns") or [])
        asked = list(state.get("asked") or [])
        seen = {_norm(q) for q in asked}
        subs, notes = [], []
        for i, c in enumerate(concerns, 1):
            query = str(c.get("query") or "").strip()
            if not query:
                query = c["text"]
                notes.append(f"sub-queries: none written for concern {i}; using the concern "
                             "itself")
            if _norm(query) in seen or not _norm(query):
                notes.append(f"sub-queries: dropped {query!r:.80}, asked before")
                continue
            seen.add(_norm(query))
            points = list(c.get("points") or [])
            subs.append({"query": query, "points": points,
                         "mode": "local" if points else "global"})
        update: dict[str, Any] = {"subqueries": subs, "asked": asked + [s["query"] for s in subs],
                                  "notes": notes}
        if not subs:
            update["stop_reason"] = "no_new_subqueries"
            notes.append("sub-queries: nothing new to ask: answering")
        return update


# --------------------------------------------------------------------------------- answer
DONT_KNOW = "I do not know: no evidence about this question was found."


class AnswerNode(_LoopNode):
    """Answers from the memory points and the selected evidence (one LLM call; none when
    the memory is empty and there is no evidence; from the memory alone on a budget stop)."""

    name = "answer"

    def _prepare(self, state: Any, config: RunnableConfig) -> dict[str, Any] | _Call:
        memory = _memory(state)
        opts = self.parts.options
        passages = final_evidence(self.parts.index, memory, state.get("retrieved") or [],
                                  state.get("asked") or [], opts.retrieval,
                                  namespace=self._namespace(config))
        base = {"evidence": [p.to_dict() for p in passages],
                "documents": [_document(p) for p in passages]}
        if not len(memory) and not passages:
            return _with_message(state, {
                **base, "answer": DONT_KNOW, "known": False, "explanation": "",
                "stop_reason": state.get("stop_reason") or "no_evidence"})
        variables = {"question": self.question(state), "memory": self.memory_text(memory),
                     "evidence": evidence_text(passages)}

        def apply(reply: AnswerOutput) -> dict[str, Any]:
            return _with_message(state, {**base, "answer": reply.answer,
                                         "explanation": reply.explanation, "known": reply.known})

        def on_budget(exc: BudgetExceeded) -> dict[str, Any]:
            text = memory.render(max_tokens=opts.memory_tokens, tokenizer=self.parts.llm.tokenizer)
            return _with_message(state, {
                **base, "stop_reason": "budget", "known": None, "explanation": "",
                "answer": "Budget exhausted before the final answer; the memory holds:\n" + text,
                "notes": [f"budget exhausted before the final answer: {exc}"]})

        return _Call(ANSWER_PROMPT, AnswerOutput, variables, then=apply, on_budget=on_budget)


def _with_message(state: Any, update: dict[str, Any]) -> dict[str, Any]:
    """In a chat thread (``state["messages"]``), the answer is also the thread's AI message,
    which marks the turn's human message as answered (see :func:`turn_question`)."""
    if state.get("messages"):
        update["messages"] = [AIMessage(content=update["answer"])]
    return update


def _document(p: Passage) -> Document:
    return Document(page_content=p.text, id=p.id,
                    metadata={"id": p.id, "source": p.id, "score": p.score,
                              "points": list(p.points)})
