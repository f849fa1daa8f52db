"""Credentials and NULs never reach what Prism stores or logs (reviews/scrub.py)."""

import io
import logging
from typing import Any

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from reviews import services
from reviews.models import Analysis
from reviews.results import Finding, ReviewResult
from reviews.scrub import REDACTED, scrub

pytestmark = pytest.mark.django_db


def test_a_failure_that_quotes_the_token_is_stored_without_it(make_analysis):
    analysis = make_analysis(status="running")
    error = f"GitHub said: bad credentials for token {settings.GITHUB_TOKEN}\n"

    services.analysis_fail(analysis_id=analysis.id, error=error, raw_output=settings.LLM_API_KEY)

    analysis.refresh_from_db()
    assert settings.GITHUB_TOKEN not in analysis.error
    assert REDACTED in analysis.error
    assert settings.LLM_API_KEY not in analysis.raw_output


def test_every_configured_credential_is_removed_from_stored_text(make_analysis):
    analysis = make_analysis(status="running")
    secrets = [settings.GITHUB_TOKEN, settings.LLM_API_KEY, settings.GITHUB_WEBHOOK_SECRET]

    services.analysis_release(analysis_id=analysis.id, error=" | ".join(secrets))
    services.analysis_record_comment(analysis_id=analysis.id, comment=None, error=secrets[2])

    analysis.refresh_from_db()
    assert not any(s in analysis.error or s in analysis.comment_error for s in secrets)


def test_a_nul_in_the_models_raw_output_does_not_stop_the_failure_being_saved(make_analysis):
    # PostgreSQL refuses NUL in text: before, saving this failure failed and the review
    # stayed running, to be retried and billed again.
    analysis = make_analysis(status="running")

    assert services.analysis_fail(
        analysis_id=analysis.id, error="unusable\x00", raw_output="{not json\x00\x00}"
    )

    analysis.refresh_from_db()
    assert (analysis.status, analysis.raw_output, analysis.error) == (
        "failed",
        "{not json}",
        "unusable",
    )


def test_a_nul_in_a_finding_is_stripped_from_the_stored_review(make_analysis):
    analysis = make_analysis(status="running")
    finding = Finding(
        path="a.py", line=1, category="bug", severity="low", title="t\x00", body="b\x00"
    )

    services.analysis_complete(
        analysis_id=analysis.id, result=ReviewResult(summary="s\x00", findings=(finding,))
    )

    stored = Analysis.objects.get(id=analysis.id).feedback
    assert "\x00" not in str(stored)
    assert stored["findings"][0]["title"] == "t"


def test_log_lines_and_tracebacks_carry_no_configured_credential():
    config: dict[str, Any] = settings.LOGGING
    assert "credentials" in config["handlers"]["console"]["filters"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(import_string(config["filters"]["credentials"]["()"])())
    handler.setFormatter(logging.Formatter(config["formatters"]["plain"]["format"]))
    logger = logging.getLogger("reviews.test_scrub")
    logger.addHandler(handler)
    try:
        raise RuntimeError(f"token={settings.GITHUB_TOKEN}")
    except RuntimeError:
        logger.exception("calling GitHub with %s failed", settings.GITHUB_TOKEN)
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert "calling GitHub with" in output and "RuntimeError" in output
    assert settings.GITHUB_TOKEN not in output
    assert output.count(REDACTED) == 2


def test_short_values_are_not_taken_for_credentials():
    assert scrub("the key is abc", credentials=[]) == "the key is abc"
    assert scrub("x\x00y") == "xy"
