"""Command-line output shared by every command group: one error printer, strict JSON.

Capabilities' command groups cannot import each other or the ``memagents`` entry point (the
layer rules), so what they all print through lives here, in the foundation.

Example:
    >>> print(strict_json({"score": float("nan"), "ids": ("a",)}))
    {
      "score": null,
      "ids": [
        "a"
      ]
    }
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["print_error", "strict_json"]


def strict_json(data: Any) -> str:
    """``data`` as indented strict JSON: NaN and infinities become ``null`` (strict JSON has no
    such numbers), tuples lists, anything else unknown its ``str``."""
    return json.dumps(_finite(data), indent=2, default=str, ensure_ascii=False, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def print_error(message: object) -> None:
    """Print ``error: MESSAGE`` on stderr as one line: the one error printer of every command.

    Whitespace is collapsed, rich markup is not parsed (a ``[subject, predicate, object]`` in a
    message stays) and nothing wraps. The ``memagents`` entry point and each capability's
    command group print through it; rich loads on the first error only.

    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     print_error("no chat model:   pass [--llm]")
    >>> err.getvalue().strip()
    'error: no chat model: pass [--llm]'
    """
    from rich.console import Console
    from rich.text import Text

    text = " ".join(str(message).split())
    Console(stderr=True, soft_wrap=True, highlight=False).print(
        Text.assemble(("error:", "bold red"), " ", text))
