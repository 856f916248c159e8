"""JSON instructions for prompts and tolerant parsing of model replies."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage, SystemMessage
from pydantic import BaseModel, ValidationError

__all__ = ["ParseProblem", "add_schema_instructions", "extract_json", "parse_structured"]

T = TypeVar("T", bound=BaseModel)
JSON_INSTRUCTIONS = (
    "Reply with only a JSON value that conforms to the JSON Schema below: no prose before or "
    "after it, no markdown code fences.\nJSON Schema: {schema}"
)
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_STARTS = 16


class ParseProblem(ValueError):
    """A reply could not be turned into the schema; the message is sent back to the model."""


@functools.lru_cache(maxsize=256)
def schema_text(schema: type[BaseModel]) -> str:
    """Compact JSON Schema of a pydantic model (cached per class)."""
    return json.dumps(schema.model_json_schema(), ensure_ascii=False, separators=(",", ":"))


def add_schema_instructions(
    messages: list[BaseMessage], schema: type[BaseModel]
) -> list[BaseMessage]:
    """Append JSON instructions for ``schema`` to the system message (adding one if needed)."""
    instructions = JSON_INSTRUCTIONS.format(schema=schema_text(schema))
    if messages and isinstance(messages[0], SystemMessage) and isinstance(messages[0].content, str):
        first = SystemMessage(content=f"{messages[0].content}\n\n{instructions}")
        return [first, *messages[1:]]
    return [SystemMessage(content=instructions), *messages]


def extract_json(text: str) -> Any:
    """Parse the JSON value in a reply, ignoring code fences and surrounding prose.

    Raises:
        ParseProblem: no JSON, or invalid/truncated JSON (the message says which).

    Example:
        >>> extract_json('Sure! ```json\\n{"a": [1, 2]}\\n``` Hope this helps.')
        {'a': [1, 2]}
    """
    s = text.strip()
    fenced = _FENCE.search(s)
    if fenced:
        s = fenced.group(1).strip()
    elif s.startswith("```"):  # opening fence of a truncated reply
        s = s.split("\n", 1)[1] if "\n" in s else ""
    if not s:
        raise ParseProblem("the reply was empty; it must be a JSON value")
    starts = [m.start() for m in re.finditer(r"[\[{]", s)][:_MAX_STARTS]
    if not starts:
        raise ParseProblem("the reply contains no JSON object or array")
    decoder = json.JSONDecoder()
    first_error: json.JSONDecodeError | None = None
    for start in starts:
        try:
            value, _ = decoder.raw_decode(s, start)
            return value
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
        except RecursionError:
            raise ParseProblem("the JSON is nested too deeply; return a flat JSON value") from None
    assert first_error is not None
    if first_error.msg.startswith("Unterminated") or first_error.pos >= len(s) - 1:
        raise ParseProblem(
            f"the JSON is incomplete, it looks cut off ({first_error.msg} at character "
            f"{first_error.pos}); return the complete JSON value"
        )
    raise ParseProblem(f"invalid JSON: {first_error.msg} at character {first_error.pos}")


def _check_encodable(value: Any) -> None:
    """Refuse strings holding a lone UTF-16 surrogate (``"\\ud83d"``: half an emoji).

    JSON lets a reply escape one, but no UTF-8 store, hash or file can hold it, so such a reply
    is re-asked like any other invalid reply instead of failing later, far from its cause.
    """
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        near = exc.object[max(0, exc.start - 40) : exc.end]
        raise ParseProblem(
            f"the JSON holds a lone UTF-16 surrogate {exc.object[exc.start : exc.end]!r} (half "
            f"of a character such as an emoji) near {near!r}; write each character whole, or "
            "leave it out"
        ) from None
    except RecursionError:
        raise ParseProblem("the JSON is nested too deeply; return a flat JSON value") from None


def describe_validation_error(exc: ValidationError, limit: int = 8) -> str:
    """A compact, model-readable summary of a pydantic validation error."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more error(s)")
    return "; ".join(parts)


def parse_structured(text: str, schema: type[T]) -> T:
    """Extract JSON from ``text`` and validate it against ``schema``.

    Raises:
        ParseProblem: invalid JSON or a schema violation, described for a re-ask.
    """
    value = extract_json(text)
    _check_encodable(value)
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        raise ParseProblem(
            f"the JSON does not match the {schema.__name__} schema "
            f"({describe_validation_error(exc)})"
        ) from None
