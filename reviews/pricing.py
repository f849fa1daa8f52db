"""What model calls cost in dollars, from the operator's price table (LLM_PRICES). Pure.

A price is dollars per million tokens, input and output apart, as providers list them.
Providers such as OpenRouter report each call's cost in its `usage`; that figure wins, and
the table prices the calls of those that don't, and every review before its first call.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from reviews.results import Usage

PER_TOKENS = Decimal(1_000_000)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Price:
    input: Decimal  # dollars per million prompt tokens
    output: Decimal  # dollars per million completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (prompt_tokens * self.input + completion_tokens * self.output) / PER_TOKENS


def price_of(table: Mapping[str, Mapping[str, Decimal]], *models: str) -> Price | None:
    """The price of the first of `models` the table lists; None if none is. Providers may
    answer with a dated name ("openai/gpt-4o-mini-2024-07-18" for "openai/gpt-4o-mini"), so
    a model the table does not list takes the price of the longest name it starts with."""
    for model in models:
        if not model:
            continue
        name = model if model in table else _longest_prefix(table, model)
        if name is not None:
            return Price(input=Decimal(table[name]["input"]), output=Decimal(table[name]["output"]))
    return None


def _longest_prefix(table: Mapping[str, object], model: str) -> str | None:
    names = [name for name in table if model.startswith(f"{name}-")]
    return max(names, key=len) if names else None


def priced(usage: Usage, price: Price | None) -> Usage:
    """`usage` with its cost: the provider's when it reported one, else from `price`."""
    if usage.cost is not None or price is None or not usage.calls:
        return usage
    cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
    return replace(usage, cost=float(round(cost, 6)))


def dollars(amount: Decimal) -> str:
    """A budget as people write it: "$5.00", "$1,250.00", and "$0.005" below a cent."""
    if amount and abs(amount) < CENT:
        return f"${amount.normalize():f}"
    return f"${amount:,.2f}"
