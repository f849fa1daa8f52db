"""Fallback models (LLM_FALLBACK_MODELS): when a model stays unavailable, the next one is asked.

A chunk goes to the first model; when that model is still answering 429 or 5xx, or timing
out, after its client's retries (or its rate limit asks for a wait longer than a review
waits in process), the same chunk goes to the next model, and so on. Every model's client
keeps its own retries, response-format step-down and rate-limit gate.

Only unavailability falls back. A permanent error does not: a 401, 403 or 402 is about the
key or the account, which every model on the provider shares; a 400 is about the request,
which another model would be sent unchanged; an answer that stays unusable after its repair
is reported as that chunk not reviewed, as without fallbacks. Nor does Prism's own call cap
(LLM_MAX_INFLIGHT): every model shares it. When every model is unavailable the review fails
the way it always did with one (transient: retried later), naming the models tried.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from reviews.llm.client import LLMClient, LLMError, ReviewOutput, TextAnswer
from reviews.results import Usage

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Reviewer(Protocol):
    """What the pipeline asks about a chunk: one model's client, or a chain of them."""

    def review(self, messages: list[dict]) -> ReviewOutput: ...


class Answerer(Protocol):
    """What a question asks (reviews/commands/ask.py): one model's client, or a chain."""

    def answer(self, messages: list[dict]) -> TextAnswer: ...


class ModelChain:
    """The model to ask, then the fallbacks in order."""

    def __init__(self, clients: Sequence[LLMClient]):
        if not clients:
            raise ValueError("a model chain needs at least one model")
        self.clients = tuple(clients)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(client.config.model for client in self.clients)

    def review(self, messages: list[dict]) -> ReviewOutput:
        output, failed = self._first_available(lambda client: client.review(messages))
        return replace(
            output,
            requested=self.models[0],
            tried=tuple(name for name, _ in failed),
            spent=Usage.total(error.usage for _, error in failed),
        )

    def answer(self, messages: list[dict]) -> TextAnswer:
        """A question in prose (reviews/commands/ask.py), with the same fallbacks as a review:
        only unavailability moves on to the next model. Its usage counts every model's calls,
        the unavailable ones' included."""
        output, failed = self._first_available(lambda client: client.answer(messages))
        if not failed:
            return output
        usages = [*(error.usage for _, error in failed), output.usage]
        return replace(output, usage=Usage.total(usages, model=output.usage.model))

    def _first_available(
        self, ask: Callable[[LLMClient], T]
    ) -> tuple[T, list[tuple[str, LLMError]]]:
        """`ask`'s answer from the first model that is available, and the models that were
        not (with their errors)."""
        failed: list[tuple[str, LLMError]] = []
        for client, following in zip(self.clients, [*self.clients[1:], None], strict=True):
            model = client.config.model
            try:
                output = ask(client)
            except LLMError as exc:
                if not failed and (not exc.unavailable or following is None):
                    raise  # as without fallbacks
                if not exc.unavailable:
                    raise _after(exc, failed) from exc
                failed.append((model, exc))
                if following is not None:
                    logger.warning(
                        "model %s unavailable, asking the fallback %s: %s",
                        model,
                        following.config.model,
                        exc,
                    )
                continue
            return output, failed
        raise _exhausted(failed)


def _after(exc: LLMError, failed: list[tuple[str, LLMError]]) -> LLMError:
    """A fallback model's own failure, saying which models were unavailable before it."""
    tried = ", ".join(name for name, _ in failed)
    return LLMError(
        f"{exc} (from a fallback model; unavailable before it: {tried})",
        permanent=exc.permanent,
        retry_after=exc.retry_after,
        raw_output=exc.raw_output,
        usage=Usage.total([*(error.usage for _, error in failed), exc.usage]),
    )


def _exhausted(failed: list[tuple[str, LLMError]]) -> LLMError:
    """Every model was unavailable: a transient failure, retried after the shortest wait
    any of them asked for (Celery's backoff when one of them named none)."""
    waits = [error.retry_after for _, error in failed]
    known = [wait for wait in waits if wait is not None]
    reasons = "; ".join(f"{name}: {error}" for name, error in failed)
    return LLMError(
        f"every model is unavailable (tried {', '.join(name for name, _ in failed)}): {reasons}",
        permanent=False,
        retry_after=min(known) if known and len(known) == len(waits) else None,
        usage=Usage.total(error.usage for _, error in failed),
        unavailable=True,
    )
