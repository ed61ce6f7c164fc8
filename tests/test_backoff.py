"""worker/backoff.py: full-jitter exponential backoff, a pure function."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import defaults
from worker.backoff import calculate_delay


@pytest.mark.parametrize("retry, ceiling", [(0, 5), (1, 10), (2, 20), (3, 40), (4, 80), (5, 80), (100, 80)])
def test_contract_bounds_base5_cap80_seed42(retry, ceiling):
    delay = calculate_delay(retry_count=retry, base=5, cap=80, jitter_seed=42)
    assert 0 <= delay <= ceiling


def test_deterministic_for_a_seed():
    first = [calculate_delay(retry_count=n, base=5, cap=80, jitter_seed=42) for n in range(10)]
    second = [calculate_delay(retry_count=n, base=5, cap=80, jitter_seed=42) for n in range(10)]
    assert first == second


def test_different_seeds_give_different_delays():
    delays = {calculate_delay(retry_count=3, base=5, cap=80, jitter_seed=seed) for seed in range(20)}
    assert len(delays) > 10


def test_jitter_spreads_over_the_whole_range():
    # Full jitter: uniform in [0, ceiling], not clustered at the top.
    delays = [calculate_delay(retry_count=2, base=5, cap=80, jitter_seed=seed) for seed in range(400)]
    assert min(delays) < 2 and max(delays) > 18
    assert all(0 <= d <= 20 for d in delays)


def test_unseeded_calls_vary_and_stay_in_bounds():
    delays = {calculate_delay(4, 5, 80) for _ in range(50)}
    assert len(delays) > 1
    assert all(0 <= d <= 80 for d in delays)


def test_defaults_are_the_policy():
    assert defaults.BACKOFF_BASE_SECONDS == 5 and defaults.BACKOFF_CAP_SECONDS == 80
    assert calculate_delay(100, jitter_seed=1) <= 80
    assert calculate_delay(0, jitter_seed=1) <= 5


@pytest.mark.parametrize("retry", [-1, -100])
def test_negative_retry_counts_like_zero(retry):
    assert 0 <= calculate_delay(retry, base=5, cap=80, jitter_seed=7) <= 5


def test_zero_ceiling_gives_zero():
    assert calculate_delay(3, base=0, cap=80, jitter_seed=1) == 0
    assert calculate_delay(3, base=5, cap=0, jitter_seed=1) == 0


def test_huge_retry_counts_do_not_overflow():
    assert 0 <= calculate_delay(10**9, base=5, cap=80, jitter_seed=3) <= 80


@given(retry=st.integers(min_value=-5, max_value=10_000),
       base=st.floats(min_value=0, max_value=1e6, allow_nan=False),
       cap=st.floats(min_value=0, max_value=1e7, allow_nan=False),
       seed=st.one_of(st.none(), st.integers(), st.text(max_size=10)))
def test_property_delay_within_full_jitter_bounds(retry, base, cap, seed):
    delay = calculate_delay(retry_count=retry, base=base, cap=cap, jitter_seed=seed)
    ceiling = min(cap, base * 2 ** min(max(retry, 0), 64))
    assert 0 <= delay <= ceiling
    if seed is not None:
        assert delay == calculate_delay(retry_count=retry, base=base, cap=cap, jitter_seed=seed)
