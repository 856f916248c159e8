"""A reference implementation of the contract: :class:`InMemoryMemory`.

It keeps items in a dict and ranks them by word overlap with the query (a score in [0, 1]: the
share of the query's words an item contains). It needs no model and no folder, which makes it
the memory of the adapters' examples, of the contract's own tests, and a test double for users
who wire memagents nodes into their graphs.

Example:
    >>> memory = InMemoryMemory()
    >>> memory.add(["Ada was born in Velm.", "Bo lives in Tarn."], ids=["m1", "m2"]).added
    ['m1', 'm2']
    >>> hits = memory.search("Where was Ada born?", k=1)
    >>> hits.ids, round(hits[0].score, 2)
    (['m1'], 0.75)
    >>> memory.delete("m2").deleted, [h.id for h in memory.get(["m1", "m2"])]
    (['m2'], ['m1'])
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from typing import Any

from memagents.base.memory import Memory
from memagents.base.ops import AddOp, DeleteOp, GetOp, Op, SearchOp
from memagents.base.results import AddResult, DeleteResult, Hit, SearchHits
from memagents.errors import InputError

__all__ = ["InMemoryMemory"]

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class InMemoryMemory(Memory):
    """A dict-backed memory ranking by word overlap (see the module docstring)."""

    def __init__(self, *, namespace: str = "default") -> None:
        self.namespace = namespace
        self._rows: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryMemory({len(self._rows)} items)"

    def batch(self, ops: Sequence[Op]) -> list[Any]:
        with self._lock:
            return [self._one(op) for op in ops]

    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        return self.batch(ops)

    def _one(self, op: Op) -> Any:
        ns = op.namespace or self.namespace
        if isinstance(op, AddOp):
            return self._add(op, ns)
        if isinstance(op, SearchOp):
            return self._search(op, ns)
        if isinstance(op, GetOp):
            return [self._hit(ns, i) for i in op.ids if (ns, i) in self._rows]
        if isinstance(op, DeleteOp):
            gone = [i for i in op.ids if self._rows.pop((ns, i), None) is not None]
            return DeleteResult(deleted=gone, unknown=[i for i in op.ids if i not in gone])
        raise InputError(f"unknown operation {op!r:.80}.")

    def _add(self, op: AddOp, ns: str) -> AddResult:
        result = AddResult(namespace=ns)
        for n, item in enumerate(op.items):
            text = getattr(item, "page_content", item)
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"item #{n} must be a non-empty string or Document.")
            given = op.ids[n] if op.ids else getattr(item, "id", None)
            item_id = given or hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            meta = dict(op.metadata[n]) if op.metadata else dict(getattr(item, "metadata", {}))
            old = self._rows.get((ns, item_id))
            bucket = (result.added if old is None else
                      result.unchanged if old == (text, meta) else result.updated)
            bucket.append(item_id)
            self._rows[(ns, item_id)] = (text, meta)
            result.ids.append(item_id)
        return result

    def _search(self, op: SearchOp, ns: str) -> SearchHits:
        query = _words(op.query)
        scored = sorted(
            ((len(query & _words(text)) / max(len(query), 1), i)
             for (n, i), (text, _) in self._rows.items() if n == ns),
            key=lambda pair: (-pair[0], pair[1]),
        )[: op.k]
        notes = [] if any(n == ns for n, _ in self._rows) else [
            f"namespace {ns!r} holds no items"]
        return SearchHits(
            [self._hit(ns, i, score=s, rank=r) for r, (s, i) in enumerate(scored, 1)],
            notes=notes,
        )

    def _hit(self, ns: str, item_id: str, **scores: Any) -> Hit:
        text, meta = self._rows[(ns, item_id)]
        return Hit(id=item_id, text=text, metadata=dict(meta), namespace=ns, **scores)
