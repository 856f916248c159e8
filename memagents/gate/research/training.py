"""Adapt-LLM training-set export (Labruna et al., Algorithm 1).

For each labelled question (question, accepted answers, gold or context passage) and the base
model's closed-book prediction, scored with PopQA's containment rule:

* **correct** -> one instance: parametric prompt(q) -> gold answer;
* **wrong** -> two instances: parametric prompt(q) -> ``<RET>`` and context prompt(q, passage)
  -> gold answer.

The prompts are the paper's (``retrieve-token/evaluate/evaluate_script.py``): Alpaca
``instruction`` / ``input`` pairs, written as Alpaca JSON or as OpenAI chat fine-tuning JSONL
(instruction as the system message, input as the user message, output as the assistant one).
Wrong items without a passage are skipped and counted.

Example:
    >>> items = [{"id": "1", "question": "Who wrote Velmora?", "possible_answers": ["Ilda Morn"],
    ...           "passage": "Velmora is a novel by Ilda Morn."},
    ...          {"id": "2", "question": "What genre is Velmora?",
    ...           "possible_answers": ["fantasy"], "passage": "Velmora is a fantasy novel."}]
    >>> ts = build_training_set(items, {"1": "Ilda Morn", "2": "science fiction"})
    >>> [(e.kind, e.output) for e in ts.examples]
    [('answer', 'Ilda Morn'), ('retrieve', '<RET>'), ('context', 'fantasy')]
    >>> ts.stats["correct"], ts.stats["wrong"], ts.stats["ret_share"]
    (1, 1, 0.5)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memagents.errors import InputError
from memagents.eval.scoring import is_correct, parse_answers

__all__ = [
    "CONTEXT_INSTRUCTION",
    "NEVER_RETRIEVE_INSTRUCTION",
    "TrainingExample",
    "TrainingSet",
    "build_training_set",
    "load_records",
    "parametric_instruction",
    "validate_openai_chat_jsonl",
    "write_alpaca_json",
    "write_openai_chat_jsonl",
]

CONTEXT_INSTRUCTION = "answer the question Q given the context C"
NEVER_RETRIEVE_INSTRUCTION = "answer the question Q"
_ROLES = frozenset({"system", "user", "assistant"})
_MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})
_TOP_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


def parametric_instruction(token: str = "<RET>") -> str:
    """The paper's parametric instruction with the retrieval ``token``.

    >>> parametric_instruction()
    'answer the question Q. If you need help answer <RET> to get the context'
    """
    return f"answer the question Q. If you need help answer {token} to get the context"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingExample:
    """One Alpaca-layout instance.

    Attributes:
        id: The question's id.
        kind: ``answer`` (parametric prompt -> gold answer), ``retrieve`` (parametric prompt
            -> token) or ``context`` (context prompt -> gold answer).
        instruction: Alpaca instruction.
        input: Alpaca input (``Q: ...`` and, for context instances, ``C: ...``).
        output: The target.

    Example:
        >>> TrainingExample(id="1", kind="retrieve", instruction="i", input="Q: q",
        ...                 output="<RET>").to_openai()["messages"][-1]
        {'role': 'assistant', 'content': '<RET>'}
    """

    id: str
    kind: Literal["answer", "retrieve", "context"]
    instruction: str
    input: str
    output: str

    def to_alpaca(self) -> dict[str, str]:
        """``{"instruction", "input", "output"}``."""
        return {"instruction": self.instruction, "input": self.input, "output": self.output}

    def to_openai(self) -> dict[str, Any]:
        """One OpenAI chat fine-tuning line: system instruction, user input, assistant output."""
        return {
            "messages": [
                {"role": "system", "content": self.instruction},
                {"role": "user", "content": self.input},
                {"role": "assistant", "content": self.output},
            ]
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingSet:
    """The examples and what happened to every item.

    ``stats`` holds ``items``, ``correct``, ``wrong``, ``examples``, ``ret_share`` (share of
    scored items labelled with the token), ``skipped_no_passage`` (wrong items without a
    passage: their token instance is dropped too, so the set stays balanced),
    ``skipped_no_prediction`` and ``passage_lacks_answer`` (context instances whose passage
    does not contain an accepted answer). ``skipped_ids`` lists the skipped items.
    """

    examples: list[TrainingExample]
    stats: dict[str, Any]
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        s = self.stats
        return (
            f"{s['examples']} examples from {s['items']} items: {s['correct']} correct, "
            f"{s['wrong']} wrong ({s['ret_share']:.1%} labelled with the token); skipped "
            f"{s['skipped_no_passage']} wrong item(s) without a passage and "
            f"{s['skipped_no_prediction']} item(s) without a closed-book prediction"
        )


def _field(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None and value != "":
            return value
    return None


def _predictions(closed_book: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> dict[str, str]:
    if isinstance(closed_book, Mapping):
        return {str(k): str(v if not isinstance(v, Mapping) else v.get("prediction", ""))
                for k, v in closed_book.items()}
    out: dict[str, str] = {}
    for i, rec in enumerate(closed_book):
        if not isinstance(rec, Mapping) or "id" not in rec or "prediction" not in rec:
            raise InputError(f"closed-book record {i} needs 'id' and 'prediction' fields.")
        mode = rec.get("mode")
        if mode not in (None, "parametric"):
            raise InputError(
                f"closed-book record {i} (id {rec['id']}) has mode {mode!r}: pass the results "
                "of a parametric (never-retrieve) run, not a retrieval or adaptive one."
            )
        out[str(rec["id"])] = str(rec["prediction"] or "")
    return out


def build_training_set(
    items: Iterable[Any],
    closed_book: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    token: str = "<RET>",
    require_answer_in_passage: bool = False,
) -> TrainingSet:
    """Build the Adapt-LLM training set (Algorithm 1).

    Args:
        items: Labelled questions (dicts or objects) with ``id``, ``question``,
            ``possible_answers`` and a passage: ``gold_passage``, else ``passage``, else
            ``contriever_passage`` (the first non-empty).
        closed_book: Closed-book predictions: ``{id: prediction}`` or records with ``id`` and
            ``prediction`` (e.g. a never-retrieve run of ``memagents gate eval``).
        token: The retrieval token the model learns to emit.
        require_answer_in_passage: Skip wrong items whose passage lacks every accepted answer.

    Raises:
        InputError: an item lacks a question or accepted answers, or the token is blank.
    """
    if not isinstance(token, str) or not token.strip():
        raise InputError("token must be a non-empty string such as '<RET>'.")
    preds = _predictions(closed_book)
    examples: list[TrainingExample] = []
    skipped: dict[str, list[str]] = {"no_passage": [], "no_prediction": [],
                                     "passage_lacks_answer": []}
    n = correct = wrong = 0
    for i, item in enumerate(items):
        n += 1
        qid = str(_field(item, "id") if _field(item, "id") is not None else i)
        question = _field(item, "question")
        answers = parse_answers(_field(item, "possible_answers"))
        if not isinstance(question, str) or not answers:
            raise InputError(f"item {qid} needs a question and possible_answers.")
        if qid not in preds:
            skipped["no_prediction"].append(qid)
            continue
        q_input = f"Q: {question}"
        if is_correct(preds[qid], answers):
            correct += 1
            examples.append(TrainingExample(id=qid, kind="answer", output=answers[0],
                                            instruction=parametric_instruction(token),
                                            input=q_input))
            continue
        wrong += 1
        passage = _field(item, "gold_passage", "passage", "contriever_passage")
        if not isinstance(passage, str) or not passage.strip():
            skipped["no_passage"].append(qid)
            continue
        if require_answer_in_passage and not is_correct(passage, answers):
            skipped["passage_lacks_answer"].append(qid)
            continue
        examples.append(TrainingExample(id=qid, kind="retrieve", output=token,
                                        instruction=parametric_instruction(token),
                                        input=q_input))
        examples.append(TrainingExample(id=qid, kind="context", output=answers[0],
                                        instruction=CONTEXT_INSTRUCTION,
                                        input=f"{q_input}\nC: {passage.strip()}"))
    scored = correct + wrong
    stats = {
        "items": n, "correct": correct, "wrong": wrong, "examples": len(examples),
        "ret_share": round(wrong / scored, 4) if scored else 0.0,
        "skipped_no_passage": len(skipped["no_passage"]),
        "skipped_no_prediction": len(skipped["no_prediction"]),
        "passage_lacks_answer": len(skipped["passage_lacks_answer"]),
        "token": token,
    }
    return TrainingSet(examples=examples, stats=stats, skipped_ids=skipped)


def _read_utf8(path: Path) -> str:
    """The text of a UTF-8 file, or InputError saying it is not UTF-8 and how to fix it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                         f"offset {exc.start}): convert it to UTF-8 JSON or JSON Lines.") from None


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSON list, an object keyed by id (Adapt-LLM's layout) or JSON Lines.

    An object of plain values (``{id: prediction}``) becomes ``{"id", "prediction"}`` records.

    Raises:
        InputError: missing file, text that is not UTF-8, unparseable JSON, or records that
            are not objects.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    text = _read_utf8(path)
    try:
        if path.suffix.lower() == ".jsonl":
            raise json.JSONDecodeError("JSON Lines", text, 0)
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            try:
                data.extend([json.loads(line)] if line.strip() else [])
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {n} is not JSON ({exc.msg}); expected a JSON "
                                 "list, an object keyed by id, or JSON Lines.") from None
    if isinstance(data, dict) and "id" in data:  # one JSON Lines record
        data = [data]
    if isinstance(data, dict):
        data = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "prediction": v}
                for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"{path}: expected a list of JSON objects (records).")
    return data


def write_openai_chat_jsonl(examples: Iterable[TrainingExample], path: str | Path) -> Path:
    """Write OpenAI chat fine-tuning JSONL (one ``{"messages": [...]}`` per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_openai(), ensure_ascii=False) + "\n")
    return path


def write_alpaca_json(examples: Iterable[TrainingExample], path: str | Path) -> Path:
    """Write Alpaca JSON: a list of ``{"instruction", "input", "output"}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [ex.to_alpaca() for ex in examples]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _message_problems(n: int, j: int, m: Any, last: bool) -> list[str]:
    where = f"line {n}, message {j}"
    if not isinstance(m, dict):
        return [f"{where}: a message must be an object, got {type(m).__name__}"]
    problems = []
    extra = sorted(set(m) - _MESSAGE_KEYS)
    if extra:
        problems.append(f"{where}: unrecognized key(s) {', '.join(extra)}")
    role = m.get("role")
    if role not in _ROLES:
        problems.append(f"{where}: role {role!r} is not one of system, user, assistant")
    content = m.get("content")
    if not isinstance(content, str) or not content:
        problems.append(f"{where}: content must be a non-empty string")
    if "weight" in m and (role != "assistant" or m["weight"] not in (0, 1)):
        problems.append(f"{where}: weight must be 0 or 1 and only on assistant messages")
    if last and role != "assistant":
        problems.append(f"line {n}: the last message must be the assistant's (got {role!r})")
    return problems


def validate_openai_chat_jsonl(path: str | Path, *, min_examples: int = 0) -> list[str]:
    """Check a file against OpenAI's chat fine-tuning format; return the problems found.

    Rules (from OpenAI's fine-tuning guide and its data-preparation checks): every line is a
    JSON object with a non-empty ``messages`` list; each message is an object with a ``role``
    in {system, user, assistant} and a non-empty string ``content`` (optional ``name``, and
    ``weight`` 0/1 on assistant messages); the last message is the assistant's. OpenAI also
    needs at least 10 examples to start a job: pass ``min_examples=10`` to check that.

    Returns:
        Human-readable problems with line numbers; empty when the file is valid.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "t.jsonl")
    ...     _ = open(p, "w").write('{"messages": [{"role": "user", "content": "hi"}]}\\n')
    ...     validate_openai_chat_jsonl(p)
    ["line 1: the last message must be the assistant's (got 'user')"]
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    problems: list[str] = []
    count = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            problems.append(f"line {n}: empty line (remove it)")
            continue
        count += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {n}: must be a JSON object, got {type(record).__name__}")
            continue
        extra = sorted(set(record) - _TOP_KEYS)
        if extra:
            problems.append(f"line {n}: unrecognized key(s) {', '.join(extra)}")
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append(f"line {n}: needs a non-empty 'messages' list")
            continue
        for j, m in enumerate(messages):
            problems.extend(_message_problems(n, j, m, j == len(messages) - 1))
    if count < min_examples:
        problems.append(f"{count} example(s); OpenAI fine-tuning needs at least {min_examples}")
    return problems
