"""Research tooling of the insight store: generated task families with hidden tricks and the
simulated model that stands in for a real one in ``benchmarks/insights_core.py`` (a
simulation, labelled as such everywhere its numbers appear)."""
