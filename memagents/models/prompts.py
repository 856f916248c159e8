"""Named prompt templates and a global registry users can customise.

Capabilities define their prompts beside their code and register them at import time::

    EXTRACT = register_prompt(PromptTemplate(
        name="graphmem.extract_triples",
        system="You extract facts.",
        user="Passage:\\n{passage}",
    ))

Users then change wording globally without touching the library::

    override_prompt("graphmem.extract_triples", system="You extract facts. Be terse.")

Templates use :meth:`str.format` placeholders (``{passage}``); write literal braces as ``{{``
and ``}}``.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass, replace

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from memagents.errors import ConfigError, InputError

__all__ = [
    "PromptTemplate",
    "get_prompt",
    "list_prompts",
    "override_prompt",
    "register_prompt",
    "reset_prompt",
]

_registry: dict[str, PromptTemplate] = {}
_overrides: dict[str, PromptTemplate] = {}
_lock = threading.RLock()


def _placeholders(text: str, where: str) -> frozenset[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ConfigError(
            f"{where} is not a valid template ({exc}); write literal braces as '{{{{' and '}}}}'."
        ) from None
    names = set()
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        base = field_name.split(".", 1)[0].split("[", 1)[0]
        if not base or base.isdigit():
            raise ConfigError(
                f"{where} uses a positional placeholder '{{{field_name}}}'; "
                "use named placeholders such as '{question}'."
            )
        names.add(base)
    return frozenset(names)


@dataclass(frozen=True)
class PromptTemplate:
    """A named system + user prompt pair with ``{placeholders}``.

    Attributes:
        name: Registry key, conventionally ``"<capability>.<step>"``.
        system: System message template (may be empty).
        user: User message template.
        description: What the prompt is for (shown by :func:`list_prompts` consumers).

    Example:
        >>> t = PromptTemplate("demo.greet", "You are terse.", "Greet {name}.")
        >>> [m.content for m in t.format(name="Ada")]
        ['You are terse.', 'Greet Ada.']
        >>> sorted(t.variables)
        ['name']
    """

    name: str
    system: str
    user: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("PromptTemplate needs a non-empty name, e.g. 'gate.decide'.")
        _placeholders(self.system, f"system prompt of {self.name!r}")
        _placeholders(self.user, f"user prompt of {self.name!r}")

    @property
    def variables(self) -> frozenset[str]:
        """Names of all placeholders in the system and user templates."""
        return _placeholders(self.system, self.name) | _placeholders(self.user, self.name)

    def format(self, **variables: object) -> list[BaseMessage]:
        """Fill the placeholders and return ``[SystemMessage, HumanMessage]``.

        The system message is omitted when the system template is empty. Extra variables are
        ignored, so one dict of inputs can feed several prompts.

        Raises:
            InputError: if a placeholder has no value.
        """
        missing = sorted(self.variables - variables.keys())
        if missing:
            raise InputError(
                f"prompt {self.name!r} needs variable(s) {', '.join(missing)}; pass them as "
                f"keyword arguments (it uses: {', '.join(sorted(self.variables))})."
            )
        try:
            system = self.system.format(**variables)
            user = self.user.format(**variables)
        except (AttributeError, IndexError, KeyError) as exc:
            raise InputError(f"prompt {self.name!r} could not be filled: {exc!r}.") from None
        messages: list[BaseMessage] = []
        if system:
            messages.append(SystemMessage(content=system))
        messages.append(HumanMessage(content=user))
        return messages


def register_prompt(template: PromptTemplate, *, replace_existing: bool = False) -> PromptTemplate:
    """Add ``template`` to the registry and return it.

    Re-registering an identical template is a no-op (module reloads); registering a
    *different* template under a taken name raises unless ``replace_existing`` is true.
    An active :func:`override_prompt` stays in force.
    """
    with _lock:
        old = _registry.get(template.name)
        if old is not None and old != template and not replace_existing:
            raise ConfigError(
                f"a different prompt named {template.name!r} is already registered; pick "
                "another name, pass replace_existing=True, or use override_prompt() to change "
                "its wording."
            )
        _registry[template.name] = template
    return template


def get_prompt(name: str) -> PromptTemplate:
    """Return the registered prompt ``name``, with any override applied.

    Raises:
        ConfigError: if no prompt has that name (the message lists the known names).
    """
    with _lock:
        if name in _overrides:
            return _overrides[name]
        if name in _registry:
            return _registry[name]
        known = ", ".join(sorted(_registry)) or "none yet"
    raise ConfigError(
        f"no prompt named {name!r} is registered (known: {known}). Import the capability "
        "that defines it first, or register it with register_prompt()."
    )


def override_prompt(
    name: str, *, system: str | None = None, user: str | None = None
) -> PromptTemplate:
    """Globally replace the system and/or user wording of a registered prompt.

    The new wording may drop placeholders but not introduce ones the caller never supplies.

    Returns:
        The effective template.

    Raises:
        ConfigError: unknown prompt, or the new text uses a placeholder the original lacks.
    """
    with _lock:
        base = _registry.get(name)
        if base is None:
            get_prompt(name)  # raises with the list of known names
            raise AssertionError  # pragma: no cover
        new = replace(
            base,
            system=base.system if system is None else system,
            user=base.user if user is None else user,
        )
        extra = sorted(new.variables - base.variables)
        if extra:
            raise ConfigError(
                f"override of prompt {name!r} uses unknown placeholder(s) {', '.join(extra)}; "
                f"available: {', '.join(sorted(base.variables)) or 'none'}. Escape literal "
                "braces as '{{' and '}}'."
            )
        _overrides[name] = new
        return new


def reset_prompt(name: str | None = None) -> None:
    """Drop the override of ``name`` (or of every prompt when ``name`` is None)."""
    with _lock:
        if name is None:
            _overrides.clear()
        else:
            _overrides.pop(name, None)


def list_prompts() -> list[PromptTemplate]:
    """Every registered prompt (overrides applied), sorted by name."""
    with _lock:
        return [_overrides.get(n, _registry[n]) for n in sorted(_registry)]
