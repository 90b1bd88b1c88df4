"""The hard limits of probe delivery (deliver/budget.py), as pure bookkeeping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.deliver.budget import DeliveryBudget, DeliveryLimits

sources = st.sampled_from([f"192.0.2.{n}" for n in range(1, 9)])


@given(st.lists(sources, max_size=80), st.integers(0, 5), st.integers(0, 30))
def test_a_day_never_passes_either_limit(burst, per_source, per_day):
    budget = DeliveryBudget(DeliveryLimits(per_source_per_day=per_source, per_day=per_day))
    sent: dict[str, int] = {}
    for source in burst:
        recipients, why_not = budget.decide(source, ("drop@box.example",), 500, "2026-11-30")
        if recipients:
            sent[source] = sent.get(source, 0) + 1
        else:
            assert why_not
    assert sum(sent.values()) <= per_day
    assert all(n <= per_source for n in sent.values())
    # ... and as much as the limits allow is sent
    assert sum(sent.values()) == min(per_day, sum(min(burst.count(s), per_source) for s in set(burst))) or (
        sum(sent.values()) == per_day)


def test_a_new_day_starts_afresh():
    budget = DeliveryBudget(DeliveryLimits(per_source_per_day=1, per_day=1))
    assert budget.decide("192.0.2.1", ("a@b.example",), 10, "2026-11-30")[0]
    assert budget.decide("192.0.2.1", ("a@b.example",), 10, "2026-11-30")[1].startswith("deliver_per_day")
    assert budget.decide("192.0.2.1", ("a@b.example",), 10, "2026-12-01")[0]


def test_size_and_protected_domains_are_refused_before_counting():
    budget = DeliveryBudget(DeliveryLimits(max_bytes=100, protected=frozenset({"example.gov"})))
    assert budget.decide("192.0.2.1", ("a@b.example",), 101, "d")[1].startswith("larger than deliver_max_bytes")
    assert budget.decide("192.0.2.1", ("x@mail.example.gov", "y@example.gov"), 10, "d") == (
        (), "only protected domains")
    assert budget.decide("192.0.2.1", ("x@example.gov", "ok@drop.example"), 10, "d") == (("ok@drop.example",), "")


def test_a_probe_to_many_relay_recipients_is_a_spam_run_and_not_delivered():
    budget = DeliveryBudget(DeliveryLimits(max_recipients=3))
    four = tuple(f"r{n}@drop.example" for n in range(4))
    assert budget.decide("192.0.2.1", four, 10, "d")[1].startswith("more relay recipients than deliver_max_recipients")
    assert budget.decide("192.0.2.1", four[:3], 10, "d") == (four[:3], "")
