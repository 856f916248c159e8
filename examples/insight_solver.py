"""An agent that learns insights from its own failures (the insight store, CORE).

Word problems the project generates (fence posts, buses, successive percentages, inclusive
day ranges, unit conversion, average speed; each family has a trick a hurried solver misses)
are split into a few training problems and held-out ones. The store trains on the training
problems within a rollout budget: it estimates each problem's no-insight success rate,
samples problems that fail more often, contrasts each failure with the nearest success,
distils short insights, keeps those that solve their problem alone, and credits every
injected insight with ``r − b_p``. Then the held-out problems are solved with and without
the learned insights (memory frozen), the self-improving workflow answers one more problem,
and the learning curve is written as an SVG.

Run against OpenAI (or any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/insight_solver.py --llm openai:gpt-4o-mini --store ./insight-store

Offline, with the benchmark's *simulated* model served on the loopback server (a simulation:
its success depends only on whether an injected insight states the problem's trick)::

    python examples/insight_solver.py --simulate

The tests run this same code against the loopback server (tests/test_insights_interfaces.py).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from memagents.insights import InsightStore, build_insight_solver
from memagents.insights.research.tasks import split_tasks


def run(llm: Any, store_folder: str | Path, *, rollouts: int = 350, seed: int = 0,
        per_family: int = 5, embeddings: str = "hash", plot: str | Path | None = None,
        echo: Any = print, **settings: Any) -> dict[str, Any]:
    """Train, evaluate with and without insights, answer one problem with the workflow
    (``settings``: :class:`~memagents.insights.InsightSettings` fields)."""
    train, held = split_tasks(seed=seed, train_per_family=2, eval_per_family=per_family)
    with InsightStore.open(store_folder, llm=llm, embeddings=embeddings, seed=seed,
                           **settings) as store:
        echo(f"training on {len(train)} problems within {rollouts} rollouts ...")
        report = store.train(rollouts, problems=[t.problem() for t in train],
                             eval_problems=[t.problem() for t in held],
                             eval_every=max(rollouts // 4, 1), eval_modes=("core", "none"))
        echo(f"  rollouts {report.rollouts}, candidates {report.candidates}, "
             f"{report.llm_calls_per_step} LLM calls per step")
        for insight in sorted(store.insights(), key=lambda i: -(i.utility or 0))[:5]:
            echo(f"  {insight.utility:+.2f} ({insight.uses} uses) {insight.text}")
        with_insights = store.evaluate([t.problem() for t in held], mode="core")
        without = store.evaluate([t.problem() for t in held], mode="none")
        echo(f"held-out accuracy: {with_insights.accuracy:.2f} with insights "
             f"({with_insights.insight_tokens:.0f} insight tokens per problem), "
             f"{without.accuracy:.2f} without")
        graph = build_insight_solver(llm, store)
        task = held[0]
        out = graph.invoke({"question": task.text, "expected": task.answer})
        echo(f"workflow: {task.text}\n  answer {out['answer']} (expected {task.answer}), "
             f"{len(out['insight_ids'])} insight(s) injected, reward {out['reward']}")
        if plot is not None:
            from memagents.insights.plot import write_curve

            labels = {"core": "with insights", "none": "no insights"}
            write_curve(plot, {labels[k]: v for k, v in store.curve().items()},
                        title="Held-out accuracy vs rollouts")
            echo(f"learning curve: {plot}")
        return {"train": report.to_dict(), "with": with_insights.accuracy,
                "without": without.accuracy, "workflow": out["reward"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", help="Chat model spec, e.g. openai:gpt-4o-mini")
    parser.add_argument("--simulate", action="store_true",
                        help="Use the simulated model on a loopback server (a simulation).")
    parser.add_argument("--store", default="./insight-store", help="Store folder.")
    parser.add_argument("--rollouts", type=int, default=350)
    parser.add_argument("--plot", default="insight-curve.svg")
    args = parser.parse_args(argv)
    if not args.llm and not args.simulate:
        parser.error("pass --llm openai:gpt-4o-mini (with OPENAI_API_KEY) or --simulate")
    with contextlib.ExitStack() as stack:
        llm: Any = args.llm
        if args.simulate:
            from memagents.insights.research.simulation import SimulatedModel
            from memagents.testing import OpenAIServer

            server = stack.enter_context(OpenAIServer())
            train, held = split_tasks(seed=0, train_per_family=2, eval_per_family=5)
            server.default_reply = SimulatedModel(train + held)
            llm = server.chat_model()
            print("SIMULATION: the simulated model on a loopback server, not a real model")
        run(llm, args.store, rollouts=args.rollouts, plot=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
