"""Task families with hidden tricks, for the CORE simulation (research tooling).

No real model is reachable here, so the insight store is measured on problems the project
generates itself: arithmetic word problems about the sample world's invented people and
places (names from :class:`~memagents.sample.names.NameForge`), in six families. Each family
has a hidden **trick** (count both fence ends, round the number of buses up...), an exact
answer and the **naive** answer a solver gets when it misses the trick, and an exact verifier
(numeric, or exact match).

The simulated solver (:mod:`memagents.insights.research.simulation`) reads an insight as
stating a family's trick when the text matches the family's ``trick`` pattern, and as
misleading for a family when it matches one of the family's ``wrong`` patterns: its own wrong
rule, or the trick of a family whose rule conflicts with it (an over-general rule that helps
one family hurts another). The reflection of the simulation words each rule in many ways
(:meth:`Family.wording`), as a model would.

Example:
    >>> tasks = make_tasks(seed=0, per_family=1)
    >>> len(tasks), sorted({t.family for t in tasks}) == sorted(FAMILIES)
    (6, True)
    >>> fence = next(t for t in tasks if t.family == "fence")
    >>> int(fence.answer) == int(fence.naive) + 1
    True
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from memagents.insights.records import Problem
from memagents.sample.names import NameForge

__all__ = ["FAMILIES", "Family", "Task", "make_tasks", "split_tasks"]


@dataclass(frozen=True, kw_only=True)
class Task:
    """One generated problem.

    Attributes:
        id: Stable id (``<family>-<n>``).
        family: Its family.
        text: The problem.
        answer: The exact answer.
        naive: The answer a solver gets when it misses the trick.
        verifier: ``"numeric"`` or ``"exact"``.
    """

    id: str
    family: str
    text: str
    answer: str
    naive: str
    verifier: str = "numeric"

    def problem(self) -> Problem:
        """As a :class:`~memagents.insights.records.Problem` (the family as a tag)."""
        return Problem(id=self.id, text=self.text, answer=self.answer,
                       verifier=self.verifier, tags=(self.family,))


@dataclass(frozen=True, kw_only=True)
class Family:
    """A problem family with a hidden trick.

    Attributes:
        name: Family name.
        base_rate: The simulated solver's success rate without the trick.
        step: The key step a successful trace states (what reflection can learn from).
        openers: Ways an insight may start.
        rules: Ways to state the trick (each matches ``trick``).
        wrong_rules: Wrong rules for this family (each matches ``wrong``).
        trick: Pattern of an insight stating the trick.
        wrong: Pattern of an insight stating this family's own wrong rule.
        make: ``make(rng, forge) -> (text, answer, naive)``.
    """

    name: str
    base_rate: float
    step: str
    openers: tuple[str, ...]
    rules: tuple[str, ...]
    wrong_rules: tuple[str, ...]
    trick: str
    wrong: str
    make: Callable[[random.Random, NameForge], tuple[str, str, str]]

    def states_trick(self, text: str) -> bool:
        """True when ``text`` states this family's trick."""
        return re.search(self.trick, text, re.IGNORECASE) is not None

    def states_wrong(self, text: str) -> bool:
        """True when ``text`` states this family's own wrong rule."""
        return re.search(self.wrong, text, re.IGNORECASE) is not None

    def wording(self, rng: random.Random, *, wrong: bool = False) -> str:
        """One wording of the trick (or of the wrong rule)."""
        rule = rng.choice(self.wrong_rules if wrong else self.rules)
        return f"{rng.choice(self.openers)}{rule}"


def _fmt(x: float) -> str:
    return str(round(x)) if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _fence(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    d = rng.choice([2, 3, 4, 5, 6])
    gaps = rng.randint(6, 40)
    place = forge.root("city")
    return ((f"A straight fence along the road into {place} is {gaps * d} metres long, with a "
            f"post every {d} metres. How many posts does it have?"), str(gaps + 1), str(gaps))


def _buses(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    seats = rng.choice([20, 24, 30, 36, 40, 45, 50])
    full = rng.randint(2, 9)
    pupils = full * seats + rng.randint(1, seats - 1)
    given, family = forge.person()
    return ((f"{pupils} pupils of the {family} school go on a trip with {given} {family}; each "
            f"bus seats {seats}. How many buses are needed?"), str(full + 1), str(full))


def _percent(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    price = rng.choice([80, 120, 200, 250, 400, 600])
    x = rng.choice([10, 20, 25, 30, 40, 50])
    city = forge.root("city")
    final = price * (1 + x / 100) * (1 - x / 100)
    return ((f"In {city} a lamp cost {price} crowns. Its price rose by {x}% and then fell by "
            f"{x}%. What is its price now, in crowns?"), _fmt(final), _fmt(price))


def _inclusive(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    start = rng.randint(1, 15)
    end = start + rng.randint(3, 14)
    city = forge.root("city")
    return ((f"The harvest fair of {city} runs from day {start} to day {end} of the month. "
            f"How many days is the fair open?"), str(end - start + 1), str(end - start))


def _units(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    rate = rng.choice([50, 100, 125, 200, 250, 500])
    minutes = rng.randint(2, 30)
    litres = rate * 60 * minutes // 1000
    if litres * 1000 != rate * 60 * minutes:
        minutes, litres = 10, rate * 600 // 1000
    city = forge.root("city")
    return ((f"A water tank in {city} holds {litres} litres. Water flows in at {rate} "
            f"millilitres per second. How many minutes does filling it take?"),
            _fmt(litres * 1000 / rate / 60), _fmt(litres / rate))


def _speed(rng: random.Random, forge: NameForge) -> tuple[str, str, str]:
    a, b = rng.choice([(30, 60), (40, 60), (60, 90), (40, 120), (45, 90), (50, 75)])
    if rng.random() < 0.5:
        a, b = b, a
    given, family = forge.person()
    town = forge.root("city")
    return ((f"{given} {family} drives to {town} at {a} km/h and back along the same road at "
            f"{b} km/h. What is the average speed of the round trip, in km/h?"),
            _fmt(2 * a * b / (a + b)), _fmt((a + b) / 2))


_OPEN = ("", "Remember: ", "Check this first: ", "Key habit: ")

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family(name="fence", base_rate=0.25, make=_fence,
           step="posts stand at both ends, so posts = gaps + 1",
           openers=_OPEN,
           rules=("when posts stand at both ends of a line, add one to the number of gaps.",
                  "the number of posts is the number of gaps plus one.",
                  "count fence posts as gaps plus one, since both ends need a post.",
                  "for posts along a fence, divide length by spacing and add one."),
           wrong_rules=(("posts along a fence equal the length divided by the spacing, "
                        "nothing extra."),),
           trick=r"posts?\b.*\b(add|plus) one|(add|plus) one\b.*\bposts?", wrong=r"nothing extra"),
    Family(name="buses", base_rate=0.35, make=_buses,
           step="a partly filled bus is still a bus, so round the quotient up",
           openers=_OPEN,
           rules=("when counting buses or boxes needed, round the quotient up.",
                  "a part-full bus is still needed: always round up the number of buses.",
                  "divide and round up for the number of containers needed.",
                  "round up whenever a leftover group still needs its own bus."),
           wrong_rules=("round the number of buses to the nearest whole number.",),
           trick=r"round(ed|ing)? (the quotient |the number of buses )?up", wrong=r"nearest whole"),
    Family(name="percent", base_rate=0.2, make=_percent,
           step="successive percentage changes multiply: price × (1 + x) × (1 − x)",
           openers=_OPEN,
           rules=(("successive percentage changes multiply; a rise and an equal fall do not "
                  "cancel."),
                  "apply percentage changes one after another by multiplying factors.",
                  ("a rise then a fall by the same percent leaves less than the start: "
                  "multiply the factors."),
                  "chain percentage changes as multiplied factors, never add them."),
           wrong_rules=("a percentage rise followed by the same percentage fall cancels out.",),
           trick=r"multipl(y|ying|ied)\b.*factors?|percentage changes multiply|factors?\b.*"
                 r"multipl", wrong=r"cancels out"),
    Family(name="inclusive", base_rate=0.3, make=_inclusive,
           step="both the first and the last day count, so days = last − first + 1",
           openers=_OPEN,
           rules=("inclusive ranges count both endpoints: last minus first plus one.",
                  ("when both the first and the last day count, take the difference and add "
                  "one day."),
                  ("a span of days that includes both ends has one more day than the "
                  "difference."),
                  "count inclusive day ranges as end minus start plus one."),
           wrong_rules=(("the length of a span of days is the difference between the end day "
                        "and the start day."),),
           trick=r"endpoints|\bdays?\b.*\b(plus|add) one|(plus|add) one day|one more day",
           wrong=r"difference between the end"),
    Family(name="units", base_rate=0.15, make=_units,
           step="convert litres to millilitres and seconds to minutes before dividing",
           openers=_OPEN,
           rules=("convert every quantity to the same unit before dividing.",
                  ("put volume and rate in matching units (litres vs millilitres) first, then "
                  "convert the time unit."),
                  "convert litres to millilitres and seconds to minutes before dividing.",
                  "check the units: convert so volume and rate use the same unit."),
           wrong_rules=(("divide the volume by the rate directly; the units take care of "
                        "themselves."),),
           trick=r"convert|matching units", wrong=r"take care of themselves"),
    Family(name="speed", base_rate=0.25, make=_speed,
           step="average speed = total distance / total time, not the mean of the speeds",
           openers=_OPEN,
           rules=(("average speed is total distance divided by total time, not the mean of the "
                  "speeds."),
                  "for a round trip, compute total distance over total time.",
                  "never average two speeds directly: divide total distance by total time.",
                  "use total distance / total time (a harmonic mean) for average speed."),
           wrong_rules=("the average speed of a round trip is the mean of the two speeds.",),
           trick=r"total distance", wrong=r"mean of the two speeds"),
)}

CONFLICTS: dict[str, tuple[str, ...]] = {
    "buses": ("percent", "speed"),  # rounding up a price or an average speed
    "fence": ("units",),            # "add one" applied to a number of minutes
    "inclusive": ("units",),        # "add one day" read as a general rule
    "percent": (),
    "units": (),
    "speed": (),
}
"""Family -> families its trick misleads when injected there: an over-general counting rule
(round up, add one) hurts families whose answers are not counts. A stylised assumption of the
simulation, stated so the results can be read with it."""


def make_tasks(*, seed: int = 0, per_family: int = 20,
               families: tuple[str, ...] | None = None) -> list[Task]:
    """``per_family`` problems of each family, interleaved, with distinct texts."""
    rng = random.Random(f"insight-tasks:{seed}")
    forge = NameForge(random.Random(f"insight-names:{seed}"))
    names = families or tuple(FAMILIES)
    out: list[Task] = []
    seen: set[str] = set()
    for n in range(per_family):
        for name in names:
            family = FAMILIES[name]
            for _ in range(50):
                text, answer, naive = family.make(rng, forge)
                if text not in seen and answer != naive:
                    break
            seen.add(text)
            out.append(Task(id=f"{name}-{n:03d}", family=name, text=text, answer=answer,
                            naive=naive))
    return out


def split_tasks(*, seed: int = 0, train_per_family: int = 2, eval_per_family: int = 20,
                families: tuple[str, ...] | None = None) -> tuple[list[Task], list[Task]]:
    """Training and held-out problems of the same families (disjoint)."""
    tasks = make_tasks(seed=seed, per_family=train_per_family + eval_per_family,
                       families=families)
    k = len(families or FAMILIES)
    return tasks[: train_per_family * k], tasks[train_per_family * k:]
