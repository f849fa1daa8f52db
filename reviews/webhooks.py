"""The GitHub webhook: verify, record, enqueue, answer. Nothing else happens here.

GitHub gives a delivery 10 seconds (docs/github-facts.md W1); all real work is in the worker.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviews import dispatch, logs, metrics, services
from reviews.commands import intake, names
from reviews.commands import services as command_services
from reviews.feedback import records as feedback_records
from reviews.github import comment_events, events, signatures
from reviews.installations import gate
from reviews.installations import services as installations

logger = logging.getLogger(__name__)

EVENT_HEADER = "HTTP_X_GITHUB_EVENT"
DELIVERY_HEADER = "HTTP_X_GITHUB_DELIVERY"
SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"


class Refused(Exception):
    """A delivery answered with an error status before anything was stored."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class GitHubWebhookView(APIView):
    # The signature is the authentication; DRF's must not run (nor CSRF, nor throttles).
    authentication_classes = ()
    permission_classes = (AllowAny,)
    renderer_classes = (JSONRenderer,)
    throttle_classes = ()

    def post(self, request: Request) -> Response:
        response = _answer(request)
        metrics.observe_delivery(
            event=request.META.get(EVENT_HEADER, ""),
            outcome=response.data.get("status", "refused"),
            code=response.status_code,
        )
        return response


def _answer(request: Request) -> Response:
    try:
        body = _verified_body(request)
        event, delivery_id = _delivery_headers(request)
    except Refused as refusal:
        return Response({"detail": refusal.detail}, status=refusal.code)
    # Every line logged from here on names the delivery (reviews/logs.py).
    with logs.bound(delivery_id=delivery_id):
        try:
            if event in installations.EVENTS:
                return _installation_event(event, body, request, delivery_id)
            if event in comment_events.EVENTS:
                return _command(event, body, request, delivery_id)
            decision = _decide(event, body, request, delivery_id)
        except Refused as refusal:
            return Response({"detail": refusal.detail}, status=refusal.code)
        if decision is None:
            return Response({"status": "pong"})
        if not (decision.review or decision.feedback):
            return Response({"status": "ignored", "reason": decision.reason})
        # GitHub App mode: installations are the allow-list (reviews/installations/gate.py).
        verdict = gate.check(
            decision.repo_full_name, decision.installation_id, decision.repository_id
        )
        if not verdict.allowed:
            logger.info("webhook ignored delivery_id=%s: %s", delivery_id, verdict.reason)
            return Response({"status": "ignored", "reason": verdict.reason})
        if decision.feedback:
            return _record_feedback(delivery_id, decision)
        if decision.rerun is not None:
            return _record_rerun(delivery_id, decision)
        return _record(delivery_id, event, decision, verdict.installation_id)


def _verified_body(request: Request) -> bytes:
    # WARNING: the signature covers the raw bytes, so read them before anything parses
    # the body; request.data is never touched here.
    body = _read_body(request, settings.GITHUB_WEBHOOK_MAX_BYTES)
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        logger.error("webhook refused: GITHUB_WEBHOOK_SECRET is not configured")
        raise Refused(status.HTTP_403_FORBIDDEN, "webhook secret is not configured")
    if not signatures.verify(secret, body, request.META.get(SIGNATURE_HEADER)):
        logger.warning("webhook refused: missing or wrong X-Hub-Signature-256")
        raise Refused(status.HTTP_401_UNAUTHORIZED, "missing or invalid signature")
    return body


def _delivery_headers(request: Request) -> tuple[str, str]:
    event = request.META.get(EVENT_HEADER, "")
    delivery_id = request.META.get(DELIVERY_HEADER, "")
    if not event or not delivery_id or len(delivery_id) > 64:
        raise Refused(
            status.HTTP_400_BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery (at most 64 characters) are required",
        )
    return event, delivery_id


def _decide(event: str, body: bytes, request: Request, delivery_id: str) -> events.Decision | None:
    """What to do with the delivery; None for GitHub's ping."""
    try:
        payload = events.load_payload(body, request.META.get("CONTENT_TYPE", ""))
        return None if event == events.PING else events.decide(event, payload)
    except events.PayloadError as exc:
        logger.info("webhook rejected delivery_id=%s: %s", delivery_id, exc)
        raise Refused(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _installation_event(event: str, body: bytes, request: Request, delivery_id: str) -> Response:
    """The App's installation changed: keep the allow-list's rows (in App mode only)."""
    if not gate.app_mode():
        return Response({"status": "ignored", "reason": "Prism is not running as a GitHub App"})
    try:
        payload = events.load_payload(body, request.META.get("CONTENT_TYPE", ""))
        outcome = installations.installation_record_delivery(
            delivery_id=delivery_id, event=event, payload=payload
        )
    except (events.PayloadError, installations.InstallationPayloadError) as exc:
        logger.info("webhook rejected delivery_id=%s: %s", delivery_id, exc)
        raise Refused(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    key = "reason" if outcome.status == "ignored" else "detail"
    return Response({"status": outcome.status, key: outcome.detail})


def _command(event: str, body: bytes, request: Request, delivery_id: str) -> Response:
    """A comment on a pull request: a command is recorded once per comment and queued."""
    try:
        payload = events.load_payload(body, request.META.get("CONTENT_TYPE", ""))
        decision = intake.decide(event, payload, names.accepted())
    except events.PayloadError as exc:
        logger.info("webhook rejected delivery_id=%s: %s", delivery_id, exc)
        raise Refused(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    comment, command = decision.comment, decision.command
    if comment is None or command is None:
        return Response({"status": "ignored", "reason": decision.reason})
    # GitHub App mode: installations are the allow-list for commands too
    # (reviews/installations/gate.py); only a command costs this query, not every comment.
    verdict = gate.check(comment.repo_full_name, comment.installation_id, comment.repository_id)
    if not verdict.allowed:
        logger.info("webhook ignored delivery_id=%s: %s", delivery_id, verdict.reason)
        return Response({"status": "ignored", "reason": verdict.reason})
    with logs.bound(repo=comment.repo_full_name, pr=comment.pr_number):
        recorded = command_services.command_record_delivery(
            delivery_id=delivery_id,
            comment=comment,
            command=command,
            installation_id=verdict.installation_id,
        )
        with logs.bound(command_id=recorded.command_id):
            return _queued(
                "command_id",
                recorded.command_id,
                queued=recorded.queued,
                dispatch_on_commit=dispatch.dispatch_command_on_commit,
                what=f"command queued delivery_id={delivery_id}",
                detail=f"repo={comment.repo_full_name} pr={comment.pr_number} "
                f"verb={command.verb.value}",
            )


def _record(
    delivery_id: str, event: str, decision: events.Decision, installation_id: int | None
) -> Response:
    pull_request = decision.pull_request
    assert pull_request is not None  # a decision to review always carries its pull request
    with logs.bound(repo=pull_request.repo_full_name, pr=pull_request.number):
        recorded = services.analysis_record_delivery(
            delivery_id=delivery_id,
            event=event,
            action=decision.action,
            pull_request=pull_request,
            installation_id=installation_id,
        )
        with logs.bound(analysis_id=recorded.analysis_id):
            return _queued(
                "analysis_id",
                recorded.analysis_id,
                queued=recorded.queued,
                dispatch_on_commit=dispatch.dispatch_on_commit,
                what=f"review queued delivery_id={delivery_id}",
                detail=f"repo={pull_request.repo_full_name} pr={pull_request.number}",
            )


def _record_rerun(delivery_id: str, decision: events.Decision) -> Response:
    """A re-run asked for on Prism's check run: queued once per delivery id."""
    request = decision.rerun
    assert request is not None  # a re-run decision carries its request
    recorded = services.analysis_record_rerun_request(
        delivery_id=delivery_id,
        analysis_id=request.analysis_id,
        repo_full_name=request.repo_full_name,
        check_run_id=request.check_run_id,
    )
    if recorded is None:
        return Response({"status": "ignored", "reason": "the check run is not one of Prism's"})
    return _queued(
        "analysis_id",
        recorded.analysis_id,
        queued=recorded.queued,
        dispatch_on_commit=dispatch.dispatch_on_commit,
        what=f"re-run queued from a check run delivery_id={delivery_id}",
        detail=f"rerun_of={request.analysis_id}",
    )


def _record_feedback(delivery_id: str, decision: events.Decision) -> Response:
    """A closed pull request: record the delivery once; a worker reads the reactions."""
    pull_request = decision.pull_request
    assert pull_request is not None  # a feedback decision always carries its pull request
    recorded = feedback_records.feedback_record_delivery(
        delivery_id=delivery_id, pull_request=pull_request, merged=decision.merged
    )
    return _queued(
        "feedback_read_id",
        recorded.read_id,
        queued=recorded.queued,
        dispatch_on_commit=dispatch.dispatch_feedback_on_commit,
        what=f"feedback read queued delivery_id={delivery_id}",
        detail=f"repo={pull_request.repo_full_name} pr={pull_request.number}",
    )


def _queued(
    key: str,
    recorded_id: int,
    *,
    queued: bool,
    dispatch_on_commit: Callable[[int], None],
    what: str,
    detail: str,
) -> Response:
    """The answer to a recorded delivery: queued (handed to the broker once the row is
    committed), or a duplicate of one recorded before (GitHub's redelivery)."""
    if not queued:
        return Response({"status": "duplicate", key: recorded_id})
    dispatch_on_commit(recorded_id)
    logger.info("%s %s=%s %s", what, key, recorded_id, detail)
    return Response({"status": "queued", key: recorded_id}, status=status.HTTP_202_ACCEPTED)


def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) stays in force for every other view;
    this one reads the stream itself with GitHub's 25 MB cap (docs/github-facts.md W6).
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_large = Refused(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body exceeds 25 MB")
    if declared > limit:
        raise too_large
    body = request._request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body
