"""worker/retry_policy.py: the pure retry-or-dead-letter decision."""

import pickle
import time

import pytest
from freezegun import freeze_time

from plex.exceptions import (
    ConfigurationError,
    PermanentError,
    PlexNotFound,
    PlexSyncError,
    PlexUnreachable,
    StashUnavailable,
    TransientError,
)
from worker.retry_policy import Action, decide, retry_job

NOW = 1_700_000_000.0


@pytest.fixture
def frozen():
    with freeze_time("2023-11-14 22:13:20") as clock:  # == NOW
        yield clock


def test_clock(frozen):
    import time

    assert time.time() == NOW


def test_retry_job_sets_metadata_without_mutating(frozen, make_job):
    job = make_job(3)
    original = dict(job)
    new, delay = retry_job(job, TransientError("429"))
    assert job == original  # pure: the input is untouched
    assert new["retry_count"] == 1
    assert new["next_retry_at"] == NOW + delay and 0 <= delay <= 5
    assert new["last_error_type"] == "TransientError"
    assert pickle.loads(pickle.dumps(new)) == new
    again, delay2 = retry_job(new, TransientError("429"))
    assert again["retry_count"] == 2 and 0 <= delay2 <= 10


def test_retry_after_from_the_server_is_honoured(frozen, make_job):
    new, delay = retry_job(make_job(1), TransientError("429", retry_after=120))
    assert delay == 120 and new["next_retry_at"] == NOW + 120


@pytest.mark.parametrize("error, budget", [(TransientError("t"), 5), (PlexNotFound("nf"), 12)])
def test_retries_until_budget_then_dead_letter(frozen, make_job, error, budget):
    job = make_job(1)
    for attempt in range(1, budget + 1):
        decision = decide(job, error, budget)
        assert decision.action is Action.RETRY, attempt
        assert decision.job["retry_count"] == attempt
        assert decision.job["next_retry_at"] >= NOW
        job = decision.job
    final = decide(job, error, budget)
    assert final.action is Action.DEAD_LETTER
    assert final.job["last_error_type"] == type(error).__name__


@pytest.mark.parametrize("error", [PermanentError("ambiguous"), ValueError("bug"), KeyError("x")])
def test_zero_budget_goes_straight_to_dead_letter(make_job, error):
    assert decide(make_job(1), error, 0).action is Action.DEAD_LETTER


def test_unreachable_waits_without_using_a_retry(frozen, make_job):
    job = make_job(1, retry_count=2)
    for outage in range(1, 30):
        decision = decide(job, PlexUnreachable("connection refused"), 5)
        assert decision.action is Action.WAIT_FOR_PLEX
        assert decision.job["retry_count"] == 2  # untouched, however long Plex is down
        assert decision.job["outage_count"] == outage
        assert NOW <= decision.job["next_retry_at"] <= NOW + 80
        job = decision.job


def test_configuration_error_stops_and_keeps_the_job_as_is(make_job):
    job = make_job(1)
    decision = decide(job, ConfigurationError("401", setting="Plex token"), 5)
    assert decision.action is Action.STOP
    assert decision.job == job and "retry_count" not in decision.job


def test_error_taxonomy_attributes():
    assert issubclass(PlexUnreachable, TransientError)
    for cls in (TransientError, PlexNotFound, PermanentError, ConfigurationError, PlexUnreachable):
        assert issubclass(cls, PlexSyncError)
    assert TransientError.max_retries == 5 and PlexNotFound.max_retries == 12 and PermanentError.max_retries == 0
    assert TransientError.trips_breaker and PlexUnreachable.trips_breaker
    assert not PlexNotFound.trips_breaker and not PermanentError.trips_breaker
    assert not ConfigurationError.trips_breaker
    assert not PlexUnreachable.consumes_retry and not ConfigurationError.consumes_retry
    assert PlexNotFound("no item").message == "no item" and str(PlexNotFound("no item")) == "no item"
    assert ConfigurationError("bad", setting="Plex token").setting == "Plex token"



def test_rate_limit_pauses_without_using_a_retry(frozen, make_job):
    from plex.exceptions import RateLimited

    job = make_job(1)
    job["retry_count"] = 2
    decision = decide(job, RateLimited("429", retry_after=7), budget=5)
    assert decision.action is Action.PAUSE and decision.delay == 7
    assert decision.job["retry_count"] == 2 and "outage_count" not in decision.job
    assert decision.job["next_retry_at"] == time.time() + 7
    assert decision.job["last_error_type"] == "RateLimited"


@pytest.mark.parametrize("error", [
    ConfigurationError("bad token", setting="Plex token"),
    StashUnavailable("lost Stash at http://127.0.0.1:9"),
])
def test_stopping_errors_keep_the_job_untouched(make_job, error):
    job = make_job(1)
    decision = decide(job, error, budget=5)
    assert decision.action is Action.STOP and decision.job is job


# == one owner: the budget and the decision ================================================================


def test_retry_budget_reads_the_class_then_the_setting():
    from validation.config import PlexSyncConfig
    from worker.retry_policy import retry_budget

    assert retry_budget(TransientError("x")) == 5 and retry_budget(PlexNotFound("x")) == 12
    assert retry_budget(ValueError("a bug")) == 0       # outside the tree: no retries
    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20, max_retries=8,
                            not_found_max_retries=20)
    assert retry_budget(TransientError("x"), config) == 8 and retry_budget(PlexNotFound("x"), config) == 20


def test_retry_decision_is_pure_and_takes_the_clock(make_job):
    from validation.config import PlexSyncConfig
    from worker.retry_policy import retry_decision

    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20, not_found_max_retries=1)
    job = make_job(3)
    first = retry_decision(job, PlexNotFound("not scanned"), config, now=NOW)
    assert first.action is Action.RETRY and NOW <= first.job["next_retry_at"] <= NOW + 5
    assert "retry_count" not in job  # the input is untouched
    assert retry_decision(first.job, PlexNotFound("x"), config, now=NOW).action is Action.DEAD_LETTER
    waiting = retry_decision(job, PlexUnreachable("refused"), config, now=NOW)
    assert waiting.action is Action.WAIT_FOR_PLEX and waiting.job["outage_count"] == 1
    assert retry_decision(job, ConfigurationError("401", setting="Plex token"), config, now=NOW).action is Action.STOP


@pytest.mark.parametrize("error, action", [
    (ConfigurationError("401", setting="Plex token"), Action.STOP),
    (StashUnavailable("gone"), Action.STOP),
    (PlexUnreachable("refused"), Action.WAIT_FOR_PLEX),
    (TransientError("500"), Action.RETRY),
    (PermanentError("ambiguous"), Action.RETRY),
    (ValueError("a bug"), Action.RETRY),
])
def test_classify_reads_the_error_once(error, action):
    from worker.retry_policy import classify

    assert classify(error) is action
