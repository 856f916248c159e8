"""A small fictional world the project owns, generated deterministically from a seed.

Entities with invented names and popularity counts, typed facts, passages with exact triples,
multi-hop questions with their fact chains and gold passages, PopQA-style questions, and an
offline website with robots.txt, all known exactly and absent from any model's training data.
Later snapshots in time change some facts and add fresh news pages
(``SampleWorld.generate(seed, snapshot=k)``), and :func:`serve_website` serves the website on
loopback under its domain names. It feeds the demo, the tests of every capability and the
benchmark synthesizer's offline web.

Example:
    >>> from memagents.sample import SampleWorld
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> q = world.questions[0]
    >>> all(world.passage(pid) is not None for pid in q.gold_passage_ids) and 2 <= q.hops <= 4
    True
"""

from __future__ import annotations

from memagents.sample.changes import MAX_SNAPSHOT as MAX_SNAPSHOT
from memagents.sample.changes import FactChange, snapshot_date
from memagents.sample.export import FORMAT_VERSION as FORMAT_VERSION
from memagents.sample.export import export_sample
from memagents.sample.schema import ENTITY_TYPES as ENTITY_TYPES
from memagents.sample.schema import RELATIONS as RELATIONS
from memagents.sample.schema import (
    Entity,
    Fact,
    Passage,
    PopQuestion,
    Question,
    Relation,
)
from memagents.sample.snapshots import SnapshotDiff
from memagents.sample.webserver import WebServer, serve_website
from memagents.sample.website import Page, Website
from memagents.sample.world import SIZES as SIZES
from memagents.sample.world import SampleWorld

# The constants ENTITY_TYPES, FORMAT_VERSION, MAX_SNAPSHOT, RELATIONS and SIZES are importable
# from here too; they stay out of __all__ so that one order satisfies both `sorted()` and ruff's RUF022.
__all__ = [
    "Entity",
    "Fact",
    "FactChange",
    "Page",
    "Passage",
    "PopQuestion",
    "Question",
    "Relation",
    "SampleWorld",
    "SnapshotDiff",
    "WebServer",
    "Website",
    "export_sample",
    "serve_website",
    "snapshot_date",
]
