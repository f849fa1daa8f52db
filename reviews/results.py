"""What a review produces, as types: findings, what was covered, what it cost. Pure.

The model's answer parser and the redactor produce `Finding`s; the pipeline puts them in a
`ReviewResult`; `Analysis.feedback` stores its JSON (`to_json`) and `Analysis.result`
reads it back (`from_json`); the comment, the admin and the API read only these types.
Reading stored JSON is lenient, since rows written by older versions must still show.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

CATEGORIES = ("bug", "security", "performance", "style")
SEVERITIES = ("low", "medium", "high", "critical")  # least severe first
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def severities_at_least(severity: str) -> tuple[str, ...]:
    """`high` -> (`high`, `critical`)."""
    return SEVERITIES[SEVERITY_RANK[severity] :]


def same_title(title: Any) -> str:
    """Titles compared the way a reader would: case and spacing don't make a new finding."""
    return " ".join(str(title).lower().split())


def same_code(line: str) -> str:
    """A line of code compared across pushes: re-indenting or re-spacing it is not a change."""
    return " ".join(line.split())


def finding_fingerprint(path: str, category: str, title: str, anchor_text: str = "") -> str:
    """A finding's identity on its pull request, the one definition of it.

    The file, the kind, the title and the text of the lines it is anchored on, never the line
    number: code inserted above a finding moves it, but it is still the same finding; editing
    the lines it is on makes it another. Without anchor text (a finding off the diff, or one
    stored before the text was known) the key is the file, the kind and the title alone, which
    is also what earlier versions wrote into their inline comments' markers.
    """
    key = f"{path}|{category}|{same_title(title)}"
    if anchor_text:
        key = f"{key}|{anchor_text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class NewSide:
    """What the diff shows of each file's new side, normalised with `same_code`.

    Per path, the hunks as (first new line number, their lines). It lets a finding raised on
    an earlier push be looked for again: its anchored lines are still there (maybe moved), or
    they changed. Built by the pipeline from the parsed diff; never stored.
    """

    hunks: Mapping[str, tuple[tuple[int, tuple[str, ...]], ...]] = field(default_factory=dict)

    def __contains__(self, path: object) -> bool:
        return path in self.hunks

    def text(self, path: str, line: int, end_line: int | None = None) -> str:
        """The anchor text of lines line..end_line of `path`, "" unless all are shown."""
        last = end_line or line
        for start, lines in self.hunks.get(path, ()):
            if start <= line and last < start + len(lines):
                return "\n".join(lines[line - start : last - start + 1])
        return ""

    def locate(self, path: str, anchor_text: str, near: int = 0) -> int | None:
        """Where the lines of `anchor_text` now start in `path` (the place nearest `near` if
        they appear more than once), or None when the diff no longer shows them."""
        wanted = tuple(anchor_text.split("\n"))
        places = [
            start + offset
            for start, lines in self.hunks.get(path, ())
            for offset in range(len(lines) - len(wanted) + 1)
            if lines[offset : offset + len(wanted)] == wanted
        ]
        return min(places, key=lambda place: abs(place - near)) if places else None


@dataclass(frozen=True)
class SkipReason:
    """Why a file (or part of one) was not reviewed, worded for the comment's footer."""

    code: str
    one: str  # "1 lockfile"
    many: str  # "{n} lockfiles"
    label: str  # "lockfile", beside a path in the list of skipped files

    def phrase(self, count: int) -> str:
        return self.one if count == 1 else self.many.format(n=f"{count:,}")


# In the order the list of skipped paths shows them: those a reviewer should look at first.
# The file filter decides most; "over_call_budget" and "model_error" come from the pipeline.
SKIP_REASONS: dict[str, SkipReason] = {
    reason.code: reason
    for reason in (
        SkipReason("over_call_budget", "1 over the call budget", "{n} over the call budget",
                   "over the call budget"),
        SkipReason("no_patch", "1 without a diff from GitHub", "{n} without a diff from GitHub",
                   "no diff from GitHub"),
        SkipReason("lockfile", "1 lockfile", "{n} lockfiles", "lockfile"),
        SkipReason("minified", "1 minified file", "{n} minified files", "minified"),
        SkipReason("generated", "1 generated file", "{n} generated files", "generated"),
        SkipReason("vendored", "1 vendored file", "{n} vendored files", "vendored"),
        SkipReason("binary", "1 binary file", "{n} binary files", "binary"),
        SkipReason("image", "1 image", "{n} images", "image"),
        SkipReason("ignored", "1 ignored by configuration", "{n} ignored by configuration",
                   "ignored"),
        SkipReason("no_changes", "1 with no changes", "{n} with no changes", "no changes"),
        SkipReason("removed", "1 removed file", "{n} removed files", "removed"),
        SkipReason("submodule", "1 submodule", "{n} submodules", "submodule"),
        SkipReason("model_error", "1 the model could not review",
                   "{n} the model could not review", "the model's answer was unusable"),
    )
}  # fmt: skip
OTHER_REASON = SkipReason("other", "1 for another reason", "{n} for other reasons", "other")


def skip_reason(code: Any) -> SkipReason:
    return SKIP_REASONS.get(code, OTHER_REASON) if isinstance(code, str) else OTHER_REASON


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str  # a key of SKIP_REASONS
    lines: int  # changed lines left unreviewed

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "lines": self.lines}

    @classmethod
    def from_json(cls, raw: Any) -> "Skipped | None":
        if not isinstance(raw, Mapping):
            return None
        return cls(
            path=_str(raw.get("path")), reason=_str(raw.get("reason")), lines=_int(raw, "lines")
        )


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # 0: the finding names no line
    category: str
    severity: str
    title: str
    body: str
    end_line: int | None = None
    suggestion: str | None = None
    anchored: bool = False  # GitHub accepts a review comment on `line` (set by the pipeline)
    # The text of line..end_line on the diff's new side, normalised (set by the pipeline, ""
    # when unknown). Part of the fingerprint; never written by `to_json`, so the stored
    # feedback and the API's output stay as they were.
    anchor_text: str = ""

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    def at_least(self, severity: str) -> bool:
        return self.rank >= SEVERITY_RANK[severity]

    @property
    def fingerprint(self) -> str:
        """Stable across pushes: lines move, but the file, the kind, the title and the code
        the finding is on stay (see `finding_fingerprint`)."""
        return finding_fingerprint(self.path, self.category, self.title, self.anchor_text)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "suggestion": self.suggestion,
            "anchored": self.anchored,
        }

    @classmethod
    def from_json(cls, raw: Any) -> "Finding | None":
        """A finding from the model's validated answer or a stored row; None if it is none.

        Unknown categories and severities read as medium bugs rather than vanish.
        """
        if not isinstance(raw, Mapping):
            return None
        line = _int(raw, "line")
        end_line = _int(raw, "end_line")
        suggestion = raw.get("suggestion")
        category, severity = raw.get("category"), raw.get("severity")
        return cls(
            path=_str(raw.get("path")),
            line=line,
            end_line=end_line if end_line > line else None,
            category=category if category in CATEGORIES else "bug",
            severity=severity if severity in SEVERITIES else "medium",
            title=_str(raw.get("title")),
            body=_str(raw.get("body")),
            suggestion=suggestion if isinstance(suggestion, str) and suggestion else None,
            anchored=raw.get("anchored") is True,
        )


def most_severe_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.rank, f.path, f.line, f.category))


@dataclass(frozen=True)
class Scope:
    """What a review of a push read: only what its new commits changed, or everything, and why.

    Set on a push after an earlier completed review; a pull request's first review has none.
    `base_sha..head_sha` are the last reviewed head and this one; `files` and `lines` count
    what the new commits touched; `unchanged` the PR's files they did not touch.
    """

    mode: str  # "incremental" | "full"
    reason: str
    base_sha: str = ""
    head_sha: str = ""
    commits: int = 0
    files: int = 0
    lines: int = 0
    unchanged: int = 0

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "base_sha": self.base_sha,
            "head_sha": self.head_sha,
            "commits": self.commits,
            "files": self.files,
            "lines": self.lines,
            "unchanged": self.unchanged,
        }

    @classmethod
    def from_json(cls, raw: Any) -> "Scope | None":
        if not isinstance(raw, Mapping):
            return None
        mode = raw.get("mode")
        return cls(
            mode=mode if mode in ("incremental", "full") else "full",
            reason=_str(raw.get("reason")),
            base_sha=_str(raw.get("base_sha")),
            head_sha=_str(raw.get("head_sha")),
            commits=_int(raw, "commits"),
            files=_int(raw, "files"),
            lines=_int(raw, "lines"),
            unchanged=_int(raw, "unchanged"),
        )


@dataclass(frozen=True)
class Coverage:
    files_total: int = 0
    files_reviewed: int = 0
    lines_total: int = 0
    lines_reviewed: int = 0
    skipped: tuple[Skipped, ...] = ()
    scope: Scope | None = None  # stored under "scope" only when set

    @property
    def complete(self) -> bool:
        return self.files_reviewed >= self.files_total and self.lines_reviewed >= self.lines_total

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "files_total": self.files_total,
            "files_reviewed": self.files_reviewed,
            "lines_total": self.lines_total,
            "lines_reviewed": self.lines_reviewed,
            "skipped": [item.to_json() for item in self.skipped],
        }
        if self.scope is not None:
            data["scope"] = self.scope.to_json()
        return data

    @classmethod
    def from_json(cls, raw: Any) -> "Coverage":
        raw = raw if isinstance(raw, Mapping) else {}
        skipped = raw.get("skipped") if isinstance(raw.get("skipped"), list) else []
        return cls(
            files_total=_int(raw, "files_total"),
            files_reviewed=_int(raw, "files_reviewed"),
            lines_total=_int(raw, "lines_total"),
            lines_reviewed=_int(raw, "lines_reviewed"),
            skipped=tuple(item for item in map(Skipped.from_json, skipped) if item),
            scope=Scope.from_json(raw.get("scope")),
        )


@dataclass(frozen=True)
class Usage:
    """What the model calls of one review cost, summed over chunks, repairs and retries.

    When the calls went to more than one model (fallback models), `by_model` has each
    model's own sum, and `model` names the one that answered the most calls.
    """

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # in dollars, when the provider reports it
    calls: int = 0
    by_model: tuple["Usage", ...] = ()  # stored under "by_model" only when set

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def models(self) -> tuple["Usage", ...]:
        """This usage per model, one entry for each model that was called."""
        if self.by_model:
            return self.by_model
        spent = self.calls or self.tokens or self.cost is not None
        return (replace(self, by_model=()),) if self.model and spent else ()

    @classmethod
    def total(cls, usages: Iterable["Usage"], *, model: str = "") -> "Usage":
        """The sum of several calls' usage; the cost stays unknown only if every one is."""
        usages = list(usages)
        per_model: dict[str, list[Usage]] = {}
        for usage in usages:
            for part in usage.models:
                per_model.setdefault(part.model, []).append(part)
        by_model = tuple(cls._sum(name, parts) for name, parts in per_model.items())
        # max() keeps the first of equals: the model asked first, as the calls were made.
        busiest = max(by_model, key=lambda part: part.calls).model if by_model else ""
        return cls._sum(
            busiest or next((u.model for u in usages if u.model), model),
            usages,
            by_model if len(by_model) > 1 else (),
        )

    @classmethod
    def _sum(cls, model: str, usages: list["Usage"], by_model: tuple["Usage", ...] = ()) -> "Usage":
        costs = [u.cost for u in usages if u.cost is not None]
        return cls(
            model=model,
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            cost=round(sum(costs), 6) if costs else None,
            calls=sum(u.calls for u in usages),
            by_model=by_model,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "calls": self.calls,
        }
        if self.by_model:
            data["by_model"] = [part.to_json() for part in self.by_model]
        return data

    @classmethod
    def from_json(cls, raw: Any) -> "Usage":
        raw = raw if isinstance(raw, Mapping) else {}
        cost = raw.get("cost")
        number = isinstance(cost, int | float) and not isinstance(cost, bool) and cost == cost
        parts = raw.get("by_model")
        return cls(
            model=_str(raw.get("model")),
            prompt_tokens=_int(raw, "prompt_tokens"),
            completion_tokens=_int(raw, "completion_tokens"),
            cost=float(cost) if number else None,
            calls=_int(raw, "calls"),
            by_model=tuple(
                replace(cls.from_json(part), by_model=())
                for part in (parts if isinstance(parts, list) else [])
                if isinstance(part, Mapping)
            ),
        )


@dataclass(frozen=True)
class ChunkModel:
    """Which model answered one chunk (part) of a review, and whether it was a fallback."""

    part: int  # from 1, as the prompt counts the parts
    model: str  # as the provider named it in its answer
    fallback: bool = False  # the model asked first was unavailable
    tried: tuple[str, ...] = ()  # the models that were unavailable before it, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "model": self.model,
            "fallback": self.fallback,
            "tried": list(self.tried),
        }

    @classmethod
    def from_json(cls, raw: Any) -> "ChunkModel | None":
        if not isinstance(raw, Mapping):
            return None
        tried = raw.get("tried")
        return cls(
            part=_int(raw, "part"),
            model=_str(raw.get("model")),
            fallback=raw.get("fallback") is True,
            tried=tuple(_str(name) for name in (tried if isinstance(tried, list) else [])),
        )


@dataclass(frozen=True)
class Standing:
    """Where a pull request's findings stand after a review of a later push: what its comment
    leads with. The first review of a pull request has none (everything is new)."""

    open: tuple[Finding, ...]  # every open finding of the pull request, as last reported
    new: frozenset[str]  # fingerprints this review raised for the first time
    fixed: int  # found fixed by this review
    outdated: int  # their file left the pull request with this review
    dismissed: int  # dismissed on this pull request, never raised again
    since: str  # the head reviewed before this one

    @property
    def headline(self) -> str:
        """ "3 open (1 new) · 2 fixed since a1b2c3d · 1 dismissed" """
        parts = [f"{len(self.open):,} open ({len(self.new & self.open_fingerprints):,} new)"]
        if self.fixed:
            parts.append(f"{self.fixed:,} fixed since {self.since[:7]}")
        if self.outdated:
            parts.append(f"{self.outdated:,} outdated")
        if self.dismissed:
            parts.append(f"{self.dismissed:,} dismissed")
        return " · ".join(parts)

    @property
    def open_fingerprints(self) -> frozenset[str]:
        return frozenset(finding.fingerprint for finding in self.open)


@dataclass(frozen=True)
class ReviewResult:
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    coverage: Coverage = field(default_factory=Coverage)
    usage: Usage = field(default_factory=Usage)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per pipeline step
    chunks: tuple[ChunkModel, ...] = ()  # which model answered each chunk that was answered
    # Not stored: the new-side lines per path the reviewed push changed (PushPlan's), for
    # the findings ledger; None after a full review, where every line was read.
    changed_lines: dict[str, set[int]] | None = field(default=None, compare=False)
    # The reviewed diff's new side, for the findings ledger to follow earlier findings; None
    # when unknown (a result read back from storage). Never written by `to_json`.
    new_side: NewSide | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "findings": [finding.to_json() for finding in self.findings],
            "coverage": self.coverage.to_json(),
            "usage": self.usage.to_json(),
            "timings": dict(self.timings),
            "chunks": [chunk.to_json() for chunk in self.chunks],
        }

    @classmethod
    def from_json(cls, raw: Any) -> "ReviewResult":
        raw = raw if isinstance(raw, Mapping) else {}
        findings = raw.get("findings") if isinstance(raw.get("findings"), list) else []
        timings = raw.get("timings") if isinstance(raw.get("timings"), Mapping) else {}
        chunks = raw.get("chunks") if isinstance(raw.get("chunks"), list) else []
        return cls(
            summary=_str(raw.get("summary")),
            findings=tuple(f for f in map(Finding.from_json, findings) if f),
            coverage=Coverage.from_json(raw.get("coverage")),
            usage=Usage.from_json(raw.get("usage")),
            timings={
                k: v
                for k, v in timings.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
            chunks=tuple(chunk for chunk in map(ChunkModel.from_json, chunks) if chunk),
        )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
