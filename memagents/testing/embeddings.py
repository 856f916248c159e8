"""Deterministic fake embeddings, for tests only.

:func:`fake_vector` maps a text to a unit vector built from its words: every lowercased word
(``\\w+``) is expanded into a pseudo-random dense vector seeded by BLAKE2b (never Python's
``hash()``, so vectors are identical across processes and machines), the word vectors are summed
and the sum is L2-normalised. Texts sharing words therefore get similar vectors, texts with the
same bag of words get the same vector, and nothing is downloaded or learned.

These vectors carry no meaning beyond word overlap. Use them to test plumbing (storage, ranking
order on lexical overlap, batching, failures), never to judge retrieval quality; the library's
offline fallback for real use is ``memagents.models.embeddings.HashEmbeddings``.

Example:
    >>> from memagents.testing.embeddings import fake_vector
    >>> v = fake_vector("Alice founded Acme", 8)
    >>> len(v), round(sum(x * x for x in v), 6)
    (8, 1.0)
    >>> v == fake_vector("acme founded ALICE", 8)
    True
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache

from langchain_core.embeddings import Embeddings

from memagents.errors import EmbeddingError

__all__ = ["FakeEmbeddings", "fake_vector"]

_WORD = re.compile(r"\w+")
_PERSON = b"memagents-fake"  # BLAKE2b personalisation: vectors differ from other blake2b uses


@lru_cache(maxsize=65536)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    """A pseudo-random vector in [-1, 1]^dim, a pure function of ``word`` and ``dim``."""
    values: list[float] = []
    block = 0
    while len(values) < dim:
        digest = hashlib.blake2b(
            f"{block}\x00{word}".encode(), digest_size=64, person=_PERSON
        ).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        block += 1
    return tuple(values[:dim])


def fake_vector(text: str, dim: int = 64) -> list[float]:
    """Return the deterministic unit vector of ``text`` (see the module docstring).

    Args:
        text: Any string; a text without word characters is embedded as one opaque token.
        dim: Number of components, at least 1.

    Returns:
        A list of ``dim`` floats with an L2 norm of 1.
    """
    if dim < 1:
        raise ValueError(f"dim must be at least 1, got {dim}")
    words = sorted(_WORD.findall(text.lower())) or [text]  # sorted: exact bag-of-words equality
    total = [0.0] * dim
    for word in words:
        for i, value in enumerate(_word_vector(word, dim)):
            total[i] += value
    norm = math.sqrt(sum(x * x for x in total))
    if norm == 0.0:  # pragma: no cover - cancelling word vectors are astronomically unlikely
        return [1.0] + [0.0] * (dim - 1)
    return [x / norm for x in total]


class FakeEmbeddings(Embeddings):
    """Deterministic langchain :class:`~langchain_core.embeddings.Embeddings` for tests only.

    Vectors come from :func:`fake_vector`: unit length, reproducible everywhere, similar when
    texts share words. Every call is counted so tests can assert on batching and caching, and
    ``fail_on`` simulates a failing provider.

    Args:
        size: Dimension of the vectors.
        fail_on: Optional predicate on one text; when it returns True for any text of a call, the
            call raises ``error`` (and is still counted) before embedding anything.
        error: Exception class (called with a message) or instance raised by ``fail_on``;
            :class:`~memagents.errors.EmbeddingError` by default.

    Attributes:
        calls: Number of calls to ``embed_documents``/``embed_query`` (and async twins).
        texts_embedded: Number of texts received over all calls.
        inputs: The texts of every call, in order (one list per call).

    Example:
        >>> from memagents.testing import FakeEmbeddings
        >>> emb = FakeEmbeddings(size=16, fail_on=lambda text: "boom" in text)
        >>> docs = emb.embed_documents(["red apple", "green apple"])
        >>> len(docs), len(docs[0]), emb.calls, emb.texts_embedded
        (2, 16, 1, 2)
        >>> emb.embed_query("red apple") == docs[0]
        True
        >>> emb.embed_query("boom")
        Traceback (most recent call last):
        ...
        memagents.errors.EmbeddingError: FakeEmbeddings: fail_on rejected the text 'boom'
    """

    def __init__(
        self,
        size: int = 64,
        *,
        fail_on: Callable[[str], bool] | None = None,
        error: type[BaseException] | BaseException = EmbeddingError,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self.fail_on = fail_on
        self.error = error
        self.calls = 0
        self.texts_embedded = 0
        self.inputs: list[list[str]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeEmbeddings(size={self.size}, calls={self.calls})"

    def reset(self) -> None:
        """Zero the counters and forget the recorded inputs."""
        with self._lock:
            self.calls = 0
            self.texts_embedded = 0
            self.inputs = []

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        batch = list(texts)
        with self._lock:
            self.calls += 1
            self.texts_embedded += len(batch)
            self.inputs.append(batch)
        for text in batch:
            if not isinstance(text, str):
                raise TypeError(f"FakeEmbeddings expects str texts, got {type(text).__name__}")
            if self.fail_on is not None and self.fail_on(text):
                error = self.error
                if isinstance(error, BaseException):
                    raise error
                raise error(f"FakeEmbeddings: fail_on rejected the text {text[:80]!r}")
        return [fake_vector(text, self.size) for text in batch]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts (one call, however many texts)."""
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one text (counted as one call); equal to its ``embed_documents`` vector."""
        return self._embed([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents` (runs inline: no thread pool)."""
        return self._embed(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query` (runs inline: no thread pool)."""
        return self._embed([text])[0]
