"""One VectorIndex suite over three backends: numpy, embedded Chroma and a real Chroma server.

The server is started once per session with the ``chroma`` CLI from the running venv, on a free
loopback port, with telemetry off; those cases are marked ``integration``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from memagents.config import Settings
from memagents.errors import ConfigError, InputError, StorageError
from memagents.stores import NumpyVectorIndex, VectorIndex, open_vector_index
from memagents.stores.chroma import ChromaVectorIndex, parse_chroma_url

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

OpenIndex = Callable[..., VectorIndex]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Chroma server started for this test session."""
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        pytest.skip(f"the chroma CLI is not installed next to {sys.executable}")
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log_path = data.parent / "chroma-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(exe), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=2) as http:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"chroma run exited early:\n{log_path.read_text(errors='replace')}")
                try:
                    if http.get(f"{url}/api/v2/heartbeat").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"chroma server not up after 60 s:\n{log_path.read_text(errors='replace')}"
                    )
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("chroma", id="chroma-embedded"),
    pytest.param("server", id="chroma-server", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_index(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpenIndex]:
    """Open (or reopen) a named index of the current backend; closed at teardown."""
    url = request.getfixturevalue("chroma_server") if backend == "server" else None
    prefix = uuid.uuid4().hex[:8]  # the server is shared by the session
    opened: list[VectorIndex] = []

    def make(name: str = "vecs", batch_size: int | None = None) -> VectorIndex:
        if backend == "numpy":
            index: VectorIndex = NumpyVectorIndex(tmp_path / f"{name}.npz")
        elif backend == "chroma":
            index = ChromaVectorIndex(name, path=tmp_path / "chroma", batch_size=batch_size)
        else:
            index = ChromaVectorIndex(f"{prefix}-{name}", url=url, batch_size=batch_size)
        opened.append(index)
        return index

    yield make
    for index in opened:
        index.close()


@pytest.fixture
def index(open_index: OpenIndex) -> VectorIndex:
    return open_index()


def unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


# -- the suite -----------------------------------------------------------------------------------


def test_empty_index(index: VectorIndex) -> None:
    index.add([], [])  # empty batches are no-ops
    index.add([], None)
    assert index.dim is None and index.count() == 0 and len(index) == 0
    assert index.query([1.0, 0.0], k=3) == []
    assert index.ids() == [] and index.get(["a"]) == {}
    ids, mat = index.matrix()
    assert ids == [] and mat.shape[0] == 0 and mat.dtype == np.float32


def test_add_get_normalised(index: VectorIndex) -> None:
    index.add(["b", "a"], np.array([[0.0, 2.0], [3.0, 4.0]]))
    assert index.dim == 2 and index.count() == 2 and index.ids() == ["a", "b"]
    got = index.get(["a", "zz", "b"])
    assert set(got) == {"a", "b"}
    np.testing.assert_allclose(got["a"], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(got["b"], [0.0, 1.0], atol=1e-6)


def test_upsert_overwrites_vector_and_metadata(index: VectorIndex) -> None:
    index.add(["a", "b"], [[1, 0, 0], [0, 1, 0]], [{"k": "x", "extra": 1}, {"k": "x"}])
    index.add(["a"], [[0, 0, 5]], [{"k": "y"}])
    assert index.count() == 2
    np.testing.assert_allclose(index.get(["a"])["a"], [0, 0, 1], atol=1e-6)
    assert index.query([0, 0, 1], k=1)[0] == ("a", pytest.approx(1.0, abs=1e-5))
    assert index.query([0, 0, 1], k=5, where={"extra": 1}) == []  # old keys are gone
    assert [i for i, _ in index.query([0, 0, 1], k=5, where={"k": "y"})] == ["a"]
    assert [i for i, _ in index.query([0, 0, 1], k=5, where={"k": "x"})] == ["b"]
    index.add(["a"], [[0, 0, 1]])  # no metadata: replaces it with none
    assert index.query([0, 0, 1], k=5, where={"k": "y"}) == []


def test_delete_ignores_unknown_ids(index: VectorIndex) -> None:
    index.add(["a", "b", "c"], [[1, 0], [0, 1], [1, 1]])
    assert index.delete(["a", "zz", "a"]) == 1
    assert index.delete(["zz"]) == 0 and index.delete([]) == 0
    assert index.ids() == ["b", "c"] and index.get(["a"]) == {}
    assert "a" not in [i for i, _ in index.query([1, 0], k=5)]
    index.add(["a"], [[1, 0]])  # re-adding a deleted id works
    assert index.ids() == ["a", "b", "c"]


def test_query_order_scores_and_ties(index: VectorIndex) -> None:
    index.add(
        ["c", "b", "e", "a", "d"],
        [[2, 0], [1, 0], [0, 1], [1, 0], [1, 1]],
    )
    assert index.query([1, 0], k=2) == [
        ("a", pytest.approx(1.0, abs=1e-5)),
        ("b", pytest.approx(1.0, abs=1e-5)),
    ]
    hits = index.query(np.array([3.0, 0.0]), k=10)
    assert [i for i, _ in hits] == ["a", "b", "c", "d", "e"]
    assert [s for _, s in hits] == pytest.approx([1, 1, 1, 0.7071068, 0], abs=1e-5)
    assert [i for i, _ in index.query([[0.0, 1.0]], k=2)] == ["e", "d"]


def test_query_matches_brute_force(index: VectorIndex) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(200, 16))
    ids = [f"v{n:03d}" for n in range(200)]
    index.add(ids, vectors)
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for q in rng.normal(size=(5, 16)):
        truth = normed @ (q / np.linalg.norm(q))
        expected = [ids[n] for n in np.argsort(-truth)[:10]]
        hits = index.query(q, k=10)
        assert [i for i, _ in hits] == expected
        assert [s for _, s in hits] == pytest.approx(sorted(truth, reverse=True)[:10], abs=1e-5)


def test_where_filters(index: VectorIndex) -> None:
    index.add(
        ["a", "b", "c", "d"],
        [[1, 0], [1, 0.1], [1, 0.2], [1, 0.3]],
        [
            {"kind": "fact", "n": 1},
            {"kind": "fact", "n": 2, "ok": True},
            {"kind": "note", "n": 2},
            None,
        ],
    )
    assert [i for i, _ in index.query([1, 0], k=10, where={"kind": "fact"})] == ["a", "b"]
    assert [i for i, _ in index.query([1, 0], k=10, where={"kind": "fact", "n": 2})] == ["b"]
    assert [i for i, _ in index.query([1, 0], k=10, where={"ok": True})] == ["b"]
    assert [i for i, _ in index.query([1, 0], k=1, where={"n": 2})] == ["b"]
    assert index.query([1, 0], k=10, where={"kind": "missing"}) == []
    assert len(index.query([1, 0], k=10, where={})) == 4


def test_matrix(open_index: OpenIndex, backend: str) -> None:
    index = open_index(batch_size=7)  # Chroma pages through 7 rows at a time
    ids = [f"id{n:02d}" for n in range(30)]
    vectors = np.random.default_rng(1).normal(size=(30, 4))
    index.add(ids[::-1], vectors[::-1])
    all_ids, mat = index.matrix()
    assert all_ids == ids and mat.shape == (30, 4) and mat.dtype == np.float32
    np.testing.assert_allclose(
        mat, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6
    )
    assert index.ids() == ids
    some, sub = index.matrix(["id05", "nope", "id01", "id05"])
    assert some == ["id05", "id01"]
    np.testing.assert_allclose(sub, mat[[5, 1]], atol=1e-7)


def test_persistence_across_reopen(open_index: OpenIndex) -> None:
    first = open_index("kept")
    first.add(["a", "b"], [[1, 0, 0], [0, 1, 0]], [{"tag": "t"}, None])
    first.delete(["b"])
    first.add(["c"], [[0, 0, 2]])
    first.close()
    with pytest.raises(StorageError, match="closed"):
        first.count()
    again = open_index("kept")
    assert again.dim == 3 and again.ids() == ["a", "c"]
    np.testing.assert_allclose(again.get(["c"])["c"], [0, 0, 1], atol=1e-6)
    assert [i for i, _ in again.query([1, 0, 0], k=5, where={"tag": "t"})] == ["a"]
    assert open_index("other").count() == 0  # indexes are independent


BAD_ADDS: list[tuple[Any, Any, Any, str]] = [
    (["a", "b"], [[1, 0]], None, "2 ids but 1 vectors"),
    (["a"], [1, 0], None, "2-D"),
    (["a", "b"], [[1, 0], [1]], None, "2-D array of numbers"),
    (["a"], [[float("nan"), 1]], None, "NaN or infinity"),
    (["a"], [[float("inf"), 1]], None, "NaN or infinity"),
    (["a"], [[0, 0]], None, "all zeros"),
    ([""], [[1, 0]], None, "non-empty string"),
    ([5], [[1, 0]], None, "non-empty string"),
    ("ab", [[1, 0], [0, 1]], None, "list of strings"),
    (["a", "a"], [[1, 0], [0, 1]], None, "'a' appears more than once"),
    (["z"], [[1, 0, 0]], None, "dimension 3 but this index holds dimension 2"),
    (["a"], [[1, 0]], [{}, {}], "one metadata dict"),
    (["a"], [[1, 0]], [{"x": [1, 2]}], "must be a str, int"),
    (["a"], [[1, 0]], [{"x": None}], "must be a str, int"),
    (["a"], [[1, 0]], [{"$x": 1}], "not starting with"),
    ([], [[1, 0]], None, "without ids"),
]


@pytest.mark.parametrize(("ids", "vectors", "metas", "message"), BAD_ADDS)
def test_bad_add_is_input_error(
    index: VectorIndex, ids: Any, vectors: Any, metas: Any, message: str
) -> None:
    index.add(["keep"], [[1, 1]])
    with pytest.raises(InputError, match=message):
        index.add(ids, vectors, metas)
    assert index.ids() == ["keep"]  # nothing written


@pytest.mark.parametrize(
    ("vector", "k", "where", "message"),
    [
        ([1, 0, 0], 1, None, r"shape \(2,\)"),
        ([0, 0], 1, None, "non-zero"),
        ([1, 0], 0, None, "positive integer"),
        ([1, 0], True, None, "positive integer"),
        ([1, 0], 1, ["kind"], "where must be a dict"),
        ([1, 0], 1, {"kind": ["a"]}, "must be a str, int"),
    ],
)
def test_bad_query_is_input_error(
    index: VectorIndex, vector: Any, k: Any, where: Any, message: str
) -> None:
    index.add(["keep"], [[1, 1]])
    with pytest.raises(InputError, match=message):
        index.query(vector, k, where=where)


def test_threads_adding_concurrently(index: VectorIndex) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for j in range(5):
                index.add([f"t{n}-{j}"], [[n + 1.0, j + 1.0]])
                index.query([1, 0], k=3)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and index.count() == 20


# -- backend-specific ----------------------------------------------------------------------------


def test_unreachable_server_is_storage_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(
        StorageError,
        match=r"cannot reach the Chroma server at .*127\.0\.0\.1.*chroma run --path DIR --port",
    ):
        ChromaVectorIndex("vecs", url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8123", ("127.0.0.1", 8123, False)),
        ("https://chroma.example", ("chroma.example", 443, True)),
        ("http://localhost/", ("localhost", 8000, False)),
    ],
)
def test_parse_chroma_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_chroma_url(url) == expected


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://h:1", "http://h:99999", "http://h:1/db"])
def test_bad_chroma_url(url: str) -> None:
    with pytest.raises(ConfigError, match="Chroma server URL"):
        parse_chroma_url(url)


def test_chroma_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid vector index name"):
        ChromaVectorIndex("ab", path=tmp_path)
    with pytest.raises(ConfigError, match="at most one"):
        ChromaVectorIndex("vecs", path=tmp_path, url="http://127.0.0.1:1")


def test_chroma_injected_client_and_wrong_space(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    try:
        client.create_collection("l2-coll", embedding_function=None, metadata={"hnsw:space": "l2"})
        with pytest.raises(ConfigError, match="uses 'l2' distance"):
            ChromaVectorIndex("l2-coll", client=client)
        index = ChromaVectorIndex("good", client=client)
        index.add(["a"], [[1, 0]])
        index.close()  # does not close a client it did not create
        assert client.get_collection("good").count() == 1
    finally:
        client.close()


def test_chroma_indexes_sharing_one_folder(tmp_path: Path) -> None:
    """A memory keeps several collections in one folder; closing one leaves the others usable."""
    passages = ChromaVectorIndex("passages", path=tmp_path)
    entities = ChromaVectorIndex("entities", path=tmp_path)
    passages.add(["p"], [[1, 0]])
    entities.add(["e1", "e2"], [[0, 1], [1, 1]])
    passages.close()
    assert entities.count() == 2
    entities.add(["e3"], [[1, 0]])
    entities.close()
    with ChromaVectorIndex("passages", path=tmp_path) as again:
        assert again.ids() == ["p"]
    with ChromaVectorIndex("entities", path=tmp_path) as again:
        assert again.ids() == ["e1", "e2", "e3"]


def test_numpy_in_memory_and_deferred_flush(tmp_path: Path) -> None:
    assert NumpyVectorIndex().path is None
    path = tmp_path / "lazy.npz"
    index = NumpyVectorIndex(path, autosave=False)
    index.add(["a"], [[1, 0]])
    assert not path.exists()
    index.flush()
    index.add(["b"], [[0, 1]])
    assert NumpyVectorIndex(path).ids() == ["a"]
    index.close()  # flushes
    assert NumpyVectorIndex(path).ids() == ["a", "b"]
    with pytest.raises(ConfigError, match="holds 2-dimensional"):
        NumpyVectorIndex(path, dim=3)


def test_numpy_failed_save_reverts_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.npz"
    index = NumpyVectorIndex(path)
    index.add(["a"], [[1, 0]])

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match=r"No space left.*left as it was"):
        index.add(["b"], [[0, 1]])
    with pytest.raises(StorageError):
        index.delete(["a"])
    monkeypatch.undo()
    assert index.ids() == ["a"]  # memory reverted to the saved state
    assert NumpyVectorIndex(path).ids() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npz"]


def test_numpy_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"garbage")
    with pytest.raises(StorageError, match=r"unreadable.*re-index"):
        NumpyVectorIndex(path)


def test_open_vector_index_numpy_and_embedded(tmp_path: Path) -> None:
    with open_vector_index(tmp_path, "passages", settings=Settings(vector_backend="numpy")) as idx:
        assert isinstance(idx, NumpyVectorIndex) and idx.path == tmp_path / "passages.npz"
        idx.add(["a"], [[1, 0]])
    assert (tmp_path / "passages.npz").exists()
    with open_vector_index(tmp_path, "passages", settings=Settings(vector_backend="chroma")) as idx:
        assert isinstance(idx, ChromaVectorIndex) and idx.count() == 0
    assert (tmp_path / "chroma").is_dir()
    with pytest.raises(ConfigError, match="invalid vector index name"):
        open_vector_index(tmp_path, "../escape", settings=Settings(vector_backend="numpy"))


@pytest.mark.integration
def test_open_vector_index_server(tmp_path: Path, chroma_server: str) -> None:
    name = f"srv-{uuid.uuid4().hex[:8]}"
    with open_vector_index(tmp_path, name, settings=Settings(chroma_url=chroma_server)) as idx:
        assert isinstance(idx, ChromaVectorIndex)
        idx.add(["a"], [[1, 0]])
    assert not (tmp_path / "chroma").exists()
    with ChromaVectorIndex(name, url=chroma_server) as again:
        assert again.ids() == ["a"]
