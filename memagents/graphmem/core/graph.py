"""The in-memory, storage-free, order-independent knowledge graph of graph memory.

:class:`GraphIndex` turns passages with their OpenIE triples into the HippoRAG 2 graph
(``docs/methods/hipporag2.md`` §2.2):

* **nodes**: one per passage, one per normalised phrase that is a subject or object of a kept
  triple (predicates live only inside facts);
* **fact edges**: a phrase pair's weight counts the triples, over all passages, that join them
  (directed ``w[s,o] += 1`` and ``w[o,s] += 1``, predicate dropped, self-loops dropped);
* **passage edges**: weight 1 between a passage and each phrase of its triples;
* **synonymy edges**: see :mod:`memagents.graphmem.core.synonymy`; a synonymy weight overwrites the
  fact count of the same direction;
* the graph is undirected, with ``W[a,b] = w[a,b] + w[b,a]`` when
  ``GraphConfig.parallel_edge_doubling`` (what igraph computes from the official graph).

The state is a pure function of the set of passages: ``add(A); add(B)`` equals ``add(A + B)``
and ``add(A + B); remove(B)`` equals ``add(A)``, as :meth:`GraphIndex.canonical` shows (this
assumes ``embed`` returns the same vector for the same string, which a cache guarantees).
Every change returns a :class:`GraphDelta` for persistence. Search matrices
(:class:`GraphMatrices`) are built lazily and cached until the next change.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.graph import GraphIndex
    >>> def embed(texts):  # tiny stand-in: one-hot on the first letter
    ...     out = np.zeros((len(texts), 26), np.float32)
    ...     for i, t in enumerate(texts):
    ...         out[i, (ord(t.lower()[0]) - 97) % 26] = 1.0
    ...     return out
    >>> index = GraphIndex(embed=embed)
    >>> delta = index.add([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")])])
    >>> delta.added_passages, sorted(index.phrases())
    (('p1',), ['italy', 'rome'])
    >>> [(e.u[1], e.v[1], e.weight, e.kind) for e in index.edges()]
    [('p1', 'italy', 1.0, 'passage'), ('p1', 'rome', 1.0, 'passage'), ('italy', 'rome', 2.0, 'fact')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from memagents.errors import InputError
from memagents.graphmem.core.config import GraphConfig
from memagents.graphmem.core.delta import PASSAGE, PHRASE, Edge, GraphDelta, NodeKey, PassageInput
from memagents.graphmem.core.matrices import GraphMatrices, GraphSnapshot, build_matrices
from memagents.graphmem.core.normalize import Triple, clean_triples, fact_text, normalize_triple
from memagents.graphmem.core.synonymy import SynonymIndex
from memagents.graphmem.core.vector_cache import EmbedFn, VectorCache

__all__ = ["PASSAGE", "PHRASE", "Edge", "GraphDelta", "GraphIndex", "NodeKey", "PassageInput"]


@dataclass(frozen=True, slots=True)
class _Passage:
    text: str
    triples: tuple[Triple, ...]  # cleaned, as given (for identity and export)
    norm: tuple[Triple, ...]  # normalised, one per kept triple
    phrases: frozenset[str]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class GraphIndex:
    """The HippoRAG 2 knowledge graph over a set of passages, updated incrementally.

    Args:
        config: Graph construction settings.
        embed: ``embed(list_of_strings) -> (n, dim) float32`` with L2-normalised rows. Called
            once per :meth:`add` with only the strings never seen before.
    """

    def __init__(self, config: GraphConfig | None = None, *, embed: EmbedFn) -> None:
        self.config = config or GraphConfig()
        self.embed = embed
        self.vectors = VectorCache()
        self._passages: dict[str, _Passage] = {}
        self._phrase_passages: dict[str, set[str]] = {}
        self._fact_count: dict[tuple[str, str], int] = {}
        self._facts: dict[Triple, int] = {}
        self._syn = SynonymIndex(self.config)
        self._journal: dict[tuple[NodeKey, NodeKey], tuple[float, str]] | None = None
        self._version = 0
        self._matrices: GraphMatrices | None = None
        self.dropped_triples = 0

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._passages)

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self._passages

    @property
    def version(self) -> int:
        """Incremented by every change; matrices are cached per version."""
        return self._version

    def passages(self) -> list[str]:
        """Passage ids, sorted."""
        return sorted(self._passages)

    def passage_text(self, passage_id: str) -> str:
        """The text of a passage (``KeyError`` when absent)."""
        return self._passages[passage_id].text

    def passage_triples(self, passage_id: str) -> tuple[Triple, ...]:
        """The kept triples of a passage, as given (not normalised)."""
        return self._passages[passage_id].triples

    def passage_facts(self, passage_id: str) -> tuple[Triple, ...]:
        """The normalised facts of a passage, one per kept triple (``KeyError`` when absent)."""
        return self._passages[passage_id].norm

    def phrases(self) -> list[str]:
        """Phrase nodes, sorted."""
        return sorted(self._phrase_passages)

    def phrase_passages(self, phrase: str) -> frozenset[str]:
        """Passages whose triples mention ``phrase`` (empty when unknown)."""
        return frozenset(self._phrase_passages.get(phrase, ()))

    def facts(self) -> list[Triple]:
        """Distinct normalised facts, sorted."""
        return sorted(self._facts)

    def nodes(self) -> list[NodeKey]:
        """All nodes, sorted: passages first, then phrases."""
        return [(PASSAGE, p) for p in sorted(self._passages)] + [
            (PHRASE, p) for p in sorted(self._phrase_passages)
        ]

    def _phrase_edge(self, a: str, b: str) -> tuple[float, str]:
        syn = self._syn.directed
        count = self._fact_count.get((a, b) if a < b else (b, a), 0)
        sab = syn.get((a, b))
        sba = syn.get((b, a))
        wab = float(count) if sab is None else sab
        wba = float(count) if sba is None else sba
        weight = wab + wba if self.config.parallel_edge_doubling else max(wab, wba)
        if sab is None and sba is None:
            return weight, "fact"
        return weight, ("fact+synonym" if count else "synonym")

    def _state(self, u: NodeKey, v: NodeKey) -> tuple[float, str]:
        """``(weight, kind)`` of the edge ``u < v``; ``(0.0, "")`` when absent."""
        if u[0] == PASSAGE:  # passages sort before phrases, so u is the passage
            rec = self._passages.get(u[1])
            return (1.0, "passage") if rec is not None and v[1] in rec.phrases else (0.0, "")
        weight, kind = self._phrase_edge(u[1], v[1])
        return (weight, kind) if weight else (0.0, "")

    def edges(self) -> list[Edge]:
        """Every edge with its effective weight, sorted by ``(u, v)``."""
        out: list[Edge] = []
        for pid in sorted(self._passages):
            for ph in sorted(self._passages[pid].phrases):
                out.append(Edge(u=(PASSAGE, pid), v=(PHRASE, ph), weight=1.0, kind="passage"))
        pairs = set(self._fact_count)
        pairs.update(_pair(a, b) for a, b in self._syn.directed)
        for a, b in sorted(pairs):
            weight, kind = self._phrase_edge(a, b)
            out.append(Edge(u=(PHRASE, a), v=(PHRASE, b), weight=weight, kind=kind))
        return out

    def canonical(self, ndigits: int = 6) -> tuple[Any, ...]:
        """A sorted, hashable description of nodes, weighted edges and facts.

        Two indexes over the same passages have equal ``canonical()`` however they got there.
        """
        return (
            tuple(self.nodes()),
            tuple((e.u, e.v, round(e.weight, ndigits)) for e in self.edges()),
            tuple(self.facts()),
        )

    def stats(self) -> dict[str, int]:
        """Node, edge and fact counts."""
        kinds: dict[str, int] = {"passage": 0, "fact": 0, "synonym": 0, "fact+synonym": 0}
        for e in self.edges():
            kinds[e.kind] += 1
        return {
            "passages": len(self._passages),
            "phrases": len(self._phrase_passages),
            "nodes": len(self._passages) + len(self._phrase_passages),
            "facts": len(self._facts),
            "edges": sum(kinds.values()),
            "passage_edges": kinds["passage"],
            "fact_edges": kinds["fact"] + kinds["fact+synonym"],
            "synonymy_edges": kinds["synonym"] + kinds["fact+synonym"],
            "directed_synonymy": len(self._syn.directed),
            "dropped_triples": self.dropped_triples,
            "cached_vectors": len(self.vectors),
        }

    def to_networkx(self) -> Any:
        """The graph as a ``networkx.Graph`` (export and drawing only).

        Nodes are ``NodeKey`` tuples with a ``kind`` attribute; edges carry ``weight`` and
        ``kind``.
        """
        import networkx as nx

        g = nx.Graph()
        for node in self.nodes():
            g.add_node(node, kind=node[0])
        for e in self.edges():
            g.add_edge(e.u, e.v, weight=e.weight, kind=e.kind)
        return g

    def matrices(self) -> GraphMatrices:
        """Search matrices for the current version (built on first use, then cached)."""
        if self._matrices is None or self._matrices.version != self._version:
            self._matrices = build_matrices(self.snapshot())
        return self._matrices

    # ---------------------------------------------------------------- writing
    def add(self, passages: Iterable[PassageInput]) -> GraphDelta:
        """Add passages (upsert: an id with different content replaces the old passage).

        Triples are cleaned with :func:`~memagents.graphmem.core.normalize.clean_triples`; malformed
        ones are counted in ``GraphDelta.dropped_triples``. Embedding happens before any state
        changes, so a failing ``embed`` leaves the index as it was.

        Raises:
            InputError: A passage is not ``(id, text, triples)`` of strings, or an id repeats.
            EmbeddingError: ``embed`` failed.
        """
        batch: dict[str, _Passage] = {}
        dropped = 0
        for item in passages:
            try:
                pid, text, raw = item
            except (TypeError, ValueError):
                raise InputError(
                    "each passage must be a (passage_id, text, triples) tuple."
                ) from None
            if not isinstance(pid, str) or not pid or not isinstance(text, str):
                raise InputError("passage_id must be a non-empty str and text a str.")
            if pid in batch:
                raise InputError(f"passage id {pid!r} appears twice in one add() call.")
            if isinstance(raw, (str, bytes)):
                raise InputError(f"triples of passage {pid!r} must be a list of triples.")
            kept, n_bad = clean_triples(raw)
            dropped += n_bad
            norm = tuple(normalize_triple(t) for t in kept)
            phrases = frozenset(p for s, _, o in norm for p in (s, o))
            batch[pid] = _Passage(text, tuple(kept), norm, phrases)
        unchanged = tuple(p for p, r in batch.items() if self._passages.get(p) == r)
        replaced = tuple(p for p in batch if p in self._passages and p not in unchanged)
        new = [(p, r) for p, r in batch.items() if p not in unchanged]
        strings = [r.text for _, r in new]
        strings += sorted({ph for _, r in new for ph in r.phrases})
        strings += sorted({fact_text(t) for _, r in new for t in r.norm})
        self.vectors.ensure(strings, self.embed)
        self.dropped_triples += dropped
        return self._mutate(
            attach=new,
            detach=list(replaced),
            dropped=dropped,
            added_ids=tuple(p for p, _ in new if p not in replaced),
            replaced=replaced,
            unchanged=unchanged,
        )

    def remove(self, passage_ids: Iterable[str]) -> GraphDelta:
        """Remove passages; ids that are not present are reported, not an error."""
        ids = list(dict.fromkeys(passage_ids))
        present = [p for p in ids if p in self._passages]
        unknown = tuple(p for p in ids if p not in self._passages)
        return self._mutate(attach=[], detach=present, removed=tuple(present), unknown=unknown)

    def _touch(self, u: NodeKey, v: NodeKey) -> None:
        key = (u, v) if u < v else (v, u)
        if self._journal is not None and key not in self._journal:
            self._journal[key] = self._state(*key)

    def _touch_phrases(self, a: str, b: str) -> None:
        self._touch((PHRASE, a), (PHRASE, b))

    def _mutate(
        self,
        *,
        attach: list[tuple[str, _Passage]],
        detach: list[str],
        dropped: int = 0,
        **ids: tuple[str, ...],
    ) -> GraphDelta:
        before_phrases = set(self._phrase_passages)
        before_facts = set(self._facts)
        before_nodes = {(PASSAGE, p) for p in self._passages}
        self._journal = {}
        for pid in detach:
            self._detach(pid)
        for pid, rec in attach:
            self._attach(pid, rec)
        after_phrases = set(self._phrase_passages)
        added_ph = after_phrases - before_phrases
        removed_ph = before_phrases - after_phrases
        if added_ph or removed_ph:
            self._syn.update(
                sorted(after_phrases),
                added=added_ph,
                removed=removed_ph,
                vectors=self.vectors,
                touch=self._touch_phrases,
            )
        journal, self._journal = self._journal, None
        changed: list[Edge] = []
        gone: list[tuple[NodeKey, NodeKey]] = []
        for (u, v), old in sorted(journal.items()):
            new = self._state(u, v)
            if new[0] == 0.0:
                if old[0] != 0.0:
                    gone.append((u, v))
            elif new != old:
                changed.append(Edge(u=u, v=v, weight=new[0], kind=new[1]))
        after_nodes = {(PASSAGE, p) for p in self._passages}
        before_nodes |= {(PHRASE, p) for p in before_phrases}
        after_nodes |= {(PHRASE, p) for p in after_phrases}
        after_facts = set(self._facts)
        self._version += 1
        return GraphDelta(
            added_passages=ids.get("added_ids", ()),
            replaced_passages=ids.get("replaced", ()),
            unchanged_passages=ids.get("unchanged", ()),
            removed_passages=ids.get("removed", ()),
            unknown_passages=ids.get("unknown", ()),
            added_nodes=tuple(sorted(after_nodes - before_nodes)),
            removed_nodes=tuple(sorted(before_nodes - after_nodes)),
            added_facts=tuple(sorted(after_facts - before_facts)),
            removed_facts=tuple(sorted(before_facts - after_facts)),
            changed_edges=tuple(changed),
            removed_edges=tuple(gone),
            dropped_triples=dropped,
        )

    def _attach(self, pid: str, rec: _Passage) -> None:
        for ph in sorted(rec.phrases):
            self._touch((PASSAGE, pid), (PHRASE, ph))
        self._passages[pid] = rec
        for ph in rec.phrases:
            self._phrase_passages.setdefault(ph, set()).add(pid)
        for t in rec.norm:
            self._facts[t] = self._facts.get(t, 0) + 1
            s, _, o = t
            if s != o:
                self._touch_phrases(s, o)
                key = _pair(s, o)
                self._fact_count[key] = self._fact_count.get(key, 0) + 1

    def _detach(self, pid: str) -> None:
        rec = self._passages[pid]
        for ph in sorted(rec.phrases):
            self._touch((PASSAGE, pid), (PHRASE, ph))
        for t in rec.norm:
            left = self._facts[t] - 1
            if left:
                self._facts[t] = left
            else:
                del self._facts[t]
            s, _, o = t
            if s != o:
                self._touch_phrases(s, o)
                key = _pair(s, o)
                count = self._fact_count[key] - 1
                if count:
                    self._fact_count[key] = count
                else:
                    del self._fact_count[key]
        for ph in rec.phrases:
            holders = self._phrase_passages[ph]
            holders.discard(pid)
            if not holders:
                del self._phrase_passages[ph]
        del self._passages[pid]

    # ------------------------------------------------------- matrix building
    def snapshot(self) -> GraphSnapshot:
        """The values the search matrices are built from, for the current version.

        Phrases, passages and facts sorted; the directed phrase weights (fact counts both
        ways, overwritten by synonymy weights); each passage's text and phrases; each phrase's
        passage count. The containers are fresh (or frozen), so later changes to the index do
        not show in them; the vector cache is shared and must be read before the next change.
        """
        directed: dict[tuple[str, str], float] = {}
        for (a, b), c in self._fact_count.items():
            directed[(a, b)] = float(c)
            directed[(b, a)] = float(c)
        directed.update(self._syn.directed)
        phrases = self.phrases()
        passages = self.passages()
        return GraphSnapshot(
            version=self._version,
            phrases=tuple(phrases),
            passages=tuple(passages),
            directed=directed,
            facts=tuple(self.facts()),
            passage_texts=tuple(self._passages[p].text for p in passages),
            passage_phrases=tuple(self._passages[p].phrases for p in passages),
            phrase_passage_count=tuple(len(self._phrase_passages[p]) for p in phrases),
            parallel_edge_doubling=self.config.parallel_edge_doubling,
            vectors=self.vectors,
        )

    def prune_vectors(self) -> int:
        """Drop cached vectors of strings no longer in the graph; return how many."""
        live: set[str] = {r.text for r in self._passages.values()}
        live.update(self._phrase_passages)
        live.update(fact_text(t) for t in self._facts)
        stale = [t for t in self.vectors if t not in live]
        return self.vectors.discard(stale)
