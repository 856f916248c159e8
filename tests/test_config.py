from __future__ import annotations

import pytest

from memagents.config import Settings, get_settings, shared_data_dir
from memagents.errors import ConfigError


def test_arguments_beat_environment_beat_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().max_concurrency == 4
    monkeypatch.setenv("MEMAGENTS_MAX_CONCURRENCY", "7")
    assert get_settings().max_concurrency == 7
    assert get_settings(max_concurrency=2).max_concurrency == 2


def test_openai_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    s = get_settings()
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-secret"
    assert s.openai_base_url == "http://127.0.0.1:9/v1"
    shown = s.masked()
    assert shown["openai_api_key"] == "***"
    assert "sk-secret" not in repr(shown) and "sk-secret" not in repr(s)


def test_invalid_values_raise_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMAGENTS_MAX_CONCURRENCY", "zero")
    with pytest.raises(ConfigError, match="max_concurrency") as info:
        get_settings()
    assert "MEMAGENTS_" in str(info.value)
    with pytest.raises(ConfigError, match="vector_backend"):
        get_settings(vector_backend="faiss")


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(ConfigError, match="no_such_thing"):
        Settings.load(no_such_thing=1)


def test_empty_llm_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMAGENTS_LLM", " ")
    assert get_settings().llm is None


def test_shared_data_dir_prefers_argument_then_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    assert shared_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("MEMAGENTS_DATA_DIR", str(tmp_path / "x"))
    assert shared_data_dir() == tmp_path / "x"


def test_show_never_prints_a_password_inside_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from memagents.config import get_settings

    monkeypatch.setenv("MEMAGENTS_DATABASE_URL", "postgresql://ada:s3cret@db:5432/mem")
    shown = get_settings().masked()["database_url"]
    assert shown == "postgresql://ada:***@db:5432/mem" and "s3cret" not in shown
