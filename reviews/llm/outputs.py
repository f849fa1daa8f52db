"""What a model client hands back: a review's findings with what its calls cost, or a
question's text; and the tally of one review's calls that makes them."""

from dataclasses import dataclass, field
from typing import Any

from reviews.results import Finding, Usage


@dataclass(frozen=True)
class ReviewOutput:
    summary: str
    findings: list[Finding]
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    calls: int
    # Set by reviews.llm.fallback: the model asked first and the ones that were unavailable
    # before this answer, and what their calls cost before they failed.
    requested: str = ""
    tried: tuple[str, ...] = ()
    spent: Usage = field(default_factory=Usage)
    waited: float = 0.0  # seconds spent waiting for a call slot or a rate limit's gate

    @property
    def fallback(self) -> bool:
        """Answered by a fallback model: the model asked first was unavailable."""
        return bool(self.tried)

    @property
    def usage(self) -> Usage:
        """Every call made for this answer, per model (a failed model's included)."""
        own = Usage(
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            calls=self.calls,
        )
        return Usage.total([self.spent, own], model=self.model)


@dataclass(frozen=True)
class TextAnswer:
    text: str
    truncated: bool
    usage: Usage


@dataclass
class Tally:
    """Usage summed over every answered call of one review, the repair call included."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    calls: int = 0
    waited: float = 0.0

    def add(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage") or {}
        self.calls += 1
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        if isinstance(usage.get("cost"), int | float):
            self.cost = (self.cost or 0.0) + usage["cost"]
        self.model = payload.get("model") or self.model

    def usage(self) -> Usage:
        return Usage(
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            calls=self.calls,
        )

    def output(self, summary: str, findings: list[Finding]) -> ReviewOutput:
        return ReviewOutput(
            summary=summary,
            findings=findings,
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            calls=self.calls,
            waited=round(self.waited, 3),
        )
