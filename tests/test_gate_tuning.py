"""Mallen et al.'s threshold tuning, its plot and CLI, and the PopQA loader."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from memagents.errors import ConfigError, InputError
from memagents.eval.popqa import POPQA_TEMPLATES, load_popqa, relation_of
from memagents.gate.research.cli_tune import tune
from memagents.gate.research.plot import Marker, tradeoff_svg, tuning_markers, write_plot
from memagents.gate.research.tuning import (
    ALL_QUESTIONS,
    PairedResults,
    load_results,
    pair_results,
    sweep,
    tune_thresholds,
)

SVG = "{http://www.w3.org/2000/svg}"


def runs(par: list[int], ret: list[int], *, prop: str = "occupation", start: int = 0,
         pops: list[float] | None = None) -> tuple[list[dict], list[dict]]:
    """Parametric and retrieval records; question k has s_pop 10**k unless ``pops`` is given."""
    pops = pops or [10.0**k for k in range(len(par))]
    base = [{"id": f"{prop}-{start + k}", "prop": prop, "s_pop": p} for k, p in enumerate(pops)]
    return ([dict(b, mode="parametric", is_correct=bool(c)) for b, c in zip(base, par)],
            [dict(b, mode="retrieval", is_correct=bool(c)) for b, c in zip(base, ret)])


# Ten questions, s_pop = 10**k for k = 0..9. log(s_pop) = k*ln10 spans [0, 9 ln10]; 10 equal
# bins have width 0.9 ln10, so question k lands in bin floor(k / 0.9) = k: one per bin.
#   k:    0 1 2 3 4 5 6 7 8 9
#   par:  0 0 1 0 0 0 1 1 0 1      (4 correct: never-retrieve accuracy 0.4)
#   ret:  1 1 0 1 1 1 0 1 0 0      (6 correct: always-retrieve accuracy 0.6)
# score(i) = sum(ret[:i]) + sum(par[i:]):
#   i:     0 1 2 3 4 5 6 7 8 9 10
#   score: 4 5 6 5 6 7 8 7 7 7 6     -> unique maximum at edge 6
# Edge 6 = 6 * 0.9 ln10 = ln(10**5.4): retrieve when s_pop < 10**5.4 = 251,188.6 (k = 0..5),
# tuned correct = 8 of 10, retrieval rate 0.6; oracle (either correct) = 9 of 10 (k=8 fails).
PAR = [0, 0, 1, 0, 0, 0, 1, 1, 0, 1]
RET = [1, 1, 0, 1, 1, 1, 0, 1, 0, 0]


def test_known_optimum_by_hand() -> None:
    result = tune_thresholds(*runs(PAR, RET), bootstraps=5, seed=0)
    (fit,) = result.fits
    assert fit.relation == "occupation" and fit.edge == 6
    assert fit.threshold == pytest.approx(10**5.4)
    assert fit.bin_questions == (1,) * 10
    assert fit.bin_parametric_correct == tuple(PAR)
    assert fit.bin_retrieval_correct == tuple(RET)
    assert fit.tuned_correct == 8 and fit.retrieved == 6
    assert result.in_sample_accuracy == pytest.approx(0.8)
    assert result.in_sample_retrieval_rate == pytest.approx(0.6)
    assert result.oracle_accuracy == pytest.approx(0.9)
    assert result.thresholds() == {"occupation": pytest.approx(10**5.4)}
    assert "251,189" in fit.rule


def test_ties_pick_the_lowest_edge() -> None:
    # As above but ret[5] = 0 and ret[8] = 1: scores 4 5 6 5 6 7 7 6 6 7 6, maxima at edges
    # 5, 6 and 9; the lowest (fewest retrievals, np.argmax in the notebook) wins: 10**4.5.
    ret = [1, 1, 0, 1, 1, 0, 0, 1, 1, 0]
    (fit,) = tune_thresholds(*runs(PAR, ret), bootstraps=1).fits
    assert fit.edge == 5 and fit.threshold == pytest.approx(10**4.5) and fit.tuned_correct == 7


def test_never_and_always_edges() -> None:
    never = tune_thresholds(*runs([1] * 10, [0] * 10), bootstraps=1).fits[0]
    always = tune_thresholds(*runs([0] * 10, [1] * 10), bootstraps=1).fits[0]
    assert (never.edge, never.threshold, never.rule) == (0, 0.0, "never retrieve")
    assert (always.edge, always.threshold, always.rule) == (10, math.inf, "always retrieve")
    assert always.to_dict()["threshold"] is None  # JSON has no infinity


def test_per_relation_beats_global() -> None:
    # Relation x: memory right for k >= 5, retrieval right for k < 5 -> edge 5, 10/10.
    # Relation y: memory always right, retrieval never -> edge 0, 10/10.
    # Per relation: accuracy 20/20, retrieval 5/20. Globally each bin holds one x and one y
    # question: score(i) = 15 for every i <= 5 (e.g. i=5: 5 x-ret + 5 x-par + 5 y-par) and less
    # after, so the lowest edge 0 (never retrieve) wins: 15/20 = 0.75 at retrieval rate 0.
    xp, xr = runs([0] * 5 + [1] * 5, [1] * 5 + [0] * 5, prop="x")
    yp, yr = runs([1] * 10, [0] * 10, prop="y")
    per = tune_thresholds(xp + yp, xr + yr, bootstraps=3)
    one = tune_thresholds(xp + yp, xr + yr, bootstraps=3, per_relation=False)
    assert per.thresholds() == {"x": pytest.approx(10**4.5), "y": 0.0}
    assert (per.in_sample_accuracy, per.in_sample_retrieval_rate) == (1.0, 0.25)
    assert one.thresholds() == {ALL_QUESTIONS: 0.0} and one.global_threshold == 0.0
    assert (one.in_sample_accuracy, one.in_sample_retrieval_rate) == (0.75, 0.0)
    assert per.policy_kwargs() == {"threshold": 0.0, "per_relation": per.thresholds()}
    assert one.policy_kwargs() == {"threshold": 0.0, "per_relation": None}


def random_runs(n: int = 400, seed: int = 1) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    par, ret = [], []
    for i in range(n):
        pop = float(np.exp(rng.uniform(1, 12)))
        rec = {"id": str(i), "prop": "abc"[i % 3], "s_pop": pop}
        par.append(dict(rec, is_correct=bool(rng.random() < math.log(pop) / 14)))
        ret.append(dict(rec, is_correct=bool(rng.random() < 0.45)))
    return par, ret


def test_bootstrap_is_deterministic_and_seeded() -> None:
    par, ret = random_runs()
    a = tune_thresholds(par, ret, bootstraps=30, seed=7).to_dict()
    b = tune_thresholds(par, ret, bootstraps=30, seed=7).to_dict()
    c = tune_thresholds(par, ret, bootstraps=30, seed=8).to_dict()
    assert a == b
    assert a["accuracy"] != c["accuracy"]
    assert a["relations"] == c["relations"]  # the final fit uses all rows, not the splits
    est = a["accuracy"]
    assert est["low"] <= est["mean"] <= est["high"]


def test_bootstrap_matches_the_notebook_loop() -> None:
    """Re-run Mallen's notebook logic (np.histogram per split) on the same splits."""
    par, ret = random_runs()
    result = tune_thresholds(par, ret, bootstraps=10, seed=3)
    pairs = pair_results(par, ret)
    n = len(pairs.ids)
    props, logs = np.array(pairs.relations), np.log(np.array(pairs.s_pop))
    c, c_ret = np.array(pairs.parametric_correct), np.array(pairs.retrieval_correct)
    rng, accs, rates = np.random.default_rng(3), [], []
    for _ in range(10):
        train = np.zeros(n, dtype=bool)
        train[rng.permutation(n)[: round(n * 0.75)]] = True
        correct = retrieved = size = 0
        for prop in sorted(set(props)):
            m = props == prop
            _, edges = np.histogram(logs[m])
            tr, te = train[m], ~train[m]

            def hist(sel: np.ndarray, m: np.ndarray = m, e: np.ndarray = edges) -> np.ndarray:
                return np.histogram(logs[m][sel], bins=e)[0]

            tc, tr_ret = hist(tr & c[m]), hist(tr & c_ret[m])
            idx = int(np.argmax([tr_ret[:i].sum() + tc[i:].sum() for i in range(11)]))
            correct += hist(te & c_ret[m])[:idx].sum() + hist(te & c[m])[idx:].sum()
            retrieved += hist(te)[:idx].sum()
            size += te.sum()
        accs.append(correct / size)
        rates.append(retrieved / size)
    assert result.accuracy.mean == pytest.approx(np.mean(accs))
    assert result.retrieval_rate.mean == pytest.approx(np.mean(rates))


def test_missing_popularity_rows_are_dropped_and_counted() -> None:
    par, ret = runs(PAR, RET)
    for i, pop in ((10, None), (11, -1.0), (12, "nan"), (13, "")):
        par.append({"id": f"m{i}", "prop": "occupation", "s_pop": pop, "is_correct": True})
        ret.append({"id": f"m{i}", "prop": "occupation", "is_correct": False})
    result = tune_thresholds(par, ret, bootstraps=2)
    assert result.dropped == ("m10", "m11", "m12", "m13") and result.questions == 10
    assert result.fits[0].edge == 6 and result.to_dict()["dropped"] == list(result.dropped)


def test_id_mismatch_names_the_ids() -> None:
    par, ret = runs(PAR, RET)
    ret[3]["id"] = "ghost"
    with pytest.raises(InputError, match=r"only in parametric \['occupation-3'\].*\['ghost'\]"):
        tune_thresholds(par, ret)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p, r: p.append(dict(p[0])), "appears twice"),
    (lambda p, r: p[0].update(mode="retrieval"), "has mode 'retrieval'"),
    (lambda p, r: p[0].update(is_correct="maybe"), "is_correct must be true or false"),
    (lambda p, r: p[0].pop("is_correct"), "is_correct is missing"),
    (lambda p, r: r[0].update(s_pop=5.0), "s_pop differs"),
    (lambda p, r: p[0].update(s_pop="many"), "s_pop must be a number"),
])
def test_bad_records(edit, message) -> None:
    par, ret = runs(PAR, RET)
    edit(par, ret)
    with pytest.raises(InputError, match=message):
        pair_results(par, ret)


def test_too_few_questions_and_bad_settings() -> None:
    with pytest.raises(InputError, match="too few"):
        tune_thresholds(*runs([1], [0]))
    with pytest.raises(InputError, match="bootstraps >= 1"):
        tune_thresholds(*runs(PAR, RET), bootstraps=0)


def test_load_results_jsonl_and_mallen_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "par.jsonl"
    jsonl.write_text(json.dumps({"id": 5, "question": "What is Ann Lo's occupation?",
                                 "possible_answers": ["poet"], "pred": "a Poet.", "s_pop": 9})
                     + "\n\n", encoding="utf-8")
    (rec,) = load_results(jsonl)  # is_correct scored by containment from pred
    assert (rec["id"], rec["prediction"], rec["is_correct"], rec["s_pop"]) == \
        ("5", "a Poet.", True, 9.0)
    csv_file = tmp_path / "ret.csv"
    csv_file.write_text("id,question,prop,s_pop,is_correct,pred\n"
                        "5,What is Ann Lo's occupation?,,9,False,unknown\n", encoding="utf-8")
    (row,) = load_results(csv_file)
    assert row["is_correct"] is False and row["s_pop"] == 9.0
    pairs = pair_results(jsonl, csv_file)  # no prop in either: derived from the question
    assert pairs.relations == ("occupation",) and pairs.retrieval_correct == (False,)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "is_correct": true}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2: not JSON"):
        load_results(bad)
    with pytest.raises(InputError, match="not found"):
        load_results(tmp_path / "missing.jsonl")


def test_sweep_is_monotone_and_spans_never_to_always() -> None:
    par, ret = random_runs(200)
    points = sweep(par, ret)
    rates = [p.retrieval_rate for p in points]
    assert rates == sorted(rates) and rates[0] == 0.0 and rates[-1] == 1.0
    assert points[0].accuracy == pytest.approx(np.mean([r["is_correct"] for r in par]))
    assert points[-1].accuracy == pytest.approx(np.mean([r["is_correct"] for r in ret]))
    # Explicit thresholds on the hand table, retrieve when s_pop < t: t = 1e3 retrieves
    # k = 0..2 (ret 1+1+0) and keeps memory for k = 3..9 (par 0+0+0+1+1+0+1) = 5 correct;
    # t = 1e6 retrieves k = 0..5 (ret 5) and keeps k = 6..9 (par 1+1+0+1) = 8 correct.
    hand = sweep(*runs(PAR, RET), thresholds=[1e6, 0, 1e3])
    assert [(p.threshold, p.retrieved, p.correct) for p in hand] == \
        [(0.0, 0, 4), (1e3, 3, 2 + 3), (1e6, 6, 5 + 3)]
    assert hand[0].to_dict()["accuracy"] == 0.4


def test_paired_results_alone_and_policy_agreement() -> None:
    pairs = pair_results(*runs(PAR, RET))
    assert isinstance(pairs, PairedResults)
    result = tune_thresholds(pairs, bootstraps=2)
    assert result.fits[0].edge == 6
    with pytest.raises(InputError, match="either PairedResults alone"):
        sweep(pairs, [])
    policies = pytest.importorskip("memagents.gate.policies")
    policy = policies.PopularityThreshold(**result.policy_kwargs())
    decided = [policy.decide("q?", metadata={"s_pop": s, "prop": "occupation"}).retrieve
               for s in pairs.s_pop]
    assert decided == [True] * 6 + [False] * 4  # the fit's edge: k = 0..5 retrieve


def test_svg_is_well_formed_and_escaped(tmp_path: Path) -> None:
    points = sweep(*runs(PAR, RET), thresholds=[0, 10, 1e3, 1e6, math.inf])
    markers = [Marker(label="tuned <A & B>", retrieval_rate=0.6, accuracy=0.8,
                      accuracy_low=0.7, accuracy_high=0.9, rate_low=0.5, rate_high=0.7)]
    root = ET.fromstring(tradeoff_svg(points, markers=markers))
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "tuned <A & B>" in texts and "retrieval rate" in texts and "100%" in texts
    assert len(root.findall(f"{SVG}circle")) == len(points) + 1  # + the legend icon
    assert len(root.findall(f"{SVG}polyline")) == 1
    path = write_plot(tmp_path / "p.svg", points,
                      markers=tuning_markers(tune_thresholds(*runs(PAR, RET), bootstraps=3)))
    labels = [t.text for t in ET.parse(path).getroot().iter(f"{SVG}text")]
    assert {"never retrieve", "always retrieve", "tuned (per-relation thresholds)"} <= set(labels)
    with pytest.raises(InputError, match="outside"):
        tradeoff_svg([(50.0, 0.3)])
    with pytest.raises(InputError, match=".svg or .png"):
        write_plot(tmp_path / "p.pdf", points)


def test_png_without_matplotlib_says_what_to_do(tmp_path: Path, no_matplotlib: None) -> None:
    with pytest.raises(ConfigError, match="pip install matplotlib"):
        write_plot(tmp_path / "p.png", [(0.0, 0.1)])


def write_runs(folder: Path, par: list[dict], ret: list[dict]) -> tuple[Path, Path]:
    paths = folder / "par.jsonl", folder / "ret.jsonl"
    for path, records in zip(paths, (par, ret)):
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return paths


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("tune")(tune)
    return app


def test_cli_end_to_end(tmp_path: Path) -> None:
    xp, xr = runs(PAR, RET)
    yp, yr = runs([1] * 10, [0] * 10, prop="y")
    par, ret = write_runs(tmp_path, xp + yp, xr + yr)
    out, plot = tmp_path / "res.json", tmp_path / "plot.svg"
    result = CliRunner().invoke(cli(), [str(par), str(ret), "--bootstraps", "20", "--seed", "1",
                                        "--json", "--out", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(out.read_text(encoding="utf-8"))
    assert data["policy"]["per_relation"] == {"occupation": pytest.approx(10**5.4), "y": 0.0}
    assert data["in_sample_accuracy"] == pytest.approx(18 / 20) and data["bootstraps"] == 20
    assert data["sweep"][0]["retrieval_rate"] == 0.0 and data["sweep"][-1]["threshold"] is None
    ET.parse(plot)
    table = CliRunner().invoke(cli(), [str(par), str(ret), "--bootstraps", "5", "--global"])
    assert table.exit_code == 0 and "(all)" in table.stdout and "never retrieve" in table.stdout


def test_cli_bad_input_exits_1(tmp_path: Path) -> None:
    par, ret = runs(PAR, RET)
    paths = write_runs(tmp_path, par, ret[:-1])
    result = CliRunner().invoke(cli(), [str(p) for p in paths])
    assert result.exit_code == 1 and "occupation-9" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- PopQA loader ---------------------------------------------------------------------------

def test_every_template_maps_back_to_its_relation() -> None:
    for prop, template in POPQA_TEMPLATES.items():
        assert relation_of(template.format("Ann O'Neil the Elder")) == prop
    assert relation_of("  What is  the capital of Peru? ") == "capital"
    assert relation_of("What is the meaning of life?") is None


@pytest.mark.realdata
def test_real_popqa_file(shared_data: Path) -> None:
    if not (shared_data / "popqa" / "popqa_dev.json").is_file():
        pytest.skip("popqa/popqa_dev.json is not in the shared data")
    items = load_popqa(shared_data)
    assert len(items) == 1783 and len({i.id for i in items}) == 1783
    covered = sum(i.prop is not None for i in items) / len(items)
    assert covered >= 0.95  # measured: 1783/1783 = 100% match one of the 16 templates
    assert len({i.prop for i in items}) == 16
    assert all(i.s_pop is not None and i.s_pop >= 0 for i in items)
    assert all(isinstance(i.contriever_score, float) for i in items)
    share = sum(i.has_answer for i in items) / len(items)
    assert 0.40 < share < 0.46  # Mallen et al.: 0.42 overall; measured 0.430 here


@pytest.mark.parametrize(("content", "message"), [
    ("[]", "non-empty list"),
    ('[{"id": 1, "possible_answers": ["a"]}]', r"record 0 \(id 1\): question is missing"),
    ('[{"id": 1, "question": "Q?", "possible_answers": "a"}]', "not a JSON list"),
    ('[{"id": 1, "question": "Q?", "possible_answers": [" "]}]', "no non-blank answer"),
    ('[{"id": 1, "question": "Q?", "possible_answers": ["a"], "s_pop": "x"}]', "s_pop must be"),
    (('[{"id": 1, "question": "Q?", "possible_answers": ["a"]}, '
      '{"id": "1", "question": "R?", "possible_answers": ["b"]}]'), "appears twice"),
    ('{"id": 1}\n{broken', "line 2 is not JSON"),
])
def test_bad_popqa_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "popqa.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_popqa(path)


def test_popqa_layouts_and_missing_data(tmp_path: Path) -> None:
    keyed = tmp_path / "keyed.json"  # Adapt-LLM's layout: an object keyed by id
    keyed.write_text(json.dumps({"7": {"question": "Who is the mother of Ida?",
                                       "possible_answers": ["Eve"], "s_pop": 3,
                                       "contriever_score": "1.25",
                                       "contriever_passage": "Ida's mother Eve."}}),
                     encoding="utf-8")
    (item,) = load_popqa(keyed)
    assert (item.id, item.prop, item.contriever_score, item.has_answer) == \
        ("7", "mother", 1.25, True)
    lines = tmp_path / "items.jsonl"
    lines.write_text('{"id": 1, "question": "What color is Red?", "possible_answers": '
                     '"[\\"red\\"]", "prop": "color"}\n', encoding="utf-8")
    (row,) = load_popqa(lines)
    assert (row.possible_answers, row.s_pop, row.contriever_passage) == (["red"], None, "")
    with pytest.raises(ConfigError, match="MEMAGENTS_DATA_DIR"):
        load_popqa(tmp_path / "nowhere")
