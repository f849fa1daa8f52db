"""The typed review result's parts that record the models: usage per model, and which model
answered each chunk; stored as JSON and read back, old rows included."""

from reviews.results import ChunkModel, ReviewResult, Usage

A, B = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


def test_usage_of_one_model_sums_as_before_without_a_breakdown():
    total = Usage.total([Usage(A, 100, 10, 0.01, 1), Usage(A, 200, 20, None, 2)])

    assert total == Usage(A, 300, 30, 0.01, 3)
    assert "by_model" not in total.to_json()


def test_usage_of_several_models_keeps_each_models_sum_and_names_the_busiest():
    total = Usage.total(
        [Usage(A, 100, 10, 0.01, 1), Usage(B, 50, 5, 0.002, 1), Usage(B, 50, 5, None, 1)]
    )

    assert (total.model, total.calls, total.tokens, total.cost) == (B, 3, 220, 0.012)
    assert total.by_model == (Usage(A, 100, 10, 0.01, 1), Usage(B, 100, 10, 0.002, 2))


def test_sums_of_sums_stay_per_model():
    first = Usage.total([Usage(A, 100, 10, None, 1), Usage(B, 10, 1, None, 1)])
    second = Usage.total([first, Usage(A, 100, 10, None, 1)])

    assert second.model == A
    assert [(u.model, u.calls, u.prompt_tokens) for u in second.by_model] == [
        (A, 2, 200),
        (B, 1, 10),
    ]


def test_models_and_usage_survive_storage():
    result = ReviewResult(
        usage=Usage.total([Usage(A, 100, 10, 0.01, 1), Usage(B, 50, 5, None, 1)]),
        chunks=(ChunkModel(1, A), ChunkModel(2, B, True, (A,))),
    )

    assert ReviewResult.from_json(result.to_json()) == result


def test_a_row_stored_before_fallbacks_reads_with_no_chunks_and_one_model():
    old = {"summary": "s", "usage": {"model": A, "prompt_tokens": 5, "calls": 1}}

    result = ReviewResult.from_json(old)

    assert result.chunks == ()
    assert result.usage.by_model == ()
    assert [u.model for u in result.usage.models] == [A]


def test_hostile_stored_values_read_leniently():
    raw = {"chunks": [{"part": "x", "model": 3, "tried": "A"}, "junk"], "usage": {"by_model": 7}}

    result = ReviewResult.from_json(raw)

    assert result.chunks == (ChunkModel(0, "3"),)
    assert result.usage.by_model == ()
