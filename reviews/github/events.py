"""Which GitHub webhook deliveries Prism reviews, and the little it reads from them.

Pure: no Django. GitHub keeps adding events and actions (docs/github-facts.md W2, W12), so the
reviewed ones are listed explicitly and everything else is ignored with a reason.
"""

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from reviews.github.resources import PullRequest

# SHA-1 commit ids, or SHA-256 ones in repositories that use that object format.
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

PING = "ping"
PULL_REQUEST = "pull_request"
CHECK_RUN = "check_run"

# New code to read: opened, new commits pushed, reopened, or a draft made ready.
REVIEWED_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
# On Prism's own check run: "Re-run" clicked on GitHub (rerequested), or its "Re-run review"
# button (requested_action, with the identifier Prism gave the button).
RERUN_ACTIONS = frozenset({"rerequested", "requested_action"})
RERUN_IDENTIFIER = "rerun"
# Closed or merged: never reviewed, but the reactions on Prism's comments are read then.
FEEDBACK_ACTIONS = frozenset({"closed"})


class PayloadError(ValueError):
    """The delivery's body is not a payload we can act on; the message says why."""


@dataclass(frozen=True)
class RerunRequest:
    """A re-run asked for on a check run: which analysis (its `external_id`) and which run."""

    analysis_id: int
    repo_full_name: str
    check_run_id: int


@dataclass(frozen=True)
class Decision:
    review: bool
    reason: str = ""
    action: str = ""
    pull_request: PullRequest | None = None
    rerun: RerunRequest | None = None
    # GitHub App mode: the installation the delivery was sent for (`installation.id`), and
    # the repository's id, which survives a rename.
    installation_id: int | None = None
    repository_id: int | None = None
    # A closed pull request: no review, but its feedback is read (reviews/feedback).
    feedback: bool = False
    merged: bool = False

    @property
    def repo_full_name(self) -> str:
        """The repository the delivery would act on ("" when it acts on none)."""
        if self.rerun is not None:
            return self.rerun.repo_full_name
        return self.pull_request.repo_full_name if self.pull_request is not None else ""


def load_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON payload of a delivery sent as `application/json` or as a form.

    GitHub's API default is `application/x-www-form-urlencoded` with the JSON in a
    `payload` field (docs/github-facts.md W10).
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=50)
        except (UnicodeDecodeError, ValueError) as exc:
            raise PayloadError("the form body is not valid UTF-8 form data") from exc
        if "payload" not in fields:
            raise PayloadError("the form body has no 'payload' field")
        text: str | bytes = fields["payload"][0]
    elif media_type == "application/json" or media_type == "":
        text = body
    else:
        raise PayloadError(
            f"unsupported content type {media_type!r}; "
            "use application/json or application/x-www-form-urlencoded"
        )
    try:
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PayloadError("the payload is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise PayloadError("the payload must be a JSON object")
    return payload


def decide(event: str, payload: dict[str, Any]) -> Decision:
    """Whether a delivery asks for a review, and if not, why not."""
    if event == CHECK_RUN:
        return decide_check_run(payload)
    if event != PULL_REQUEST:
        return Decision(review=False, reason=f"event {event or '(none)'!r} is not reviewed")
    action = payload.get("action")
    if isinstance(action, str) and action in FEEDBACK_ACTIONS:
        return Decision(
            review=False,
            reason="pull request closed: its feedback is read",
            action=action,
            pull_request=parse_pull_request(payload),
            feedback=True,
            merged=payload["pull_request"].get("merged") is True,
            installation_id=installation_id(payload),
            repository_id=_optional_id(payload.get("repository"), "repository.id"),
        )
    # A JSON list or object is not hashable: check the type before the set lookup.
    if not isinstance(action, str) or action not in REVIEWED_ACTIONS:
        return Decision(review=False, reason=f"pull_request action {action!r} is not reviewed")
    pull_request = parse_pull_request(payload)
    if pull_request.state != "open":
        return Decision(review=False, reason=f"pull request is {pull_request.state}")
    if pull_request.draft:
        return Decision(review=False, reason="pull request is a draft")
    return Decision(
        review=True,
        action=action,
        pull_request=pull_request,
        installation_id=installation_id(payload),
        repository_id=_optional_id(payload.get("repository"), "repository.id"),
    )


def installation_id(payload: dict[str, Any]) -> int | None:
    """The App installation a delivery was sent for; None for a repository's own webhook."""
    return _optional_id(payload.get("installation"), "installation.id")


def _optional_id(container: Any, name: str) -> int | None:
    value = container.get("id") if isinstance(container, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise PayloadError(f"{name} must be a positive integer")
    return value


def decide_check_run(payload: dict[str, Any]) -> Decision:
    """A `check_run` delivery asks for a re-run when it is `rerequested`, or the
    `requested_action` of Prism's button; whose check run it is the caller checks (its
    `external_id` names an analysis that created that very run).

    https://docs.github.com/webhooks/webhook-events-and-payloads#check_run
    """
    action = payload.get("action")
    if not isinstance(action, str) or action not in RERUN_ACTIONS:
        return Decision(review=False, reason=f"check_run action {action!r} is not acted on")
    if action == "requested_action":
        requested = payload.get("requested_action")
        identifier = requested.get("identifier") if isinstance(requested, dict) else None
        if identifier != RERUN_IDENTIFIER:
            return Decision(review=False, reason=f"requested action {identifier!r} is not Prism's")
    run = _field(payload, "check_run", dict)
    check_run_id = _field(run, "id", int, "check_run.")
    external_id = run.get("external_id")
    if not isinstance(external_id, str) or not external_id.isdigit() or len(external_id) > 18:
        return Decision(review=False, reason="the check run is not one of Prism's reviews")
    repository = _field(payload, "repository", dict)
    repo = _text(_field(repository, "full_name", str, "repository."), "repository.full_name")
    request = RerunRequest(
        analysis_id=int(external_id), repo_full_name=repo[:200], check_run_id=check_run_id
    )
    return Decision(
        review=True,
        action=action,
        rerun=request,
        installation_id=installation_id(payload),
        repository_id=_optional_id(repository, "repository.id"),
    )


def parse_pull_request(payload: dict[str, Any]) -> PullRequest:
    """Read the fields a review needs, naming the first one that is missing or wrong."""
    pr = _field(payload, "pull_request", dict)
    repository = _field(payload, "repository", dict)
    number = _field(pr, "number", int, "pull_request.")
    # The database stores a 32-bit integer; GitHub's numbers are far below that.
    if isinstance(number, bool) or not 0 < number < 2**31:
        raise PayloadError("pull_request.number must be a positive integer below 2^31")
    head = _field(pr, "head", dict, "pull_request.")
    base = _field(pr, "base", dict, "pull_request.")
    user = pr.get("user") if isinstance(pr.get("user"), dict) else {}
    return PullRequest(
        repo_full_name=_text(
            _field(repository, "full_name", str, "repository."), "repository.full_name"
        )[:200],
        number=number,
        title=_text(str(pr.get("title") or ""), "pull_request.title")[:500],
        html_url=_text(str(pr.get("html_url") or ""), "pull_request.html_url")[:500],
        author=_text(str(user.get("login") or ""), "pull_request.user.login")[:100],
        head_sha=_sha(head, "pull_request.head.sha"),
        base_sha=_sha(base, "pull_request.base.sha"),
        draft=bool(pr.get("draft", False)),
        state=str(pr.get("state") or "open"),
    )


def _field(container: dict[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    value = container.get(key)
    if value is None:
        raise PayloadError(f"the payload is missing {prefix}{key}")
    if not isinstance(value, kind):
        raise PayloadError(f"{prefix}{key} must be a {kind.__name__}")
    return value


def _text(value: str, name: str) -> str:
    """Text Prism stores: no NUL (PostgreSQL refuses it) and no unpaired surrogate (which
    is not UTF-8 at all), however validly JSON encodes them."""
    if "\x00" in value:
        raise PayloadError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"{name} contains an unpaired surrogate") from exc
    return value


def _sha(ref: dict[str, Any], name: str) -> str:
    sha = ref.get("sha")
    if not isinstance(sha, str) or not _COMMIT_SHA.fullmatch(sha):
        raise PayloadError(f"the payload is missing a valid {name} (40 or 64 hex digits)")
    return sha
