"""Chat model resolution: a langchain ``BaseChatModel`` or a ``"provider:model"`` spec.

Supported specs:

* ``openai:MODEL`` - :class:`langchain_openai.ChatOpenAI` against api.openai.com or any
  OpenAI-compatible server (vLLM, Ollama, llama.cpp) named by ``OPENAI_BASE_URL``.

Models are built with ``max_retries=0`` because :class:`~memagents.models.StructuredLLM`
retries itself (with budgets and usage accounting), and ``temperature=0`` for repeatability.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError

__all__ = [
    "PLACEHOLDER_API_KEY",
    "SUPPORTED_CHAT_PROVIDERS",
    "chat_model_configured",
    "model_name",
    "resolve_chat_model",
]

SUPPORTED_CHAT_PROVIDERS: tuple[str, ...] = ("openai",)
PLACEHOLDER_API_KEY = "not-needed"
"""Sent when ``OPENAI_BASE_URL`` is set without a key: local servers accept any key."""


def parse_spec(
    spec: str, *, kind: str, supported: tuple[str, ...], setting: str
) -> tuple[str, str]:
    """Split ``"provider:name"`` and check the provider.

    Raises:
        ConfigError: malformed spec or unknown provider; the message lists the supported ones.
    """
    examples = ", ".join(f"'{p}:NAME'" for p in supported)
    if not isinstance(spec, str):
        raise ConfigError(
            f"{kind} must be a spec string or a langchain object, got {type(spec).__name__}; "
            f"use one of {examples} (set {setting})."
        )
    provider, sep, name = spec.strip().partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if not sep or not provider or not name:
        raise ConfigError(
            f"malformed {kind} spec {spec!r}: expected 'provider:model' with a supported "
            f"provider ({', '.join(supported)}), e.g. {examples}. Fix {setting}."
        )
    if provider not in supported:
        raise ConfigError(
            f"unknown {kind} provider {provider!r} in {spec!r}; supported providers: "
            f"{', '.join(supported)} (e.g. {examples}). Pass a langchain object instead to use "
            f"any other provider. Fix {setting}."
        )
    return provider, name


def openai_credentials(settings: Settings) -> dict[str, Any]:
    """``api_key`` and ``base_url`` for OpenAI clients from settings.

    Raises:
        ConfigError: neither a key nor a base URL is configured.
    """
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    base_url = settings.openai_base_url
    if not key and not base_url:
        raise ConfigError(
            "no OpenAI credentials: set OPENAI_API_KEY (for api.openai.com) or OPENAI_BASE_URL "
            "(for an OpenAI-compatible server such as vLLM or Ollama, e.g. "
            "http://localhost:8000/v1), or pass Settings(openai_api_key=..., openai_base_url=...)."
        )
    return {"api_key": key or PLACEHOLDER_API_KEY, "base_url": base_url}


def resolve_chat_model(
    spec_or_model: str | BaseChatModel | None, settings: Settings | None = None
) -> BaseChatModel:
    """Turn a spec (or ``None``: ``settings.llm``) into a chat model; models pass through.

    Args:
        spec_or_model: ``"openai:gpt-4o-mini"``, a ``BaseChatModel``, or ``None``.
        settings: Settings to read ``llm``, keys, base URL and timeout from (default: env).

    Returns:
        The chat model.

    Raises:
        ConfigError: no model configured, malformed spec, unknown provider, missing key.

    Example:
        >>> from memagents.config import Settings
        >>> local = Settings(openai_base_url="http://127.0.0.1:9/v1")
        >>> m = resolve_chat_model("openai:gpt-4o-mini", local)
        >>> type(m).__name__, m.model_name, m.max_retries
        ('ChatOpenAI', 'gpt-4o-mini', 0)
    """
    if isinstance(spec_or_model, BaseChatModel):
        return spec_or_model
    settings = settings or get_settings()
    spec = spec_or_model if spec_or_model is not None else settings.llm
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise ConfigError(
            "no chat model configured: set MEMAGENTS_LLM (e.g. MEMAGENTS_LLM=openai:gpt-4o-mini) "
            "or pass the llm= argument (a spec string or any langchain BaseChatModel)."
        )
    provider, name = parse_spec(
        spec, kind="chat model", supported=SUPPORTED_CHAT_PROVIDERS, setting="MEMAGENTS_LLM / llm="
    )
    if provider == "openai":
        creds = openai_credentials(settings)
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=name,
            api_key=creds["api_key"],
            base_url=creds["base_url"],
            max_retries=0,
            timeout=settings.timeout,
            temperature=0,
        )
    raise AssertionError(provider)  # pragma: no cover - parse_spec checked it


def chat_model_configured(settings: Settings | None = None) -> bool:
    """True if :func:`resolve_chat_model` (with no argument) would succeed for ``settings``.

    Example:
        >>> from memagents.config import Settings
        >>> chat_model_configured(Settings(llm=None))
        False
    """
    settings = settings or get_settings()
    if not settings.llm:
        return False
    try:
        parse_spec(
            settings.llm, kind="chat model", supported=SUPPORTED_CHAT_PROVIDERS, setting="llm"
        )
        openai_credentials(settings)
    except ConfigError:
        return False
    return True


def model_name(model: Any) -> str | None:
    """Best-effort model name of a chat or embedding model (for tokenizers and messages)."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None
