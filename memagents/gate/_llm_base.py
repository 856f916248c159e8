"""Plumbing shared by the model-based gate policies: model resolution, reply reading and the
policy base class.

Example:
    >>> _read("A: Paris", "<RET>"), _read("<RET>", "<RET>")
    (('answer', 'Paris'), ('token', None))
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from langchain_core.messages import AIMessage

from memagents.errors import ConfigError, InputError
from memagents.gate.base import RetrievalPolicy
from memagents.models import PromptTemplate, StructuredLLM, get_prompt

__all__: list[str] = []

_PREFIX = re.compile(r"^\s*(?:a|answer)\s*:\s*", re.IGNORECASE)
_ABSTAIN = re.compile(
    r"^(?:i\s+(?:do\s+not|don'?t|cannot|can'?t|am\s+not\s+sure|am\s+unable)|i'?m\s+(?:not\s+sure"
    r"|unable)|not\s+sure|unknown|no\s+idea|sorry)\b",
    re.IGNORECASE,
)


def _view(llm: StructuredLLM, model: Any) -> StructuredLLM:
    """``llm`` with another (bound) model, sharing usage, budget, retry and slots."""
    return llm.with_model(model)


def _text(message: AIMessage) -> str:
    text = message.text
    return (str(text) if isinstance(text, str) else str(text())).strip()


def _read(text: str, token: str) -> tuple[str, str | None]:
    """Classify a reply: ``("token"|"abstain"|"garbage"|"answer", answer or None)``."""
    squashed = re.sub(r"\s+", "", text).lower()
    if token and re.sub(r"\s+", "", token).lower() in squashed:
        return "token", None
    answer = _PREFIX.sub("", text).strip()
    if not any(c.isalnum() for c in answer) or (token and token.lower().startswith(squashed)):
        return "garbage", None
    if _ABSTAIN.match(answer):
        return "abstain", None
    return "answer", answer


class _LLMPolicy(RetrievalPolicy):
    """Shared plumbing: the StructuredLLM, a prompt resolved at call time (overrides apply)."""

    def __init__(self, llm: Any, prompt: PromptTemplate | str, token: str = "") -> None:
        self.llm = StructuredLLM.coerce(llm, require=f"the {self.name!r} policy")
        if not isinstance(token, str):
            raise InputError(f"token must be a string such as '<RET>', got {token!r}.")
        self.token = token.strip()
        self.prompt = prompt
        allowed = {"question", "token"}
        extra = self.template.variables - allowed
        if "question" not in self.template.variables or extra:
            raise ConfigError(
                f"prompt {self.template.name!r} must use {{question}} and may use "
                f"{{token}}; it uses {sorted(self.template.variables)}."
            )

    @property
    def template(self) -> PromptTemplate:
        """The effective prompt (a registered name is looked up on every call)."""
        return get_prompt(self.prompt) if isinstance(self.prompt, str) else self.prompt

    def _ask(self, llm: StructuredLLM, question: str) -> AIMessage:
        return llm.chat(self.template, question=question, token=self.token)

    def _aask(self, llm: StructuredLLM, question: str) -> Awaitable[AIMessage]:
        return llm.achat(self.template, question=question, token=self.token)


