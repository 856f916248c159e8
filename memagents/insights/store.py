"""``InsightStore``: agents that learn short insights by contrasting failed and successful
attempts (CORE, ``../shared/docs/methods/core.md``), on the capability contract.

One folder holds a store: ``insights.db`` (SQLite, WAL) with problems, rollouts, insights and
their per-problem utilities, embeddings beside the rows; a folder lock keeps other processes
out. Everything is namespaced (one namespace per task domain, say).

* Learning: :meth:`InsightStore.train` (baselines, failure-biased sampling, retrieval with
  exploration, credit ``r − b_p``, contrastive reflection, dedup, admission test; resumable),
  :meth:`InsightStore.record_outcome` (learn online from an outcome, optionally reflecting).
* Using: :meth:`InsightStore.select` (what to inject for a problem), :meth:`solve`,
  :meth:`evaluate` (memory frozen; with / without / random insights).
* Upkeep: :meth:`prune` (consolidation and pruning), :meth:`insights`, :meth:`stats`.
* The contract: ``add`` stores insights written by hand, ``search(problem)`` ranks the
  insights for a problem (score: mean utility ``r − b_p`` on similar training problems, 0
  without evidence; cosine breaks ties), ``get`` / ``delete`` by id. The shared adapters
  follow: ``node()``, ``as_retriever()``, ``as_tools()`` and ``as_store()``
  (``create_react_agent(model, tools, store=insights.as_store())``).

Example:
    >>> import tempfile
    >>> with InsightStore.open(tempfile.mkdtemp(), embeddings="hash") as store:
    ...     _ = store.add(["Round the number of buses up.", "Count both ends of a fence."])
    ...     hits = store.search("How many buses carry 130 pupils, 40 per bus?", k=1)
    ...     hits[0].text, hits[0].score
    ('Round the number of buses up.', 0.0)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from typing_extensions import Self

from memagents.adapters.facade import Adaptable
from memagents.base.memory import Memory
from memagents.base.ops import AddOp, DeleteOp, GetOp, Op, SearchOp
from memagents.base.results import AddResult, DeleteResult, SearchHits
from memagents.config import Settings, get_settings
from memagents.errors import ConfigError, InputError, NamespaceError
from memagents.insights.db import InsightDB
from memagents.insights.evaluation import EvalReport, EvalResult, evaluate
from memagents.insights.learning import LearningMethods
from memagents.insights.parts import Solver, StoreParts
from memagents.insights.pruning import PruneReport, prune
from memagents.insights.records import Attempt, Insight, InsightHit, Problem, as_problems
from memagents.insights.reflection import insight_id
from memagents.insights.retrieval import Ranker, Selection
from memagents.insights.settings import InsightSettings
from memagents.insights.solvers import LLMSolver
from memagents.models import Budget, StructuredLLM, embed_texts, embeddings_id, resolve_embeddings
from memagents.models.usage import Usage
from memagents.stores import FolderLock

__all__ = ["InsightStore"]

SPLITS = ("train", "eval", "online")


class InsightStore(Memory, Adaptable, LearningMethods):
    """The insight store in a folder; build it with :meth:`open` (see the module docstring).

    ``add(texts, *, ids=None, metadata=None, namespace=None, label=None, tags=None)`` stores
    insights written by hand; ``search(problem, k=5, *, namespace=None, explore=False)``
    ranks insights for a problem; ``get`` / ``delete`` take one id or a list.
    """

    add_options = frozenset({"label", "tags"})
    search_options = frozenset({"explore"})

    def __init__(self, folder: Path, *, db: InsightDB, lock: FolderLock, parts: StoreParts,
                 embeddings: Embeddings, namespace: str, config: Settings) -> None:
        self._folder, self._db, self._lock, self._parts = folder, db, lock, parts
        self._embeddings, self._namespace, self._config = embeddings, namespace, config
        self._closed = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, folder: str | Path | None = None, *, llm: Any = None,
             embeddings: str | Embeddings | None = None,
             settings: InsightSettings | None = None, namespace: str = "default",
             budget: Budget | None = None, config: Settings | None = None,
             **overrides: Any) -> InsightStore:
        """Open (or create) the store in ``folder`` (default: ``<home>/insights``).

        Args:
            folder: The store folder; created when missing.
            llm: Chat model (spec, langchain model or StructuredLLM) for solving and
                reflection; without one the store ranks, stores and prunes, and training
                raises :class:`~memagents.errors.ConfigError`.
            embeddings: Embedding model or spec (default: the ``embeddings`` setting). A
                store remembers the model it was built with and refuses another one.
            settings: :class:`InsightSettings` (default: the defaults, with the method the
                store was created with).
            namespace: Default namespace.
            budget: Limits on LLM calls and tokens for the store's lifetime.
            config: memagents settings (default: from ``MEMAGENTS_*``).
            **overrides: :class:`InsightSettings` fields (``top_k=10``).

        Raises:
            StoreLockedError: Another process has the folder open.
            ConfigError: Other embeddings or another method than the store was built with.
        """
        config = config or get_settings()
        _check_namespace(namespace)
        root = Path(folder) if folder is not None else Path(config.home) / "insights"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the insight store folder {str(root)!r} "
                              f"({exc.strerror or exc}); pass a writable folder.") from exc
        lock = FolderLock(root)
        lock.acquire(timeout=0)
        db: InsightDB | None = None
        try:
            emb = resolve_embeddings(embeddings or config.embeddings, config)
            db = InsightDB(root / "insights.db")
            _identity(db, "embeddings", embeddings_id(emb), "embeddings=")
            stored = db.db.get_meta("method")
            chosen = settings or InsightSettings(method=stored or "core")
            if overrides:
                chosen = chosen.with_(**overrides)
            _identity(db, "method", chosen.method, "InsightSettings(method=...)")
            structured = StructuredLLM.coerce(llm, settings=config, budget=budget)
            tokenizer = structured.tokenizer
            usage = structured.usage

            def embed(texts: Sequence[str]) -> np.ndarray:
                return embed_texts(emb, list(texts), usage=usage)

            parts = StoreParts(db=db, ranker=Ranker(db, embed, chosen, tokenizer),
                               settings=chosen, llm=structured, embed=embed,
                               tokenizer=tokenizer)
            return cls(root, db=db, lock=lock, parts=parts, embeddings=emb,
                       namespace=namespace, config=config)
        except BaseException:
            if db is not None:
                db.close()
            lock.release()
            raise

    def close(self) -> None:
        """Release the folder lock and the database (idempotent)."""
        if not self._closed:
            self._closed = True
            self._db.close()
            self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InsightStore({str(self._folder)!r}, method={self.settings.method!r})"

    # ------------------------------------------------------------------ attributes
    @property
    def folder(self) -> Path:  # type: ignore[override]
        """The store folder."""
        return self._folder

    @property
    def namespace(self) -> str:  # type: ignore[override]
        """The default namespace."""
        return self._namespace

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def settings(self) -> InsightSettings:
        """The store's :class:`InsightSettings`."""
        return self._parts.settings

    @property
    def llm(self) -> StructuredLLM:
        """The structured model path."""
        return self._parts.llm

    @property
    def usage(self) -> Usage:
        """Running usage of the store's model and embedding calls."""
        return self._parts.llm.usage

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model."""
        return self._embeddings

    @property
    def parts(self) -> StoreParts:
        """The store's parts (tables, ranker, model...), for tooling."""
        return self._parts

    @property
    def max_input_chars(self) -> int:  # type: ignore[override]
        """The longest insight accepted by ``add`` (the ``max_input_chars`` setting)."""
        return int(self._config.max_input_chars)

    def configure(self, **changes: Any) -> InsightSettings:
        """Change settings of the open store (``top_k=10``); the method cannot change."""
        new = self.settings.with_(**changes)
        if new.method != self.settings.method:
            raise ConfigError("a store keeps the method it was created with; open another "
                              "folder for the other method.")
        self._parts.settings = new
        self._parts.ranker.settings = new
        return new

    def _ns(self, namespace: str | None) -> str:
        if self._closed:
            raise InputError("the insight store is closed: open it again.")
        ns = namespace or self._namespace
        _check_namespace(ns)
        return ns

    # ------------------------------------------------------------------ problems
    def add_problems(self, problems: Sequence[Any], *, split: str = "train",
                     namespace: str | None = None) -> list[str]:
        """Store problems (:class:`Problem`, dicts or texts) of a split (``train``, ``eval``
        or ``online``); known ids are kept as they are. Returns the ids of the new ones."""
        ns = self._ns(namespace)
        if split not in SPLITS:
            raise InputError(f"split {split!r} is unknown: use one of {', '.join(SPLITS)}.")
        items = as_problems(problems)
        known = self._db.known_problems(ns, [p.id for p in items])
        new = [p for p in items if p.id not in known]
        if not new:
            return []
        return self._db.add_problems(ns, new, split, self._parts.embed([p.text for p in new]))

    def problems(self, split: str | None = None, *, namespace: str | None = None
                 ) -> list[Problem]:
        """Stored problems (of one split)."""
        return self._db.problems(self._ns(namespace), split)

    # ------------------------------------------------------------------ using
    def select(self, problem: Any, *, explore: bool = False, namespace: str | None = None,
               k: int | None = None) -> Selection:
        """The insights to inject for ``problem`` (a text or :class:`Problem`): top ``k``
        by utility on similar problems (plus exploration when ``explore``), within the
        token budget; its notes say when the store is empty."""
        p = Problem.of(problem)
        return self._parts.ranker.select(self._ns(namespace), p.text, explore=explore,
                                         problem_id=p.id, top_k=k)

    def _solver(self, solver: Solver | None) -> Solver:
        """``solver``, else one structured call with the store's model (which must be
        configured by the time a rollout runs)."""
        if solver is not None:
            return solver
        parts = self._parts

        def default(problem: Problem, insights: Sequence[str], *,
                    block: str | None = None) -> Attempt:
            return LLMSolver(parts.llm)(problem, insights, block=block)

        return default

    def solve(self, problem: Any, *, solver: Solver | None = None,
              namespace: str | None = None) -> tuple[Attempt, Selection]:
        """Solve ``problem`` with its selected insights (nothing is recorded)."""
        p = Problem.of(problem)
        selection = self.select(p, namespace=namespace)
        return self._solver(solver)(p, selection.texts, block=selection.block), selection

    def evaluate(self, problems: Sequence[Any], *, mode: str = "core",
                 solver: Solver | None = None, verifier: Any = None,
                 namespace: str | None = None, seed: int = 0, record: bool = False,
                 on_result: Callable[[EvalResult], Any] | None = None) -> EvalReport:
        """Held-out accuracy with the memory frozen; ``mode`` ``core`` (the store's
        selection), ``none`` or ``random`` (see :mod:`memagents.insights.evaluation`).
        ``record=True`` adds the point to the learning curve."""
        ns = self._ns(namespace)
        report = evaluate(self._parts, ns, as_problems(problems), solver=self._solver(solver),
                          verifier=verifier, mode=mode, seed=seed, on_result=on_result)
        if record and report.n:
            low, high = report.ci()
            self._db.add_point(ns, mode, report.rollouts, report.accuracy, low, high, report.n)
        return report

    # ------------------------------------------------------------------ upkeep
    def prune(self, *, namespace: str | None = None, min_uses: int | None = None,
              max_utility: float | None = None, merge_threshold: float | None = None,
              dry_run: bool = False) -> PruneReport:
        """Consolidate near-duplicates and prune insights whose utility stays at or below
        ``max_utility`` after ``min_uses`` uses (see :mod:`memagents.insights.pruning`)."""
        return prune(self._parts, self._ns(namespace), min_uses=min_uses,
                     max_utility=max_utility, merge_threshold=merge_threshold,
                     dry_run=dry_run)

    def insights(self, *, status: str | None = "active", namespace: str | None = None
                 ) -> list[Insight]:
        """Stored insights (``status=None``: pruned ones too), in creation order."""
        return self._db.insights(self._ns(namespace), status=status)

    def insight(self, insight_id: str, *, namespace: str | None = None) -> Insight | None:
        """One insight by id (any status), or ``None``."""
        found = self._db.insights(self._ns(namespace), status=None, ids=[insight_id])
        return found[0] if found else None

    def insight_uses(self, insight_id: str, *, namespace: str | None = None
                     ) -> dict[str, tuple[int, float]]:
        """Problem id -> ``(n(i,p), ū(i,p))`` of one insight."""
        return self._db.uses(self._ns(namespace), [insight_id]).get(insight_id, {})

    def curve(self, *, namespace: str | None = None) -> dict[str, list[tuple[int, float,
                                                                            Any, Any]]]:
        """Learning-curve points by series: ``(rollouts, accuracy, low, high)``."""
        return self._db.curve(self._ns(namespace))

    def stats(self, *, namespace: str | None = None) -> dict[str, Any]:
        """Counts: problems by split, rollouts by kind and against the budget, insights
        by status, candidates by fate, counters."""
        ns = self._ns(namespace)
        problems = {s: len(self._db.problems(ns, s)) for s in SPLITS}
        everything = self._db.insights(ns, status=None)
        return {"namespace": ns, "method": self.settings.method, "problems": problems,
                "baselines": len(self._db.baselines(ns)),
                "rollouts": self._db.rollout_counts(ns), "budget_used": self._db.used(ns),
                "steps": self._db.steps_done(ns),
                "insights": {"active": sum(i.status == "active" for i in everything),
                             "pruned": sum(i.status == "pruned" for i in everything)},
                "candidates": self._db.candidate_counts(ns),
                "counters": self._db.counters(ns)}

    # ------------------------------------------------------------------ the contract
    def batch(self, ops: Sequence[Op]) -> list[Any]:
        """Run contract operations in order (see :class:`~memagents.base.Memory`)."""
        return [self._op(op) for op in ops]

    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        """Async twin of :meth:`batch` (SQLite and embeddings in a worker thread)."""
        return await asyncio.to_thread(self.batch, ops)

    def _op(self, op: Op) -> Any:
        ns = self._ns(op.namespace)
        if isinstance(op, AddOp):
            return self._add(op, ns)
        if isinstance(op, SearchOp):
            hits = self._parts.ranker.rank(ns, op.query, explore=bool(
                op.options.get("explore", False)))
            return SearchHits(list(hits)[: op.k], notes=hits.notes)
        if isinstance(op, GetOp):
            return [InsightHit(id=i.id, text=i.text, namespace=ns, metadata=dict(i.metadata),
                               utility=i.utility or 0.0, uses=i.uses)
                    for i in self._db.insights(ns, status=None, ids=list(op.ids))]
        if isinstance(op, DeleteOp):
            gone = self._db.delete_insights(ns, list(op.ids))
            return DeleteResult(deleted=gone, unknown=[i for i in op.ids if i not in gone])
        raise InputError(f"unknown operation {op!r:.80}.")

    def _add(self, op: AddOp, ns: str) -> AddResult:
        result = AddResult(namespace=ns)
        texts, ids, metas = [], [], []
        for n, item in enumerate(op.items):
            text = getattr(item, "page_content", item)
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"insight #{n} must be a non-empty string or Document.")
            if len(text) > self.max_input_chars:
                raise InputError(f"insight #{n} has {len(text)} characters, over "
                                 f"max_input_chars={self.max_input_chars}.")
            given = op.ids[n] if op.ids else getattr(item, "id", None)
            texts.append(" ".join(text.split()))
            ids.append(given or insight_id(ns, text))
            metas.append(dict(op.metadata[n]) if op.metadata
                         else dict(getattr(item, "metadata", None) or {}))
        if not texts:
            return result
        vectors = self._parts.embed(texts)
        tags = op.options.get("tags") or ()
        label = str(op.options.get("label") or "specific")
        votes = self.settings.expel_initial_votes if self.settings.method == "expel" else 0
        with self._db.db.transaction("add insights"):
            for text, iid, meta, vec in zip(texts, ids, metas, vectors, strict=True):
                outcome = self._db.add_insight(ns, Insight(
                    id=iid, text=text, namespace=ns, label=label,
                    tags=(tags,) if isinstance(tags, str) else tuple(tags), metadata=meta,
                    votes=votes, source={"how": "manual"}), vec)
                getattr(result, outcome).append(iid)
                result.ids.append(iid)
        return result


def _identity(db: InsightDB, key: str, value: str, option: str) -> None:
    stored = db.db.get_meta(key)
    if stored is None:
        db.db.set_meta(key, value)
    elif stored != value:
        raise ConfigError(f"this insight store was built with {key} {stored!r}, not {value!r}: "
                          f"open it with the same {option} or use another folder.")


def _check_namespace(namespace: Any) -> None:
    if not isinstance(namespace, str) or not namespace.strip() or len(namespace) > 256:
        raise NamespaceError(f"namespace must be a non-empty string of at most 256 "
                             f"characters, got {namespace!r:.60}.")
