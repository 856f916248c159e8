"""A scripted model that plays every agent of benchmark synthesis from the sample world's
ground truth: an **honest simulation**, not a language model.

No LLM is reachable here, so the synthesis workflow is measured with a model whose replies
are computed from what the prompt shows plus the sample world's known facts:

* **extract**: the facts of the page in the prompt about the current entity, quoted from the
  page text *as shown in the prompt* (so a quote is only as good as the fetched text), and the
  next entity (a fact whose object is an entity not yet in the chain, facts new in the
  world's snapshot first, as the prompt asks for fresh knowledge);
* **compose**: a question over the chain (entities named by type and relation, the start by
  name), its answer (the chain's last entity) and its clues (the projection chain);
* **closed book**: "unknown", except for questions planted as leaks;
* **browse agent** (solvability and uniqueness solvers): an *oracle solver* that knows each
  composed question's chain and reads one page per hop (search the hop's subject, fetch the
  result titled with it), then answers; planted alternative answers make it disagree.

Every reply goes through the real structured-call path (and, in the benchmark, the real
``openai`` client on the loopback server), so the pipeline's parsing, budgets, retries, fetches
and checks are exercised for real; only the *judgement* is scripted. Label figures from it as
an oracle simulation.

Example:
    >>> from memagents.sample import SampleWorld
    >>> oracle = WorldOracle(SampleWorld.generate(0, size="tiny"))
    >>> oracle.reply("Answer from your own knowledge; you cannot browse.\\nWho?").splitlines()[1]
    'Exact Answer: unknown'
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from memagents.browsecomp.candidate import normalize_text
from memagents.browsecomp.reasoning import chain_constraints
from memagents.sample import SampleWorld
from memagents.sample.schema import render_object

__all__ = ["WorldOracle"]

_PAGE = re.compile(r'<web_page (?:id="[^"]*" )?url="([^"]+)"[^>]*>\n(.*?)\n</web_page>', re.DOTALL)
_RESULTS = re.compile(r"<search_results query=\"[^\"]*\">\n(.*?)\n</search_results>", re.DOTALL)


class WorldOracle:
    """Replies for every synthesis prompt, from a sample world (see the module docstring).

    Args:
        world: The sample world whose website is being browsed.
        leaks: Questions the closed-book probe "knows" (planted leaks).
        alternatives: Question -> a different answer the uniqueness solver gives (planted
            non-unique questions).
    """

    def __init__(self, world: SampleWorld, *, leaks: Sequence[str] = (),
                 alternatives: dict[str, str] | None = None) -> None:
        self.world = world
        self.names = {e.id: e.name for e in world.entities}
        self.by_name = {normalize_text(e.name): e for e in world.entities}
        self.leaks = {normalize_text(q) for q in leaks}
        self.alternatives = {normalize_text(k): v for k, v in (alternatives or {}).items()}
        self.chains: dict[str, list[tuple[str, str, str]]] = {}
        self.new_facts = ({new for _, new in world.changes_since(0).changed_facts}
                          if world.snapshot_index else set())
        self.calls: dict[str, int] = {}

    # ------------------------------------------------------------------ plumbing
    def register(self, question: str, chain: Sequence[tuple[str, str, str]]) -> None:
        """Tell the oracle solver the chain of a question composed elsewhere."""
        self.chains[normalize_text(question)] = [tuple(h) for h in chain]  # type: ignore[misc]

    def rule(self) -> tuple[Any, Any]:
        """A ``(predicate, reply)`` rule for :class:`~memagents.testing.ScriptedChatModel` or
        the loopback server."""
        def reply(messages: list[Any]) -> str:
            return self.reply("\n".join(str(getattr(m, "content", m)) for m in messages))
        return (lambda _m: True, reply)

    def install(self, server: Any, *, model: str) -> None:
        """Answer the loopback server's chat requests for ``model`` (other models' requests
        go to other rules)."""
        def matches(body: dict[str, Any]) -> bool:
            return body.get("model") == model

        def reply(body: dict[str, Any]) -> str:
            return self.reply("\n".join(_content(m) for m in body.get("messages") or ()))
        server.add_rule(matches, reply)

    def reply(self, prompt: str) -> str:
        """The reply to one prompt (system and user text joined)."""
        for marker, kind in (("You collect facts", "extract"), ("You write hard", "compose"),
                             ("you cannot browse", "closed_book"),
                             ("No tool calls are left", "browse_answer"),
                             ("careful web research agent", "browse_step")):
            if marker in prompt:
                self.calls[kind] = self.calls.get(kind, 0) + 1
                return str(getattr(self, f"_{kind}")(prompt))
        self.calls["unknown"] = self.calls.get("unknown", 0) + 1
        return "{}"

    # ------------------------------------------------------------------ synthesis agent
    def _extract(self, prompt: str) -> str:
        entity = re.search(r"Current entity: (.+)", prompt)
        visited = re.search(r"Entities already in the chain \(do not go back to them\): (.*)",
                            prompt)
        page = _PAGE.search(prompt)
        if not entity or not page:
            return json.dumps({"facts": [], "next": None})
        name = entity.group(1).strip()
        seen = {normalize_text(v) for v in (visited.group(1) if visited else "").split(", ")}
        shown = self.world.website.get(page.group(1))
        text = page.group(2)
        subject = self.by_name.get(normalize_text(name))
        facts, options = [], []
        if shown is not None and subject is not None:
            for fact in shown.facts:
                if fact.subject_id != subject.id:
                    continue
                obj = render_object(fact, self.names)
                quote = _quote(text, obj)
                if quote is None:
                    continue
                if not fact.literal and normalize_text(obj) not in seen:
                    # the prompt asks for fresh facts first: facts new in this snapshot
                    options.append((fact not in self.new_facts, len(facts)))
                facts.append({"subject": name, "relation": fact.relation, "object": obj,
                              "quote": quote})
        nxt = min(options)[1] if options else None
        return json.dumps({"facts": facts, "next": nxt})

    def _compose(self, prompt: str) -> str:
        chain = [tuple(p.strip() for p in line.split(":", 1)[1].split("|"))
                 for line in re.findall(r"^\d+: .+\|.+\|.+$", prompt, re.MULTILINE)]
        if not chain:
            return json.dumps({"question": "", "answer": ""})
        from memagents.browsecomp.candidate import Hop

        hops = [Hop(subject=s, relation=r, object=o) for s, r, o in chain]
        answer = chain[-1][2]
        clues = chain_constraints(chain[0][0], hops)
        kinds = [self._type(o) for _, _, o in chain]
        words = " of the ".join(f"{kind} reached by '{r.replace('_', ' ')}'"
                                for kind, (_, r, _) in zip(reversed(kinds), reversed(chain)))
        question = (f"Starting from {chain[0][0]}, which {words}? "
                    f"(a {len(chain)}-hop chain)")
        self.register(question, chain)  # type: ignore[arg-type]
        return json.dumps({"question": question, "answer": answer, "aliases": [],
                           "constraints": [
                               {"target": c.target, "relation": c.relation, "value": c.value,
                                "inverse": c.inverse, "negated": c.negated, "hop": c.hop}
                               for c in clues]})

    def _type(self, name: str) -> str:
        entity = self.by_name.get(normalize_text(name))
        return entity.type if entity is not None else "entity"

    # ------------------------------------------------------------------ filtering agent
    def _closed_book(self, prompt: str) -> str:
        question = _question_of(prompt)
        chain = self.chains.get(normalize_text(question))
        if normalize_text(question) in self.leaks and chain:
            answer = chain[-1][2]
            return f"Explanation: I remember it.\nExact Answer: {answer}\nConfidence: 90%"
        return "Explanation: I cannot recall this.\nExact Answer: unknown\nConfidence: 5%"

    # ------------------------------------------------------------------ solvers
    def _browse_step(self, prompt: str) -> str:
        question = re.search(r"Question: (.+)", prompt)
        chain = self.chains.get(normalize_text(question.group(1))) if question else None
        if not chain:
            return json.dumps({"action": "answer", "exact_answer": "unknown",
                               "confidence": 0, "explanation": "no idea"})
        transcript = prompt.split("What you have done so far (oldest first):", 1)[-1]
        fetched = re.findall(r"^\[\d+\] fetch (\S+)\n<web_page", transcript, re.MULTILINE)
        if len(fetched) >= len(chain):
            return self._answer(question.group(1), chain, fetched)
        entity = chain[len(fetched)][0]
        searches = _RESULTS.findall(transcript)
        last_search = re.findall(r"^\[\d+\] search '(.*)'$", transcript, re.MULTILINE)
        if last_search and normalize_text(last_search[-1]) == normalize_text(entity) \
                and searches:
            urls = re.findall(r"^\d+\. (.+?)(?: \(\d{4}-\d{2}-\d{2}\))?\n\s+(\S+)",
                              searches[-1], re.MULTILINE)
            pick = next((u for t, u in urls if normalize_text(entity) in normalize_text(t)),
                        urls[0][1] if urls else None)
            if pick:
                return json.dumps({"action": "fetch", "url": pick, "look_for": entity})
        return json.dumps({"action": "search", "query": entity})

    def _answer(self, question: str, chain: list[tuple[str, str, str]],
                fetched: list[str]) -> str:
        answer = self.alternatives.get(normalize_text(question), chain[-1][2])
        return json.dumps({"action": "answer", "exact_answer": answer, "confidence": 80,
                           "explanation": "Followed the chain page by page.",
                           "citations": fetched})

    def _browse_answer(self, prompt: str) -> str:
        question = re.search(r"Question: (.+)", prompt)
        chain = self.chains.get(normalize_text(question.group(1))) if question else None
        answer = chain[-1][2] if chain else "unknown"
        return json.dumps({"exact_answer": answer, "confidence": 30, "explanation": "",
                           "citations": []})


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _question_of(prompt: str) -> str:
    """The question inside BrowseComp's query template (its first line after the system)."""
    body = prompt.split("you cannot browse.", 1)[-1].strip()
    return body.split("\n", 1)[0].strip()


def _quote(text: str, needle: str) -> str | None:
    """The shortest sentence or line of ``text`` containing ``needle`` (normalized)."""
    want = normalize_text(needle)
    pieces = [p.strip(" |") for p in re.split(r"(?<=[.!?])\s+|\n+", text) if p.strip(" |")]
    hits = [p for p in pieces if want and want in normalize_text(p)]
    return min(hits, key=len) if hits else None
