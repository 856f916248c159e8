"""Operation sequences of :mod:`memagents.testing.store_conformance`, and the fan-out graph.

Each scenario is a tuple of :class:`Step` (a ``BaseStore`` method call) run on the reference
and on the store under test. Values are JSON-native (stores may keep values as JSON), range
filters only touch fields every item has (``InMemoryStore`` raises on missing ones), and query
searches never rely on one backend's ranking.

Example:
    >>> Step.put(("docs",), "a", {"text": "hi"})
    Step(put(('docs',), 'a', {'text': 'hi'}))
    >>> sorted(SCENARIOS)[:3]
    ['batch', 'crud', 'filters']
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore, GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.types import Send
from typing_extensions import TypedDict

__all__ = ["FANOUT", "SCENARIOS", "Step", "afanout_snapshot", "fanout_snapshot"]

FANOUT = 50
"""Parallel nodes of the fan-out scenario (LangGraph's ``test_store_injected`` uses 50)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One ``BaseStore`` call: ``method`` (sync name; runners add the ``a`` prefix) and its
    arguments. Build them with the class methods.

    Example:
        >>> Step.search(("docs",), query="apple", limit=3)
        Step(search(('docs',), query='apple', limit=3))
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        text = f"{self.method}({', '.join(parts)})"
        return f"Step({text if len(text) < 160 else text[:157] + '...'})"

    __str__ = __repr__

    @classmethod
    def put(cls, namespace: tuple[str, ...], key: str, value: dict[str, Any], **kw: Any) -> Step:
        return cls("put", (namespace, key, value), kw)

    @classmethod
    def get(cls, namespace: tuple[str, ...], key: str) -> Step:
        return cls("get", (namespace, key))

    @classmethod
    def delete(cls, namespace: tuple[str, ...], key: str) -> Step:
        return cls("delete", (namespace, key))

    @classmethod
    def search(cls, prefix: tuple[str, ...], **kw: Any) -> Step:
        return cls("search", (prefix,), kw)

    @classmethod
    def list_namespaces(cls, **kw: Any) -> Step:
        return cls("list_namespaces", (), kw)

    @classmethod
    def batch(cls, *ops: Any) -> Step:
        return cls("batch", (list(ops),))


P, G, D, S, L = Step.put, Step.get, Step.delete, Step.search, Step.list_namespaces

_CRUD = (
    G(("docs",), "missing"),
    P(("docs",), "a", {"text": "alpha", "n": 1}),
    G(("docs",), "a"),
    P(("docs",), "b", {"text": "beta", "nested": {"k": [1, 2.5, {"x": None}]}, "flag": True}),
    G(("docs",), "b"),
    P(("docs",), "a", {"text": "alpha two", "n": 2}),  # overwrite: keeps its position
    G(("docs",), "a"),
    G(("docs",), "b"),
    S(("docs",)),
    D(("docs",), "a"),
    G(("docs",), "a"),
    S(("docs",)),
    P(("docs",), "a", {"text": "alpha again"}),  # re-put after delete: goes last
    S(("docs",)),
    D(("docs",), "zzz"),
    D(("nowhere",), "x"),
    P(("docs", "deep", "er"), "empty", {}),
    G(("docs", "deep", "er"), "empty"),
    P(("usér", "名前"), "ключ / key with spaces", {"text": "这是中文", "emoji": "🙂"}),
    G(("usér", "名前"), "ключ / key with spaces"),
    S(()),
    L(),
)

_NAMESPACES = (
    P((), "k", {"v": 1}),
    P(("a.b",), "k", {"v": 1}),
    P(("a", ""), "k", {"v": 1}),
    P(("langgraph", "x"), "k", {"v": 1}),
    P(("bad\x00label",), "k", {"v": 1}),
    P((1, "x"), "k", {"v": 1}),  # type: ignore[arg-type]
    P(("ok", "langgraph"), "k", {"v": 1}),
    G(("ok", "langgraph"), "k"),
    G(("a.b",), "k"),
    S(("a.b",)),
    D(("a.b",), "k"),
    L(prefix=("a.b",)),
    L(suffix=("",)),
    Step.batch(PutOp(("langgraph", "foo"), "bar", {"v": 2})),  # below the public API: allowed
    G(("langgraph", "foo"), "bar"),
    L(),
)

_NO_TTL = (
    P(("ttl",), "k", {"v": 1}, ttl=5),
    P(("ttl",), "k", {"v": 1}, ttl=None),
    G(("ttl",), "k"),
)

_F = ("f",)
_FILTER_ITEMS = tuple(
    P(_F, key, value)
    for key, value in [
        ("doc1", {"text": "red apple", "color": "red", "score": 4.5, "num": "3",
                  "tags": ["fruit", "red"], "meta": {"lang": "en", "n": 1}, "flag": True}),
        ("doc2", {"text": "red car", "color": "red", "score": 3.0, "num": "10",
                  "tags": ["car"], "meta": {"lang": "fr", "n": 2}, "flag": False}),
        ("doc3", {"text": "green apple", "color": "green", "score": 4.0, "num": "7",
                  "tags": ["fruit", "green"], "meta": {"lang": "en", "n": 3}}),
        ("doc4", {"text": "blue car", "color": "blue", "score": 3.5, "num": "1",
                  "tags": [], "meta": {"lang": "de", "n": 4}, "flag": True}),
        ("doc5", {"text": "no color", "score": 1, "num": "0", "meta": {}, "color": None}),
    ]
)
_FILTER_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"color": "red"}, {}),
    ({"color": None}, {}),
    ({"missing": None}, {}),
    ({"flag": True}, {}),
    ({"score": {"$gt": 3.2}}, {}),
    ({"score": {"$gte": 4.0}}, {}),
    ({"score": {"$lt": 3.5}}, {}),
    ({"score": {"$lte": 3.5}}, {}),
    ({"score": {"$eq": 4.5}}, {}),
    ({"color": {"$eq": "blue"}}, {}),
    ({"color": {"$ne": "red"}}, {}),
    ({"flag": {"$ne": True}}, {}),
    ({"num": {"$gt": 5}}, {}),  # numeric strings compare as numbers
    ({"score": {"$gte": 3, "$lt": 4.5}}, {}),
    ({"score": {"$gte": 3.0}, "color": "red"}, {}),
    ({"meta": {"lang": "en"}}, {}),
    ({"meta": {"lang": "en", "n": 3}}, {}),
    ({"tags": ["fruit", "red"]}, {}),
    ({"tags": []}, {}),
    ({"color": "purple"}, {}),
    ({"color": "red"}, {"limit": 1}),
    ({"score": {"$gt": 0}}, {"limit": 2, "offset": 1}),
    ({"color": "red"}, {"query": "apple"}),
    ({"score": {"$gte": 4.0}, "color": "green"}, {"query": "apple"}),
    ({"score": {"$gt": 3.2}}, {"query": "bbbbluuu"}),
]
_FILTERS = _FILTER_ITEMS + tuple(S(_F, filter=f, **kw) for f, kw in _FILTER_CASES)

_PAGINATION = (
    *(P(("p",), f"k{i:02d}", {"i": i}) for i in range(12)),
    *(P(("p", "sub"), f"s{i}", {"i": 100 + i}) for i in range(3)),
    P(("p",), "k03", {"i": 3, "again": True}),
    D(("p",), "k05"),
    *(S(("p",), limit=lim, offset=off)
      for lim, off in [(5, 0), (5, 5), (5, 10), (5, 20), (0, 0), (100, 0), (3, 13)]),
    S(("p", "sub")),
    S(("p", "su")),
    S(()),
)

_TREE = [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"),
         ("a", "c", "f"), ("b", "a", "f"), ("users", "123"), ("users", "456", "settings"),
         ("admin", "users", "789"), ("guests", "456", "preferences")]
_LIST_CASES: list[dict[str, Any]] = [
    {}, {"prefix": ("a", "b")}, {"suffix": ("f",)}, {"prefix": ("a",), "suffix": ("f",)},
    {"prefix": ("a", "b"), "max_depth": 3}, {"max_depth": 2}, {"max_depth": 1},
    {"prefix": ("a", "b"), "limit": 2}, {"prefix": ("a", "b"), "offset": 2},
    {"prefix": ("a", "*", "f")}, {"suffix": ("*", "f")}, {"prefix": ("users", "*")},
    {"suffix": ("*", "preferences")}, {"prefix": ("*", "users"), "suffix": ("*", "settings")},
    {"prefix": ("nonexistent",)}, {"prefix": ("users", "123")}, {"prefix": ("a", "b", "c", "d")},
    {"prefix": ("namespace",), "limit": 5, "offset": 5}, {"limit": 3, "offset": 100},
]
_LIST = (
    L(),
    *(P(ns, f"id_{i}", {"data": f"value_{i:02d}"}) for i, ns in enumerate(_TREE)),
    *(P(("namespace", f"sub_{i:02d}"), "k", {"i": i}) for i in range(12)),
    *(L(**kw) for kw in _LIST_CASES),
    D(("a", "c", "f"), "id_4"),  # emptied: no longer listed
    L(prefix=("a",)),
    P(("a", "c", "f"), "back", {"v": 1}),
    L(suffix=("f",)),
    S(("a",)),
)

_N = ("batch",)
_BATCH = (
    # InMemoryStore's GetOp creates its namespace at once: list namespaces before getting
    Step.batch(PutOp(_N, "a", {"v": 1}), ListNamespacesOp((MatchCondition("prefix", _N),), None,
                                                           100, 0),
               SearchOp(_N, None, 10, 0, None), GetOp(_N, "a")),
    G(_N, "a"),
    Step.batch(PutOp(_N, "a", {"v": 2}), PutOp(_N, "b", {"v": 1}), PutOp(_N, "a", {"v": 3}),
               GetOp(_N, "a"), SearchOp(_N, None, 10, 0, None)),
    S(_N),
    Step.batch(PutOp(_N, "c", {"v": 1}), PutOp(_N, "a", None), GetOp(_N, "a")),
    S(_N),
    Step.batch(PutOp(_N, "a", {"v": 4}), PutOp(_N, "a", None)),  # the last op of a key wins
    G(_N, "a"),
    Step.batch(PutOp(_N, "b", None), PutOp(_N, "b", {"v": 5})),
    S(_N),
    Step.batch(SearchOp(_N, {"v": {"$gte": 1}}, 1, 1, None), GetOp(("nowhere",), "x"),
               GetOp(_N, "b"), SearchOp(_N, None, 10, 0, "v")),
    L(),
)

_Q = ("q", "docs")
_QUERY = (
    *(P(_Q, key, value) for key, value in [
        ("doc1", {"text": "short text"}),
        ("doc2", {"text": "longer text document"}),
        ("doc3", {"text": "longest text document here"}),
        ("doc4", {"description": "text in description field"}),
        ("doc5", {"content": "text in content field"}),
        ("zh", {"text": "这是中文"}),
    ]),
    P(_Q, "hidden", {"text": "longer text document"}, index=False),
    P(_Q, "titled", {"title": "a title about zebras", "text": "other"}, index=["title"]),
    P(_Q, "untitled", {"text": "has no title"}, index=["title"]),
    P(("q", "other"), "o1", {"text": "zebras elsewhere"}),
    S(_Q, query="long text"),
    S(_Q, query="long text", limit=3),
    S(_Q, query="long text", limit=3, offset=3),
    S(_Q, query="zebras"),
    S(_Q, query="这是中文"),
    S(("q",), query="zebras"),
    S((), query="zebras", limit=50),
    P(_Q, "doc1", {"text": "new text about dogs"}),
    D(_Q, "doc2"),
    S(_Q, query="dogs"),
    S(_Q, query="dogs", filter={"text": "new text about dogs"}),
    S(("nothing",), query="dogs"),
    S(_Q, query=""),
)

SCENARIOS: dict[str, tuple[Step, ...]] = {
    "batch": _BATCH,
    "crud": _CRUD,
    "filters": _FILTERS,
    "list_namespaces": _LIST,
    "namespaces": _NAMESPACES,
    "no_ttl": _NO_TTL,
    "pagination": _PAGINATION,
    "query": _QUERY,
}
"""Built-in scenarios by name (``"fanout"``, the graph scenario, runs separately)."""


# -------------------------------------------------------------------------------- fan-out
class _FanState(TypedDict):
    round: int
    done: Annotated[list[int], operator.add]


class _WriteArg(TypedDict):
    i: int
    round: int


def _writes(i: int, r: int) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    return [
        (("fanout", f"node_{i:02d}"), "doc", {"i": i, "round": r}),
        (("fanout", "shared"), "doc", {"round": r, "text": "every node writes this"}),
        (("fanout", "all"), f"k{i:02d}", {"i": i, "text": f"node {i} wrote in round {r}"}),
    ]


def _graph(store: BaseStore, asynchronous: bool) -> Any:
    def fan_out(state: _FanState) -> list[Send]:
        return [Send("write", {"i": i, "round": state["round"]}) for i in range(FANOUT)]

    def write(state: _WriteArg, *, store: BaseStore) -> dict[str, Any]:
        for namespace, key, value in _writes(state["i"], state["round"]):
            store.put(namespace, key, value)
        return {"done": [state["i"]]}

    async def awrite(state: _WriteArg, *, store: BaseStore) -> dict[str, Any]:
        for namespace, key, value in _writes(state["i"], state["round"]):
            await store.aput(namespace, key, value)
        return {"done": [state["i"]]}

    builder = StateGraph(_FanState)
    if asynchronous:
        builder.add_node("write", awrite)
    else:
        builder.add_node("write", write)
    builder.add_conditional_edges(START, fan_out, ["write"])
    builder.add_edge("write", END)
    return builder.compile(store=store, checkpointer=InMemorySaver())


def _snapshot(done: list[list[int]], reads: list[Any]) -> dict[str, Any]:
    namespaces, nodes, shared, every, ranked = reads
    return {
        "done": [sorted(d) for d in done],
        # 50 concurrent writers create the namespaces in a scheduling-dependent order
        "namespaces": sorted(namespaces),
        "nodes": [getattr(item, "value", None) for item in nodes],
        "shared": [(i.key, i.value) for i in shared],
        "all": sorted((i.key, json.dumps(i.value, sort_keys=True)) for i in every),
        "all_query_keys": sorted(i.key for i in ranked),
    }


_QUERY_TEXT = "node 7 wrote in round 2"


def fanout_snapshot(store: BaseStore) -> dict[str, Any]:
    """Run the fan-out graph twice on one thread (sync nodes), then describe the store."""
    graph = _graph(store, asynchronous=False)
    config = {"configurable": {"thread_id": "fanout"}}
    done = [graph.invoke({"round": r}, config)["done"] for r in (1, 2)]
    return _snapshot(done, [
        store.list_namespaces(prefix=("fanout",), limit=1000),
        [store.get(("fanout", f"node_{i:02d}"), "doc") for i in range(FANOUT)],
        store.search(("fanout", "shared")),
        store.search(("fanout", "all"), limit=1000),
        store.search(("fanout", "all"), query=_QUERY_TEXT, limit=1000),
    ])


async def afanout_snapshot(store: BaseStore) -> dict[str, Any]:
    """Async twin of :func:`fanout_snapshot` (async nodes calling ``aput``)."""
    graph = _graph(store, asynchronous=True)
    config = {"configurable": {"thread_id": "fanout"}}
    done = [(await graph.ainvoke({"round": r}, config))["done"] for r in (1, 2)]
    return _snapshot(done, [
        await store.alist_namespaces(prefix=("fanout",), limit=1000),
        [await store.aget(("fanout", f"node_{i:02d}"), "doc") for i in range(FANOUT)],
        await store.asearch(("fanout", "shared")),
        await store.asearch(("fanout", "all"), limit=1000),
        await store.asearch(("fanout", "all"), query=_QUERY_TEXT, limit=1000),
    ])
