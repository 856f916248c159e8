"""PopQA questions with subject popularity and their top-1 Contriever passage.

The shared file ``<data_dir>/popqa/popqa_dev.json`` holds 1,783 PopQA items (``id``,
``question``, ``possible_answers``, ``contriever_passage``, ``contriever_score`` as a string
float, ``s_pop``, an empty ``gold_passage``); read from ``MEMAGENTS_DATA_DIR`` or
``../shared/data``, never copied into the repository. The file has no ``prop`` field: the
relation is recovered from the question, since PopQA writes every question from one of 16
templates (Mallen et al., 2023; spec §2.1). :func:`load_popqa` also reads the Adapt-LLM layout
(an object keyed by id) and JSON Lines.

Example:
    >>> relation_of("What is George Rankin's occupation?")
    'occupation'
    >>> relation_of("What is the capital of Velmora?"), relation_of("Is Velmora big?")
    ('capital', None)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memagents.config import shared_data_dir
from memagents.errors import ConfigError, InputError
from memagents.eval.scoring import has_answer

__all__ = ["POPQA_TEMPLATES", "PopQAItem", "load_popqa", "popqa_path", "relation_of"]

#: PopQA's question template of each relation (``prop`` as in ``popQA.tsv``).
POPQA_TEMPLATES: dict[str, str] = {
    "occupation": "What is {}'s occupation?",
    "place of birth": "In what city was {} born?",
    "genre": "What genre is {}?",
    "father": "Who is the father of {}?",
    "country": "In what country is {}?",
    "producer": "Who was the producer of {}?",
    "director": "Who was the director of {}?",
    "capital of": "What is {} the capital of?",
    "screenwriter": "Who was the screenwriter for {}?",
    "composer": "Who was the composer of {}?",
    "color": "What color is {}?",
    "religion": "What is the religion of {}?",
    "sport": "What sport does {} play?",
    "author": "Who is the author of {}?",
    "mother": "Who is the mother of {}?",
    "capital": "What is the capital of {}?",
}

# Templates with a longer fixed text first, so "What is the capital of X?" is never read as
# "What is {} the capital of?" or "What is {}'s occupation?".
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (prop, re.compile("^" + re.escape(tpl).replace(r"\{\}", "(.+)") + "$", re.IGNORECASE))
    for prop, tpl in sorted(POPQA_TEMPLATES.items(), key=lambda kv: -len(kv[1]))
]


def relation_of(question: str) -> str | None:
    """The PopQA relation whose template produced ``question``, or ``None`` if none matches."""
    text = " ".join(str(question).split())
    for prop, pattern in _PATTERNS:
        if pattern.match(text):
            return prop
    return None


@dataclass(frozen=True, kw_only=True)
class PopQAItem:
    """One PopQA question.

    Attributes:
        id: PopQA id (a string).
        question: The question text.
        possible_answers: Accepted answers (object and aliases); scoring is containment.
        s_pop: Monthly Wikipedia page views of the subject, ``None`` when unknown.
        prop: The relation (``"occupation"``...), from the record or derived from the question.
        contriever_passage: The top-1 Contriever passage ("" when absent).
        contriever_score: Its retrieval score, ``None`` when absent.
        gold_passage: The passage stating the answer ("" when absent, as in PopQA itself;
            ``memagents sample export`` fills it). The evaluation harness uses it when
            ``contriever_passage`` is empty.

    Example:
        >>> item = PopQAItem(id="1", question="What genre is Needle?",
        ...                  possible_answers=["science fiction"], s_pop=186.0, prop="genre",
        ...                  contriever_passage="Needle is a science fiction novel.",
        ...                  contriever_score=1.56)
        >>> item.metadata()["s_pop"], item.has_answer
        (186.0, True)
    """

    id: str
    question: str
    possible_answers: list[str]
    s_pop: float | None
    prop: str | None
    contriever_passage: str
    contriever_score: float | None
    gold_passage: str = ""

    @property
    def has_answer(self) -> bool:
        """Whether the top-1 passage contains an accepted answer (PopQA's containment rule)."""
        return has_answer(self.contriever_passage, self.possible_answers)

    def metadata(self) -> dict[str, Any]:
        """Per-question facts for a retrieval policy (``s_pop``, ``prop``, ``id``)."""
        return {"id": self.id, "s_pop": self.s_pop, "prop": self.prop}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict."""
        return asdict(self)


def popqa_path(path_or_data_dir: str | Path | None = None) -> Path:
    """Resolve a PopQA file: a file as given, else ``<dir>/popqa/popqa_dev.json``."""
    if path_or_data_dir is not None and Path(path_or_data_dir).is_file():
        return Path(path_or_data_dir)
    root = shared_data_dir(path_or_data_dir)
    for candidate in (root / "popqa" / "popqa_dev.json", root / "popqa_dev.json"):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"PopQA data not found at {root / 'popqa' / 'popqa_dev.json'}: pass the file, or set "
        "MEMAGENTS_DATA_DIR to the folder holding popqa/ (the shared evaluation data)."
    )


def load_popqa(path_or_data_dir: str | Path | None = None) -> list[PopQAItem]:
    """Load PopQA items from a file or a data folder (default: the shared data).

    Accepts a JSON list of records, an object keyed by id (Adapt-LLM's layout) or JSON Lines.

    Raises:
        ConfigError: If no file is found.
        InputError: If the file is not JSON or a record is malformed (the message names the
            record by position and id, and the field).
    """
    path = popqa_path(path_or_data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                         f"offset {exc.start}): convert it to UTF-8 JSON or JSON Lines.") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: line {n} is not JSON ({exc.msg}); expected a JSON list, an object "
                    "keyed by id, or one JSON object per line."
                ) from exc
    if isinstance(data, dict) and isinstance(data.get("question"), str):
        data = [data]  # JSON Lines with a single record
    elif isinstance(data, dict):  # keyed by id
        data = [{"id": key, **value} if isinstance(value, dict) else value
                for key, value in data.items()]
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty list of PopQA records.")
    items = [_item(record, n, path) for n, record in enumerate(data)]
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise InputError(f"{path}: id {item.id!r} appears twice; PopQA ids must be unique.")
        seen.add(item.id)
    return items


def _item(record: Any, n: int, path: Path) -> PopQAItem:
    def bad(field: str, problem: str) -> InputError:
        rid = record.get("id") if isinstance(record, dict) else None
        return InputError(f"{path}: record {n} (id {rid!r}): {field} {problem}.")

    if not isinstance(record, dict):
        raise bad("record", f"is a {type(record).__name__}, not an object")
    for field in ("id", "question", "possible_answers"):
        if field not in record:
            raise bad(field, "is missing")
    if isinstance(record["id"], bool) or not isinstance(record["id"], str | int):
        raise bad("id", "must be a string or an integer")
    question = record["question"]
    if not isinstance(question, str) or not question.strip():
        raise bad("question", "must be a non-empty string")
    answers = record["possible_answers"]
    if isinstance(answers, str):  # popQA.tsv stores a JSON-list string
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError:
            raise bad("possible_answers", "is a string but not a JSON list") from None
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise bad("possible_answers", "must be a list of strings")
    answers = [a.strip() for a in answers if a.strip()]
    if not answers:
        raise bad("possible_answers", "has no non-blank answer")
    prop = record.get("prop")
    if prop is not None and not isinstance(prop, str):
        raise bad("prop", "must be a string")
    passages = {name: record.get(name) or "" for name in ("contriever_passage", "gold_passage")}
    for name, text in passages.items():
        if not isinstance(text, str):
            raise bad(name, "must be a string")
    return PopQAItem(
        id=str(record["id"]),
        question=question.strip(),
        possible_answers=answers,
        s_pop=_number(record.get("s_pop"), "s_pop", bad),
        prop=prop or relation_of(question),
        contriever_passage=passages["contriever_passage"],
        contriever_score=_number(record.get("contriever_score"), "contriever_score", bad),
        gold_passage=passages["gold_passage"],
    )


def _number(value: Any, field: str, bad: Any) -> float | None:
    """A float from a number or numeric string; ``None`` for missing / empty / NaN."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise bad(field, "must be a number, not a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad(field, f"must be a number (got {value!r})") from None
    return None if math.isnan(number) else number
