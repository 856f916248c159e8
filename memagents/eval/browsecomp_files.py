"""BrowseComp-format files: questions (encrypted CSV or JSON Lines) and answers (JSON Lines).

Questions:

* **CSV**, BrowseComp's layout: columns ``problem``, ``answer``, ``canary`` and optionally
  ``problem_topic``. Rows with a canary hold ``problem`` and ``answer`` encrypted with it
  (:func:`~memagents.eval.browsecomp.encrypt`); they are decrypted in memory on reading. A
  row's id is its 0-based position.
* **JSON Lines** (or a JSON list), like the WebDancer sample: ``{"question", "answer", ...}``
  (``problem`` or ``query`` are read as the question; ``id`` or ``query_id`` as the id, else
  the position). Other fields are kept in :attr:`BrowseQuestion.extra`. With ``canary=`` the
  question and answer fields are decrypted (the BrowseComp-Plus layout).

Answers: JSON Lines ``{"id": ..., "response": ...}`` or ``{"index": ..., "response": ...}``
(``query_id`` is read as ``id``). A missing, null or blank ``response`` counts as missing.

Decrypted plaintext stays in memory: write it only to git-ignored files, never into the
repository (spec §8).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "q.csv"
    >>> _ = write_questions(path, [BrowseQuestion(id="0", question="Q?", answer="A")],
    ...                     canary="demo canary")
    >>> "Q?" in path.read_text(), load_questions(path)[0].answer
    (False, 'A')
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memagents.errors import InputError
from memagents.eval.browsecomp import decrypt, encrypt

__all__ = [
    "AnswerRecord",
    "BrowseQuestion",
    "align_answers",
    "load_answers",
    "load_questions",
    "write_answers",
    "write_questions",
]

_QUESTION_KEYS = ("question", "problem", "query")
_ID_KEYS = ("id", "query_id")


@dataclass(frozen=True, kw_only=True)
class BrowseQuestion:
    """One benchmark question with its reference answer.

    Example:
        >>> BrowseQuestion(id="7", question="Which port?", answer="Velmora").answer
        'Velmora'
    """

    id: str
    question: str
    answer: str
    topic: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AnswerRecord:
    """One line of an answers file: the question it answers (``id`` or ``index``), the response.

    Example:
        >>> AnswerRecord(index=3, response="Exact Answer: 4").key
        '#3'
    """

    id: str | None = None
    index: int | None = None
    response: str | None = None

    @property
    def key(self) -> str:
        """The id, or ``#index``: how messages name the record."""
        return self.id if self.id is not None else f"#{self.index}"


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist or is not a file: pass the path "
                         "of an existing file.")
    return path.read_text(encoding="utf-8-sig")


def _json_rows(path: Path, what: str) -> list[tuple[int, Any]]:
    """(line number, object) of a JSON Lines file, or of a JSON list."""
    text = _read_text(path, what)
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{what} {str(path)!r} is not valid JSON ({exc}).") from None
        return list(enumerate(rows, 1))
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(f"{what} {str(path)!r} line {number} is not JSON ({exc.msg}): "
                             "write one JSON object per line.") from None
    return out


def load_questions(path: str | Path, *, canary: str | None = None) -> list[BrowseQuestion]:
    """Questions of a ``.csv`` (BrowseComp) or ``.jsonl`` / ``.json`` file, decrypted in memory.

    Args:
        path: The questions file.
        canary: Decrypts rows without their own ``canary`` cell (JSON Lines: every row).

    Raises:
        InputError: unreadable file, missing fields, duplicate ids, or a wrong canary.
    """
    path = Path(path)
    what = "the questions file"
    if path.suffix.lower() == ".csv":
        questions = _load_csv(path, canary, what)
    else:
        questions = _load_json(path, canary, what)
    if not questions:
        raise InputError(f"{what} {str(path)!r} holds no questions.")
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise InputError(f"{what} {str(path)!r} has the id {q.id!r} twice: ids must be "
                             "unique.")
        seen.add(q.id)
    return questions


def _load_csv(path: Path, canary: str | None, what: str) -> list[BrowseQuestion]:
    reader = csv.DictReader(io.StringIO(_read_text(path, what), newline=""))
    columns = set(reader.fieldnames or ())
    if not {"problem", "answer"} <= columns:
        raise InputError(f"{what} {str(path)!r} needs the columns problem and answer "
                         f"(BrowseComp's CSV layout); it has: {', '.join(sorted(columns))}.")
    out = []
    for index, row in enumerate(reader):
        key = (row.get("canary") or "").strip() or canary
        problem, answer = row["problem"] or "", row["answer"] or ""
        if key:
            problem, answer = _decrypt_row(problem, answer, key, f"row {index + 1}")
        out.append(BrowseQuestion(id=str(index), question=problem, answer=answer,
                                  topic=(row.get("problem_topic") or None)))
    return out


def _decrypt_row(question: str, answer: str, canary: str, where: str) -> tuple[str, str]:
    try:
        return decrypt(question, canary), decrypt(answer, canary)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _load_json(path: Path, canary: str | None, what: str) -> list[BrowseQuestion]:
    out = []
    for position, (number, row) in enumerate(_json_rows(path, what)):
        if not isinstance(row, dict):
            raise InputError(f"{what} {str(path)!r} line {number} is not a JSON object.")
        qkey = next((k for k in _QUESTION_KEYS if isinstance(row.get(k), str)), None)
        if qkey is None or not isinstance(row.get("answer"), str):
            raise InputError(f"{what} {str(path)!r} line {number} needs string fields "
                             "question (or problem, query) and answer.")
        question, answer = row[qkey], row["answer"]
        if canary:
            question, answer = _decrypt_row(question, answer, canary, f"line {number}")
        ident = next((row[k] for k in _ID_KEYS if row.get(k) is not None), position)
        extra = {k: v for k, v in row.items()
                 if k not in {qkey, "answer", "topic", "problem_topic", *_ID_KEYS}}
        topic = row.get("topic") or row.get("problem_topic")
        out.append(BrowseQuestion(id=str(ident), question=question, answer=answer,
                                  topic=str(topic) if topic else None, extra=extra))
    return out


def write_questions(path: str | Path, questions: Iterable[BrowseQuestion], *,
                    canary: str | None = None) -> Path:
    """Write questions as BrowseComp CSV (``.csv``) or JSON Lines (``.jsonl``).

    With ``canary``, question and answer are encrypted (the CSV also carries the canary in
    each row, as BrowseComp's file does; JSON Lines does not, as BrowseComp-Plus). A CSV keeps
    no ids: a row's id is its position, so write questions in id order.
    """
    path = Path(path)
    rows = list(questions)

    def seal(text: str) -> str:
        return encrypt(text, canary) if canary else text

    if path.suffix.lower() == ".csv":
        columns = ["problem", "answer", "canary"] + (
            ["problem_topic"] if any(q.topic for q in rows) else [])
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for q in rows:
                record = {"problem": seal(q.question), "answer": seal(q.answer),
                          "canary": canary or ""}
                if "problem_topic" in columns:
                    record["problem_topic"] = q.topic or ""
                writer.writerow(record)
        return path
    with path.open("w", encoding="utf-8") as handle:
        for q in rows:
            record = {"id": q.id, "question": seal(q.question), "answer": seal(q.answer),
                      **({"topic": q.topic} if q.topic else {}), **dict(q.extra)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def load_answers(path: str | Path) -> list[AnswerRecord]:
    """The records of a JSON Lines answers file (``id`` or ``index``, and ``response``).

    Raises:
        InputError: a line without ``id``/``index``, a non-text response, repeated keys.
    """
    path = Path(path)
    what = "ANSWERS"
    out: list[AnswerRecord] = []
    seen: set[str] = set()
    for number, row in _json_rows(path, what):
        if not isinstance(row, dict):
            raise InputError(f"{what} {str(path)!r} line {number} is not a JSON object.")
        ident = next((row[k] for k in _ID_KEYS if row.get(k) is not None), None)
        index = row.get("index")
        if ident is None and not (isinstance(index, int) and not isinstance(index, bool)):
            raise InputError(f"{what} {str(path)!r} line {number} needs an id (or an integer "
                             "index) naming its question.")
        response = row.get("response")
        if response is not None and not isinstance(response, str):
            raise InputError(f"{what} {str(path)!r} line {number}: response must be text.")
        record = AnswerRecord(id=None if ident is None else str(ident),
                              index=None if ident is not None else index, response=response)
        if record.key in seen:
            raise InputError(f"{what} {str(path)!r} answers {record.key} twice (line {number}):"
                             " keep one response per question.")
        seen.add(record.key)
        out.append(record)
    return out


def write_answers(path: str | Path, responses: Mapping[str, str | None]) -> Path:
    """Write ``{id: response}`` as a JSON Lines answers file."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for ident, response in responses.items():
            handle.write(json.dumps({"id": ident, "response": response}, ensure_ascii=False)
                         + "\n")
    return path


def align_answers(questions: Sequence[BrowseQuestion], records: Iterable[AnswerRecord]
                  ) -> tuple[list[str | None], list[str]]:
    """Each question's response (``None`` when missing or blank), and the record keys that
    match no question.

    >>> qs = [BrowseQuestion(id="a", question="?", answer="x"),
    ...       BrowseQuestion(id="b", question="?", answer="y")]
    >>> align_answers(qs, [AnswerRecord(index=1, response="R"), AnswerRecord(id="z")])
    ([None, 'R'], ['z'])
    """
    position = {q.id: i for i, q in enumerate(questions)}
    responses: list[str | None] = [None] * len(questions)
    unknown: list[str] = []
    answered: dict[int, str] = {}
    for record in records:
        if record.id is not None:
            i = position.get(record.id)
        else:
            i = record.index if record.index is not None and \
                0 <= record.index < len(questions) else None
        if i is None:
            unknown.append(record.key)
            continue
        if i in answered:
            raise InputError(f"ANSWERS answers question {questions[i].id!r} twice ("
                             f"{answered[i]} and {record.key}): keep one response per question.")
        answered[i] = record.key
        text = record.response
        responses[i] = text if text is not None and text.strip() else None
    return responses, unknown
