"""Validated, batched, retried, usage-counted embedding calls (re-exported by ``embeddings``)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from memagents.errors import EmbeddingError, InputError, MemagentsError
from memagents.models._retry import RetryPolicy, classify_error, fatal_advice
from memagents.models.usage import Budget, Usage

__all__ = ["aembed_query", "aembed_texts", "embed_query", "embed_texts"]


def _validate(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputError(
            f"texts must be a list of strings, got {type(texts).__name__}; wrap a single text "
            "in a list, or use embed_query() for one query."
        )
    if not texts:
        raise InputError("texts is empty: pass at least one non-empty string to embed.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                f"texts[{i}] is {type(text).__name__}, not str: convert it to text first."
            )
        if not text.strip():
            raise InputError(f"texts[{i}] is empty or whitespace: drop it before embedding.")
    return list(texts)


def _name(embeddings: Embeddings) -> str:
    for attr in ("model", "model_name", "model_name_or_path"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return f"{type(embeddings).__name__}({value!r})"
    return type(embeddings).__name__


def _matrix(vectors: Any, expected: int, embeddings: Embeddings) -> np.ndarray:
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbeddingError(
            f"{_name(embeddings)} returned malformed vectors ({exc}); check the embedding "
            "model or server."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] != expected or arr.shape[1] == 0:
        raise EmbeddingError(
            f"{_name(embeddings)} returned {arr.shape[0] if arr.ndim else 0} vector(s) of shape "
            f"{arr.shape[1:]} for {expected} text(s); check the embedding model or server."
        )
    if not np.isfinite(arr).all():
        raise EmbeddingError(f"{_name(embeddings)} returned NaN or infinite values.")
    return arr


def _normalise(arr: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return (arr / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)


def _fail(embeddings: Embeddings, exc: Exception, retries: int, final: bool) -> EmbeddingError:
    info = classify_error(exc)
    if final:
        return EmbeddingError(
            f"{_name(embeddings)} failed after {retries} retries; last problem: "
            f"{info.description}. Check the embedding server, or raise max_retries."
        )
    advice = fatal_advice(info, what="embedding model", setting="MEMAGENTS_EMBEDDINGS")
    return EmbeddingError(f"{_name(embeddings)} failed: {info.description}. {advice}")


def _with_retry(
    fn: Callable[[], Any],
    embeddings: Embeddings,
    policy: RetryPolicy,
    sleep: Callable[[float], Any],
) -> Any:
    retry = 0
    while True:
        try:
            return fn()
        except MemagentsError:
            raise
        except Exception as exc:
            info = classify_error(exc)
            if not info.transient or retry >= policy.max_retries:
                raise _fail(embeddings, exc, retry, info.transient) from exc
            retry += 1
            sleep(policy.delay(retry, retry_after=info.retry_after))


async def _awith_retry(
    fn: Callable[[], Awaitable[Any]],
    embeddings: Embeddings,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[Any]],
) -> Any:
    retry = 0
    while True:
        try:
            return await fn()
        except MemagentsError:
            raise
        except Exception as exc:
            info = classify_error(exc)
            if not info.transient or retry >= policy.max_retries:
                raise _fail(embeddings, exc, retry, info.transient) from exc
            retry += 1
            await sleep(policy.delay(retry, retry_after=info.retry_after))


DEFAULT_BATCH = 64
"""Texts per request when neither the caller nor the model says otherwise."""


def _plan(
    embeddings: Embeddings,
    texts: Any,
    batch_size: int | None,
    usage: Usage | None,
    budget: Budget | None,
) -> tuple[list[str], int, Usage | None]:
    items = _validate(texts)
    if batch_size is None:
        hint = getattr(embeddings, "request_size", None)
        batch_size = hint if isinstance(hint, int) and hint >= 1 else DEFAULT_BATCH
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if budget is not None:
        usage = usage if usage is not None else Usage()
        budget.check_embedding(usage, next_calls=-(-len(items) // batch_size))
    return items, batch_size, usage


def embed_texts(
    embeddings: Embeddings,
    texts: Sequence[str],
    *,
    usage: Usage | None = None,
    batch_size: int | None = None,
    budget: Budget | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> np.ndarray:
    """Embed ``texts`` into an ``(n, dim)`` float32 array of L2-normalised rows.

    Args:
        embeddings: Any langchain ``Embeddings``.
        texts: Non-empty list of non-empty strings.
        usage: Counts one embedding call per batch and the texts sent.
        batch_size: Texts per provider request (None: the model's ``request_size`` attribute
            when it has one, as local models do since a request costs them nothing and a
            larger one lets them sort more texts by length; else 64).
        budget: Refuses the whole job up front if its batches would exceed
            ``max_embedding_calls``.
        retry: Backoff for transient provider errors (429, 5xx, timeouts).
        sleep: Sleep function (injectable for tests).

    Raises:
        InputError: bad ``texts`` (the message names the offending index).
        EmbeddingError: the provider failed (after retries for transient errors).
        BudgetExceeded: the job would exceed the embedding budget.

    Example:
        >>> from memagents.models.embeddings import HashEmbeddings
        >>> embed_texts(HashEmbeddings(dim=16), ["a b", "c"]).shape
        (2, 16)
    """
    items, batch_size, usage = _plan(embeddings, texts, batch_size, usage, budget)
    policy = retry or RetryPolicy()
    groups = length_batches(items, batch_size)
    rows = []
    for group in groups:
        batch = [items[i] for i in group]
        began = time.perf_counter()
        vectors = _with_retry(
            functools.partial(embeddings.embed_documents, batch), embeddings, policy, sleep
        )
        rows.append(_matrix(vectors, len(batch), embeddings))
        if usage is not None:
            usage.record_embedding(texts=len(batch), latency_s=time.perf_counter() - began)
    return _assemble(rows, groups, embeddings)


async def aembed_texts(
    embeddings: Embeddings,
    texts: Sequence[str],
    *,
    usage: Usage | None = None,
    batch_size: int | None = None,
    budget: Budget | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> np.ndarray:
    """Async twin of :func:`embed_texts` (uses ``aembed_documents``)."""
    items, batch_size, usage = _plan(embeddings, texts, batch_size, usage, budget)
    policy = retry or RetryPolicy()
    groups = length_batches(items, batch_size)
    rows = []
    for group in groups:
        batch = [items[i] for i in group]
        began = time.perf_counter()
        vectors = await _awith_retry(
            functools.partial(embeddings.aembed_documents, batch), embeddings, policy, sleep
        )
        rows.append(_matrix(vectors, len(batch), embeddings))
        if usage is not None:
            usage.record_embedding(texts=len(batch), latency_s=time.perf_counter() - began)
    return _assemble(rows, groups, embeddings)


def length_batches(items: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``items`` per request: in input order when one request holds them all,
    else longest first (ties in input order), so that a model padding each batch to its
    longest text pads little even when a wrapper (a cache, a retry layer) hides its
    ``request_size``: mixed 64-text requests padded short facts to passage length, ~4x the
    work with MiniLM on graph-memory strings."""
    n = len(items)
    if n <= batch_size:
        return [list(range(n))]
    order = sorted(range(n), key=lambda i: (-len(items[i]), i))
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def in_input_order(matrix: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """The rows of batches stacked in ``groups`` order (see :func:`length_batches`), put back
    in input order."""
    if len(groups) == 1:
        return matrix
    out = np.empty_like(matrix)
    out[np.concatenate([np.asarray(g, dtype=np.intp) for g in groups])] = matrix
    return out


def _assemble(rows: list[np.ndarray], groups: list[list[int]], embeddings: Embeddings) -> np.ndarray:
    """The batches' rows back in input order, checked for one dimension, normalised."""
    return in_input_order(_check_dims(rows, embeddings), groups)


def _check_dims(rows: list[np.ndarray], embeddings: Embeddings) -> np.ndarray:
    dims = {r.shape[1] for r in rows}
    if len(dims) > 1:
        raise EmbeddingError(
            f"{_name(embeddings)} returned vectors of different lengths {sorted(dims)} across "
            "batches; check the embedding model configuration."
        )
    return _normalise(np.vstack(rows))


def _query(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"query must be a non-empty string, got {text!r}.")
    return text


def embed_query(
    embeddings: Embeddings,
    text: str,
    usage: Usage | None = None,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> np.ndarray:
    """Embed one query (``embed_query``, which may differ from documents) as a unit vector."""
    query = _query(text)
    began = time.perf_counter()
    policy = retry or RetryPolicy()
    vec = _with_retry(lambda: embeddings.embed_query(query), embeddings, policy, sleep)
    if usage is not None:
        usage.record_embedding(texts=1, latency_s=time.perf_counter() - began)
    row: np.ndarray = _normalise(_matrix([vec], 1, embeddings))[0]
    return row


async def aembed_query(
    embeddings: Embeddings,
    text: str,
    usage: Usage | None = None,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> np.ndarray:
    """Async twin of :func:`embed_query`."""
    query = _query(text)
    began = time.perf_counter()
    vec = await _awith_retry(
        lambda: embeddings.aembed_query(query), embeddings, retry or RetryPolicy(), sleep
    )
    if usage is not None:
        usage.record_embedding(texts=1, latency_s=time.perf_counter() - began)
    row: np.ndarray = _normalise(_matrix([vec], 1, embeddings))[0]
    return row
