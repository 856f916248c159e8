"""Differential conformance suite for LangGraph ``BaseStore`` implementations.

LangGraph ships no conformance suite for its memory store; its docs say to test against
``InMemoryStore``. This module runs the same operation sequences on the reference and on the
store under test and compares every result:

* gets, puts, overwrites, deletes, values and keys exactly; timestamps by behaviour (aware
  datetimes, ``created_at <= updated_at``, and both change exactly when the reference's do);
* namespace-validation errors (``InvalidNamespaceError``) and ``ttl=`` on stores without TTL
  (``NotImplementedError``), by exception type;
* ``search`` without a query: the exact list (filters with every operator, pagination, the
  insertion order across namespaces);
* ``search`` with a query: backends rank differently, so results are compared as *sets* of keys
  (with the set of unscored keys) when every candidate fits in ``limit``, else by length and
  membership; the store's own scores must be non-increasing, unscored items last;
* ``list_namespaces`` with prefix, suffix, ``"*"`` wildcards, ``max_depth``, limit and offset;
* raw ``batch`` calls: reads see the state before the batch's puts, the last put of a key wins;
* a compiled ``StateGraph`` fanning out with ``Send`` to 50 nodes that each ``store.put`` in one
  superstep (LangGraph's ``test_store_injected`` scenario), sync and async.

The reference is :class:`ReferenceStore`: ``InMemoryStore`` with offline fake embeddings and
one normalisation, namespaces left empty are pruned after each batch (``InMemoryStore`` keeps
namespaces a ``get`` or ``delete`` merely touched, an artifact of its ``defaultdict``; SQL
stores list only namespaces holding items).

Use it as a pytest mixin (provide a fresh ``store`` per test)::

    class TestMyStore(StoreConformanceTests):
        @pytest.fixture
        def store(self, tmp_path):
            with MyStore(tmp_path) as store:
                yield store

or call :func:`run_differential` with a factory (plain ``InMemoryStore`` fails ``crud``: it
lists a namespace that only a ``delete`` touched).

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> [(r.scenario, r.ok) for r in run_differential(ReferenceStore, scenarios=["crud"])]
    [('crud', True)]
    >>> print(run_differential(InMemoryStore, scenarios=["crud"])[0].mismatches[0])
    step 21 Step(list_namespaces()): namespaces [('docs',), ('docs', 'deep', 'er'), ('nowhere',), ('usér', '名前')] != [('docs',), ('docs', 'deep', 'er'), ('usér', '名前')]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pytest
from langgraph.store.base import BaseStore, IndexConfig, Item, SearchOp
from langgraph.store.memory import InMemoryStore

from memagents.testing._store_scenarios import SCENARIOS, Step, afanout_snapshot, fanout_snapshot
from memagents.testing.embeddings import FakeEmbeddings

__all__ = [
    "SCENARIOS",
    "DifferentialReport",
    "Mismatch",
    "ReferenceStore",
    "Step",
    "StoreConformanceTests",
    "arun_differential",
    "run_differential",
]

StoreFactory = Callable[[], Any]
"""Returns a fresh ``BaseStore``, or a context manager yielding one (closed afterwards)."""


class ReferenceStore(InMemoryStore):
    """``InMemoryStore`` with offline semantic search, pruning empty namespaces after a batch.

    Args:
        index: Index config (default: 64-d :class:`~memagents.testing.FakeEmbeddings`,
            ``fields=["$"]``); match it to the fields of the store under test.

    Example:
        >>> store = ReferenceStore()
        >>> store.get(("ghost",), "k") is None, store.list_namespaces()
        (True, [])
    """

    def __init__(self, *, index: IndexConfig | None = None) -> None:
        super().__init__(index=index or {"dims": 64, "embed": FakeEmbeddings(64), "fields": ["$"]})
        # batches from many threads (the fan-out scenarios) run one at a time: pruning while
        # another thread inserts raised "dictionary changed size during iteration" under load
        self._lock = threading.RLock()

    def batch(self, ops: Any) -> list[Any]:
        with self._lock:
            try:
                return super().batch(ops)
            finally:
                self._prune()

    async def abatch(self, ops: Any) -> list[Any]:
        try:
            return await super().abatch(ops)
        finally:
            with self._lock:
                self._prune()

    def _prune(self) -> None:
        for namespace, items in list(self._data.items()):
            if not items:
                del self._data[namespace]
                self._vectors.pop(namespace, None)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference: the step (its index in the scenario) and what differed.

    Example:
        >>> print(Mismatch(3, Step.get(("docs",), "a"), "got None"))
        step 3 Step(get(('docs',), 'a')): got None
    """

    index: int
    step: Step
    detail: str

    def __str__(self) -> str:
        return f"step {self.index} {self.step}: {self.detail}"


@dataclass(slots=True)
class DifferentialReport:
    """The outcome of one scenario: ``ok`` when no step differed.

    Example:
        >>> report = DifferentialReport("custom", steps=1)
        >>> report.ok, report.assert_ok()
        (True, None)
    """

    scenario: str
    steps: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def assert_ok(self) -> None:
        """Raise ``AssertionError`` listing every mismatch (no-op when ``ok``)."""
        if self.mismatches:
            lines = "\n".join(f"  - {m}" for m in self.mismatches)
            raise AssertionError(
                f"store differs from the reference in scenario {self.scenario!r} "
                f"({len(self.mismatches)} of {self.steps} steps):\n{lines}"
            )


# ------------------------------------------------------------------------------ comparison
class _Comparer:
    """Compares the outputs of one step; remembers timestamps to compare their changes."""

    def __init__(self, reference: BaseStore) -> None:
        self.reference = reference
        self.seen: dict[str, dict[tuple[tuple[str, ...], str], tuple[datetime, datetime]]] = {
            "ref": {}, "store": {}
        }

    def outputs(self, step: Step, ref: tuple[str, Any], got: tuple[str, Any]) -> list[str]:
        if ref[0] == "error" or got[0] == "error":
            return self._errors(ref, got)
        if step.method == "batch":
            issues: list[str] = []
            for i, (op, r, g) in enumerate(zip(step.args[0], ref[1], got[1])):
                issues += [f"op {i}: {x}" for x in self._result(_op_kind(op), op, r, g)]
            if len(ref[1]) != len(got[1]):
                issues.append(f"batch returned {len(got[1])} results, expected {len(ref[1])}")
            return issues
        return self._result(step.method, step, ref[1], got[1])

    @staticmethod
    def _errors(ref: tuple[str, Any], got: tuple[str, Any]) -> list[str]:
        if ref[0] != "error":
            return [f"raised {got[1]!r}, the reference returned {ref[1]!r}"]
        if got[0] != "error":
            return [f"returned {got[1]!r}, the reference raised {ref[1]!r}"]
        if not isinstance(got[1], type(ref[1])):
            return [f"raised {type(got[1]).__name__}, the reference {type(ref[1]).__name__}"]
        return []

    def _result(self, kind: str, call: Any, ref: Any, got: Any) -> list[str]:
        if kind == "get":
            return self._item(ref, got)
        if kind == "search":
            return self._search(_search_op(call), ref, got)
        if kind == "list_namespaces":
            return [] if list(ref) == list(got) else [f"namespaces {got!r} != {ref!r}"]
        return [] if ref == got else [f"returned {got!r}, expected {ref!r}"]

    def _item(self, ref: Item | None, got: Item | None) -> list[str]:
        if ref is None or got is None:
            return [] if ref is got else [f"got {got!r}, expected {ref!r}"]
        if not isinstance(got, Item):
            return [f"returned a {type(got).__name__}, not an Item"]
        mine, theirs = (got.namespace, got.key, got.value), (ref.namespace, ref.key, ref.value)
        if mine != theirs:
            return [f"item {mine!r} != {theirs!r}"]
        issues = []
        if not all(isinstance(t, datetime) and t.tzinfo for t in (got.created_at, got.updated_at)):
            issues.append(f"{got.key!r}: timestamps must be timezone-aware datetimes")
        elif got.created_at > got.updated_at:
            issues.append(f"{got.key!r}: created_at is after updated_at")
        else:
            issues += self._timestamps(ref, got)
        return issues

    def _timestamps(self, ref: Item, got: Item) -> list[str]:
        key = (tuple(ref.namespace), ref.key)
        before_r, before_g = self.seen["ref"].get(key), self.seen["store"].get(key)
        self.seen["ref"][key] = (ref.created_at, ref.updated_at)
        self.seen["store"][key] = (got.created_at, got.updated_at)
        if before_r is None or before_g is None:
            return []
        issues = []
        for i, name in enumerate(("created_at", "updated_at")):
            changed_r = before_r[i] != (ref.created_at, ref.updated_at)[i]
            changed_g = before_g[i] != (got.created_at, got.updated_at)[i]
            if changed_r != changed_g:
                state = "changed" if changed_g else "did not change"
                issues.append(f"{ref.key!r}: {name} {state}, unlike the reference")
        return issues

    def _search(self, op: SearchOp, ref: list[Any], got: list[Any]) -> list[str]:
        if not op.query:
            if len(ref) != len(got):
                return [f"{len(got)} results, expected {len(ref)}: {_keys(got)} vs {_keys(ref)}"]
            issues = [x for r, g in zip(ref, got) for x in self._item(r, g)]
            issues += [f"{g.key!r} has a score without a query" for g in got if g.score is not None]
            return issues
        issues = _ranked(got)
        if len(ref) != len(got):
            issues.append(f"{len(got)} results, expected {len(ref)}")
        everything = cast(list[Any], self.reference.batch(
            [SearchOp(op.namespace_prefix, op.filter, 1_000_000, 0, None)]
        )[0])
        candidates = {(i.namespace, i.key): i for i in everything}
        if op.offset == 0 and len(candidates) <= op.limit:  # the whole candidate set fits
            if set(_keys(got)) != set(_keys(ref)):
                issues.append(f"keys {sorted(_keys(got))} != {sorted(_keys(ref))}")
            unscored_r = {k for k, i in zip(_keys(ref), ref) if i.score is None}
            unscored_g = {k for k, i in zip(_keys(got), got) if i.score is None}
            if unscored_r != unscored_g:
                issues.append(f"unscored {sorted(unscored_g)} != {sorted(unscored_r)}")
        for item in got:
            want = candidates.get((tuple(item.namespace), item.key))
            if want is None:
                issues.append(f"{item.key!r} is not a candidate (namespace or filter)")
            elif want.value != item.value:
                issues.append(f"{item.key!r}: value {item.value!r} != {want.value!r}")
        return issues


def _op_kind(op: Any) -> str:
    return {"GetOp": "get", "SearchOp": "search", "ListNamespacesOp": "list_namespaces"}.get(
        type(op).__name__, "put"
    )


def _search_op(call: Any) -> SearchOp:
    if isinstance(call, SearchOp):
        return call
    kw = dict(call.kwargs)
    return SearchOp(tuple(call.args[0]), kw.get("filter"), kw.get("limit", 10),
                    kw.get("offset", 0), kw.get("query"))


def _keys(items: Sequence[Any]) -> list[tuple[tuple[str, ...], str]]:
    return [(tuple(i.namespace), i.key) for i in items]


def _ranked(items: Sequence[Any]) -> list[str]:
    """Scored items first, scores non-increasing."""
    scores = [i.score for i in items]
    issues = []
    if None in scores and any(s is not None for s in scores[scores.index(None):]):
        issues.append("a scored item follows an unscored one")
    known = [s for s in scores if s is not None]
    if any(a < b for a, b in itertools.pairwise(known)):
        issues.append(f"scores are not in decreasing order: {known}")
    return issues


# ---------------------------------------------------------------------------------- runners
@contextlib.contextmanager
def _opened(factory: StoreFactory) -> Iterator[BaseStore]:
    made = factory()
    if isinstance(made, BaseStore):
        yield made
    else:
        with made as store:
            yield store


def _call(store: BaseStore, step: Step) -> tuple[str, Any]:
    try:
        return "ok", getattr(store, step.method)(*step.args, **step.kwargs)
    except Exception as exc:  # noqa: BLE001 - compared with the reference's exception
        return "error", exc


async def _acall(store: BaseStore, step: Step) -> tuple[str, Any]:
    try:
        return "ok", await getattr(store, "a" + step.method)(*step.args, **step.kwargs)
    except Exception as exc:  # noqa: BLE001 - compared with the reference's exception
        return "error", exc


def _plan(
    ops: Sequence[Step] | None, scenarios: Sequence[str] | None
) -> list[tuple[str, tuple[Step, ...] | None]]:
    if ops is not None:
        return [("custom", tuple(ops))]
    names = list(scenarios) if scenarios is not None else [*SCENARIOS, "fanout"]
    unknown = [n for n in names if n not in SCENARIOS and n != "fanout"]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; choose from {[*SCENARIOS, 'fanout']}")
    return [(n, SCENARIOS.get(n)) for n in names]


def _skip(name: str, store: BaseStore) -> str | None:
    if name == "no_ttl" and store.supports_ttl:
        return "the store supports TTL"
    return None


def run_differential(
    make_store: StoreFactory,
    *,
    reference: Callable[[], BaseStore] | None = None,
    ops: Sequence[Step] | None = None,
    scenarios: Sequence[str] | None = None,
) -> list[DifferentialReport]:
    """Run scenarios (all by default, or ``ops`` alone) on fresh stores; one report each.

    Args:
        make_store: Returns a fresh store under test (or a context manager yielding one).
        reference: Returns a fresh reference store (default :class:`ReferenceStore`).
        ops: A custom list of :class:`Step` to run instead of the built-in scenarios.
        scenarios: Names from :data:`SCENARIOS` and ``"fanout"`` (default: all).
    """
    reports = []
    for name, steps in _plan(ops, scenarios):
        report = DifferentialReport(name)
        with _opened(make_store) as store:
            ref = (reference or ReferenceStore)()
            report.skipped = _skip(name, store)
            if report.skipped:
                pass
            elif steps is None:
                report.steps = 1
                _compare_snapshots(report, fanout_snapshot(ref), fanout_snapshot(store))
            else:
                comparer = _Comparer(ref)
                for i, step in enumerate(steps):
                    report.steps += 1
                    for detail in comparer.outputs(step, _call(ref, step), _call(store, step)):
                        report.mismatches.append(Mismatch(i, step, detail))
        reports.append(report)
    return reports


async def arun_differential(
    make_store: StoreFactory,
    *,
    reference: Callable[[], BaseStore] | None = None,
    ops: Sequence[Step] | None = None,
    scenarios: Sequence[str] | None = None,
) -> list[DifferentialReport]:
    """Async twin of :func:`run_differential`: every step uses the ``a``-prefixed methods."""
    reports = []
    for name, steps in _plan(ops, scenarios):
        report = DifferentialReport(name)
        with _opened(make_store) as store:
            ref = (reference or ReferenceStore)()
            report.skipped = _skip(name, store)
            if report.skipped:
                pass
            elif steps is None:
                report.steps = 1
                theirs, mine = await afanout_snapshot(ref), await afanout_snapshot(store)
                _compare_snapshots(report, theirs, mine)
            else:
                comparer = _Comparer(ref)
                for i, step in enumerate(steps):
                    report.steps += 1
                    outs = (await _acall(ref, step), await _acall(store, step))
                    for detail in comparer.outputs(step, *outs):
                        report.mismatches.append(Mismatch(i, step, detail))
        reports.append(report)
    return reports


def _compare_snapshots(
    report: DifferentialReport, ref: Mapping[str, Any], got: Mapping[str, Any]
) -> None:
    step = Step("fanout")
    for key in ref:
        if ref[key] != got.get(key):
            report.mismatches.append(Mismatch(0, step, f"{key}: {got.get(key)!r} != {ref[key]!r}"))


# ------------------------------------------------------------------------------ pytest mixin
class StoreConformanceTests:
    """Pytest mixin: subclass it and provide a ``store`` fixture returning a fresh store.

    Override ``reference_store`` to change the reference (e.g. other index ``fields``), and
    list scenario names in ``skip_scenarios`` for capabilities your store lacks (``"query"``
    without semantic search). Async runs use ``asyncio.run``: no pytest-asyncio needed.

    Example:
        >>> sorted(name for name in dir(StoreConformanceTests) if name.startswith("test_"))
        ['test_fanout_50_parallel_puts', 'test_fanout_50_parallel_puts_async', 'test_scenario', 'test_scenario_async']
    """

    skip_scenarios: tuple[str, ...] = ()

    @pytest.fixture
    def store(self) -> BaseStore:
        raise NotImplementedError("define a `store` fixture returning a fresh store under test")

    @pytest.fixture
    def reference_store(self) -> BaseStore:
        return ReferenceStore()

    def _run(self, store: BaseStore, reference: BaseStore, name: str, asynchronous: bool) -> None:
        if name in self.skip_scenarios:
            pytest.skip(f"scenario {name!r} is in skip_scenarios")
        if asynchronous:
            out = asyncio.run(
                arun_differential(lambda: store, reference=lambda: reference, scenarios=[name])
            )
        else:
            out = run_differential(lambda: store, reference=lambda: reference, scenarios=[name])
        report = out[0]
        if report.skipped:
            pytest.skip(report.skipped)
        report.assert_ok()

    @pytest.mark.parametrize("scenario", list(SCENARIOS))
    def test_scenario(self, store: BaseStore, reference_store: BaseStore, scenario: str) -> None:
        self._run(store, reference_store, scenario, asynchronous=False)

    @pytest.mark.parametrize("scenario", list(SCENARIOS))
    def test_scenario_async(
        self, store: BaseStore, reference_store: BaseStore, scenario: str
    ) -> None:
        self._run(store, reference_store, scenario, asynchronous=True)

    def test_fanout_50_parallel_puts(self, store: BaseStore, reference_store: BaseStore) -> None:
        self._run(store, reference_store, "fanout", asynchronous=False)

    def test_fanout_50_parallel_puts_async(
        self, store: BaseStore, reference_store: BaseStore
    ) -> None:
        self._run(store, reference_store, "fanout", asynchronous=True)

