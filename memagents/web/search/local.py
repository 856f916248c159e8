"""A local search index over a folder of pages, or pages handed in: no key, no network.

Pages are cut into passages of about 80 words. Ranking is BM25 (``rank_bm25.BM25Plus``, whose
IDF stays positive in small indexes): a page scores as its best passage plus its title (a
separate BM25 field, ``title_weight``), so a page titled with the query's name beats pages
that only mention it. With ``embeddings=`` (any spec of
:func:`memagents.models.resolve_embeddings`; ``"hash"`` works offline) a dense ranking by
cosine similarity is fused with BM25 by reciprocal rank fusion, ``sum(1 / (rrf_k + rank))``.
Ties are broken by URL, so the order is deterministic. Snippets are cut around the first query
term in the page's best passage.

The offline demo and the browse agent search the sample world's website this way::

    site = SampleWorld.generate(0).website
    index = LocalSearch.from_website(site)          # pages robots.txt allows
    index.search("Aeralla Mirith", k=3)

Example:
    >>> from memagents.web.search import LocalSearch
    >>> index = LocalSearch.from_pages([
    ...     {"url": "https://a.test/fox", "title": "Foxes", "text": "The red fox hunts."},
    ...     {"url": "https://a.test/owl", "title": "Owls", "text": "The owl hunts at night.",
    ...      "published": "2026-01-05"}])
    >>> [(r.rank, r.url) for r in index.search("owl night")]
    [(1, 'https://a.test/owl')]
    >>> len(index), index.search("hunts")[1].published
    (2, '2026-01-05')
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from rank_bm25 import BM25Plus

from memagents.config import Settings
from memagents.errors import InputError
from memagents.models import embed_query, embed_texts, resolve_embeddings
from memagents.web.search._corpus import (
    LocalDocument,
    document_from,
    read_folder,
    snippet,
    split_passages,
    tokenize,
)
from memagents.web.search.base import SearchBackend, SearchResult

__all__ = ["LocalDocument", "LocalSearch"]

FORMAT = "memagents-local-search"
VERSION = 1


class LocalSearch(SearchBackend):
    """BM25 (optionally fused with dense) search over pages held in memory.

    Args:
        documents: Pages: :class:`LocalDocument`, mappings or objects with ``url``, ``title``,
            ``text`` (or ``content``) and optionally ``published``. A repeated URL keeps its
            first page.
        embeddings: An embedding spec (``"hash"``, ``"openai:MODEL"``...) or ``Embeddings``
            object for dense scoring fused with BM25; None: BM25 only.
        settings: Settings used to resolve ``embeddings``.
        passage_words: Words per passage.
        title_weight: Weight of the title's BM25 score added to the best passage's.
        rrf_k: The constant of reciprocal rank fusion.
        snippet_chars: Snippet length in characters.

    Example:
        >>> index = LocalSearch([{"url": "https://a.test/", "title": "A", "text": "alpha"}],
        ...                     embeddings="hash:64")
        >>> index.search("alpha")[0].score > 0
        True
    """

    name = "local"

    def __init__(
        self,
        documents: Iterable[Any],
        *,
        embeddings: str | Embeddings | None = None,
        settings: Settings | None = None,
        passage_words: int = 80,
        title_weight: float = 1.0,
        rrf_k: int = 60,
        snippet_chars: int = 240,
    ) -> None:
        if passage_words < 5 or rrf_k < 1 or snippet_chars < 40 or title_weight < 0:
            raise InputError("passage_words must be >= 5, rrf_k >= 1, snippet_chars >= 40 and "
                             "title_weight >= 0.")
        seen: set[str] = set()
        docs: list[LocalDocument] = []
        for page in documents:
            doc = document_from(page)
            if doc.url not in seen:
                seen.add(doc.url)
                docs.append(doc)
        self._docs = tuple(docs)
        self._spec = embeddings if isinstance(embeddings, str) else None
        self.passage_words, self.rrf_k, self.snippet_chars = passage_words, rrf_k, snippet_chars
        self.title_weight = float(title_weight)
        self._passages: list[str] = []
        starts: list[int] = []
        for doc in docs:
            starts.append(len(self._passages))
            self._passages.extend(split_passages(doc.text, words=passage_words) or [doc.title])
        self._starts = np.asarray(starts, dtype=np.int64)
        owner = np.zeros(len(self._passages), dtype=np.int64)
        owner[self._starts[1:]] = 1
        self._owner = np.cumsum(owner) if len(owner) else owner
        self._bm25 = BM25Plus([tokenize(p) or ["\x00"] for p in self._passages]) if docs else None
        self._titles = BM25Plus([tokenize(doc.title) or ["\x00"] for doc in docs]) if docs else None
        self._embeddings: Embeddings | None = None
        self._vectors: np.ndarray | None = None
        if embeddings is not None and docs:
            self._embeddings = resolve_embeddings(embeddings, settings)
            texts = [f"{docs[d].title}\n{p}" for d, p in zip(self._owner.tolist(), self._passages)]
            self._vectors = embed_texts(self._embeddings, texts)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_pages(cls, pages: Iterable[Any], **options: Any) -> LocalSearch:
        """An index over pages (see ``documents``); ``options`` as for the constructor."""
        return cls(pages, **options)

    @classmethod
    def from_folder(
        cls, folder: str | Path, *, base_url: str | None = None, **options: Any
    ) -> LocalSearch:
        """An index over the HTML, Markdown and text files under ``folder``.

        Args:
            folder: The folder, searched recursively.
            base_url: URL prefix of the files; default: their ``file://`` URIs.
            **options: As for the constructor.

        Raises:
            InputError: no such folder, or no readable file in it.
        """
        return cls(read_folder(folder, base_url=base_url), **options)

    @classmethod
    def from_website(cls, website: Any, *, include_private: bool = False,
                     **options: Any) -> LocalSearch:
        """An index over a :class:`memagents.sample.Website` (its pages, sorted by URL).

        Args:
            website: An object with ``pages`` (URL -> page) and ``is_allowed(url)``.
            include_private: Also index pages its robots.txt disallows.
            **options: As for the constructor.
        """
        pages = [page for url, page in sorted(website.pages.items())
                 if include_private or website.is_allowed(url)]
        return cls(pages, **options)

    def save(self, path: str | Path) -> Path:
        """Write the documents and options as JSON (vectors are recomputed by :meth:`load`)."""
        target = Path(path)
        payload = {"format": FORMAT, "version": VERSION, "embeddings": self._spec,
                   "passage_words": self.passage_words, "title_weight": self.title_weight,
                   "rrf_k": self.rrf_k,
                   "snippet_chars": self.snippet_chars,
                   "documents": [doc.to_dict() for doc in self._docs]}
        target.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> LocalSearch:
        """Read an index written by :meth:`save`; ``options`` override the saved ones.

        Raises:
            InputError: the file is missing or is not a saved local index.
        """
        source = Path(path)
        try:
            payload = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot read a local search index from {str(source)!r} ({exc}): pass a file "
                "written by LocalSearch.save()."
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise InputError(
                f"{str(source)!r} is not a local search index: pass a file written by "
                "LocalSearch.save()."
            )
        keys = ("embeddings", "passage_words", "title_weight", "rrf_k", "snippet_chars")
        saved = {key: payload[key] for key in keys if payload.get(key) is not None}
        return cls(payload.get("documents") or [], **{**saved, **options})

    # -- reading ------------------------------------------------------------------------------
    @property
    def documents(self) -> tuple[LocalDocument, ...]:
        """The indexed pages, in index order."""
        return self._docs

    @property
    def passage_count(self) -> int:
        """How many passages are indexed."""
        return len(self._passages)

    def __len__(self) -> int:
        return len(self._docs)

    def _search(self, query: str, k: int) -> list[SearchResult]:
        if not self._docs or self._bm25 is None:
            return []
        terms = list(dict.fromkeys(tokenize(query)))
        lexical = np.zeros(len(self._passages))
        if terms:
            lexical = _bm25(self._bm25, terms)
        doc_lexical = np.maximum.reduceat(lexical, self._starts)
        if terms and self._titles is not None and self.title_weight:
            doc_lexical = doc_lexical + self.title_weight * _bm25(self._titles, terms)
        rankings = [self._order(np.flatnonzero(doc_lexical > 1e-9), doc_lexical)]
        best = self._best_passages(lexical)
        dense: np.ndarray | None = None
        if self._vectors is not None and self._embeddings is not None:
            dense = self._vectors @ embed_query(self._embeddings, query)
            doc_dense = np.maximum.reduceat(dense, self._starts)
            candidates = np.argsort(-doc_dense, kind="stable")[: max(50, 5 * k)]
            rankings.append(self._order(candidates, doc_dense))
        if dense is None:
            chosen = [(d, float(doc_lexical[d])) for d in rankings[0][:k]]
        else:
            fused: dict[int, float] = {}
            for ranking in rankings:
                for rank, d in enumerate(ranking, start=1):
                    fused[d] = fused.get(d, 0.0) + 1.0 / (self.rrf_k + rank)
            order = sorted(fused, key=lambda d: (-fused[d], self._docs[d].url))
            chosen = [(d, fused[d]) for d in order[:k]]
            dense_best = self._best_passages(dense)
            best = [b if doc_lexical[d] > 1e-9 else dense_best[d] for d, b in enumerate(best)]
        term_set = set(terms)
        return [
            SearchResult(
                title=self._docs[d].title, url=self._docs[d].url,
                snippet=snippet(self._passages[best[d]], term_set, chars=self.snippet_chars),
                published=self._docs[d].published, backend=self.name, rank=i, score=score,
            )
            for i, (d, score) in enumerate(chosen, start=1)
        ]

    def _order(self, docs: np.ndarray, scores: np.ndarray) -> list[int]:
        """Document indexes by descending score, ties by URL."""
        return sorted(docs.tolist(), key=lambda d: (-float(scores[d]), self._docs[d].url))

    def _best_passages(self, scores: np.ndarray) -> list[int]:
        """Index of each document's best passage (the first one on ties)."""
        ends = [*self._starts[1:].tolist(), len(self._passages)]
        return [start + int(np.argmax(scores[start:end]))
                for start, end in zip(self._starts.tolist(), ends)]

    def __repr__(self) -> str:
        dense = f", embeddings={self._spec!r}" if self._spec else ""
        return f"LocalSearch({len(self._docs)} documents, {len(self._passages)} passages{dense})"


def _bm25(index: BM25Plus, terms: list[str]) -> np.ndarray:
    """BM25+ scores minus the constant every entry gets (0 for an entry with no term)."""
    base = index.delta * sum(index.idf.get(t) or 0.0 for t in terms)
    return np.asarray(index.get_scores(terms)) - base
