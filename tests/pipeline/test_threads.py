"""Prism resolves its own review threads once their finding is gone, and only those.

The decision rules each get a test that flips exactly one condition of a thread that would
otherwise be resolved; the orchestration runs against GitHub stood in by `responses`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import responses

from reviews.github.client import GitHubClient
from reviews.github.resources import ReviewThread, ThreadComment
from reviews.pipeline.threads import (
    ThreadsOutcome,
    prism_threads,
    resolve_outdated_threads,
    thread_fingerprint,
    threads_to_resolve,
)
from tests import stubs
from tests.graphql_schema import assert_valid_graphql_request

PRISM = "prism-review[bot]"
FP = "0123456789abcdef"
OTHER_FP = "fedcba9876543210"


def marked(fingerprint: str = FP, text: str = "**Bug**: `user` may be None here.") -> str:
    return f"{text}\n\n<!-- prism:finding:{fingerprint} -->"


def prism_comment(body: str | None = None) -> ThreadComment:
    return ThreadComment(author=PRISM, body=marked() if body is None else body, database_id=11)


def reply(author: str = "alice", body: str = "Not a bug: checked above.") -> ThreadComment:
    return ThreadComment(author=author, body=body, database_id=12)


# A thread every rule lets through: Prism's, marked, outdated, unanswered, unresolved.
THREAD = ReviewThread(
    id="PRRT_prism",
    is_resolved=False,
    is_outdated=True,
    path="src/app.py",
    line=None,
    comments=(prism_comment(),),
)


def decide(
    threads: list[ReviewThread],
    *,
    prism_login: str = PRISM,
    states: dict[str, str] | None = None,
    raised_now: set[str] | None = None,
    review_completed: bool = True,
) -> list[str]:
    return threads_to_resolve(
        threads,
        prism_login=prism_login,
        states=states if states is not None else {FP: "open"},
        raised_now=raised_now or set(),
        review_completed=review_completed,
    )


# The decision: the baseline, then one rule flipped per test


def test_prisms_outdated_unanswered_thread_is_resolved() -> None:
    assert decide([THREAD]) == ["PRRT_prism"]


def test_a_thread_whose_finding_is_fixed_is_resolved_though_github_keeps_it_current() -> None:
    current = replace(THREAD, is_outdated=False, line=12)
    assert decide([current], states={FP: "fixed"}) == ["PRRT_prism"]


def test_a_current_thread_whose_finding_is_not_fixed_stays() -> None:
    current = replace(THREAD, is_outdated=False, line=12)
    assert decide([current], states={FP: "open"}) == []


@pytest.mark.parametrize("state", ["open", "outdated", "dismissed", "FIXED", ""])
def test_only_the_fixed_state_resolves_a_current_thread(state: str) -> None:
    current = replace(THREAD, is_outdated=False)
    assert decide([current], states={FP: state}) == []


def test_a_current_thread_whose_finding_the_ledger_does_not_know_stays() -> None:
    current = replace(THREAD, is_outdated=False)
    assert decide([current], states={}) == []


def test_the_state_is_read_by_the_threads_own_fingerprint() -> None:
    current = replace(THREAD, is_outdated=False)
    assert decide([current], states={OTHER_FP: "fixed", FP: "open"}) == []


def test_a_thread_a_human_opened_is_never_touched() -> None:
    human = replace(THREAD, comments=(reply("alice", marked()),))
    assert decide([human], states={FP: "fixed"}) == []


def test_a_thread_opened_by_prism_without_a_marker_stays() -> None:
    unmarked = replace(THREAD, comments=(prism_comment("A note without a finding marker."),))
    assert decide([unmarked]) == []


def test_a_marker_that_does_not_end_the_comment_does_not_count() -> None:
    # The text above the marker comes from the model: a marker quoted in it is not Prism's.
    quoted = f"See `<!-- prism:finding:{FP} -->` in the docs.\n\nMore text."
    assert decide([replace(THREAD, comments=(prism_comment(quoted),))]) == []


def test_a_malformed_marker_does_not_count() -> None:
    short = replace(THREAD, comments=(prism_comment("x\n\n<!-- prism:finding:0123abcd -->"),))
    assert decide([short]) == []


def test_a_thread_someone_replied_in_stays() -> None:
    answered = replace(THREAD, comments=(prism_comment(), reply()))
    assert decide([answered]) == []


def test_a_reply_by_another_bot_counts_as_someone_else() -> None:
    answered = replace(THREAD, comments=(prism_comment(), reply("dependabot[bot]", "Bump.")))
    assert decide([answered]) == []


def test_a_reply_from_a_deleted_account_counts_as_someone_else() -> None:
    answered = replace(THREAD, comments=(prism_comment(), reply("", "ghost reply")))
    assert decide([answered]) == []


def test_a_thread_with_comments_not_fetched_counts_as_answered() -> None:
    assert decide([replace(THREAD, more_comments=True)]) == []


def test_prisms_own_follow_up_in_its_thread_is_not_a_reply() -> None:
    followed = replace(THREAD, comments=(prism_comment(), prism_comment("Still there.")))
    assert decide([followed]) == ["PRRT_prism"]


def test_a_finding_this_review_raised_again_stays() -> None:
    assert decide([THREAD], raised_now={FP}) == []


def test_another_finding_raised_now_does_not_keep_this_thread() -> None:
    assert decide([THREAD], raised_now={OTHER_FP}) == ["PRRT_prism"]


def test_nothing_is_resolved_after_a_review_that_did_not_complete() -> None:
    assert decide([THREAD], review_completed=False) == []


def test_an_already_resolved_thread_is_left_alone() -> None:
    assert decide([replace(THREAD, is_resolved=True)]) == []


def test_another_login_than_prisms_is_not_prism() -> None:
    # GraphQL spells a bot "prism-review"; the client turns it back into REST's spelling.
    assert decide([THREAD], prism_login="prism-review") == []
    assert decide([THREAD], prism_login="alice") == []


def test_an_unknown_prism_login_resolves_nothing() -> None:
    ghost = replace(THREAD, comments=(ThreadComment(author="", body=marked(), database_id=1),))
    assert decide([ghost], prism_login="") == []


def test_a_thread_without_comments_is_skipped() -> None:
    assert decide([replace(THREAD, comments=())]) == []


def test_only_the_qualifying_threads_are_chosen_in_githubs_order() -> None:
    threads = [
        replace(THREAD, id="PRRT_a"),
        replace(THREAD, id="PRRT_human", comments=(reply(),)),
        replace(THREAD, id="PRRT_b", comments=(prism_comment(marked(OTHER_FP)),)),
        replace(THREAD, id="PRRT_answered", comments=(prism_comment(), reply())),
    ]
    assert decide(threads) == ["PRRT_a", "PRRT_b"]


# Prism's threads by fingerprint (the ledger's thread_node_id)


def test_prism_threads_maps_each_fingerprint_to_its_thread() -> None:
    threads = [
        replace(THREAD, id="PRRT_a"),
        replace(THREAD, id="PRRT_b", is_resolved=True, comments=(prism_comment(marked(OTHER_FP)),)),
        replace(THREAD, id="PRRT_human", comments=(reply("alice", marked("aaaaaaaaaaaaaaaa")),)),
        replace(THREAD, id="PRRT_plain", comments=(prism_comment("no marker"),)),
        replace(THREAD, id="PRRT_empty", comments=()),
    ]
    assert prism_threads(threads, PRISM) == {FP: "PRRT_a", OTHER_FP: "PRRT_b"}


def test_prism_threads_keeps_the_last_thread_of_a_fingerprint() -> None:
    threads = [replace(THREAD, id="PRRT_old"), replace(THREAD, id="PRRT_new")]
    assert prism_threads(threads, PRISM) == {FP: "PRRT_new"}


def test_thread_fingerprint_reads_the_marker_ending_prisms_first_comment() -> None:
    assert thread_fingerprint(THREAD, PRISM) == FP
    assert thread_fingerprint(replace(THREAD, comments=(prism_comment(marked() + "\n"),)), PRISM)
    assert thread_fingerprint(THREAD, "alice") is None


# The orchestration, with GitHub at the transport


@pytest.fixture
def gh() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_graphql_request(call.request)


@pytest.fixture
def github() -> GitHubClient:
    return GitHubClient(base_url=stubs.API, token="ghs_test", sleep=lambda _: None)


def prism_node(thread_id: str, fingerprint: str = FP, **fields: Any) -> dict[str, Any]:
    comment = stubs.thread_comment_json("prism-review", marked(fingerprint), typename="Bot")
    return stubs.thread_json(thread_id, comment, **fields)


def mutations(gh: responses.RequestsMock) -> list[str]:
    bodies = [json.loads(call.request.body or "{}") for call in gh.calls]
    return [b["variables"]["threadId"] for b in bodies if "threadId" in b["variables"]]


def run(github: GitHubClient, **overrides: Any) -> ThreadsOutcome:
    kwargs: dict[str, Any] = {
        "prism_login": PRISM,
        "states": {},
        "raised_now": set(),
        "review_completed": True,
        **overrides,
    }
    return resolve_outdated_threads(github, stubs.REPO, stubs.NUMBER, **kwargs)


def test_it_resolves_prisms_outdated_threads_and_counts_the_rest(gh, github) -> None:
    human = stubs.thread_json(
        "PRRT_human", stubs.thread_comment_json("alice", "Why?"), outdated=True
    )
    gh.post(
        stubs.GRAPHQL_API,
        json=stubs.threads_json(
            prism_node("PRRT_1", outdated=True),
            prism_node("PRRT_current", OTHER_FP),
            human,
            prism_node("PRRT_done", "aaaaaaaaaaaaaaaa", outdated=True, resolved=True),
            next_cursor="Y3Vyc29yOjQ=",
        ),
    )
    gh.post(stubs.GRAPHQL_API, json=stubs.threads_json(prism_node("PRRT_2", "bbbbbbbbbbbbbbbb")))
    gh.post(stubs.GRAPHQL_API, json=stubs.resolved_json("PRRT_1"))
    gh.post(stubs.GRAPHQL_API, json=stubs.resolved_json("PRRT_2"))

    outcome = run(github, states={"bbbbbbbbbbbbbbbb": "fixed", OTHER_FP: "open"})

    assert (outcome.resolved, outcome.skipped, outcome.error) == (2, 1, "")
    assert set(outcome.thread_ids.values()) >= {"PRRT_1", "PRRT_2"}
    assert mutations(gh) == ["PRRT_1", "PRRT_2"]


def test_a_failure_mid_way_keeps_what_was_resolved_and_reports_it(gh, github, caplog) -> None:
    gh.post(
        stubs.GRAPHQL_API,
        json=stubs.threads_json(*(prism_node(f"PRRT_{n}", outdated=True) for n in (1, 2, 3))),
    )
    gh.post(stubs.GRAPHQL_API, json=stubs.resolved_json("PRRT_1"))
    refused = {
        "data": {"resolveReviewThread": None},
        "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}],
    }
    gh.post(stubs.GRAPHQL_API, json=refused)

    with caplog.at_level(logging.WARNING, logger="reviews.pipeline.threads"):
        outcome = run(github)

    assert outcome.resolved == 1
    assert "Resource not accessible by integration" in outcome.error
    assert mutations(gh) == ["PRRT_1", "PRRT_2"]  # PRRT_3 waits for the next push
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"repo={stubs.REPO} pr={stubs.NUMBER}" in record.getMessage()


def test_a_failure_reading_the_threads_is_reported_not_raised(gh, github, caplog) -> None:
    for _ in range(4):
        gh.post(stubs.GRAPHQL_API, status=502, json={"message": "Server Error"})
    outcome = run(github)
    assert outcome.resolved == 0 and outcome.skipped == 0
    assert "502" in outcome.error
    assert "resolving review threads failed" in caplog.text


def test_a_rate_limit_is_reported_not_raised(gh, github) -> None:
    limited = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}
    gh.post(stubs.GRAPHQL_API, json=limited, headers={"x-ratelimit-reset": "9999999999"})
    assert "rate limit" in run(github).error


def test_nothing_is_asked_of_github_after_a_review_that_did_not_complete(gh, github) -> None:
    assert run(github, review_completed=False) == ThreadsOutcome()
    assert len(gh.calls) == 0


def test_nothing_to_resolve_sends_no_mutation(gh, github) -> None:
    gh.post(stubs.GRAPHQL_API, json=stubs.threads_json(prism_node("PRRT_1", outdated=True)))
    outcome = run(github, raised_now={FP})
    assert (outcome.resolved, outcome.skipped, outcome.error) == (0, 1, "")
    assert len(gh.calls) == 1
