"""Usage accounting and budgets."""

from __future__ import annotations

import copy
import pickle
import threading

import pytest

from memagents.errors import BudgetExceeded, ConfigError
from memagents.models import Budget, Usage


def test_record_and_totals() -> None:
    u = Usage()
    u.record_llm(prompt_tokens=10, completion_tokens=5, latency_s=0.25)
    u.record_llm(prompt_tokens=1, completion_tokens=2, retries=1, failures=1)
    u.record_embedding(texts=3, latency_s=0.5)
    assert (u.llm_calls, u.prompt_tokens, u.completion_tokens, u.total_tokens) == (2, 11, 7, 18)
    assert (u.retries, u.failures, u.embedding_calls, u.embedding_texts) == (1, 1, 1, 3)
    assert u.latency_s == pytest.approx(0.75)
    d = u.as_dict()
    assert d["total_tokens"] == 18 and d["llm_calls"] == 2 and set(d) >= {"latency_s", "retries"}


def test_add_merge_reset_copy() -> None:
    a, b = Usage(llm_calls=1, prompt_tokens=4), Usage(llm_calls=2, completion_tokens=3)
    c = a + b
    assert (c.llm_calls, c.total_tokens) == (3, 7)
    assert (a.llm_calls, b.llm_calls) == (1, 2)  # operands untouched
    a.merge(b)
    assert a == c
    snap = a.copy()
    a.reset()
    assert a == Usage() and snap.llm_calls == 3
    with pytest.raises(TypeError):
        _ = a + 1  # type: ignore[operator]


def test_thread_safe_accumulation() -> None:
    u = Usage()

    def work() -> None:
        for _ in range(2000):
            u.record_llm(prompt_tokens=1, completion_tokens=1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert u.llm_calls == 16000 and u.total_tokens == 32000


def test_pickle_and_deepcopy() -> None:
    u = Usage(llm_calls=2, prompt_tokens=3)
    for clone in (pickle.loads(pickle.dumps(u)), copy.deepcopy(u)):
        assert clone == u
        clone.record_llm()
        assert clone.llm_calls == 3 and u.llm_calls == 2


def test_budget_calls_stops_before_overspend() -> None:
    budget, u = Budget(max_llm_calls=2), Usage()
    for _ in range(2):
        u.reserve_llm_call(budget, prompt_tokens=1)
    with pytest.raises(BudgetExceeded) as info:
        u.reserve_llm_call(budget, prompt_tokens=1)
    assert u.llm_calls == 2  # the refused call was not counted
    msg = str(info.value)
    assert "max_llm_calls=2" in msg and "2 of" in msg and "Budget(max_llm_calls=...)" in msg


def test_budget_tokens_counts_next_prompt_and_in_flight() -> None:
    budget, u = Budget(max_tokens=100), Usage(prompt_tokens=60)
    budget.check(u, next_prompt_tokens=40)
    with pytest.raises(BudgetExceeded, match="max_tokens=100"):
        budget.check(u, next_prompt_tokens=41)
    reserved = u.reserve_llm_call(budget, prompt_tokens=30)  # in flight, not yet settled
    with pytest.raises(BudgetExceeded, match="token budget"):
        u.reserve_llm_call(budget, prompt_tokens=30)
    u.settle_llm_call(reserved, prompt_tokens=25, completion_tokens=5)
    assert u.total_tokens == 90 and u._pending_tokens == 0
    u.reserve_llm_call(budget, prompt_tokens=10)


def test_concurrent_reservations_never_exceed_call_budget() -> None:
    budget, u = Budget(max_llm_calls=50), Usage()
    granted = []

    def grab() -> None:
        for _ in range(20):
            try:
                u.reserve_llm_call(budget)
                granted.append(1)
            except BudgetExceeded:
                pass

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 50 == u.llm_calls


def test_embedding_budget() -> None:
    budget, u = Budget(max_embedding_calls=2), Usage(embedding_calls=1)
    budget.check_embedding(u)
    with pytest.raises(BudgetExceeded, match="max_embedding_calls=2"):
        budget.check_embedding(u, next_calls=2)
    Budget().check_embedding(Usage(embedding_calls=10**6))  # unlimited


@pytest.mark.parametrize("kwargs", [{"max_llm_calls": -1}, {"max_tokens": 1.5}])
def test_budget_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="non-negative integer"):
        Budget(**kwargs)  # type: ignore[arg-type]


def test_budget_is_frozen_value_object() -> None:
    b = Budget(max_tokens=5)
    assert b == Budget(max_tokens=5)
    with pytest.raises(AttributeError):
        b.max_tokens = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        Budget(5)  # type: ignore[misc]  # keyword-only
