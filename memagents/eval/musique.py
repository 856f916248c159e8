"""The shared MuSiQue sample: 1,890 passages with real GPT-3.5 triples, 50 dev questions.

Read from ``<data_dir>/musique`` (``MEMAGENTS_DATA_DIR`` or ``../shared/data``); never copied
into the repository. Passage ids are the 0-based corpus index formatted as ``"0042"``; a passage's
text is ``title + "\\n" + text`` as in the HippoRAG evaluation.

Example:
    >>> from memagents.eval.musique import passage_id
    >>> passage_id(7)
    '0007'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagents.config import shared_data_dir
from memagents.errors import ConfigError

__all__ = ["MusiqueData", "load_musique", "passage_id"]


def passage_id(index: int) -> str:
    """The id of corpus passage ``index``."""
    return f"{index:04d}"


@dataclass(frozen=True)
class MusiqueData:
    """The loaded sample.

    Attributes:
        passages: ``(id, title + "\\n" + text, raw triples)`` in corpus order.
        openie: The raw OpenIE records (entities and triples) in corpus order.
        questions: The dev questions as stored.
        gold: Question id -> gold passage ids.
        reference: Question id -> top-10 passage ids, per method of the reference file
            (``hipporag2_official``, dense, BM25).
    """

    passages: list[tuple[str, str, list[Any]]]
    openie: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    gold: dict[str, list[str]]
    reference: dict[str, dict[str, list[str]]]

    def texts(self) -> dict[str, str]:
        """Passage text by id."""
        return {pid: text for pid, text, _ in self.passages}


def musique_dir(data_dir: str | Path | None = None) -> Path:
    return shared_data_dir(data_dir) / "musique"


def load_musique(data_dir: str | Path | None = None) -> MusiqueData:
    """Load the sample; raises ConfigError naming ``MEMAGENTS_DATA_DIR`` when it is missing."""
    root = musique_dir(data_dir)
    if not (root / "corpus.json").is_file():
        raise ConfigError(
            f"MuSiQue data not found at {root}: set MEMAGENTS_DATA_DIR to the folder holding "
            "musique/ (the shared evaluation data)."
        )

    def read(name: str) -> Any:
        return json.loads((root / name).read_text(encoding="utf-8"))

    corpus = read("corpus.json")
    openie = read("openie_gpt-3.5-turbo-1106.json")
    ref = read("reference_rankings_dev.json")
    passages = [
        (passage_id(i), c["title"] + "\n" + c["text"], o["extracted_triples"])
        for i, (c, o) in enumerate(zip(corpus, openie, strict=True))
    ]
    to_ids = {q: [passage_id(i) for i in v] for q, v in ref["gold"].items()}
    reference = {
        name: {q: [passage_id(i) for i in top] for q, top in value.items()}
        for name, value in ref.items()
        if isinstance(value, dict) and name != "gold"
    }
    return MusiqueData(
        passages=passages,
        openie=openie,
        questions=read("questions_dev.json"),
        gold=to_ids,
        reference=reference,
    )
