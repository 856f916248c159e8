"""The state one graph memory shares with its write and read paths.

:class:`~memagents.graphmem.GraphMemory` owns one :class:`MemoryState` and hands it to the
write path (:mod:`memagents.graphmem.ingest`) and the read path
(:mod:`memagents.graphmem.retrieval`), so neither imports the facade nor reaches into its
private attributes. The state holds the database, the models, the settings, the in-memory
graphs (one per namespace, guarded by ``mutex``) and the closed flag.

Example:
    >>> from memagents.graphmem.state import check_namespace
    >>> check_namespace("users/alice")
    'users/alice'
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from memagents.config import Settings
from memagents.errors import ConfigError, InputError, NamespaceError
from memagents.graphmem.core.config import Preset
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.knowledge import KnowledgeView
from memagents.graphmem.db import GraphDB, text_key
from memagents.graphmem.extraction import Extractor, LLMExtractor
from memagents.models import StructuredLLM, Usage, embed_texts

__all__ = ["DEFAULT_NAMESPACE", "MemoryState", "check_namespace"]

DEFAULT_NAMESPACE = "default"
_MAX_NAMESPACE = 256

_NON_PRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories refused in namespaces: controls (C0, DEL, C1), format characters (bidi
controls, zero-width characters), surrogates, private-use and unassigned code points, and line
or paragraph separators."""


def check_namespace(namespace: Any) -> str:
    """Validate a namespace name: a non-empty string of at most 256 printable characters.

    Printable means no control, format (bidi controls such as U+202E, zero-width characters),
    surrogate, private-use, unassigned or line-separator character.

    >>> check_namespace("users/alice")
    'users/alice'
    >>> check_namespace("users/\u202eecila")
    Traceback (most recent call last):
    ...
    memagents.errors.NamespaceError: namespace 'users/\u202eecila' is invalid: it contains U+202E (RIGHT-TO-LEFT OVERRIDE, category Cf) at position 6; use at most 256 printable characters (no control, format or bidi characters).
    """
    if not isinstance(namespace, str) or not namespace.strip():
        raise NamespaceError(f"namespace must be a non-empty string, got {namespace!r}.")
    rule = (f"use at most {_MAX_NAMESPACE} printable characters (no control, format or bidi "
            "characters).")
    if len(namespace) > _MAX_NAMESPACE:
        raise NamespaceError(
            f"namespace {namespace[:40]!r}... has {len(namespace)} characters: {rule}"
        )
    for pos, char in enumerate(namespace):
        category = unicodedata.category(char)
        if category in _NON_PRINTABLE:
            name = unicodedata.name(char, "unnamed")
            raise NamespaceError(
                f"namespace {namespace[:40]!r} is invalid: it contains U+{ord(char):04X} "
                f"({name}, category {category}) at position {pos}; {rule}"
            )
    return namespace


@dataclass(eq=False)
class MemoryState:
    """What a graph memory's write and read paths work with.

    Attributes:
        folder: The memory folder.
        db: The memory's tables (``memory.db``, or the Postgres database of ``database_url``).
        embeddings: The embedding model.
        embeddings_key: Its identity (the vector cache's model key).
        preset: The preset the graph was built with (and the default search preset).
        llm: The chat model (extraction, recognition filter), usage and budget included.
        settings: The settings (``max_input_chars`` and model settings).
        namespace: The default namespace.
        use_filter: Run the recognition filter (``None``: when a chat model is configured).
        given_extractor: The extractor passed by the user, if any (else built on first use).
        mutex: Guards ``indexes`` and every multi-step database change.
        indexes: The in-memory graph of each namespace loaded so far.
        views: Per namespace, the :class:`KnowledgeView` of its graph's last read version
            (with the graph it was built from), for the knowledge-index methods.
        closed: True once the memory is closed.
    """

    folder: Path
    db: GraphDB
    embeddings: Embeddings
    embeddings_key: str
    preset: Preset
    llm: StructuredLLM
    settings: Settings
    namespace: str = DEFAULT_NAMESPACE
    use_filter: bool | None = None
    given_extractor: Extractor | None = None
    mutex: threading.RLock = field(default_factory=threading.RLock)
    indexes: dict[str, GraphIndex] = field(default_factory=dict)
    views: dict[str, tuple[GraphIndex, KnowledgeView]] = field(default_factory=dict)
    closed: bool = False

    # ----------------------------------------------------------------- models
    @property
    def usage(self) -> Usage:
        """The memory's running usage totals (shared with its chat model)."""
        return self.llm.usage

    @property
    def has_llm(self) -> bool:
        """True when a chat model is configured."""
        return self.llm.configured

    @property
    def can_extract(self) -> bool:
        """True when triples can be extracted (an extractor was given or a model is set)."""
        return self.given_extractor is not None or self.has_llm

    def extractor(self) -> Extractor:
        """The triple extractor (LLM by default). Raises ConfigError without an LLM."""
        if self.given_extractor is None:
            if not self.has_llm:
                raise ConfigError(
                    "GraphMemory.add() extracts triples with a chat model, and none is "
                    "configured: pass llm='openai:gpt-4o-mini' (or any BaseChatModel) to "
                    "GraphMemory.open, set MEMAGENTS_LLM, pass extractor=..., or store your "
                    "own triples with add_triples()."
                )
            self.given_extractor = LLMExtractor(self.llm)
        return self.given_extractor

    # ------------------------------------------------------------- namespaces
    def check_open(self) -> None:
        """Raise InputError once the memory is closed."""
        if self.closed:
            raise InputError("this GraphMemory is closed; open it again with GraphMemory.open.")

    def resolve(self, namespace: str | None) -> str:
        """The namespace an operation works on (checked; the default when ``None``)."""
        self.check_open()
        return check_namespace(namespace if namespace is not None else self.namespace)

    # ------------------------------------------------------------------ graph
    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed through the persistent cache: each string is embedded once, ever."""
        keys = [text_key(t) for t in texts]
        cached = self.db.vectors(self.embeddings_key, keys)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in cached))
        if missing:
            fresh = embed_texts(self.embeddings, missing, usage=self.usage)
            pairs = [(text_key(t), v) for t, v in zip(missing, fresh)]
            self.db.put_vectors(self.embeddings_key, pairs)
            cached.update(pairs)
        return np.stack([cached[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def index(self, namespace: str) -> GraphIndex:
        """The in-memory graph of a (checked) namespace, loaded from the database on first
        use; on Postgres kept in step with other workers' changes (:meth:`GraphDB.graph`)."""
        with self.mutex:
            self.indexes[namespace] = self.db.graph(
                namespace, self.indexes.get(namespace),
                lambda: GraphIndex(self.preset.graph, embed=self.embed),
            )
            return self.indexes[namespace]

    def view(self, namespace: str) -> KnowledgeView:
        """The :class:`KnowledgeView` of a (checked) namespace's graph as it is now: built
        under the lock on the first read after a change, then shared (it never changes)."""
        with self.mutex:
            index = self.index(namespace)
            cached = self.views.get(namespace)
            if cached is None or cached[0] is not index or cached[1].version != index.version:
                cached = (index, KnowledgeView.build(index))
                self.views[namespace] = cached
            return cached[1]

    def reload(self, namespace: str) -> None:
        """Forget the in-memory graph so the next use rebuilds it from the database."""
        with self.mutex:
            self.indexes.pop(namespace, None)
            self.views.pop(namespace, None)
