"""Write a sample world to disk as JSON Lines, static HTML and a manifest of hashes.

Layout of the output directory::

    entities.jsonl  facts.jsonl  passages.jsonl  questions.jsonl  popqa.jsonl
    site/pages.jsonl                    one record per page (no HTML; facts as keys)
    site/<domain>/robots.txt
    site/<domain>/<path>                the page's HTML; "/" is written as index.html
    manifest.json                       seed, size, name, counts, sha256 of every file

Each ``popqa.jsonl`` record carries its gold passage's text as ``gold_passage`` (PopQA's
field) next to ``gold_passage_id``, so ``memagents gate eval`` and ``gate export-training`` can
use the file as it is.

Every file is written with sorted keys, ``\\n`` line ends and UTF-8, so equal worlds give
byte-identical files and equal manifests.

Example:
    >>> import tempfile
    >>> from memagents.sample import SampleWorld
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = export_sample(world, tmp)
    >>> manifest["counts"]["questions"] == len(world.questions) and "facts.jsonl" in manifest["files"]
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from memagents.errors import InputError
from memagents.sample.world import SampleWorld

__all__ = ["FORMAT_VERSION", "export_sample", "site_path"]

#: Bumped whenever the layout or a record's fields change (2: ``gold_passage`` in popqa.jsonl).
FORMAT_VERSION = 2


def site_path(url_path: str) -> str:
    """Relative file path of a page path inside its domain folder (``/`` -> ``index.html``).

    Raises:
        InputError: If the path would leave the domain folder.
    """
    rel = url_path.lstrip("/") or "index.html"
    if rel.endswith("/"):
        rel += "index.html"
    if ".." in rel.split("/"):
        raise InputError(f"Unsafe page path {url_path!r}; page paths may not contain '..'.")
    return rel


def _jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def export_sample(world: SampleWorld, directory: str | Path) -> dict[str, Any]:
    """Write ``world`` under ``directory`` and return the manifest.

    Existing files with the same names are overwritten; other files are left alone.

    Args:
        world: A generated :class:`SampleWorld`.
        directory: Output folder; created if missing.

    Returns:
        The manifest (also written as ``manifest.json``): ``format``, ``seed``, ``size``,
        ``name``, ``counts`` and ``files`` (relative path -> sha256 hex digest).

    Raises:
        InputError: If ``world`` is not a SampleWorld or ``directory`` is not a path.
    """
    if not isinstance(world, SampleWorld):
        raise InputError("export_sample needs a SampleWorld; build one with "
                         "SampleWorld.generate(seed).")
    if not isinstance(directory, (str, Path)) or not str(directory):
        raise InputError(f"directory must be a path, got {directory!r}.")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory; pass a folder path.")
    texts = {p.id: p.text for p in world.passages}
    blobs: dict[str, bytes] = {
        "entities.jsonl": _jsonl(e.to_dict() for e in world.entities),
        "facts.jsonl": _jsonl({**f.to_dict(), "passage_ids": list(world.fact_passages.get(f, ()))}
                              for f in world.facts),
        "passages.jsonl": _jsonl(p.to_dict() for p in world.passages),
        "questions.jsonl": _jsonl(q.to_dict() for q in world.questions),
        "popqa.jsonl": _jsonl({**q.to_dict(), "gold_passage": texts[q.gold_passage_id]}
                              for q in world.popqa),
        "site/pages.jsonl": _jsonl(p.to_dict() for _, p in sorted(world.website.pages.items())),
    }
    for domain, text in sorted(world.website.robots.items()):
        blobs[f"site/{domain}/robots.txt"] = text.encode("utf-8")
    for _, page in sorted(world.website.pages.items()):
        blobs[f"site/{page.domain}/{site_path(page.path)}"] = page.html.encode("utf-8")
    for rel, data in sorted(blobs.items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "seed": world.seed,
        "size": world.size,
        "name": world.name,
        "counts": {"entities": len(world.entities), "facts": len(world.facts),
                   "passages": len(world.passages), "questions": len(world.questions),
                   "popqa": len(world.popqa), "pages": len(world.website.pages),
                   "domains": len(world.website.robots)},
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(blobs.items())},
    }
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    (root / "manifest.json").write_bytes(text.encode("utf-8"))
    return manifest
