"""Retrieve-or-recall policies and the RetrievalGate, on scripted models and the loopback server."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from memagents.config import Settings
from memagents.errors import BudgetExceeded, ConfigError, InputError, LLMError
from memagents.eval.scoring import answers_agree, normalize_answer
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.gate import POLICY_NAMES, RetrievalGate
from memagents.gate.policies import AllOf, Always, AnyOf, Never, PopularityThreshold, Vote
from memagents.gate.policies_blackbox import SelfConsistency, VerbalizedConfidence
from memagents.gate.policies_llm import AdaptLLM, TokenProbability, p_token
from memagents.models import (
    Budget,
    PromptTemplate,
    RetryPolicy,
    StructuredLLM,
    Usage,
    override_prompt,
    reset_prompt,
)
from memagents.sample import SampleWorld
from memagents.testing import OpenAIServer, Reply, ScriptedChatModel

FAST = RetryPolicy(max_retries=2, backoff_base=0.0, backoff_max=0.0, jitter=0.0)
LN = math.log


def llm_of(model: Any, **kwargs: Any) -> StructuredLLM:
    return StructuredLLM(model, retry=FAST, sleep=lambda s: None, **kwargs)


def scripted(*responses: Any, **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(responses=list(responses), **kwargs)


class Counting(RetrievalPolicy):
    """A fixed decision that counts how often it was asked."""

    def __init__(self, retrieve: bool, name: str, answer: str | None = None) -> None:
        self.retrieve, self.name, self.answer, self.calls = retrieve, name, answer, 0

    def decide(self, question: str, *, metadata: Any = None) -> Decision:
        self.calls += 1
        return Decision(
            retrieve=self.retrieve,
            policy=self.name,
            reason=f"{self.name} says so",
            answer=self.answer,
        )


# -- fixed policies and popularity ----------------------------------------------------------


def test_never_and_always_are_fixed_with_reasons() -> None:
    assert Never().decide("Who wrote Velmora?").retrieve is False
    d = Always().decide("Who wrote Velmora?")
    assert d.retrieve is True and d.policy == "always" and "every question" in d.reason
    with pytest.raises(InputError, match="non-empty string"):
        Never().decide("  ")


def test_popularity_from_metadata_below_and_above_threshold() -> None:
    policy = PopularityThreshold(1000)
    low = policy.decide("What is Ilda Morn's occupation?", metadata={"s_pop": 142})
    high = policy.decide("What is Paris the capital of?", metadata={"s_pop": 250_000})
    assert low.retrieve is True and high.retrieve is False
    assert low.signals == {
        "popularity": 142.0,
        "threshold": 1000.0,
        "relation": None,
        "threshold_scope": "global",
    }
    assert "142 < global threshold 1,000" in low.reason and not low.fallback
    assert ">=" in high.reason
    # Mallen's rule is strict: popularity equal to the threshold recalls.
    assert policy.decide("Q?", metadata={"s_pop": 1000}).retrieve is False
    assert policy.decide("Q?", metadata={"s_pop": "999"}).retrieve is True  # numeric string


def test_popularity_from_callable_and_table_sources() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def views(question: str, metadata: Any) -> float | None:
        seen.append((question, dict(metadata)))
        return {"Who is A?": 10.0, "Who is B?": 5000.0}.get(question)

    by_call = PopularityThreshold(100, source=views)
    assert by_call.decide("Who is A?", metadata={"s_pop": 99999}).retrieve is True
    assert by_call.decide("Who is B?").retrieve is False
    assert seen[0] == ("Who is A?", {"s_pop": 99999})  # the source wins over metadata
    table = PopularityThreshold(
        100, source={"Who is A?": 10, "Who is B?": 5000}, on_missing="recall"
    )
    assert table.decide("Who is A?").retrieve is True
    assert table.decide("Who is B?").retrieve is False
    miss = table.decide("Who is C?", metadata={"s_pop": 1})
    assert miss.fallback and miss.retrieve is False and "popularity table" in miss.reason


def test_popularity_per_relation_thresholds_override_the_global_one() -> None:
    policy = PopularityThreshold(1000, per_relation={"occupation": 50, "genre": math.inf})
    meta = {"s_pop": 142, "prop": "occupation"}
    d = policy.decide("What is X's occupation?", metadata=meta)
    assert d.retrieve is False and d.signals["threshold"] == 50
    assert d.signals["relation"] == "occupation" and d.signals["threshold_scope"] == "relation"
    assert "relation 'occupation' threshold 50" in d.reason
    assert policy.decide("What genre is X?", metadata={"s_pop": 10**9, "prop": "genre"}).retrieve
    other = policy.decide("Who is the father of X?", metadata={"s_pop": 142, "prop": "father"})
    assert other.retrieve is True and other.signals["threshold_scope"] == "global"

    class Tuned:  # what tuning results look like: a thresholds() method
        def thresholds(self) -> dict[str, float]:
            return {"capital of": 5.0}

    by_key = PopularityThreshold(
        1000,
        per_relation=Tuned(),
        relation_key=lambda q, m: "capital of" if "capital" in q else None,
    )
    assert by_key.decide("What is X the capital of?", metadata={"s_pop": 142}).retrieve is False
    assert by_key.decide("Who is X?", metadata={"s_pop": 142}).retrieve is True


@pytest.mark.parametrize("bad", [None, float("nan"), -3, "lots", math.inf, True, [12]])
@pytest.mark.parametrize("on_missing", ["retrieve", "recall"])
def test_popularity_missing_or_invalid_falls_back_as_configured(bad: Any, on_missing: str) -> None:
    policy = PopularityThreshold(1000, on_missing=on_missing)  # type: ignore[arg-type]
    metadata = {} if bad is None else {"s_pop": bad}
    d = policy.decide("Who is X?", metadata=metadata)
    assert d.fallback is True and d.retrieve is (on_missing == "retrieve")
    assert d.signals["popularity"] is None and "metadata['s_pop']" in d.signals["problem"]
    assert "no usable popularity" in d.reason and f"on_missing={on_missing!r}" in d.reason


def test_popularity_rejects_bad_configuration() -> None:
    for kwargs in (
        {"threshold": -1},
        {"threshold": float("nan")},
        {"on_missing": "maybe"},
        {"source": 42},
        {"per_relation": {"occupation": -5}},
        {"per_relation": [("a", 1)]},
    ):
        with pytest.raises(InputError):
            PopularityThreshold(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="metadata must be a mapping"):
        PopularityThreshold().decide("Who?", metadata=[("s_pop", 3)])  # type: ignore[arg-type]


def test_popularity_on_the_sample_world_matches_the_rule() -> None:
    world = SampleWorld.generate(0, size="small")
    per = {"occupation": 30.0, "performer": 5000.0}
    policy = PopularityThreshold(800, per_relation=per)
    for q in world.popqa:
        d = policy.decide(q.question, metadata=q.to_dict())
        assert d.retrieve is (q.s_pop < per.get(q.prop, 800)), q


def test_popularity_retrieval_rate_on_popqa_dev(shared_data: Any) -> None:
    items = json.loads((shared_data / "popqa" / "popqa_dev.json").read_text())
    rates = []
    for threshold in (100, 1000, 10_000):
        policy = PopularityThreshold(threshold)
        decisions = [policy.decide(it["question"], metadata=it) for it in items]
        expected = sum(float(it["s_pop"]) < threshold for it in items) / len(items)
        rate = sum(d.retrieve for d in decisions) / len(items)
        assert rate == pytest.approx(expected) and not any(d.fallback for d in decisions)
        rates.append(rate)
    assert rates == sorted(rates) and 0.2 < rates[1] < 0.8  # median s_pop is about 935


# -- Adapt-LLM --------------------------------------------------------------------------------


def test_adapt_llm_token_answer_and_prompt() -> None:
    model = ScriptedChatModel(rules=[("Velmora", "<RET>"), ("France", "Answer: Paris")])
    policy = AdaptLLM(model)
    ret = policy.decide("Who founded Velmora?")
    assert ret.retrieve is True and ret.answer is None and ret.signals["emitted_token"] is True
    assert "<RET>" in ret.reason and not ret.fallback
    system, user = model.calls[0]
    assert system.content == (
        "answer the question Q. If you need help answer <RET> to get the context"
    )
    assert user.content == "Q: Who founded Velmora?"
    ans = policy.decide("What is the capital of France?")
    assert ans.retrieve is False and ans.answer == "Paris" and not ans.fallback
    assert policy.llm.usage.llm_calls == 2


@pytest.mark.parametrize("reply", ["", "   ", "??? ...", "<RE", "<"])
def test_adapt_llm_garbage_retrieves_with_fallback(reply: str) -> None:
    d = AdaptLLM(scripted(reply)).decide("Who founded Velmora?")
    assert d.retrieve is True and d.fallback is True and d.answer is None
    assert "unusable reply" in d.reason


def test_adapt_llm_token_variants_abstention_custom_token_and_prompt() -> None:
    assert AdaptLLM(scripted("I think < ret > is needed")).decide("Q?").retrieve is True
    abstain = AdaptLLM(scripted("I don't know.")).decide("Q?")
    assert abstain.retrieve is True and not abstain.fallback and "abstained" in abstain.reason
    model = scripted("[SEARCH]", "Quillmere")
    custom = PromptTemplate("test.gate.custom", "Say {token} if unsure.", "Question: {question}")
    policy = AdaptLLM(model, token="[SEARCH]", prompt=custom)
    assert policy.decide("Who?").retrieve is True
    assert policy.decide("Where?").answer == "Quillmere"
    assert model.calls[0][0].content == "Say [SEARCH] if unsure."
    with pytest.raises(ConfigError, match="must use"):
        AdaptLLM(model, prompt=PromptTemplate("test.gate.bad", "", "{question} {context}"))
    with pytest.raises(InputError):
        AdaptLLM(model, token="  ")


def test_adapt_llm_prompt_overrides_and_alpaca_layout() -> None:
    model = ScriptedChatModel(default="Paris")
    try:
        override_prompt("gate.adapt_llm", system="Be brief. Emit {token} when unsure.")
        AdaptLLM(model).decide("Capital of France?")
    finally:
        reset_prompt("gate.adapt_llm")
    assert model.calls[-1][0].content == "Be brief. Emit <RET> when unsure."
    AdaptLLM(model, prompt="gate.adapt_llm_alpaca").decide("Capital of France?")
    (only,) = model.calls[-1]
    assert "### Instruction:\nanswer the question Q. If you need help answer <RET>" in only.content
    assert str(only.content).endswith("### Input:\nQ: Capital of France?\n\n### Response:\n")


# -- token probability ------------------------------------------------------------------------


def ret_reply(p_lt: float, p_ans: float) -> Reply:
    return Reply("<RET>", logprobs=[("<", LN(p_lt), {"Paris": LN(p_ans)}), ("RET>", -0.01)])


def test_token_probability_above_and_below_threshold() -> None:
    model = scripted(
        ret_reply(0.6, 0.3), Reply("Paris", logprobs=[("Paris", LN(0.9), {"<": LN(0.05)})])
    )
    policy = TokenProbability(model, threshold=0.2)
    up = policy.decide("Who founded Velmora?")
    assert up.retrieve is True and up.signals["p_ret"] == pytest.approx(0.6)
    assert up.answer is None and up.signals["first_token"] == "<" and not up.fallback
    down = policy.decide("Capital of France?")
    assert down.retrieve is False and down.answer == "Paris"
    assert down.signals["p_ret"] == pytest.approx(0.05) and "<= threshold 0.2" in down.reason
    assert model.call_kwargs[0]["logprobs"] is True and model.call_kwargs[0]["top_logprobs"] == 5
    # a calibrated threshold above the argmax recalls, though the reply holds no answer
    calibrated = TokenProbability(scripted(ret_reply(0.6, 0.3)), threshold=0.7).decide("Q?")
    assert calibrated.retrieve is False and calibrated.answer is None
    assert "the reply itself has no answer" in calibrated.reason


def test_p_token_rule() -> None:
    position = {
        "token": " <",
        "logprob": LN(0.1),
        "top_logprobs": [
            {"token": " <", "logprob": LN(0.1)},
            {"token": "<ret>", "logprob": LN(0.15)},
            {"token": "<RET>.", "logprob": LN(0.05)},
            {"token": "<b", "logprob": LN(0.2)},
            {"token": "Paris", "logprob": LN(0.5)},
        ],
    }
    assert p_token(position, "<RET>") == pytest.approx(0.3)
    assert p_token({"token": "<", "logprob": 0.0, "top_logprobs": []}, "<RET>") == 1.0
    assert p_token({"token": "Paris", "logprob": -0.1}, "<RET>") == 0.0


def test_token_probability_without_logprobs_falls_back() -> None:
    for mode, retrieve_token, retrieve_answer in (
        ("retrieve", True, True),
        ("recall", False, False),
        ("token", True, False),
    ):
        model = scripted(AIMessage(content="<RET>"), AIMessage(content="Paris"))
        policy = TokenProbability(model, on_missing_logprobs=mode)  # type: ignore[arg-type]
        first, second = policy.decide("Q1?"), policy.decide("Q2?")
        assert (first.retrieve, second.retrieve) == (retrieve_token, retrieve_answer), mode
        assert first.fallback and second.fallback and second.answer == "Paris"
        assert "logprobs unavailable" in second.reason and second.signals["p_ret"] is None
    default = TokenProbability(scripted(AIMessage(content="<RET>"), AIMessage(content="Paris")))
    assert [default.decide(q).retrieve for q in ("Q1?", "Q2?")] == [True, False]
    # a chat model that does not declare logprobs gets no such parameter, and falls back too
    plain = TokenProbability(FakeListChatModel(responses=["Paris"]), on_missing_logprobs="recall")
    d = plain.decide("Capital of France?")
    assert d.fallback and d.retrieve is False and d.answer == "Paris"
    with pytest.raises(InputError):
        TokenProbability(model, on_missing_logprobs="guess")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fraction"):
        TokenProbability(model, threshold=20)


# -- verbalized confidence --------------------------------------------------------------------


def test_verbalized_confidence_above_below_and_percent_strings() -> None:
    model = scripted(
        {"answer": "Paris", "confidence": 92}, '{"answer": "Lyon", "confidence": "40%"}'
    )
    policy = VerbalizedConfidence(model, threshold=0.7)
    high, low = policy.decide("Capital of France?"), policy.decide("Capital of France?")
    assert (high.retrieve, high.answer, high.signals["confidence"]) == (False, "Paris", 0.92)
    assert (low.retrieve, low.answer, low.signals["confidence"]) == (True, "Lyon", 0.4)
    assert "40% < threshold 70%" in low.reason
    assert "JSON Schema" in model.calls[0][0].content  # structured output path
    abstain = VerbalizedConfidence(scripted({"answer": "Unknown", "confidence": 95})).decide("Q?")
    assert abstain.retrieve is True and abstain.answer is None
    with pytest.raises(InputError, match="fraction"):
        VerbalizedConfidence(model, threshold=70)


def test_verbalized_confidence_unparseable_falls_back_after_reasks() -> None:
    llm = llm_of(ScriptedChatModel(default="I am fairly sure it is Paris."))
    d = VerbalizedConfidence(llm).decide("Capital of France?")
    assert d.retrieve is True and d.fallback is True and d.answer is None
    assert "never gave a parseable" in d.reason
    assert (llm.usage.llm_calls, llm.usage.retries) == (3, 2)


def test_verbalized_confidence_model_failure_propagates() -> None:
    def boom(messages: Any) -> Any:
        raise ValueError("invalid api key")

    with pytest.raises(LLMError, match="invalid api key"):
        VerbalizedConfidence(llm_of(ScriptedChatModel(default=boom))).decide("Q?")


# -- self-consistency -------------------------------------------------------------------------


def test_self_consistency_agreeing_and_disagreeing_samples() -> None:
    model = scripted(
        "Paris.",
        "paris, France",
        "The Paris",
        "Lyon",
        "Paris",
        *["Lyon", "Rome", "Paris", "Oslo", "Bern"],
    )
    policy = SelfConsistency(model, samples=5, agreement=0.6)
    agree = policy.decide("Capital of France?")
    assert agree.retrieve is False and agree.answer == "Paris."
    assert agree.signals["agreement"] == pytest.approx(0.8) and agree.signals["samples"] == 5
    assert agree.signals["answers"][:3] == ["paris", "paris france", "paris"]
    split = policy.decide("Capital of France?")
    assert split.retrieve is True and split.answer == "Lyon"
    assert split.signals["agreement"] == pytest.approx(0.2) and "1/5 samples" in split.reason
    assert len(model.calls) == 10 and policy.llm.usage.llm_calls == 10
    sampler: Any = policy.sample_llm.model
    assert sampler.temperature == 0.7 and model.temperature is None


def test_self_consistency_abstentions_and_garbage() -> None:
    unsure = SelfConsistency(scripted(*["I don't know"] * 3), samples=3).decide("Q?")
    assert unsure.retrieve and unsure.answer is None and not unsure.fallback
    garbage = SelfConsistency(scripted("", "...", "?"), samples=3).decide("Q?")
    assert garbage.retrieve and garbage.fallback and "no sample" in garbage.reason
    with pytest.raises(InputError):
        SelfConsistency(scripted(), samples=1)


def test_answer_normalisation() -> None:
    assert normalize_answer("  The Braskar-Comets! ") == "braskar comets"
    assert answers_agree("Braskar Comets", "the braskar comets band")
    assert not answers_agree("Paris", "Parisian") and not answers_agree("", "")


# -- combinations -----------------------------------------------------------------------------


def test_any_all_vote_and_lazy_short_circuit() -> None:
    a, b, c = Counting(False, "a"), Counting(True, "b"), Counting(True, "c", answer="X")
    d = AnyOf(a, b, c).decide("Q?")
    assert d.retrieve and [x.policy for x in d.children] == ["a", "b", "c"] and d.answer == "X"
    assert d.signals == {"retrieve_votes": 2, "evaluated": 3, "policies": 3}
    lazy = AnyOf(a, b, c, lazy=True).decide("Q?")
    assert len(lazy.children) == 2 and c.calls == 1 and "stopped early, 1 not run" in lazy.reason
    assert lazy.answer is None
    assert AnyOf([a, Counting(False, "z")]).decide("Q?").retrieve is False
    assert AllOf(b, c).decide("Q?").retrieve is True
    all_lazy = AllOf(a, b, lazy=True).decide("Q?")
    assert all_lazy.retrieve is False and len(all_lazy.children) == 1
    assert Vote(a, b, c).decide("Q?").retrieve is True
    assert Vote(a, Counting(False, "y"), c).decide("Q?").retrieve is False
    assert Vote(a, b).decide("Q?").retrieve is True
    assert Vote(a, b, tie="recall").decide("Q?").retrieve is False
    for bad in ((), ("never",), (Never(), 3)):
        with pytest.raises(InputError):
            AnyOf(*bad)  # type: ignore[arg-type]


def test_combination_of_real_policies_carries_reasons_answers_and_fallbacks() -> None:
    adapt = AdaptLLM(scripted("Quillmere"))
    pop = PopularityThreshold(1000)
    d = AnyOf(pop, adapt).decide("Where is Velmora?", metadata={})
    assert d.retrieve is True and d.fallback is True and d.answer == "Quillmere"
    assert "popularity: no usable popularity" in d.reason


# -- RetrievalGate -----------------------------------------------------------------------------


def test_gate_by_name_without_llm() -> None:
    assert RetrievalGate().policy.name == "always"
    assert RetrievalGate("never").decide("Q?").retrieve is False
    gate = RetrievalGate("popularity", threshold=50, on_missing="recall")
    assert gate.decide("Q?", {"s_pop": 10}).retrieve is True and gate.llm is None
    assert gate.usage.llm_calls == 0
    for name in ("adapt-llm", "token-probability", "confidence", "self-consistency"):
        with pytest.raises(ConfigError, match="llm=.*MEMAGENTS_LLM"):
            RetrievalGate(name)
    with pytest.raises(ConfigError, match="unknown gate policy"):
        RetrievalGate("sometimes")
    with pytest.raises(InputError, match="takes no option"):
        RetrievalGate("popularity", samples=3)
    with pytest.raises(InputError, match="only apply"):
        RetrievalGate(Never(), threshold=3)
    assert set(POLICY_NAMES) == {
        "never",
        "always",
        "popularity",
        "adapt-llm",
        "token-probability",
        "confidence",
        "self-consistency",
    }


def test_gate_by_name_with_llm_shares_usage() -> None:
    usage = Usage()
    gate = RetrievalGate("Adapt_LLM", llm=ScriptedChatModel(default="<RET>"), usage=usage)
    assert isinstance(gate.policy, AdaptLLM) and gate.policy.llm is gate.llm
    assert gate.decide("Who founded Velmora?").retrieve is True
    sc = RetrievalGate(
        "self-consistency", llm=ScriptedChatModel(default="Paris"), usage=usage, samples=3
    )
    assert sc.decide("Capital of France?").answer == "Paris"
    assert usage.llm_calls == 4 and gate.usage is usage and sc.usage is usage
    structured = llm_of(ScriptedChatModel(default="Paris"))
    by_object = RetrievalGate(AnyOf(Never(), AdaptLLM(structured)))
    by_object.decide("Q?")
    assert by_object.usage is structured.usage and structured.usage.llm_calls == 1
    with_unused_llm = RetrievalGate(AdaptLLM(structured), llm=ScriptedChatModel(default="x"))
    assert with_unused_llm.usage is structured.usage  # the counters the policy really uses
    with pytest.raises(InputError, match="give usage= and budget= to it"):
        RetrievalGate("adapt-llm", llm=structured, usage=Usage())


def test_gate_reads_memagents_llm_setting(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("Velmora", "<RET>")
    settings = Settings(
        llm="openai:gpt-4o-mini",
        openai_base_url=openai_server.base_url,
        openai_api_key=SecretStr(openai_server.api_key),
        max_retries=0,
    )
    gate = RetrievalGate("adapt-llm", settings=settings)
    assert gate.decide("Who founded Velmora?").retrieve is True
    assert gate.usage.llm_calls == 1


def test_budget_stop_propagates_cleanly() -> None:
    gate = RetrievalGate(
        "adapt-llm", llm=ScriptedChatModel(default="Paris"), budget=Budget(max_llm_calls=1)
    )
    gate.decide("Q?")
    with pytest.raises(BudgetExceeded):
        gate.decide("Q?")
    sc = RetrievalGate(
        "self-consistency", llm=ScriptedChatModel(default="Paris"), budget=Budget(max_llm_calls=2)
    )
    with pytest.raises(BudgetExceeded):
        sc.decide("Q?")
    assert sc.usage.llm_calls == 2
    asc = RetrievalGate(
        "self-consistency", llm=ScriptedChatModel(default="Paris"), budget=Budget(max_llm_calls=3)
    )
    with pytest.raises(BudgetExceeded):
        asyncio.run(asc.adecide("Q?"))
    assert asc.usage.llm_calls == 3
    vc = RetrievalGate(
        "confidence", llm=ScriptedChatModel(default="x"), budget=Budget(max_llm_calls=0)
    )
    with pytest.raises(BudgetExceeded):  # not mistaken for an unparseable reply
        vc.decide("Q?")


# -- async twins -------------------------------------------------------------------------------


async def test_async_twins_match_sync() -> None:
    def make() -> dict[str, RetrievalPolicy]:
        return {
            "adapt": AdaptLLM(ScriptedChatModel(rules=[("Velmora", "<RET>")], default="Paris")),
            "tp": TokenProbability(scripted(ret_reply(0.6, 0.3))),
            "vc": VerbalizedConfidence(scripted({"answer": "Paris", "confidence": 30})),
            "sc": SelfConsistency(scripted("Paris", "Paris", "Rome"), samples=3),
            "pop": PopularityThreshold(100),
            "any": AnyOf(Never(), AdaptLLM(ScriptedChatModel(default="Paris"))),
            "lazy": AnyOf(Always(), Counting(True, "never-run"), lazy=True),
        }

    sync, asyn = make(), make()
    for key in sync:
        s = sync[key].decide("Who founded Velmora?", metadata={"s_pop": 5})
        a = await asyn[key].adecide("Who founded Velmora?", metadata={"s_pop": 5})
        assert s.to_dict() == a.to_dict(), key
    assert asyn["lazy"].policies[1].calls == 0  # type: ignore[attr-defined]
    gate = RetrievalGate("token-probability", llm=scripted(ret_reply(0.1, 0.8)))
    d = await gate.adecide("Q?")
    assert d.retrieve is False and gate.usage.llm_calls == 1


# -- the real openai client over loopback -------------------------------------------------------


async def test_adapt_llm_and_token_probability_over_http(openai_server: OpenAIServer) -> None:
    openai_server.add_rule(
        "Velmora", Reply("<RET>", logprobs=[("<", LN(0.7), {"Quill": LN(0.2)}), ("RET>", -0.01)])
    )
    openai_server.add_rule("France", Reply("Paris", logprobs=[("Paris", LN(0.85), {"<": LN(0.1)})]))
    llm = llm_of(openai_server.chat_model(max_retries=0))
    adapt = AdaptLLM(llm)
    assert adapt.decide("Who founded Velmora?").retrieve is True
    assert adapt.decide("What is the capital of France?").answer == "Paris"
    assert openai_server.chat_requests[0].get("logprobs") is None
    tp = TokenProbability(llm, threshold=0.2)
    up = tp.decide("Who founded Velmora?")
    down = await tp.adecide("What is the capital of France?")
    assert up.retrieve is True and up.signals["p_ret"] == pytest.approx(0.7)
    assert down.retrieve is False and down.answer == "Paris"
    assert down.signals["p_ret"] == pytest.approx(0.1)
    body = openai_server.chat_requests[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert llm.usage.llm_calls == 4 and llm.usage.total_tokens > 0


def test_gate_node_routes_inside_a_compiled_graph() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from memagents.gate import RetrievalGate, route_after_gate

    class State(TypedDict, total=False):
        question: str
        metadata: dict
        decision: dict
        parametric_answer: str
        path: str

    builder = StateGraph(State)
    builder.add_node("gate", RetrievalGate("popularity", threshold=100).node())
    builder.add_node("retrieve", lambda s: {"path": "retrieve"})
    builder.add_node("answer", lambda s: {"path": s.get("path", "recall")})
    builder.add_edge(START, "gate")
    builder.add_conditional_edges("gate", route_after_gate, ["retrieve", "answer"])
    builder.add_edge("retrieve", "answer")
    builder.add_edge("answer", END)
    graph = builder.compile()
    rare = graph.invoke({"question": "Who wrote Velm?", "metadata": {"s_pop": 5}})
    famous = graph.invoke({"question": "Who wrote Velm?", "metadata": {"s_pop": 5000}})
    assert rare["path"] == "retrieve" and rare["decision"]["retrieve"] is True
    assert famous["path"] == "recall" and famous["decision"]["retrieve"] is False
