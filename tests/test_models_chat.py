"""Chat model resolution from specs and settings, and the models package surface."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import ChatOpenAI

import memagents.models
from memagents.config import Settings
from memagents.errors import ConfigError
from memagents.models import chat_model_configured, resolve_chat_model
from memagents.models.chat import PLACEHOLDER_API_KEY

# tests/conftest.py installs the network guard and strips OPENAI_* / MEMAGENTS_* variables.


def test_models_all_is_sorted_and_complete() -> None:
    names = memagents.models.__all__
    assert names == sorted(names)
    public = {n for n in dir(memagents.models) if not n.startswith("_")}
    modules = {"chat", "embeddings", "prompts", "structured", "tokens", "usage", "annotations"}
    assert public - modules == set(names)


def test_model_instances_pass_through() -> None:
    fake = FakeListChatModel(responses=["x"])
    assert resolve_chat_model(fake) is fake
    assert resolve_chat_model(fake, Settings(llm=None)) is fake


def test_openai_spec_with_key() -> None:
    settings = Settings(openai_api_key="sk-test", timeout=7.5)
    model = resolve_chat_model("openai:gpt-4o-mini", settings)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert model.openai_api_key.get_secret_value() == "sk-test"
    assert model.openai_api_base is None
    assert model.max_retries == 0
    assert model.request_timeout == 7.5
    assert model.temperature == 0


def test_env_vars_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:llama-3")
    model = resolve_chat_model(None)
    assert model.model_name == "llama-3"
    assert model.openai_api_key.get_secret_value() == "sk-env"
    assert model.openai_api_base == "http://127.0.0.1:8000/v1"
    assert chat_model_configured()


def test_base_url_without_key_uses_placeholder() -> None:
    settings = Settings(openai_base_url="http://127.0.0.1:11434/v1")
    model = resolve_chat_model("openai:qwen2.5", settings)
    assert model.openai_api_key.get_secret_value() == PLACEHOLDER_API_KEY
    assert model.openai_api_base == "http://127.0.0.1:11434/v1"


def test_missing_credentials_names_both_variables() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_chat_model("openai:gpt-4o-mini", Settings())
    assert "OPENAI_API_KEY" in str(info.value) and "OPENAI_BASE_URL" in str(info.value)


@pytest.mark.parametrize("spec", [None, "", "   "])
def test_no_llm_configured_names_setting_and_argument(spec: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_chat_model(spec, Settings(openai_api_key="sk"))
    assert "MEMAGENTS_LLM" in str(info.value) and "llm=" in str(info.value)


def test_settings_llm_is_used_when_spec_is_none() -> None:
    model = resolve_chat_model(None, Settings(llm="openai:gpt-4.1", openai_api_key="sk"))
    assert model.model_name == "gpt-4.1"


@pytest.mark.parametrize("spec", ["foo:bar", "anthropic:claude", "OLLAMA:llama3"])
def test_unknown_provider_lists_supported(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_chat_model(spec, Settings(openai_api_key="sk"))
    assert "unknown chat model provider" in str(info.value)
    assert "openai" in str(info.value)


@pytest.mark.parametrize("spec", ["gpt-4o-mini", "openai:", ":gpt-4o", "openai:   "])
def test_malformed_spec(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_chat_model(spec, Settings(openai_api_key="sk"))
    assert "malformed" in str(info.value) and "openai" in str(info.value)


def test_wrong_type_is_config_error() -> None:
    with pytest.raises(ConfigError, match="spec string"):
        resolve_chat_model(42, Settings(openai_api_key="sk"))  # type: ignore[arg-type]


def test_provider_is_case_insensitive() -> None:
    assert resolve_chat_model("OpenAI:gpt-4o", Settings(openai_api_key="sk")).model_name == "gpt-4o"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, False),
        ({"llm": "openai:gpt-4o"}, False),  # no key, no base url
        ({"llm": "openai:gpt-4o", "openai_api_key": "sk"}, True),
        ({"llm": "openai:gpt-4o", "openai_base_url": "http://127.0.0.1:1/v1"}, True),
        ({"llm": "foo:bar", "openai_api_key": "sk"}, False),
    ],
)
def test_chat_model_configured(kwargs: dict[str, str], expected: bool) -> None:
    assert chat_model_configured(Settings(**kwargs)) is expected
