"""A simulated model for measuring the insight store without a real model (a SIMULATION).

:class:`SimulatedModel` answers the store's three prompts (solve, reflect, ExpeL edit) as a
rule of the loopback :class:`~memagents.testing.OpenAIServer`, so every call goes through the
real ``openai`` client and the store's whole model path. It knows the generated problems
(:mod:`memagents.insights.research.tasks`) and nothing else; in particular it never sees the
store, only the prompts.

**Solving.** For a problem of family ``f`` with base rate ``b_f``, the success probability is
``σ(logit(b_f) + Δ·[an injected insight states f's trick] − β·m)``, with ``Δ`` such that the
trick alone gives ``p_trick`` and ``m`` the number of injected insights misleading for ``f``
(``f``'s wrong rule, or the trick of a family whose rule conflicts with ``f``). Nothing else
in the prompt matters. A success's trace states the family's key step; a failure's trace
gives the naive computation (and names a misleading insight it followed).

**Reflecting.** The reflection reads the two traces it is shown. If the successful trace
states a key step, with probability ``q_rule`` it words that step's rule (of the
*successful* problem's family, which is wrong when the contrast came from another family),
with ``q_wrong`` it writes the failed family's wrong rule, else a generic habit; with
probability ``q_extra`` a second, generic candidate follows. Without a key step to read it
writes generic habits or the wrong rule. **ExpeL edits** read the same traces: ``add`` (or
``upvote`` a listed rule stating the same), and ``downvote`` a listed rule the failed trace
says it followed.

Every number is a parameter (:class:`SimulationParams`) and is written into the results.

Example:
    >>> from memagents.insights.research.tasks import make_tasks
    >>> sim = SimulatedModel(make_tasks(per_family=1), seed=1)
    >>> body = {"messages": [{"role": "system", "content": "You solve problems carefully."},
    ...                      {"role": "user", "content": "Problem:\\n" + sim.tasks[0].text}]}
    >>> sorted(sim(body))
    ['answer', 'reasoning']
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from memagents.insights.prompts import INSIGHTS_HEADER
from memagents.insights.research.tasks import CONFLICTS, FAMILIES, Family, Task

__all__ = ["GENERIC", "SimulatedModel", "SimulationParams"]

GENERIC = (
    "Re-read the question before answering.",
    "Write down every quantity given before computing.",
    "Double-check the final arithmetic.",
    "State the final answer as a plain number.",
    "Work step by step and keep intermediate results.",
    "Estimate the answer first, then compute it exactly.",
    "Underline what the question asks for.",
    "Keep track of each intermediate value as you go.",
    "Compare the answer with the question's wording before replying.",
    "Prefer exact fractions to rounded decimals until the end.",
)
"""Generic habits the simulated reflection writes; they change nothing in the simulation."""

_SOLVE = "You solve problems carefully"
_REFLECT = "You study why an attempt"
_EXPEL = "You maintain a numbered list of rules"
_KEY = re.compile(r"Key step: (.+?)\.(?:\s|$)")
_FOLLOWED = re.compile(r"Followed the insight: (.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class SimulationParams:
    """The simulation's parameters (all written into the benchmark's results).

    Attributes:
        p_trick: Success probability with the family's trick injected (no misleading one).
        beta: Logit penalty per misleading insight injected.
        q_rule: Reflection words the successful trace's rule.
        q_wrong: Reflection writes the failed family's wrong rule.
        q_extra: A second, generic candidate follows.
        expel_downvote: An ExpeL edit downvotes a rule the failed trace followed.

    Example:
        >>> SimulationParams().p_trick
        0.85
    """

    p_trick: float = 0.85
    beta: float = 1.5
    q_rule: float = 0.6
    q_wrong: float = 0.15
    q_extra: float = 0.5
    expel_downvote: float = 0.7


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _content(body: dict[str, Any], role: str) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or ()
                     if m.get("role") == role)


class SimulatedModel:
    """The simulated model, a callable rule: ``server.default_reply = sim`` on the loopback
    server (or ``ScriptedChatModel(default=sim)`` in process); see the module docstring.

    Args:
        tasks: The problems it can recognise.
        seed: Seed of its random draws (a run is reproducible when calls come in order).
        params: :class:`SimulationParams`.
    """

    def __init__(self, tasks: Sequence[Task], *, seed: int = 0,
                 params: SimulationParams | None = None) -> None:
        self.tasks = list(tasks)
        self.by_text = {t.text: t for t in self.tasks}
        self.params = params or SimulationParams()
        self.rng = random.Random(f"simulated-model:{seed}")
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """Parameters and families (for results files)."""
        return {"params": asdict(self.params),
                "families": {f.name: {"base_rate": f.base_rate, "conflicts": CONFLICTS[f.name]}
                             for f in FAMILIES.values()}}

    # ------------------------------------------------------------------ the rule
    def __call__(self, body: Any) -> Any:
        if not isinstance(body, dict):  # a ScriptedChatModel passes its message list
            roles = {"human": "user", "ai": "assistant"}
            body = {"messages": [{"role": roles.get(m.type, m.type), "content": m.content}
                                 for m in body]}
        system, user = _content(body, "system"), _content(body, "user")
        with self._lock:
            if system.startswith(_SOLVE) or (not system and user.startswith("Problem:")):
                self.calls["solve"] += 1
                return self.solve(user.split("Problem:", 1)[-1].strip(), system)
            if system.startswith(_REFLECT):
                self.calls["reflect"] += 1
                return {"insights": self.reflect(user)}
            if system.startswith(_EXPEL):
                self.calls["expel"] += 1
                return {"operations": self.expel(user)}
        self.calls["other"] += 1
        return {"answer": "", "reasoning": "unrecognised prompt"}

    # ------------------------------------------------------------------ solving
    @staticmethod
    def insights_in(system: str) -> list[str]:
        """The injected insight lines of a solve prompt."""
        if INSIGHTS_HEADER not in system:
            return []
        block = system.split(INSIGHTS_HEADER, 1)[1]
        return [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]

    @staticmethod
    def effect(family: Family, insights: Sequence[str]) -> tuple[bool, list[str]]:
        """Whether the trick is stated, and the misleading insights, for ``family``."""
        trick = any(family.states_trick(i) for i in insights)
        conflicting = [FAMILIES[g] for g, hurt in CONFLICTS.items() if family.name in hurt]
        misleading = [i for i in insights if family.states_wrong(i)
                      or any(g.states_trick(i) for g in conflicting)]
        return trick, misleading

    def probability(self, family: Family, insights: Sequence[str]) -> float:
        """The success probability for ``family`` with ``insights`` injected."""
        trick, misleading = self.effect(family, insights)
        x = _logit(family.base_rate)
        if trick:
            x = _logit(self.params.p_trick)
        return _sigmoid(x - self.params.beta * len(misleading))

    def solve(self, problem: str, system: str) -> dict[str, str]:
        """One solve reply."""
        task = self.by_text.get(problem)
        if task is None:
            return {"reasoning": "I do not recognise this problem.", "answer": "unknown"}
        family = FAMILIES[task.family]
        insights = self.insights_in(system)
        _, misleading = self.effect(family, insights)
        if self.rng.random() < self.probability(family, insights):
            return {"reasoning": f"Key step: {family.step}. Applying it to the numbers "
                                 f"gives {task.answer}.", "answer": task.answer}
        why = (f"Followed the insight: {misleading[0]}\n" if misleading else "")
        return {"reasoning": f"{why}Computed directly from the numbers given: {task.naive}.",
                "answer": task.naive}

    # ------------------------------------------------------------------ reflecting
    def _family_of_step(self, text: str) -> Family | None:
        found = _KEY.search(text)
        if not found:
            return None
        return next((f for f in FAMILIES.values() if f.step.startswith(found.group(1)[:40])),
                    None)

    def _failed_family(self, user: str) -> Family | None:
        part = user.split("SUCCESSFUL ATTEMPT", 1)[0]
        problem = re.search(r"Problem: (.+)", part)
        task = self.by_text.get(problem.group(1).strip()) if problem else None
        return FAMILIES[task.family] if task else None

    def _draft(self, user: str) -> str:
        success = user.split("SUCCESSFUL ATTEMPT", 1)[-1]
        source = self._family_of_step(success)
        failed = self._failed_family(user)
        draw = self.rng.random()
        if source is not None and draw < self.params.q_rule:
            return source.wording(self.rng)
        if failed is not None and draw < self.params.q_rule + self.params.q_wrong:
            return failed.wording(self.rng, wrong=True)
        return self.rng.choice(GENERIC)

    def reflect(self, user: str) -> list[dict[str, str]]:
        """One reflection reply: one or two candidate insights."""
        out = [{"text": self._draft(user), "label": "specific"}]
        if self.rng.random() < self.params.q_extra:
            out.append({"text": self.rng.choice(GENERIC), "label": "meta"})
        return out

    def expel(self, user: str) -> list[dict[str, Any]]:
        """One ExpeL edit reply."""
        rules_part = user.split("FAILED ATTEMPT", 1)[0]
        rules = re.findall(r"^(\d+)\. (.+)$", rules_part, flags=re.MULTILINE)
        ops: list[dict[str, Any]] = []
        followed = _FOLLOWED.search(user.split("SUCCESSFUL ATTEMPT", 1)[0])
        if followed and self.rng.random() < self.params.expel_downvote:
            for number, text in rules:
                if text.strip() == followed.group(1).strip():
                    ops.append({"op": "downvote", "rule": int(number)})
        draft = self._draft(user)
        same = next((int(n) for n, text in rules if any(
            f.states_trick(text) and f.states_trick(draft) for f in FAMILIES.values())
            or text.strip() == draft), None)
        ops.append({"op": "upvote", "rule": same} if same else {"op": "add", "text": draft})
        return ops
