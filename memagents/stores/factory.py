"""Choose and open a memory folder's vector index from the settings.

Kept apart from :mod:`memagents.stores.vectors` (the interface the backends implement) so the
interface never imports its implementations.
"""

from __future__ import annotations

from pathlib import Path

from memagents.config import Settings, get_settings
from memagents.stores.chroma import ChromaVectorIndex
from memagents.stores.numpy_index import NumpyVectorIndex
from memagents.stores.vectors import VectorIndex, check_index_name

__all__ = ["open_vector_index"]


def open_vector_index(
    folder: str | Path, name: str, *, settings: Settings | None = None
) -> VectorIndex:
    """Open the vector index ``name`` of a memory folder, as the settings say.

    ``vector_backend="numpy"`` gives ``NumpyVectorIndex(folder / f"{name}.npz")``;
    ``"chroma"`` (default) gives a Chroma collection ``name``, on the server at
    ``settings.chroma_url`` if set, else embedded in ``folder / "chroma"``.
    """
    check_index_name(name)
    settings = settings or get_settings()
    folder = Path(folder)
    if settings.vector_backend == "numpy":
        return NumpyVectorIndex(folder / f"{name}.npz")
    if settings.chroma_url:
        return ChromaVectorIndex(name, url=settings.chroma_url)
    return ChromaVectorIndex(name, path=folder / "chroma")
