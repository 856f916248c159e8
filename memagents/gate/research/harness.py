"""Evaluation harness for retrieve-or-recall policies on PopQA-format data.

Per question the policy decides. A retrieval answers from the item's top-1 passage
(conflict-aware when the decision carries a closed-book answer, closed-book when the passage is
empty); a recall uses the decision's closed-book answer or asks for one. Answers come from a
live :class:`~memagents.gate.answering.Answerer` or from recorded outputs (no model call: the
prediction recorded for the mode the policy chose). Scoring is PopQA's containment rule.
Records are appended and flushed one per question to ``results.jsonl``; a rerun skips the
questions already there, so a failure mid-run loses nothing and nothing is computed twice.
``summary.json`` holds accuracy, retrieval rate, has-answer rate of retrieved passages, cost
(LLM calls, tokens) and per-relation numbers.

Example:
    >>> from memagents.gate.base import Decision, RetrievalPolicy
    >>> class Rare(RetrievalPolicy):
    ...     name = "rare"
    ...     def decide(self, question, *, metadata=None):
    ...         return Decision(retrieve=metadata["s_pop"] < 100, policy=self.name, reason="")
    >>> items = [{"id": "1", "question": "Where is Velmora?", "possible_answers": ["Quillmere"],
    ...           "s_pop": 20, "contriever_passage": "Velmora lies in Quillmere."},
    ...          {"id": "2", "question": "Who wrote Hollin?", "possible_answers": ["Ilda Morn"],
    ...           "s_pop": 900, "contriever_passage": ""}]
    >>> recorded = RecordedOutputs.from_records([
    ...     {"id": "1", "mode": "retrieval", "prediction": "Quillmere"},
    ...     {"id": "2", "mode": "parametric", "prediction": "Ada Vell"}])
    >>> report = Harness(Rare(), recorded=recorded).run(items)
    >>> s = report.summary
    >>> s["accuracy"], s["retrieval_rate"], s["has_answer_rate"], s["llm_calls"]
    (0.5, 0.5, 1.0, 0)
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memagents.errors import ConfigError, InputError, LLMError, MemagentsError
from memagents.eval.scoring import has_answer, is_correct, parse_answers
from memagents.gate.answering import Answer, Answerer
from memagents.gate.conflict import ConflictPolicy, Evidence, resolve_conflict
from memagents.gate.research.training import load_records

__all__ = ["PASSAGE_FIELDS", "EvalConfig", "EvalItem", "EvalReport", "Harness", "RecordedOutputs",
           "summarize"]

RunMode = Literal["parametric", "retrieval", "adaptive"]
_COST = ("llm_calls", "prompt_tokens", "completion_tokens")

#: Where an item's passage is read from: the first non-empty of these fields. PopQA fills
#: ``contriever_passage``; ``memagents sample export`` writes the gold passage.
PASSAGE_FIELDS = ("contriever_passage", "passage", "gold_passage")
_EMPTY_NOTE = "empty retrieval result: no passage for this question"


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalConfig:
    """How to run an evaluation.

    Attributes:
        conflict: Conflict policy used when a retrieving decision carries a closed-book
            answer; ``None`` answers from the evidence alone.
        mode: Run mode written in each record; ``None`` infers it from the policy name
            (never -> parametric, always -> retrieval, else adaptive).
        limit: Evaluate only the first ``limit`` items.
        max_concurrency: Questions evaluated in parallel (per-record cost needs 1).
        signature: What defines the run (e.g. policy options, model); stored in every record
            as ``run`` so resuming into a folder of a differently configured run is refused.
        results_name: File name of the per-question records in the output folder.
        summary_name: File name of the summary in the output folder.

    Example:
        >>> EvalConfig(limit=10).max_concurrency
        1
    """

    conflict: ConflictPolicy | None = field(default_factory=ConflictPolicy)
    mode: RunMode | None = None
    limit: int | None = None
    max_concurrency: int = 1
    signature: str | None = None
    results_name: str = "results.jsonl"
    summary_name: str = "summary.json"

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ConfigError("EvalConfig.limit must be >= 0 (or None for all items).")
        if self.max_concurrency < 1:
            raise ConfigError("EvalConfig.max_concurrency must be >= 1.")
        if self.mode not in (None, "parametric", "retrieval", "adaptive"):
            raise ConfigError("EvalConfig.mode must be parametric, retrieval, adaptive or None.")


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalItem:
    """One PopQA-format question, normalised from a dict or an object (e.g. ``PopQAItem``).

    Example:
        >>> EvalItem.of({"id": 7, "question": "Q?", "possible_answers": '["a"]'}, 0).id
        '7'
    """

    id: str
    question: str
    possible_answers: tuple[str, ...]
    s_pop: float | None = None
    prop: str | None = None
    passage: str = ""
    passage_score: float | None = None

    @classmethod
    def of(cls, obj: Any, index: int) -> EvalItem:
        """Normalise ``obj`` (the ``index``-th item); raises InputError naming the problem."""
        if isinstance(obj, EvalItem):
            return obj
        qid = _get(obj, "id")
        question = _get(obj, "question")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"item {index} (id {qid!r}) needs a non-empty 'question'.")
        answers = parse_answers(_get(obj, "possible_answers"))
        if not answers:
            raise InputError(f"item {index} (id {qid!r}) needs 'possible_answers' to score.")
        passage = next((p for p in (_get(obj, name) for name in PASSAGE_FIELDS)
                        if isinstance(p, str) and p.strip()), "")
        return cls(id=str(qid if qid is not None else index), question=question.strip(),
                   possible_answers=tuple(answers), s_pop=_float(_get(obj, "s_pop")),
                   prop=_get(obj, "prop"), passage=str(passage),
                   passage_score=_float(_get(obj, "contriever_score", "passage_score")))

    def metadata(self) -> dict[str, Any]:
        """What a policy may see: ``id``, ``s_pop``, ``prop``, ``contriever_score``."""
        return {"id": self.id, "s_pop": self.s_pop, "prop": self.prop,
                "contriever_score": self.passage_score}


class RecordedOutputs:
    """Recorded model predictions per ``(id, mode)``, mode ``parametric`` or ``retrieval``.

    Example:
        >>> r = RecordedOutputs.from_records([{"id": 1, "mode": "retrieval", "prediction": "x"}])
        >>> r.get("1", "retrieval"), len(r)
        ('x', 1)
    """

    def __init__(self, predictions: Mapping[tuple[str, str], str]) -> None:
        self.predictions = dict(predictions)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> RecordedOutputs:
        """From ``{id, mode, prediction}`` records (extra fields ignored)."""
        out: dict[tuple[str, str], str] = {}
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping) or not {"id", "mode", "prediction"} <= set(rec):
                raise InputError(f"recorded output {i} needs 'id', 'mode' and 'prediction'.")
            mode = rec["mode"]
            if mode not in ("parametric", "retrieval"):
                raise InputError(f"recorded output {i} (id {rec['id']}) has mode {mode!r}; "
                                 "record parametric and retrieval runs, not adaptive ones.")
            key, pred = (str(rec["id"]), mode), str(rec["prediction"] or "")
            if key in out and out[key] != pred:
                raise InputError(f"recorded outputs disagree for id {key[0]} ({mode}): "
                                 f"{out[key]!r} vs {pred!r}; keep one prediction per mode.")
            out[key] = pred
        return cls(out)

    @classmethod
    def from_files(cls, *paths: str | Path) -> RecordedOutputs:
        """From JSON Lines (or JSON list) files, e.g. a parametric run and a retrieval run."""
        records: list[Any] = []
        for path in paths:
            records.extend(load_records(path))
        return cls.from_records(records)

    def get(self, qid: str, mode: str) -> str:
        """The prediction, or InputError saying what is missing."""
        try:
            return self.predictions[(qid, mode)]
        except KeyError:
            raise InputError(f"recorded outputs have no {mode} prediction for id {qid!r}; "
                             "record both modes for every item.") from None

    def __len__(self) -> int:
        return len(self.predictions)


@dataclass(kw_only=True)
class EvalReport:
    """Summary, records (resumed ones included, in item order) and file paths.

    >>> EvalReport(summary={"accuracy": 1.0}, records=[]).resumed
    0
    """

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    results_path: Path | None = None
    summary_path: Path | None = None
    resumed: int = 0


def summarize(records: Sequence[Mapping[str, Any]], *, policy: str, mode: str) -> dict[str, Any]:
    """Accuracy, retrieval rate, has-answer rate, cost and per-relation numbers of records."""

    def rates(recs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        n = len(recs)
        retrieved = [r for r in recs if r["retrieved"]]
        return {"n": n, "correct": sum(bool(r["is_correct"]) for r in recs),
                "accuracy": round(sum(bool(r["is_correct"]) for r in recs) / n, 6) if n else 0.0,
                "retrieved": len(retrieved),
                "retrieval_rate": round(len(retrieved) / n, 6) if n else 0.0,
                "has_answer_rate": round(sum(bool(r["has_answer"]) for r in retrieved)
                                         / len(retrieved), 6) if retrieved else None}

    out: dict[str, Any] = {"policy": policy, "mode": mode, **rates(records)}
    costs = [r.get("cost") for r in records]
    known = all(isinstance(c, Mapping) for c in costs)
    for key in _COST:
        out[key] = sum(int(c[key]) for c in costs) if known else None  # type: ignore[index]
    out["total_tokens"] = (out["prompt_tokens"] + out["completion_tokens"]) if known else None
    out["conflicts"] = sum(bool((r.get("resolution") or {}).get("conflict")) for r in records)
    out["answer_sources"] = dict(sorted(Counter(r.get("answer_source") for r in records).items()))
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("prop"):
            groups[str(r["prop"])].append(r)
    out["per_relation"] = {p: rates(rs) for p, rs in sorted(groups.items())}
    out["warnings"] = _warnings(records)
    return out


def _warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """What makes the numbers misleading: retrieving questions that had no passage."""
    retrieved = [r for r in records if r["retrieved"]]
    empty = sum(r.get("note") == _EMPTY_NOTE for r in retrieved)
    if not empty:
        return []
    fields = ", ".join(PASSAGE_FIELDS)
    if empty == len(retrieved):
        return [(f"none of the {empty} retrieving questions had a passage (fields: {fields}): "
                 "they were answered closed-book and the has-answer rate is 0 for that reason. "
                 "Give each item its passage text (`memagents sample export` writes "
                 "gold_passage).")]
    return [(f"{empty} of {len(retrieved)} retrieving questions had no passage (fields: "
             f"{fields}): answered closed-book, counted as has-answer misses.")]


class Harness:
    """Runs a retrieve-or-recall policy over PopQA-format items and scores it.

    Args:
        policy: A ``RetrievalGate`` or any policy with ``decide(question, metadata=...)``.
        answerer: The live model (default: ``Answerer(policy.llm)`` when the gate has one).
        recorded: Recorded outputs instead of a live model (no answering call is made).
        config: :class:`EvalConfig`.

    Example:
        >>> from memagents.gate.base import Decision, RetrievalPolicy
        >>> from memagents.testing import ScriptedChatModel
        >>> class Never(RetrievalPolicy):
        ...     name = "never"
        ...     def decide(self, question, *, metadata=None):
        ...         return Decision(retrieve=False, policy=self.name, reason="never")
        >>> h = Harness(Never(), answerer=Answerer(ScriptedChatModel(default="Quillmere")))
        >>> r = h.run([{"id": "1", "question": "Where is Velmora?",
        ...             "possible_answers": ["Quillmere"]}])
        >>> s = r.summary
        >>> s["mode"], s["accuracy"], s["llm_calls"], r.records[0]["answer_source"]
        ('parametric', 1.0, 1, 'parametric')
    """

    def __init__(self, policy: Any, *, answerer: Answerer | None = None,
                 recorded: RecordedOutputs | None = None,
                 config: EvalConfig | None = None) -> None:
        if not callable(getattr(policy, "decide", None)):
            raise InputError(f"policy must have decide(question, metadata=...); got {policy!r}.")
        if answerer is not None and recorded is not None:
            raise ConfigError("pass either answerer= (a live model) or recorded=, not both.")
        config = config or EvalConfig()
        self.gate, self.recorded, self.config = policy, recorded, config
        llm = getattr(policy, "llm", None)
        if answerer is None and recorded is None and llm is not None and hasattr(llm, "chat"):
            answerer = Answerer(llm)
        self.answerer = answerer
        inner = getattr(policy, "policy", None)
        self.policy_name = str(getattr(inner if inner is not None else policy, "name", None)
                               or type(policy).__name__)
        key = self.policy_name.lower()
        self.mode: str = config.mode or (
            "parametric" if key == "never" else "retrieval" if key == "always" else "adaptive")
        self._lock = threading.Lock()

    # -- cost -------------------------------------------------------------------------------
    def _usages(self) -> list[Any]:
        found: dict[int, Any] = {}
        stack = [self.gate]
        while stack:  # the gate, its policy and sub-policies: each model's own counters
            obj = stack.pop()
            usage = getattr(getattr(obj, "llm", None), "usage", None)
            if usage is not None:
                found[id(usage)] = usage
            stack.extend(o for o in (getattr(obj, "policy", None),
                                     *(getattr(obj, "policies", None) or ())) if o is not None)
        if self.answerer is not None:
            found[id(self.answerer.usage)] = self.answerer.usage
        return list(found.values())

    def _cost(self) -> dict[str, int]:
        totals = dict.fromkeys(_COST, 0)
        for u in self._usages():
            d = u.as_dict()
            for key in _COST:
                totals[key] += int(d[key])
        return totals

    # -- one item ---------------------------------------------------------------------------
    def _need_answerer(self) -> Answerer:
        if self.answerer is None:
            raise ConfigError("no model to answer with: pass answerer=Answerer(llm) (or "
                              "--llm), or recorded outputs (--recorded).")
        return self.answerer

    def _closed_book(self, item: EvalItem, closed: str | None) -> tuple[str, str]:
        if self.recorded is not None:
            return self.recorded.get(item.id, "parametric"), "recorded:parametric"
        if closed is not None:
            return closed, "parametric"
        return self._need_answerer().closed_book(item.question).text, "parametric"

    def evaluate_item(self, item: EvalItem) -> dict[str, Any]:
        """Decide, answer and score one item; returns its result record."""
        decision = self.gate.decide(item.question, metadata=item.metadata())
        closed = decision.answer if decision.answer and decision.answer.strip() else None
        resolution, note = None, None
        passage = item.passage.strip()
        if not decision.retrieve:
            prediction, source = self._closed_book(item, closed)
        elif self.recorded is not None:
            prediction, source = self.recorded.get(item.id, "retrieval"), "recorded:retrieval"
        elif closed is not None and self.config.conflict is not None:
            evidence = [Evidence(passage, source=f"contriever:{item.id}",
                                 score=item.passage_score)] if passage else []
            resolution = resolve_conflict(item.question, Answer(closed), evidence,
                                          self._need_answerer(), self.config.conflict)
            prediction, source = resolution.answer, resolution.source
        elif passage:
            prediction = self._need_answerer().with_evidence(item.question, [passage]).text
            source = "evidence"
        else:
            prediction, source = self._closed_book(item, closed)
        if decision.retrieve and not passage:
            note = _EMPTY_NOTE
        res = resolution.to_dict() if resolution is not None else None
        if res is not None:
            res["supporting"] = [{"source": s["source"], "score": s["score"]}
                                 for s in res["supporting"]]
        answers = item.possible_answers
        return {"id": item.id, "question": item.question, "prop": item.prop, "s_pop": item.s_pop,
                "possible_answers": list(answers), "mode": self.mode, "prediction": prediction,
                "is_correct": is_correct(prediction, answers),
                "retrieved": bool(decision.retrieve),
                "has_answer": has_answer(passage, answers) if decision.retrieve else None,
                "policy": self.policy_name, "decision": decision.to_dict(),
                "answer_source": source, "resolution": res, "note": note,
                "run": self.config.signature}

    # -- a run ------------------------------------------------------------------------------
    def run(self, items: Iterable[Any], out_dir: str | Path | None = None, *,
            on_record: Callable[[dict[str, Any]], Any] | None = None) -> EvalReport:
        """Evaluate ``items``; with ``out_dir``, append records there and resume from them.

        ``on_record`` is called with each new record once it is saved (progress display).

        Raises:
            InputError: malformed or duplicate items, or an output folder of another policy.
            MemagentsError: a model failure after retries (same class as the cause); the
                completed records stay in ``results.jsonl`` and a rerun resumes.
        """
        todo = [EvalItem.of(obj, i) for i, obj in enumerate(items)][: self.config.limit]
        ids = [it.id for it in todo]
        dup = next((i for i, n in Counter(ids).items() if n > 1), None)
        if dup is not None:
            raise InputError(f"item id {dup!r} appears twice; ids must be unique to resume.")
        folder = Path(out_dir) if out_dir is not None else None
        results = folder / self.config.results_name if folder else None
        done = self._load_done(results) if results else {}
        resumed = sum(1 for i in ids if i in done)
        before, failures = self._cost(), []
        sequential = self.config.max_concurrency == 1
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
        sink = results.open("a", encoding="utf-8") if results else None

        def one(item: EvalItem) -> None:
            if failures:
                return
            start = self._cost() if sequential else None
            try:
                record = self.evaluate_item(item)
            except MemagentsError as exc:
                failures.append((item, exc))
                return
            if start is not None:
                end = self._cost()
                record["cost"] = {k: end[k] - start[k] for k in _COST}
            with self._lock:
                done[item.id] = record
                if sink is not None:
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    sink.flush()
            if on_record is not None:
                on_record(record)

        pending = [it for it in todo if it.id not in done]
        try:
            with ThreadPoolExecutor(self.config.max_concurrency) as pool:
                list(pool.map(one, pending))
        finally:
            if sink is not None:
                sink.close()
        records = [done[i] for i in ids if i in done]
        summary = summarize(records, policy=self.policy_name, mode=self.mode)
        after = self._cost()
        summary.update(items=len(todo), complete=not failures, resumed=resumed,
                       this_run={k: after[k] - before[k] for k in _COST},
                       results_path=str(results) if results else None)
        if summary["llm_calls"] is None:  # concurrent run: per-record cost unknown
            summary.update(summary["this_run"])
            summary["total_tokens"] = summary["prompt_tokens"] + summary["completion_tokens"]
        summary_path = folder / self.config.summary_name if folder else None
        if summary_path is not None:
            summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if failures:
            raise _interrupted(*failures[0], len(records), len(todo), results) from failures[0][1]
        return EvalReport(summary=summary, records=records, results_path=results,
                          summary_path=summary_path, resumed=resumed)

    async def arun(self, items: Iterable[Any], out_dir: str | Path | None = None, *,
                   on_record: Callable[[dict[str, Any]], Any] | None = None) -> EvalReport:
        """Async twin of :meth:`run` (runs it in a worker thread)."""
        return await asyncio.to_thread(self.run, list(items), out_dir, on_record=on_record)

    def _load_done(self, path: Path) -> dict[str, dict[str, Any]]:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
        done: dict[str, dict[str, Any]] = {}
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines) and not line.endswith("\n"):  # torn last write: drop it
                    path.write_text("".join(lines[:-1]), encoding="utf-8")
                    break
                raise InputError(f"{path}: line {n} is not JSON; fix or delete the file.") from None
            theirs = (record.get("policy"), record.get("mode"), record.get("run"))
            ours = (self.policy_name, self.mode, self.config.signature)
            if theirs != ours:
                raise InputError(
                    f"{path} holds results of another run (policy {theirs[0]!r}, {theirs[1]}, "
                    f"run {theirs[2]}), not of this one (policy {ours[0]!r}, {ours[1]}, run "
                    f"{ours[2]}); use another output folder, or delete the file to start over.")
            done[str(record["id"])] = record
        return done


def _interrupted(item: EvalItem, exc: MemagentsError, n_done: int, n_items: int,
                 results: Path | None) -> MemagentsError:
    """The error ending an interrupted run: the cause's class, with how to resume."""
    where = (f"the {n_done} completed results are saved in {results}; rerun the same command "
             "to resume (completed questions are skipped)" if results else
             "pass an output folder (out_dir / --out) to keep partial results and resume")
    msg = f"evaluation stopped at question {item.id!r} ({n_done} of {n_items} done): {exc} -- " \
          f"{where}."
    try:
        return type(exc)(msg)
    except Exception:  # noqa: BLE001 - an exception class with another constructor
        return LLMError(msg)
