"""The write path of :class:`~memagents.graphmem.GraphMemory`: add, add_triples, delete.

Order of work, chosen so that a crash anywhere leaves a consistent memory that resumes:

1. record the passages as ``pending`` (one transaction) - nothing the user gave is lost;
2. extract triples in chunks; each chunk's results go to the extraction cache at once, so a
   resumed ingest never pays for the same extraction twice;
3. update the in-memory graph (embedding only strings never seen, via the vector cache). The
   strings of each chunk are embedded on a background thread as soon as its triples are known
   (:class:`~memagents.graphmem.prefetch.Prefetch`), so a local model encodes while the next
   chunk is being extracted and the update finds every vector cached;
4. commit triples, statuses and the graph delta in one transaction. If that fails, the
   in-memory graph is dropped and rebuilt from SQLite on next use.

It works on the memory's :class:`~memagents.graphmem.state.MemoryState` (database, models,
graphs and their lock), never on the facade. Each call counts its own model requests
(:func:`~memagents.models.track_usage`), so concurrent adds on one memory never count each
other's; the async path runs every database read and write in a worker thread, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memagents.errors import InputError
from memagents.graphmem.core.normalize import Triple, clean_triples, unencodable
from memagents.graphmem.db import StoredPassage, content_hash
from memagents.graphmem.extraction import Extraction
from memagents.graphmem.prefetch import Prefetch, graph_strings
from memagents.graphmem.results import AddResult, DeleteResult
from memagents.graphmem.state import MemoryState
from memagents.models.usage import Usage, track_usage

__all__ = ["Ingestor"]

USER_EXTRACTOR = "user"
CHUNK = 64  # passages extracted (and cached) per step, and per progress report
MAX_METADATA_DEPTH = 32  # nesting levels of a metadata dict (its values are level 1)
ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: passages processed so far, of those this call works on."""


@dataclass(frozen=True, slots=True)
class _Item:
    id: str
    text: str
    metadata: dict[str, Any]
    triples: tuple[Triple, ...] | None = None  # user-given


class Ingestor:
    """Runs ingest and delete for one memory (on its state: lock, database and graphs)."""

    def __init__(self, state: MemoryState) -> None:
        self.s = state

    # ------------------------------------------------------------- validation
    def _items(
        self,
        texts: Sequence[Any],
        ids: Sequence[str] | None,
        metadata: Sequence[dict[str, Any]] | None,
        triples: Sequence[Sequence[Any]] | None = None,
    ) -> list[_Item]:
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise InputError("pass a list of texts (or Documents), not a single string.")
        n = len(texts)
        for name, seq in (("ids", ids), ("metadata", metadata)):
            if seq is not None and (isinstance(seq, (str, bytes)) or len(seq) != n):
                raise InputError(f"{name} must be a list with one entry per text ({n}).")
        limit = self.s.settings.max_input_chars
        items: list[_Item] = []
        for i, raw in enumerate(texts):
            text, meta, doc_id = _unpack(raw, i)
            check_string(text, f"text #{i}")
            if not text.strip():
                raise InputError(f"text #{i} is empty; remove it or give it content.")
            if len(text) > limit:
                raise InputError(
                    f"text #{i} has {len(text)} characters, over max_input_chars={limit}: split "
                    "it into passages (or raise MEMAGENTS_MAX_INPUT_CHARS)."
                )
            if metadata is not None:
                meta = {**meta, **_check_meta(metadata[i], i)}
            pid = ids[i] if ids is not None and ids[i] is not None else doc_id
            if pid is None:
                pid = "p-" + content_hash(text)[:24]
            if not isinstance(pid, str) or not pid.strip():
                raise InputError(f"id #{i} must be a non-empty string, got {pid!r}.")
            check_string(pid, f"id #{i}")
            given = None
            if triples is not None:
                if not _is_list(triples[i]):
                    raise InputError(f"triples of passage #{i} must be a list of triples.")
                for j, triple in enumerate(triples[i]):
                    for part in triple if _is_list(triple) else ():
                        if isinstance(part, str):
                            check_string(part, f"triple #{j} of passage #{i}")
                given = tuple(clean_triples(triples[i])[0])
            items.append(_Item(pid, text, meta, given))
        seen: dict[str, _Item] = {}
        for item in items:
            if item.id in seen and seen[item.id] != item:
                raise InputError(f"id {item.id!r} is given twice with different content.")
            seen.setdefault(item.id, item)
        return list(seen.values())

    # ------------------------------------------------------------------ add
    def add(
        self,
        texts: Sequence[Any],
        *,
        ids: Any,
        metadata: Any,
        namespace: str,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        items = self._items(texts, ids, metadata)
        extractor = self.s.extractor()  # fails early, before anything is stored, without an LLM
        report = progress or _no_progress
        with self.s.mutex, track_usage() as mine, self._prefetch(namespace) as ahead:
            result, todo = self._record(namespace, items, texts_given=len(texts))
            ready, missing = self._from_caches(extractor.key, todo, result)
            ahead.submit(_graph_input(ready))
            report(len(todo) - len(missing), len(todo))
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                outs = extractor.extract([p.text for p in chunk])
                settled = self._settle(namespace, extractor.key, chunk, outs, result)
                ahead.submit(_graph_input(settled))
                ready += settled
                report(len(todo) - len(missing) + start + len(chunk), len(todo))
            self._index(namespace, ready, result, ahead.wait)
            self._finish(result, mine)
        return result

    async def aadd(
        self,
        texts: Sequence[Any],
        *,
        ids: Any,
        metadata: Any,
        namespace: str,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        items = self._items(texts, ids, metadata)
        extractor = self.s.extractor()
        report = progress or _no_progress
        # track_usage follows the awaits and the worker threads below
        with track_usage() as mine, self._prefetch(namespace) as ahead:
            result, todo = await asyncio.to_thread(self._locked_record, namespace, items,
                                                   len(texts))
            ready, missing = await asyncio.to_thread(self._from_caches, extractor.key, todo,
                                                     result)
            await asyncio.to_thread(ahead.submit, _graph_input(ready))  # may load the graph
            report(len(todo) - len(missing), len(todo))
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                outs = await extractor.aextract([p.text for p in chunk])
                settled = await asyncio.to_thread(self._settle, namespace, extractor.key,
                                                  chunk, outs, result)
                await asyncio.to_thread(ahead.submit, _graph_input(settled))
                ready += settled
                report(len(todo) - len(missing) + start + len(chunk), len(todo))

            def index() -> None:
                with self.s.mutex:
                    self._index(namespace, ready, result, ahead.wait)

            await asyncio.to_thread(index)
        self._finish(result, mine)
        return result

    def add_triples(
        self,
        passages: Sequence[Any],
        *,
        ids: Any,
        metadata: Any,
        namespace: str,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        if isinstance(passages, (str, bytes)) or not isinstance(passages, Sequence):
            raise InputError("pass a list of (text, triples) pairs or dicts.")
        texts, triples = [], []
        for i, p in enumerate(passages):
            if isinstance(p, dict) and "text" in p and "triples" in p:
                texts.append(p["text"])
                triples.append(p["triples"])
            elif isinstance(p, (list, tuple)) and len(p) == 2:
                texts.append(p[0])
                triples.append(p[1])
            else:
                raise InputError(
                    f"passage #{i} must be a (text, triples) pair or a dict with 'text' and "
                    "'triples' keys."
                )
        items = self._items(texts, ids, metadata, triples)
        dropped = sum(clean_triples(t)[1] for t in triples)
        with self.s.mutex, track_usage() as mine:
            result, todo = self._record(namespace, items, texts_given=len(texts))
            extract = [p for p in todo if p.source == "extract"]
            if extract and not self.s.can_extract:
                result.pending += [p.id for p in extract]
                ready, _ = self._from_caches(None, todo, result)
            else:
                key = self.s.extractor().key if extract else None
                ready, missing = self._from_caches(key, todo, result)
                if missing and key is not None:
                    outs = self.s.extractor().extract([p.text for p in missing])
                    ready += self._settle(namespace, key, missing, outs, result)
            self._index(namespace, ready, result)
            result.dropped_triples += dropped
            self._finish(result, mine)
            if progress is not None:
                progress(len(todo), len(todo))
        return result

    # -------------------------------------------------------------- helpers
    def _prefetch(self, namespace: str) -> Prefetch:
        return Prefetch(lambda: self.s.index(namespace))

    def _locked_record(
        self, namespace: str, items: list[_Item], n: int
    ) -> tuple[AddResult, list[StoredPassage]]:
        with self.s.mutex:
            return self._record(namespace, items, texts_given=n)

    def _record(
        self, namespace: str, items: list[_Item], *, texts_given: int
    ) -> tuple[AddResult, list[StoredPassage]]:
        """Store new and changed passages as pending; return what needs work (incl. resumes)."""
        store = self.s.db
        result = AddResult(namespace=namespace, ids=[it.id for it in items])
        existing = {p.id: p for p in store.passages(namespace, ids=[it.id for it in items])}
        rows, user = [], []
        for it in items:
            chash = content_hash(it.text, it.triples)
            old = existing.get(it.id)
            if old is not None and old.content_hash == chash and old.status == "indexed":
                result.unchanged.append(it.id)
                continue
            (result.updated if old is not None else result.added).append(it.id)
            rows.append((it.id, it.text, it.metadata, chash, "user" if it.triples is not None
                         else "extract"))
            if it.triples is not None:
                user.append((chash, it.triples, [], 0))
        if user:
            store.put_extractions(USER_EXTRACTOR, user)
        if rows:
            store.upsert_pending(namespace, rows)
        given = {r[0] for r in rows}
        todo = store.passages(namespace, status="pending") + store.passages(
            namespace, status="failed"
        )
        result.resumed = [p.id for p in todo if p.id not in given]
        return result, sorted(todo, key=lambda p: p.seq)

    def _from_caches(
        self, extractor_key: str | None, todo: list[StoredPassage], result: AddResult
    ) -> tuple[list[tuple[StoredPassage, Any]], list[StoredPassage]]:
        """Passages whose triples are known (user-given or cached) and those needing the LLM.

        With ``extractor_key=None`` passages that need extraction are left out of both lists.
        """
        ready = self._ready_user(todo, result)
        if extractor_key is None:
            return ready, []
        need = [p for p in todo if p.source == "extract"]
        cache = self.s.db.cached_extractions(extractor_key, [p.content_hash for p in need])
        ready += [(p, cache[p.content_hash]) for p in need if p.content_hash in cache]
        return ready, [p for p in need if p.content_hash not in cache]

    def _ready_user(
        self, todo: list[StoredPassage], result: AddResult
    ) -> list[tuple[StoredPassage, Any]]:
        user = [p for p in todo if p.source == "user"]
        cache = self.s.db.cached_extractions(USER_EXTRACTOR, [p.content_hash for p in user])
        out = []
        for p in user:
            if p.content_hash in cache:
                out.append((p, cache[p.content_hash]))
            else:  # cannot happen unless the cache row was removed by hand
                result.failed[p.id] = "user triples missing from the store; add them again"
        return out

    def _settle(
        self,
        namespace: str,
        key: str,
        chunk: list[StoredPassage],
        outs: list[Extraction],
        result: AddResult,
    ) -> list[tuple[StoredPassage, Any]]:
        """Cache successful extractions, record failures; return the ready passages."""
        outs = [_checked(o) for o in outs]
        ok = [(p, o) for p, o in zip(chunk, outs) if o.ok]
        bad = [(p.id, _storable(o.error or "unknown error")) for p, o in zip(chunk, outs)
               if not o.ok]
        if ok:
            self.s.db.put_extractions(
                key, [(p.content_hash, o.triples, o.entities, o.dropped) for p, o in ok]
            )
        if bad:
            self.s.db.mark_failed(namespace, bad)
            result.failed.update(dict(bad))
        return [(p, (list(o.triples), o.entities, o.dropped)) for p, o in ok]

    def _index(
        self,
        namespace: str,
        ready: list[tuple[StoredPassage, Any]],
        result: AddResult,
        embedded: Callable[[], None] | None = None,
    ) -> None:
        """Put ready passages in the graph and commit them. A passage whose triples cannot be
        stored (e.g. a lone surrogate in a cache row written by an older version) is marked
        failed on its own, so it never blocks the others. ``embedded`` waits for the strings
        embedded ahead (raising an embedding error where the graph update would)."""
        batch = []
        persisted = []
        bad: list[tuple[str, str]] = []
        for p, (triples, _entities, dropped) in ready:
            kept, _ = clean_triples(triples)
            problem = _triples_problem(kept)
            if problem is not None:
                bad.append((p.id, problem + (
                    "; add the passage again with clean triples, or delete it"
                    if p.source == "user" else ""
                )))
                continue
            batch.append((p.id, p.text, kept))
            persisted.append((p.id, kept))
            if p.source == "extract":
                result.dropped_triples += int(dropped)
                if not kept:
                    result.empty.append(p.id)
        if bad:
            self.s.db.mark_failed(namespace, bad)
            result.failed.update(dict(bad))
        if embedded is not None:
            embedded()
        if not batch:
            return
        index = self.s.index(namespace)
        index.vectors.ensure(graph_strings(batch), index.embed)  # before the write lock
        try:
            with self.s.db.writing(namespace):
                index = self.s.index(namespace)  # up to date under the lock (Postgres)
                delta = index.add(batch)
                self.s.db.commit_indexed(namespace, persisted, delta)
        except BaseException:
            self.s.reload(namespace)
            raise

    def _finish(self, result: AddResult, mine: Usage) -> None:
        result.llm_calls = int(mine.llm_calls)
        result.embedding_calls = int(mine.embedding_calls)
        failed = set(result.failed)
        for bucket in (result.added, result.updated, result.resumed):
            bucket[:] = [i for i in bucket if i not in failed and i not in result.pending]
        if result.empty:
            shown = ", ".join(repr(i) for i in result.empty[:5])
            more = f" and {len(result.empty) - 5} more" if len(result.empty) > 5 else ""
            result.notes.append(
                f"{len(result.empty)} passage(s) gave no triples ({shown}{more}): the extractor "
                "found no facts in them, so they are found by their text alone, not through "
                "the graph."
            )

    # --------------------------------------------------------------- delete
    def delete(self, ids: Sequence[str], *, namespace: str) -> DeleteResult:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            example = f" (e.g. [{ids!r}] for one)" if isinstance(ids, str) else ""
            raise InputError(
                f"pass a list of ids to delete{example}, got {type(ids).__name__}."
            )
        wanted = check_ids(ids)
        with self.s.mutex:
            try:
                with self.s.db.writing(namespace):
                    stored = {p.id for p in self.s.db.passages(namespace, ids=wanted)}
                    index = self.s.index(namespace)
                    delta = index.remove([p for p in wanted if p in index])
                    self.s.db.delete_passages(namespace, sorted(stored), delta)
            except BaseException:
                self.s.reload(namespace)
                raise
        return DeleteResult(
            deleted=[p for p in wanted if p in stored], unknown=[p for p in wanted if p not in stored]
        )


def _no_progress(done: int, total: int) -> None:
    return None


def _graph_input(ready: list[tuple[StoredPassage, Any]]) -> list[tuple[str, str, Any]]:
    """``(id, text, triples)`` of ready passages whose triples can be stored."""
    out = []
    for p, (triples, _entities, _dropped) in ready:
        if _triples_problem(clean_triples(triples)[0]) is None:
            out.append((p.id, p.text, triples))
    return out


def _unpack(raw: Any, i: int) -> tuple[str, dict[str, Any], str | None]:
    content = getattr(raw, "page_content", None)
    if content is not None:  # a langchain Document
        if not isinstance(content, str):
            raise InputError(f"document #{i} has non-string page_content.")
        meta = _check_meta(dict(getattr(raw, "metadata", None) or {}), i)
        return content, meta, getattr(raw, "id", None)
    if not isinstance(raw, str):
        raise InputError(f"text #{i} must be a string or a Document, got {type(raw).__name__}.")
    return raw, {}, None


def _check_meta(meta: Any, i: int) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise InputError(f"metadata #{i} must be a dict, got {type(meta).__name__}.")
    _check_json(meta, f"metadata #{i}", 0)
    return dict(meta)


def _check_json(value: Any, what: str, depth: int) -> None:
    """Refuse what JSON (or SQLite) cannot store, before anything is written."""
    if depth > MAX_METADATA_DEPTH:
        raise InputError(
            f"{what[:120]} is nested more than {MAX_METADATA_DEPTH} levels deep; flatten it "
            "(metadata is stored as JSON)."
        )
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        check_string(value, what)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(
                f"{what} is {value!r}: NaN and infinity cannot be stored as JSON; use None, a "
                "finite number, or a string."
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(
                    f"{what} has the key {key!r} ({type(key).__name__}): metadata keys must be "
                    "strings."
                )
            check_string(key, f"a key of {what}")
            _check_json(item, f"{what}[{key!r}]", depth + 1)
    elif isinstance(value, (list, tuple)):
        for j, item in enumerate(value):
            _check_json(item, f"{what}[{j}]", depth + 1)
    else:
        raise InputError(
            f"{what} is a {type(value).__name__}; metadata must be JSON-serialisable: strings, "
            "finite numbers, booleans, None, and lists and dicts of them."
        )


def check_string(value: str, what: str) -> None:
    """Raise :class:`InputError` when ``value`` holds a character that cannot be stored."""
    problem = unencodable(value)
    if problem is not None:
        raise InputError(
            f"{what} contains {problem}, half of a character (e.g. a broken emoji) that cannot "
            "be stored as UTF-8; remove it, or clean the string with "
            "s.encode('utf-8', 'replace').decode()."
        )


def check_ids(ids: Sequence[Any]) -> list[str]:
    """Validate a list of passage ids; return them without duplicates, in order."""
    wanted = list(dict.fromkeys(ids))
    for i, pid in enumerate(wanted):
        if not isinstance(pid, str) or not pid:
            raise InputError(f"id #{i} must be a non-empty string, got {pid!r}.")
        check_string(pid, f"id #{i}")
    return wanted


def _storable(message: str) -> str:
    """An error message SQLite can store (lone surrogates escaped)."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def _triples_problem(triples: Sequence[Triple]) -> str | None:
    for triple in triples:
        for part in triple:
            problem = unencodable(part) if isinstance(part, str) else None
            if problem is not None:
                return f"the triple {triple!r} contains {problem}, which cannot be stored"
    return None


def _checked(out: Extraction) -> Extraction:
    """An extractor's output, or a failure when it holds strings that cannot be stored."""
    if not out.ok:
        return out
    problem = _triples_problem(out.triples)
    if problem is None:
        problem = next(
            (f"the entity {e!r} contains {unencodable(e)}, which cannot be stored"
             for e in out.entities if isinstance(e, str) and unencodable(e)),
            None,
        )
    if problem is None:
        return out
    return Extraction(error=f"invalid extraction: {problem}; the extractor must return whole "
                            "characters (a lone surrogate is half of one)")


def _is_list(x: Any) -> bool:
    return isinstance(x, (list, tuple))
