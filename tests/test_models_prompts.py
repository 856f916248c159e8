"""Prompt templates and the global registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from memagents.errors import ConfigError, InputError
from memagents.models import prompts
from memagents.models.prompts import (
    PromptTemplate,
    get_prompt,
    list_prompts,
    override_prompt,
    register_prompt,
    reset_prompt,
)

T = PromptTemplate(
    name="test_models.answer",
    system="Answer as {persona}. Output JSON like {{\"a\": 1}}.",
    user="Question: {question}",
    description="test prompt",
)


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(prompts, "_registry", dict(prompts._registry))
    monkeypatch.setattr(prompts, "_overrides", dict(prompts._overrides))
    yield


def test_format_fills_and_keeps_literal_braces() -> None:
    msgs = T.format(persona="a pirate", question="why?", unused="ignored")
    assert isinstance(msgs[0], SystemMessage) and isinstance(msgs[1], HumanMessage)
    assert msgs[0].content == 'Answer as a pirate. Output JSON like {"a": 1}.'
    assert msgs[1].content == "Question: why?"
    assert T.variables == {"persona", "question"}


def test_missing_variable_is_named() -> None:
    with pytest.raises(InputError) as info:
        T.format(persona="x")
    assert "question" in str(info.value) and T.name in str(info.value)


def test_empty_system_is_omitted() -> None:
    msgs = PromptTemplate("test_models.nosys", "", "Hi {x}").format(x=1)
    assert [type(m) for m in msgs] == [HumanMessage]


@pytest.mark.parametrize(
    ("system", "user", "match"),
    [("{", "u", "not a valid template"), ("s", "{0}", "positional"), ("s", "{}", "positional")],
)
def test_bad_templates_rejected(system: str, user: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PromptTemplate("test_models.bad", system, user)


def test_registry_roundtrip_and_override() -> None:
    assert register_prompt(T) is T
    register_prompt(T)  # identical re-registration is fine (module reload)
    assert get_prompt(T.name) is T
    new = override_prompt(T.name, user="Q: {question} (be brief)")
    assert get_prompt(T.name) == new
    assert new.system == T.system  # untouched part kept
    assert get_prompt(T.name).format(persona="p", question="q")[1].content == "Q: q (be brief)"
    assert T.name in [p.name for p in list_prompts()]
    assert next(p for p in list_prompts() if p.name == T.name) == new
    reset_prompt(T.name)
    assert get_prompt(T.name) is T


def test_override_may_drop_but_not_invent_placeholders() -> None:
    register_prompt(T)
    override_prompt(T.name, system="Be helpful.")  # drops {persona}: fine
    with pytest.raises(ConfigError, match="unknown placeholder"):
        override_prompt(T.name, user="{question} {language}")


def test_conflicting_registration_and_unknown_names() -> None:
    register_prompt(T)
    clash = PromptTemplate(T.name, "other", "{question}")
    with pytest.raises(ConfigError, match="already registered"):
        register_prompt(clash)
    register_prompt(clash, replace_existing=True)
    assert get_prompt(T.name) is clash
    with pytest.raises(ConfigError, match="no prompt named"):
        get_prompt("test_models.nope")
    with pytest.raises(ConfigError, match="no prompt named"):
        override_prompt("test_models.nope", user="x")
