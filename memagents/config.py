"""Settings: keyword arguments first, then ``MEMAGENTS_*`` environment variables, then defaults.

Example:
    >>> from memagents.config import Settings
    >>> s = Settings(embeddings="hash", max_concurrency=2)
    >>> s.embeddings, s.max_concurrency
    ('hash', 2)
    >>> s.masked()["openai_api_key"] in (None, "***")
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from memagents.errors import ConfigError

__all__ = ["Settings", "env_vars", "get_settings", "shared_data_dir"]

#: Settings also read from a variable without the ``MEMAGENTS_`` prefix (the documented name;
#: ``MEMAGENTS_<NAME>`` works too and wins when both are set).
_PLAIN_ENV = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}


class Settings(BaseSettings):
    """Resolved configuration of memagents.

    Every field can be set as a keyword argument or as ``MEMAGENTS_<FIELD>`` in the environment
    (``MEMAGENTS_LLM=openai:gpt-4o-mini``). ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read
    as well, so any OpenAI-compatible server (vLLM, Ollama, llama.cpp) works.
    """

    model_config = SettingsConfigDict(
        env_prefix="MEMAGENTS_", extra="forbid", validate_default=True, frozen=True
    )

    llm: str | None = Field(
        default=None,
        description="Chat model spec, e.g. 'openai:gpt-4o-mini'. None: LLM steps raise ConfigError.",
    )
    embeddings: str = Field(
        default="hash",
        description="Embedding spec: 'hash' (offline lexical), 'openai:MODEL', "
        "'sentence-transformers:NAME_OR_PATH'.",
    )
    openai_api_key: SecretStr | None = Field(
        default_factory=lambda: _secret(os.environ.get("OPENAI_API_KEY")),
        description="API key for openai: specs (falls back to OPENAI_API_KEY).",
    )
    openai_base_url: str | None = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL") or None,
        description="Base URL of an OpenAI-compatible server (falls back to OPENAI_BASE_URL).",
    )
    home: Path = Field(default=Path("./memagents-data"), description="Default memory folder.")
    data_dir: Path | None = Field(
        default=None, description="Shared evaluation data folder (default ../shared/data)."
    )
    vector_backend: Literal["chroma", "numpy"] = Field(
        default="chroma", description="Vector index for memories: embedded Chroma or numpy."
    )
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL (http://host:port); None: embedded."
    )
    max_concurrency: int = Field(default=4, ge=1, le=256, description="Parallel LLM calls.")
    max_retries: int = Field(default=4, ge=0, le=20, description="Retries per LLM call.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per model request.")
    backoff_base: float = Field(default=0.5, ge=0, description="First retry delay, seconds.")
    backoff_max: float = Field(default=20.0, ge=0, description="Longest retry delay, seconds.")
    hash_dim: int = Field(default=512, ge=8, le=65536, description="Dimension of 'hash' vectors.")
    max_input_chars: int = Field(
        default=200_000, ge=1, description="Longest text accepted by add/search, in characters."
    )

    searxng_url: str | None = Field(
        default=None, description="SearxNG instance for web search (http://host:port); its "
        "JSON API must be enabled (search.formats: [html, json])."
    )
    brave_api_key: SecretStr | None = Field(
        default_factory=lambda: _secret(os.environ.get("BRAVE_SEARCH_API_KEY")),
        description="Brave Search API key (falls back to BRAVE_SEARCH_API_KEY).",
    )
    tavily_api_key: SecretStr | None = Field(
        default_factory=lambda: _secret(os.environ.get("TAVILY_API_KEY")),
        description="Tavily API key (falls back to TAVILY_API_KEY).",
    )
    web_allow_hosts: str | None = Field(
        default=None, description="Comma-separated hosts or IP networks the web fetcher may "
        "reach although they are private or loopback (e.g. 'wiki.quessa.test,127.0.0.1'). "
        "None: only public addresses.",
    )
    web_resolve: str | None = Field(
        default=None, description="Comma-separated HOST=IP:PORT pairs the web fetcher connects "
        "to instead of resolving HOST (like curl --resolve), e.g. the offline web of "
        "`memagents sample serve`. Resolved addresses still pass the SSRF check.",
    )
    web_user_agent: str = Field(
        default="memagents-fetcher/0.1 (+https://github.com/memagents/memagents)",
        description="User-Agent of the web fetcher; robots.txt rules are matched against it.",
    )
    web_cache_dir: Path | None = Field(
        default=None, description="Folder of the web fetcher's page cache (None: in memory)."
    )
    database_url: str | None = Field(
        default=None, description="Postgres URL of a graph memory shared by many workers "
        "(postgresql://USER:PASSWORD@HOST:PORT/DBNAME; needs the postgres extra). None: the "
        "memory lives in its folder (SQLite).",
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, str) and not v.strip().lower().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (postgresql://USER:PASSWORD@HOST/DB)")
        return v

    @field_validator("llm", "chroma_url", "searxng_url", "web_allow_hosts", "web_resolve", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, turning validation failures into a :class:`ConfigError`."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(
                f"invalid memagents settings ({problems}). Fix the argument or the "
                "MEMAGENTS_<NAME> environment variable."
            ) from None

    def masked(self) -> dict[str, Any]:
        """Settings as a plain dict with secrets replaced by ``'***'`` (for display)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "***" if value.get_secret_value() else None
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str) and "://" in value:
                value = _without_password(value)
            out[name] = value
        return out

    def resolved_data_dir(self) -> Path:
        """The shared evaluation data folder (``data_dir`` or ``../shared/data``)."""
        return shared_data_dir(self.data_dir)


def _without_password(url: str) -> str:
    """``url`` with the password of its credentials replaced by ``***``.

    >>> _without_password("postgresql://ada:s3cret@db:5432/mem")
    'postgresql://ada:***@db:5432/mem'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def shared_data_dir(explicit: str | Path | None = None) -> Path:
    """Locate the shared evaluation data: argument, ``MEMAGENTS_DATA_DIR``, then ``../shared/data``.

    The fallback is resolved relative to the current directory and to the repository root.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get("MEMAGENTS_DATA_DIR")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


def env_vars(name: str) -> tuple[str, ...]:
    """The environment variables that set a setting, the documented one first.

    >>> env_vars("llm"), env_vars("openai_api_key")
    (('MEMAGENTS_LLM',), ('OPENAI_API_KEY', 'MEMAGENTS_OPENAI_API_KEY'))
    """
    prefixed = f"MEMAGENTS_{name.upper()}"
    return (_PLAIN_ENV[name], prefixed) if name in _PLAIN_ENV else (prefixed,)


def get_settings(**overrides: Any) -> Settings:
    """Return settings from arguments, ``MEMAGENTS_*`` environment variables and defaults."""
    return Settings.load(**overrides)
