"""``memagents memory ...``: the graph-memory CLI and the graph export, offline (hash embeddings,
user-given triples, no chat model)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import typer
from typer.testing import CliRunner

import memagents.cli as top
from memagents.errors import MemagentsError
from memagents.graphmem import GraphMemory
from memagents.graphmem.cli import CLIError, memory_app, read_passages
from memagents.graphmem.export import export_graph, query_subgraph, subgraph_html

# What the lead adds to memagents/cli.py; a fresh app keeps this test independent of it.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(memory_app, name="memory")
runner = CliRunner()

PASSAGES: list[dict[str, Any]] = [
    {"id": "founding", "text": "Oskar Thandrell founded Quillmere Press in 1921.",
     "triples": [["Oskar Thandrell", "founded", "Quillmere Press"],
                 ["Quillmere Press", "founded in", "1921"]]},
    {"id": "birth", "text": "Oskar Thandrell was born in Velmora.",
     "triples": [["Oskar Thandrell", "born in", "Velmora"], ["only two parts", "oops"]],
     "metadata": {"source": "registry"}},
    {"id": "river", "text": "Velmora lies on the river Ashgrove.",
     "triples": [["Velmora", "lies on", "river Ashgrove"]]},
    {"id": "distractor", "text": "Brindle Hollow is famous for copper bells.",
     "triples": [["Brindle Hollow", "famous for", "copper bells"]]},
]
QUESTION = "Which river is in the birthplace of the founder of Quillmere Press?"


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["memory", *args], input=input)


def run_json(*args: str) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cli_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """``memagents.cli.main`` with the memory sub-app (registered for this test if the lead has
    not yet): returns the exit code and stderr, whitespace collapsed (rich wraps lines)."""
    if not any(g.name == "memory" for g in top.app.registered_groups):
        monkeypatch.setattr(top.app, "registered_groups", list(top.app.registered_groups))
        top.app.add_typer(memory_app, name="memory")

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = top.main(["memory", *args])
        return code, " ".join(capsys.readouterr().err.split())

    return run


@pytest.fixture
def folder(tmp_path: Path) -> str:
    """A memory built through the CLI from a JSONL file with triples."""
    data = write_jsonl(tmp_path / "passages.jsonl", PASSAGES)
    out = tmp_path / "memory"
    result = invoke("add", "--file", str(data), "--folder", str(out), "--embeddings", "hash")
    assert result.exit_code == 0, result.output
    assert "added" in result.stdout and "dropped triples" in result.stdout
    return str(out)


def test_add_jsonl_with_triples_needs_no_llm(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "p.jsonl", PASSAGES)
    first = run_json("add", "-f", str(data), "--folder", str(tmp_path / "m"))
    assert first["added"] == [p["id"] for p in PASSAGES]
    assert first["llm_calls"] == 0 and first["ok"] is True
    assert first["dropped_triples"] == 1  # the two-part triple
    again = run_json("add", "-f", str(data), "--folder", str(tmp_path / "m"))
    assert again["unchanged"] == first["added"] and again["added"] == []
    assert again["embedding_calls"] == 0


def test_add_from_stdin_jsonl_and_batches(tmp_path: Path) -> None:
    rows = [{"text": f"Town {i} makes product {i}.", "triples": [[f"town {i}", "makes",
             f"product {i}"]]} for i in range(70)]  # more than one batch, no ids given
    stdin = "\n".join(json.dumps(r) for r in rows)
    result = invoke("add", "--file", "-", "--folder", str(tmp_path), "--json", input=stdin)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["added"]) == 70 and len(set(data["ids"])) == 70 and data["failed"] == {}
    stats = run_json("stats", "--folder", str(tmp_path))
    assert stats["passages"]["indexed"] == 70 and stats["graph"]["phrases"] == 140


def test_search_json_ranks_the_expected_passage_first(folder: str) -> None:
    data = run_json("search", "Who founded Quillmere Press?", "-k", "2", "--folder", folder)
    assert [h["rank"] for h in data["hits"]] == [1, 2]
    assert data["hits"][0]["id"] == "founding"
    assert any("recognition filter skipped" in n for n in data["notes"])
    seeds = [s["phrase"] for s in data["explanation"]["seed_phrases"]]
    assert "quillmere press" in seeds
    born = run_json("search", "Where was Oskar Thandrell born?", "--folder", folder)["hits"]
    assert born[0]["id"] == "birth" and born[0]["metadata"] == {"source": "registry"}
    multi = run_json("search", QUESTION, "-k", "3", "--folder", folder)["hits"]
    assert sorted(h["id"] for h in multi) == ["birth", "founding", "river"]  # 3 hops, no noise


def test_search_table_and_explanation(folder: str) -> None:
    result = invoke("search", "Who founded Quillmere Press?", "--explain", "--folder", folder)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "founding" in out and "linked facts" in out and "seed phrases" in out
    assert "quillmere press" in out and "recognition filter skipped" in out


def test_delete_reports_deleted_and_unknown(folder: str) -> None:
    data = run_json("delete", "founding", "nosuch", "--folder", folder)
    assert data == {"deleted": ["founding"], "unknown": ["nosuch"]}
    hits = run_json("search", "Who founded Quillmere Press?", "--folder", folder)["hits"]
    assert "founding" not in [h["id"] for h in hits]
    assert run_json("stats", "--folder", folder)["passages"]["indexed"] == 3
    plain = invoke("delete", "nosuch", "--folder", folder)
    assert plain.exit_code == 0 and "unknown" in plain.stdout


def test_stats_counts_graph_and_namespaces(folder: str, tmp_path: Path) -> None:
    other = write_jsonl(tmp_path / "bob.jsonl", PASSAGES[:1])
    assert invoke("add", "-f", str(other), "--folder", folder, "-n", "bob").exit_code == 0
    data = run_json("stats", "--folder", folder)
    assert data["passages"] == {"pending": 0, "failed": 0, "indexed": 4}
    assert data["namespaces"] == ["bob", "default"] and data["preset"] == "default"
    assert data["embeddings"].startswith("hash")
    with GraphMemory.open(folder) as memory:
        assert data["graph"]["nodes"] == len(memory.index().nodes())
        assert data["graph"]["edges"] == len(memory.index().edges())
    table = invoke("stats", "--folder", folder, "--namespace", "bob")
    assert table.exit_code == 0 and "graph nodes" in table.stdout and "bob" in table.stdout


def test_export_graphml_round_trips(folder: str, tmp_path: Path) -> None:
    out = tmp_path / "graph.graphml"
    data = run_json("export", str(out), "--folder", folder)
    assert data["format"] == "graphml"
    back = nx.read_graphml(out)
    with GraphMemory.open(folder) as memory:
        index = memory.index()
        assert back.number_of_nodes() == len(index.nodes()) == data["nodes"]
        assert back.number_of_edges() == len(index.edges()) == data["edges"]
    assert back.nodes["passage:birth"]["kind"] == "passage"
    assert back.nodes["phrase:velmora"] == {"kind": "phrase", "label": "velmora", "passages": 2}
    assert back.edges["phrase:oskar thandrell", "phrase:velmora"]["kind"] == "fact"


def test_export_query_subgraph_as_html(folder: str, tmp_path: Path) -> None:
    out = tmp_path / "q.html"
    result = invoke("export", str(out), "--query", QUESTION, "--hops", "1", "--folder", folder)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    seeds = page[page.index("<h2>Seed phrases</h2>"):]
    assert "quillmere press" in seeds and "oskar thandrell" in seeds  # seed phrases listed
    assert ">quillmere press</text>" in page and ">#1 founding</text>" in page  # SVG labels
    assert "<script" not in page and "src=" not in page and "cdn" not in page.lower()
    for colour in ("#4c78a8", "#f58518"):  # both node kinds drawn
        assert colour in page


def test_query_subgraph_roles_and_hops(folder: str) -> None:
    with GraphMemory.open(folder) as memory:
        core = query_subgraph(memory, QUESTION, k=1, hops=0)
        wide = query_subgraph(memory, QUESTION, k=1, hops=2)
        everything = export_graph(memory.index())
    roles = nx.get_node_attributes(core, "role")
    assert sorted(set(roles.values())) == ["hit", "seed"]
    assert sum(r == "hit" for r in roles.values()) == 1
    assert set(core) < set(wide) <= set(everything)
    assert all(0.0 <= d["size"] <= 1.0 for _, d in wide.nodes(data=True))
    assert "<svg" in subgraph_html(wide, "t")


def test_png_without_matplotlib_is_a_clear_error(
    folder: str, tmp_path: Path, no_matplotlib: None, cli_main: Any
) -> None:
    code, err = cli_main("export", str(tmp_path / "q.png"), "-q", QUESTION, "--folder", folder)
    assert code == 1
    assert "pip install matplotlib" in err and "--format html" in err
    assert "Traceback" not in err and not (tmp_path / "q.png").exists()


def test_png_with_matplotlib(folder: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "q.png"
    result = invoke("export", str(out), "--format", "png", "-q", QUESTION, "--folder", folder)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_add_without_llm_or_triples_fails_cleanly(tmp_path: Path, cli_main: Any) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("First passage.\n\nSecond passage.\n", encoding="utf-8")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [PASSAGES[0], {"text": "No triples here."}])
    for args in (["Just a passage."], ["--file", str(notes)], ["--file", str(mixed)]):
        code, err = cli_main("add", *args, "--folder", str(tmp_path / "m"))
        assert code == 1, err
        assert "error:" in err and "MEMAGENTS_LLM" in err and "--llm" in err
        assert '"triples"' in err and "add_triples" not in err  # CLI terms, not Python's
        assert "Traceback" not in err
    assert not (tmp_path / "m").exists()  # refused before the memory folder is created
    standalone = invoke("add", "Just a passage.", "--folder", str(tmp_path / "m"))
    assert standalone.exit_code == 1 and isinstance(standalone.exception, SystemExit)
    assert "MEMAGENTS_LLM" in " ".join(standalone.stderr.replace("│", " ").split())


def test_cli_error_is_a_library_error() -> None:
    error = CLIError("set MEMAGENTS_LLM")
    assert isinstance(error, MemagentsError) and error.exit_code == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("data.csv", "text\nhello\n", "unsupported file extension '.csv'"),
        ("bad.jsonl", '{"text": "ok", "triples": []}\n{not json\n', "line 2 is not valid JSON"),
        ("keys.jsonl", '{"txt": "typo"}\n', "line 1: must be a JSON object with a string 'text'"),
        ("missing.txt", None, "does not exist"),
    ],
)
def test_bad_input_files_give_clear_errors(
    tmp_path: Path, name: str, content: str | None, expected: str, cli_main: Any
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, err = cli_main("add", "--file", str(path), "--folder", str(tmp_path / "m"))
    assert code == 1
    assert expected in err and "Traceback" not in err


def test_read_passages_paragraphs_and_export_format_errors(
    folder: str, tmp_path: Path, cli_main: Any
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("\n\nOne.\n  \nTwo\nlines.\n\n\n", encoding="utf-8")
    assert read_passages(str(notes)) == [{"text": "One."}, {"text": "Two\nlines."}]
    code, err = cli_main("export", str(tmp_path / "g.svg"), "--folder", folder)
    assert code == 1 and "--format graphml, html or png" in err
    code, err = cli_main("add", "--folder", folder)
    assert code == 1 and "nothing to add" in err
    for command in (["stats"], ["search", "q"], ["delete", "x"], ["export", "g.graphml"]):
        code, err = cli_main(*command, "--folder", str(tmp_path / "typo"))
        assert code == 1 and "no memory in" in err and not (tmp_path / "typo").exists()
    code, err = cli_main("export", str(tmp_path / "all.html"), "--max-nodes", "3", "--folder", folder)
    assert code == 1 and "too many to draw" in err and not (tmp_path / "all.html").exists()
    assert cli_main("export", str(tmp_path / "all.html"), "--folder", folder)[0] == 0
    assert "<svg" in (tmp_path / "all.html").read_text(encoding="utf-8")


@pytest.mark.integration
def test_add_with_llm_reports_failures_and_retries_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai_server: Any, cli_main: Any
) -> None:
    for name, value in {**openai_server.env(), "MEMAGENTS_MAX_RETRIES": "0",
                        "MEMAGENTS_BACKOFF_BASE": "0"}.items():
        monkeypatch.setenv(name, value)
    openai_server.add_rule("Quillmere", {"entities": ["Oskar Thandrell", "Quillmere Press"],
                                         "triples": [["Oskar Thandrell", "founded",
                                                      "Quillmere Press"]]})
    openai_server.add_rule("Velmora", "this is not JSON")
    opts = ("--folder", str(tmp_path), "--llm", "openai:gpt-4o-mini")
    first = run_json("add", PASSAGES[0]["text"], PASSAGES[1]["text"], *opts)
    assert len(first["added"]) == 1 and len(first["failed"]) == 1 and first["llm_calls"] >= 2
    assert first["ok"] is False
    openai_server.reset()
    openai_server.add_rule("Velmora", {"entities": ["Velmora"],
                                       "triples": [["Oskar Thandrell", "born in", "Velmora"]]})
    retry = run_json("add", *opts)  # no passages: retry the failed one
    assert retry["resumed"] == list(first["failed"]) and retry["failed"] == {}
    assert run_json("stats", "--folder", str(tmp_path))["passages"]["indexed"] == 2
    code, err = cli_main("add", *opts)
    assert code == 1 and "nothing to add" in err
