from django.db import models
from django.db.models import Q

from reviews.github.resources import PullRequest
from reviews.leases import LeaseQuerySet
from reviews.results import Finding as ResultFinding
from reviews.results import ReviewResult


class Analysis(models.Model):
    """One review of one pull request at one head commit.

    Created by a webhook delivery (or a re-run), claimed by a worker, and finished with
    findings, a failure, or a reason it was skipped. Failures stay on the row so the
    admin and the API show them.
    """

    # What identifies the reviewed pull request and commit; a re-run copies exactly these.
    PULL_REQUEST_FIELDS = (
        "repo_full_name",
        "pr_number",
        "pr_title",
        "pr_url",
        "pr_author",
        "head_sha",
        "base_sha",
    )

    # The event of a review someone asked for with a command (`@prism review`); its action is
    # the verb. Not bound by "one automatic review per head": the command's row is the guard.
    MANUAL_EVENT = "command"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"
        SUPERSEDED = "superseded"

    # GitHub's X-GitHub-Delivery GUID; null for reviews started by an operator.
    delivery_id = models.CharField("delivery id", max_length=64, unique=True, null=True, blank=True)
    event = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, blank=True)

    repo_full_name = models.CharField("repository", max_length=200)
    pr_number = models.PositiveIntegerField("PR number")
    pr_title = models.CharField("PR title", max_length=500, blank=True)
    pr_url = models.URLField("PR URL", max_length=500, blank=True)
    pr_author = models.CharField("PR author", max_length=100, blank=True)
    head_sha = models.CharField("head SHA", max_length=64)
    base_sha = models.CharField("base SHA", max_length=64, blank=True)
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    feedback = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # The model's last raw answer when it could not be parsed, for the operator.
    raw_output = models.TextField(blank=True)

    comment_url = models.URLField("comment URL", max_length=500, blank=True)
    comment_posted_at = models.DateTimeField(null=True, blank=True)
    comment_error = models.TextField(blank=True)

    llm_model = models.CharField("LLM model", max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # What its model calls were estimated to cost before the first one (reviews/budgets.py):
    # counted against the budgets while it runs, then kept beside `cost` for comparison.
    cost_estimate = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # Its check run on GitHub (App mode): created when the review starts, completed at the end.
    check_run_id = models.BigIntegerField("check run id", null=True, blank=True)

    # The repository policy the review followed (reviews/policy): the blob SHA of its
    # .github/prism.yml ("" without one), and what it set, for the comment and the admin.
    policy_sha = models.CharField("policy blob SHA", max_length=64, blank=True)
    policy = models.JSONField(default=dict, blank=True)

    # False for `review_pr --no-post`: no worker ever posts this review to GitHub.
    publish = models.BooleanField("post to GitHub", default=True)
    # GitHub App mode: the installation whose token reviews it (the delivery's
    # `installation.id`). Null in personal-token mode. Not a foreign key: the review's record
    # outlives an uninstalled App.
    installation_id = models.BigIntegerField("installation id", null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    # The dispatch protocol (reviews/dispatch.py): when a message was last handed to the
    # broker (null: it has none), and when a scheduled retry is due.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A completed review whose posting waits for GitHub's rate limit (pipeline/deferred.py):
    # when its next attempt is due, or the lease of the attempt under way. Null: none waits.
    publish_due_at = models.DateTimeField("posting due at", null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = LeaseQuerySet.as_manager()  # claimed by workers (reviews/leases.py)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "analyses"
        # Staff with only the view permission read reviews; acting on GitHub or seeing what
        # the model answered (which may quote the diff) takes these.
        permissions = [
            ("rerun_analysis", "Can re-run reviews and re-post their comments"),
            ("view_raw_output", "Can read the model's raw output"),
        ]
        constraints = [
            # The delivery id is not signed: one captured delivery replayed under fresh ids
            # must not buy a billed review each time. Re-runs and operators' reviews may.
            models.UniqueConstraint(
                fields=["repo_full_name", "pr_number", "head_sha"],
                condition=Q(
                    event="pull_request",
                    rerun_of__isnull=True,
                    status__in=["queued", "running", "completed"],
                ),
                name="one_automatic_review_per_head",
            )
        ]
        indexes = [
            models.Index(fields=["repo_full_name", "pr_number"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.repo_full_name}#{self.pr_number} @ {self.head_sha[:8]} ({self.status})"

    @property
    def result(self) -> ReviewResult:
        """The stored review; empty for a review that has not completed."""
        return ReviewResult.from_json(self.feedback)

    @property
    def pull_request(self) -> PullRequest:
        return PullRequest(
            repo_full_name=self.repo_full_name,
            number=self.pr_number,
            title=self.pr_title,
            html_url=self.pr_url
            or f"https://github.com/{self.repo_full_name}/pull/{self.pr_number}",
            author=self.pr_author,
            head_sha=self.head_sha,
            base_sha=self.base_sha,
        )


class StickyComment(models.Model):
    """Prism's one summary comment on a pull request, edited in place on every push.

    Its row carries the lease that serialises publishing for one pull request, so two reviews
    racing still end with one comment, showing the newest review. The lease is claimed and
    released with short conditional UPDATEs: no transaction stays open while GitHub is called
    (reviews/pipeline/publish.py).
    """

    repo_full_name = models.CharField(max_length=200)
    pr_number = models.PositiveIntegerField()
    comment_id = models.BigIntegerField(null=True, blank=True)
    comment_url = models.URLField(max_length=500, blank=True)
    analysis = models.ForeignKey(
        Analysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    # Who is publishing to this pull request's comment now ("<analysis id>:<nonce>"), and
    # until when: past that time the publisher is presumed dead and may be taken over.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repo_full_name", "pr_number"], name="one_sticky_comment_per_pr"
            )
        ]

    def __str__(self) -> str:
        return f"{self.repo_full_name}#{self.pr_number} comment {self.comment_id}"


class Finding(models.Model):
    """One finding of one pull request across all its reviews: the findings ledger.

    A review's own record stays in `Analysis.feedback`; this row is the finding's identity
    (`reviews.results.finding_fingerprint`) and its lifecycle: raised (open), its lines
    changed (fixed), its file left the pull request (outdated), or dismissed by a person, in
    which case it is never raised on this pull request again. Written by
    `reviews.ledger` and publishing only.
    """

    class State(models.TextChoices):
        OPEN = "open"
        FIXED = "fixed"
        OUTDATED = "outdated"
        DISMISSED = "dismissed"

    repo_full_name = models.CharField("repository", max_length=200)
    pr_number = models.PositiveIntegerField("PR number")
    fingerprint = models.CharField(max_length=16)
    # The review that first raised it; every review that reported it (raised it, or carried
    # it forward because its lines were untouched) is in `analyses`.
    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="raised_findings")
    analyses = models.ManyToManyField(Analysis, related_name="reported_findings")

    path = models.CharField(max_length=1000)
    line = models.PositiveIntegerField(default=0)  # 0: the finding names no line
    end_line = models.PositiveIntegerField(null=True, blank=True)
    category = models.CharField(max_length=16)
    severity = models.CharField(max_length=16)
    title = models.TextField()
    body = models.TextField(blank=True)
    suggestion = models.TextField(blank=True)
    anchored = models.BooleanField(default=False)
    # The normalised text of its anchored lines, "" when unknown (see results.NewSide).
    anchor_text = models.TextField(blank=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # The review that found it fixed or outdated (what its comment counts as closed "since").
    closed_by = models.ForeignKey(
        Analysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="closed_findings"
    )
    first_seen_sha = models.CharField("first seen at", max_length=64)
    last_seen_sha = models.CharField("last seen at", max_length=64)

    # Prism's inline comment carrying it, once posted, and its review thread (GraphQL node id).
    review_comment_id = models.BigIntegerField(null=True, blank=True)
    thread_node_id = models.CharField(max_length=100, blank=True)

    dismissed_by = models.CharField(max_length=100, blank=True)  # a GitHub login
    dismiss_reason = models.TextField(blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    # People's 👍 and 👎 on its inline comment, read when the pull request closed (bots and
    # Prism not counted; reviews/feedback). A later close reads them again and replaces them.
    thumbs_up = models.PositiveIntegerField("👍", default=0)
    thumbs_down = models.PositiveIntegerField("👎", default=0)
    reactions_read_at = models.DateTimeField("reactions read at", null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["repo_full_name", "pr_number", "fingerprint"],
                name="one_finding_per_identity_per_pr",
            )
        ]
        # For GET /api/findings/ and the admin's filters: a repository's findings by state and
        # severity (the unique constraint serves repository + PR number), and the rest alone.
        indexes = [
            models.Index(fields=["repo_full_name", "state", "severity"]),
            models.Index(fields=["state", "severity"]),
            models.Index(fields=["category"]),
            models.Index(fields=["path"]),
        ]

    def __str__(self) -> str:
        return f"{self.repo_full_name}#{self.pr_number} {self.fingerprint} ({self.state})"

    def as_result(self) -> ResultFinding:
        """The typed finding, as the comment renderers take it."""
        return ResultFinding(
            path=self.path,
            line=self.line,
            end_line=self.end_line,
            category=self.category,
            severity=self.severity,
            title=self.title,
            body=self.body,
            suggestion=self.suggestion or None,
            anchored=self.anchored,
            anchor_text=self.anchor_text,
        )


class Installation(models.Model):
    """One installation of Prism's GitHub App on a user or organisation account (App mode).

    Kept from the `installation` deliveries and healed by `sync_installations`; its
    repositories are the allow-list of what Prism reviews.
    """

    class AccountType(models.TextChoices):
        ORGANIZATION = "Organization"
        USER = "User"
        ENTERPRISE = "Enterprise"

    # GitHub's installation id: the one in every delivery's `installation.id`.
    id = models.BigIntegerField("installation id", primary_key=True)
    account_login = models.CharField("account", max_length=100)
    account_type = models.CharField(max_length=16, choices=AccountType.choices, blank=True)
    # Suspended on GitHub (by the account or the App's owner): no token, nothing reviewed.
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_login"]

    def __str__(self) -> str:
        return f"{self.account_login} (installation {self.id})"

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


class Repository(models.Model):
    """A repository an installation gives Prism access to (App mode): reviewed only while
    `enabled`, with the model and the money budgets the operator set for it."""

    installation = models.ForeignKey(
        Installation, on_delete=models.CASCADE, related_name="repositories"
    )
    # GitHub's repository id survives a rename; the full name is what deliveries carry.
    github_id = models.BigIntegerField("GitHub repository id", unique=True, null=True, blank=True)
    full_name = models.CharField("repository", max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    # Blank: LLM_MODEL (or what the repository's policy file chooses within the operator's
    # bounds).
    model = models.CharField("LLM model", max_length=200, blank=True)
    # US dollars; null: no cap.
    daily_budget = models.DecimalField(
        "daily budget (USD)", max_digits=10, decimal_places=2, null=True, blank=True
    )
    monthly_budget = models.DecimalField(
        "monthly budget (USD)", max_digits=10, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.full_name


class InstallationEvent(models.Model):
    """An `installation` or `installation_repositories` delivery, recorded once by its
    delivery id: GitHub's redelivery reuses the id, and replaying an old `added` after a
    `removed` must not bring a repository back."""

    delivery_id = models.CharField("delivery id", max_length=64, unique=True)
    event = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    installation_id = models.BigIntegerField("installation id")
    # What the delivery changed, for the admin ("added octo/widgets (enabled)").
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event}.{self.action} installation {self.installation_id}"


class FeedbackRead(models.Model):
    """Reading people's reactions on Prism's inline comments once a pull request closed.

    One row per `pull_request` `closed` delivery (GitHub redelivers with the same delivery
    id), claimed by a worker like a review (reviews/feedback). Comments it could not read and
    failures stay on the row, where the admin shows them.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    delivery_id = models.CharField("delivery id", max_length=64, unique=True)
    repo_full_name = models.CharField("repository", max_length=200)
    pr_number = models.PositiveIntegerField("PR number")
    merged = models.BooleanField(default=False)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    comments_read = models.PositiveIntegerField(default=0)
    comments_missing = models.PositiveIntegerField("comments not read", default=0)
    error = models.TextField(blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    # As for analyses (reviews/dispatch.py): None means the broker has no message for it.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = LeaseQuerySet.as_manager()  # claimed by workers (reviews/leases.py)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["repo_full_name", "pr_number"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.repo_full_name}#{self.pr_number} feedback ({self.status})"


class PullRequestState(models.Model):
    """What people said about one pull request through commands: paused or not, by whom.

    While `paused`, automatic reviews (pushes) are recorded as skipped and the head's status
    says it was not reviewed. Its row is also what serialises a pull request's commands'
    cap (MANUAL_RUNS_PER_PR), locked while one is counted.
    """

    repo_full_name = models.CharField("repository", max_length=200)
    pr_number = models.PositiveIntegerField("PR number")
    paused = models.BooleanField(default=False)
    paused_by = models.CharField(max_length=100, blank=True)  # a GitHub login
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=100, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "pull request state"
        constraints = [
            models.UniqueConstraint(
                fields=["repo_full_name", "pr_number"], name="one_state_per_pull_request"
            )
        ]

    def __str__(self) -> str:
        paused = f"paused by @{self.paused_by}" if self.paused else "active"
        return f"{self.repo_full_name}#{self.pr_number} ({paused})"


class Command(models.Model):
    """One command someone wrote on a pull request (`@prism review`), and what came of it.

    One row per comment, however often GitHub delivers it: the comment's id (per kind of
    comment: conversation or review thread) is unique, so a redelivery or a replay finds
    the row and runs nothing again.
    """

    class Source(models.TextChoices):
        ISSUE_COMMENT = "issue_comment", "conversation comment"
        REVIEW_COMMENT = "pull_request_review_comment", "review comment"

    class Verb(models.TextChoices):
        REVIEW = "review"
        FULL_REVIEW = "full_review", "full review"
        PAUSE = "pause"
        RESUME = "resume"
        DISMISS = "dismiss"
        ASK = "ask"
        HELP = "help"
        UNKNOWN = "unknown"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        REFUSED = "refused"  # not allowed, unknown, over the cap, or not applicable
        FAILED = "failed"
        IGNORED = "ignored"  # Prism's own comment

    source = models.CharField(max_length=32, choices=Source.choices)
    comment_id = models.BigIntegerField("comment id")
    comment_url = models.URLField("comment URL", max_length=500, blank=True)
    in_reply_to_id = models.BigIntegerField("in reply to", null=True, blank=True)
    delivery_id = models.CharField("delivery id", max_length=64, blank=True)
    # GitHub App mode: the installation whose token answers it (the delivery's
    # `installation.id`), passed on to the reviews it queues. Null in personal-token mode.
    installation_id = models.BigIntegerField("installation id", null=True, blank=True)

    repo_full_name = models.CharField("repository", max_length=200)
    pr_number = models.PositiveIntegerField("PR number")
    pr_author = models.CharField("PR author", max_length=100, blank=True)
    author = models.CharField(max_length=100)  # the commenter's login
    author_association = models.CharField(max_length=32, blank=True)

    verb = models.CharField(max_length=16, choices=Verb.choices)
    arguments = models.TextField(blank=True)
    # A review comment's place (for `ask` in a thread).
    path = models.CharField(max_length=1000, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    outcome = models.TextField(blank=True)  # what happened, in a sentence, for the operator
    reply = models.TextField(blank=True)  # what Prism answered on the pull request
    error = models.TextField(blank=True)
    analysis = models.ForeignKey(
        Analysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="commands"
    )
    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="commands"
    )
    # A manual review or question granted under MANUAL_RUNS_PER_PR (counted once, when granted).
    counted = models.BooleanField(default=False)
    # A question's model usage.
    llm_model = models.CharField("LLM model", max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "comment_id"], name="one_command_per_comment")
        ]
        indexes = [
            models.Index(fields=["repo_full_name", "pr_number"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return (
            f"{self.repo_full_name}#{self.pr_number} {self.verb} by @{self.author} ({self.status})"
        )
