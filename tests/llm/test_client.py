import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from reviews.llm.client import LLMClient, LLMConfig, LLMError
from reviews.llm.response import FINDINGS_SCHEMA, parse_review
from reviews.results import Finding
from tests.factories import answer_finding
from tests.llm.fake_clock import FakeClock

LLM_URL = "https://llm.test/api/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
API_KEY = "sk-or-v1-" + "0123456789abcdef" * 4
MODEL = "openai/gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are Prism."},
    {"role": "user", "content": "Review this diff."},
]
FINDING = answer_finding(
    "app/views.py",
    12,
    category="security",
    severity="high",
    title="SQL built from user input",
    body="The query interpolates `name`.",
    suggestion="cursor.execute(sql, [name])",
)
VALID = {"summary": "Adds a search view.", "findings": [FINDING]}
STRICT_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "prism_review", "strict": True, "schema": FINDINGS_SCHEMA},
}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


def client_for(sleeps, base_url=LLM_URL, **overrides) -> LLMClient:
    config = LLMConfig(
        **{
            "base_url": base_url,
            "api_key": API_KEY,
            "model": MODEL,
            "response_format": "json_schema",
            **overrides,
        }
    )
    clock = FakeClock()
    clock.sleeps = sleeps
    return LLMClient(config, sleep=clock.sleep, clock=clock)


def completion(content, *, model=MODEL, prompt=100, completion=20, cost=None, finish="stop"):
    if not isinstance(content, str):
        content = json.dumps(content)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    if cost is not None:
        usage["cost"] = cost
    return {
        "id": "gen-1",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }


def answer(http, content=VALID, *, base_url=LLM_URL, **kwargs):
    http.add(responses.POST, f"{base_url}/chat/completions", json=completion(content, **kwargs))


def fail(http, status, message="", *, base_url=LLM_URL, headers=None):
    body = {"error": {"code": status, "message": message}}
    http.add(
        responses.POST,
        f"{base_url}/chat/completions",
        json=body,
        status=status,
        headers=headers or {},
    )


def sent(http, index) -> dict:
    return json.loads(http.calls[index].request.body)


# --- what we send ---------------------------------------------------------------------------


def test_a_valid_answer_becomes_a_review_output(http, sleeps):
    answer(http, VALID, model="openai/gpt-4o-mini-2024-07-18", prompt=1200, completion=300)

    output = client_for(sleeps).review(MESSAGES)

    assert output.summary == "Adds a search view."
    assert output.findings == [Finding.from_json(FINDING)]
    assert output.model == "openai/gpt-4o-mini-2024-07-18"
    assert (output.prompt_tokens, output.completion_tokens, output.calls) == (1200, 300, 1)
    assert output.cost is None
    assert sent(http, 0) == {
        "model": MODEL,
        "messages": MESSAGES,
        "temperature": 0.1,
        "max_tokens": 4000,
        "response_format": STRICT_SCHEMA_FORMAT,
    }
    headers = http.calls[0].request.headers
    assert http.calls[0].request.url == f"{LLM_URL}/chat/completions"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert "HTTP-Referer" not in headers
    assert "X-Title" not in headers
    assert sleeps == []


def test_openrouter_gets_provider_routing_attribution_headers_and_reports_cost(http, sleeps):
    answer(http, VALID, base_url=OPENROUTER_URL, cost=0.00042)

    output = client_for(
        sleeps, base_url=OPENROUTER_URL, app_url="https://prism.example.com"
    ).review(MESSAGES)

    body = sent(http, 0)
    assert body["provider"] == {"require_parameters": True}
    assert body["response_format"] == STRICT_SCHEMA_FORMAT
    headers = http.calls[0].request.headers
    assert headers["X-Title"] == "Prism"
    assert headers["HTTP-Referer"] == "https://prism.example.com"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert output.cost == pytest.approx(0.00042)


def test_a_local_server_without_a_key_gets_no_authorization_header(http, sleeps):
    answer(http, VALID)

    client_for(sleeps, api_key="", response_format="json_object").review(MESSAGES)

    assert "Authorization" not in http.calls[0].request.headers
    assert sent(http, 0)["response_format"] == {"type": "json_object"}


def test_the_none_level_sends_no_response_format(http, sleeps):
    answer(http, VALID)

    client_for(sleeps, response_format="none", temperature=0.0, max_output_tokens=900).review(
        MESSAGES
    )

    assert sent(http, 0) == {
        "model": MODEL,
        "messages": MESSAGES,
        "temperature": 0.0,
        "max_tokens": 900,
    }


def test_the_configured_model_is_reported_when_the_response_names_none(http, sleeps):
    body = completion(VALID)
    del body["model"]
    http.add(responses.POST, f"{LLM_URL}/chat/completions", json=body)

    assert client_for(sleeps).review(MESSAGES).model == MODEL


# --- parsing and repair ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" + json.dumps(VALID, indent=2) + "\n```",
        "Here is my review:\n```\n" + json.dumps(VALID) + "\n```\nHope this helps.",
        "Sure! " + json.dumps(VALID) + " Let me know.",
        "<think>The {user} wants JSON.</think>\n" + json.dumps(VALID),
    ],
    ids=["fenced", "fenced-with-prose", "prose-around", "thinking-first"],
)
def test_json_wrapped_in_fences_or_prose_is_accepted(http, sleeps, text):
    answer(http, text)

    assert client_for(sleeps).review(MESSAGES).findings == [Finding.from_json(FINDING)]


def test_harmless_deviations_are_forgiven():
    finding = {
        key: value for key, value in FINDING.items() if key not in {"end_line", "suggestion"}
    }
    text = json.dumps(
        {
            "summary": "s",
            "findings": [{**finding, "severity": "High", "category": " SECURITY", "extra": 1}],
            "confidence": 0.9,
        }
    )

    summary, findings = parse_review(text)

    assert summary == "s"
    assert findings == [Finding.from_json({**FINDING, "suggestion": None})]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"line": "12"}, "findings/0/line: '12' is not of type 'integer'"),
        ({"line": True}, "findings/0/line: True is not of type 'integer'"),
        ({"severity": "urgent"}, "findings/0/severity: 'urgent' is not one of"),
        ({"title": None}, "findings/0/title: None is not of type 'string'"),
    ],
)
def test_wrong_types_and_values_are_rejected_not_coerced(change, error):
    text = json.dumps({"summary": "s", "findings": [{**FINDING, **change}]})

    with pytest.raises(Exception, match="does not match the schema") as caught:
        parse_review(text)

    assert error in str(caught.value)


def test_an_invalid_answer_is_repaired_once_with_the_validation_error(http, sleeps):
    bad = json.dumps({"summary": "s", "findings": [{**FINDING, "severity": "urgent"}]})
    answer(http, bad, prompt=1000, completion=50, cost=0.001, base_url=OPENROUTER_URL)
    answer(http, VALID, prompt=1100, completion=60, cost=0.002, base_url=OPENROUTER_URL)

    output = client_for(sleeps, base_url=OPENROUTER_URL).review(MESSAGES)

    assert output.findings == [Finding.from_json(FINDING)]
    assert (output.prompt_tokens, output.completion_tokens, output.calls) == (2100, 110, 2)
    assert output.cost == pytest.approx(0.003)
    repair = sent(http, 1)["messages"]
    assert repair[:2] == MESSAGES
    assert repair[2] == {"role": "assistant", "content": bad}
    assert repair[3]["role"] == "user"
    assert "findings/0/severity: 'urgent' is not one of" in repair[3]["content"]
    assert sent(http, 1)["response_format"] == STRICT_SCHEMA_FORMAT


def test_a_second_invalid_answer_fails_permanently_keeping_the_raw_output(http, sleeps):
    answer(http, "I think the code looks fine!")
    answer(http, '{"summary": "ok"}')

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert caught.value.raw_output == '{"summary": "ok"}'
    assert "'findings' is a required property" in str(caught.value)
    assert "not a JSON object" in sent(http, 1)["messages"][3]["content"]


def test_a_truncated_answer_is_asked_again_to_be_briefer(http, sleeps):
    answer(http, '{"summary": "Long', finish="length", completion=4000)
    answer(http, VALID, completion=500)

    output = client_for(sleeps).review(MESSAGES)

    assert output.findings == [Finding.from_json(FINDING)]
    assert output.completion_tokens == 4500
    repair = sent(http, 1)["messages"][3]["content"]
    assert "cut off" in repair
    assert "fewer findings" in repair


def test_an_answer_truncated_twice_fails_saying_truncated(http, sleeps):
    answer(http, '{"summary": "Long', finish="length")
    answer(http, '{"summary": "Still long', finish="length")

    with pytest.raises(LLMError, match="truncated") as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert caught.value.raw_output == '{"summary": "Still long'


# --- response_format fallback ----------------------------------------------------------------


def test_a_refused_response_format_steps_down_and_is_remembered(http, sleeps):
    fail(http, 400, "response_format json_schema is not supported by this model")
    fail(http, 400, "Invalid value for 'response_format.type': json_object")
    answer(http, VALID)
    answer(http, VALID)
    client = client_for(sleeps)

    client.review(MESSAGES)
    output = client.review(MESSAGES)

    assert sent(http, 0)["response_format"] == STRICT_SCHEMA_FORMAT
    assert sent(http, 1)["response_format"] == {"type": "json_object"}
    assert "response_format" not in sent(http, 2)
    assert "response_format" not in sent(http, 3)
    assert output.calls == 1
    assert client.response_format == "none"


def test_openrouter_finding_no_provider_for_the_parameters_steps_down(http, sleeps):
    fail(
        http,
        404,
        "No endpoints found that can handle the requested parameters.",
        base_url=OPENROUTER_URL,
    )
    answer(http, VALID, base_url=OPENROUTER_URL)

    client_for(sleeps, base_url=OPENROUTER_URL).review(MESSAGES)

    assert sent(http, 1)["response_format"] == {"type": "json_object"}
    assert sent(http, 1)["provider"] == {"require_parameters": True}


def test_a_bad_request_unrelated_to_the_format_is_permanent(http, sleeps):
    fail(http, 400, "This model's maximum context length is 8192 tokens.")

    with pytest.raises(LLMError, match="maximum context length") as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert "(400)" in str(caught.value)


# --- transient and permanent failures ------------------------------------------------------


def test_a_short_retry_after_is_waited_in_process(http, sleeps):
    fail(http, 429, "Rate limit exceeded", headers={"Retry-After": "2"})
    answer(http, VALID)

    output = client_for(sleeps).review(MESSAGES)

    assert output.calls == 1
    assert len(sleeps) == 1
    assert 2 <= sleeps[0] <= 2.5


def test_a_long_retry_after_is_left_to_celery(http, sleeps):
    fail(http, 429, "Rate limit exceeded", headers={"Retry-After": "120"})

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is False
    assert caught.value.retry_after == 120
    assert sleeps == []


def test_retry_after_may_be_an_http_date(http, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    fail(http, 503, "Service Unavailable", headers={"Retry-After": when})

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is False
    assert caught.value.retry_after is not None
    assert 290 <= caught.value.retry_after <= 300


def test_a_server_error_is_retried_then_succeeds(http, sleeps):
    fail(http, 500, "Internal Server Error")
    answer(http, VALID)

    assert client_for(sleeps).review(MESSAGES).findings == [Finding.from_json(FINDING)]
    assert len(sleeps) == 1
    assert 1 <= sleeps[0] <= 1.25


def test_repeated_server_errors_end_in_a_transient_error(http, sleeps):
    for status in (502, 503, 408):
        fail(http, status, "upstream down")

    with pytest.raises(LLMError, match="408") as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is False
    assert caught.value.retry_after is None
    assert len(sleeps) == 2


def test_connection_errors_and_timeouts_are_transient(http, sleeps):
    url = f"{LLM_URL}/chat/completions"
    http.add(responses.POST, url, body=requests.ConnectionError("connection refused"))
    http.add(responses.POST, url, body=requests.ReadTimeout("read timed out"))
    http.add(responses.POST, url, body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is False
    assert "ConnectTimeout" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (402, "the LLM provider says the account has no credit (402)"),
        (401, "the LLM provider rejected the API key (401)"),
        (403, "the LLM provider refused the request (403)"),
        (404, "the LLM provider rejected the request (404)"),
    ],
)
def test_auth_credit_and_not_found_errors_are_permanent(http, sleeps, status, message):
    fail(http, status, "nope")

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert str(caught.value).startswith(message)
    assert sleeps == []


def test_a_402_with_retry_after_is_a_spending_budget_wait_not_an_empty_account(http, sleeps):
    fail(http, 402, "In-flight budget exceeded", headers={"Retry-After": "1"})
    answer(http, VALID)

    assert client_for(sleeps).review(MESSAGES).calls == 1
    assert len(sleeps) == 1


def test_a_refusal_is_kept_as_the_raw_output(http, sleeps):
    for _ in range(2):
        body = completion(VALID)
        body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
        http.add(responses.POST, f"{LLM_URL}/chat/completions", json=body)

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert caught.value.raw_output == "No."


def test_an_error_inside_a_200_body_is_retried_like_its_status(http, sleeps):
    url = f"{OPENROUTER_URL}/chat/completions"
    http.add(
        responses.POST, url, json={"error": {"code": 502, "message": "Provider returned error"}}
    )
    answer(http, VALID, base_url=OPENROUTER_URL)

    output = client_for(sleeps, base_url=OPENROUTER_URL).review(MESSAGES)

    assert output.calls == 1
    assert len(sleeps) == 1


def test_a_no_credit_error_inside_a_200_body_is_permanent(http, sleeps):
    url = f"{OPENROUTER_URL}/chat/completions"
    http.add(responses.POST, url, json={"error": {"code": 402, "message": "Insufficient credits"}})

    with pytest.raises(LLMError, match=r"no credit \(402\): Insufficient credits") as caught:
        client_for(sleeps, base_url=OPENROUTER_URL).review(MESSAGES)

    assert caught.value.permanent is True


def test_an_answer_without_choices_is_transient(http, sleeps):
    url = f"{LLM_URL}/chat/completions"
    for _ in range(3):
        http.add(responses.POST, url, json={"id": "gen-1", "choices": []})

    with pytest.raises(LLMError, match="without choices") as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is False


def test_the_api_key_never_reaches_an_error_or_a_log(http, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    fail(http, 429, f"Too many requests for key {API_KEY}", headers={"Retry-After": "1"})
    fail(http, 401, f"Incorrect API key provided: {API_KEY}")

    with pytest.raises(LLMError) as caught:
        client_for(sleeps).review(MESSAGES)

    assert caught.value.permanent is True
    assert "rejected the API key" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.__cause__)
    assert caplog.records
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert API_KEY not in caplog.text


def test_an_unusable_answer_after_its_repair_carries_the_usage_of_both_calls():
    from tests import stubs

    garbage = stubs.chat_completion([], cost=0.5)
    garbage["choices"][0]["message"]["content"] = "not json"
    config = LLMConfig(
        base_url="https://llm.example/v1", api_key="k", model="m", response_format="json_object"
    )
    with responses.RequestsMock() as http:
        http.post("https://llm.example/v1/chat/completions", json=garbage)
        with pytest.raises(LLMError) as raised:
            LLMClient(config, sleep=lambda _: None).review([{"role": "user", "content": "x"}])
    usage = raised.value.usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (2, 2400, 160)
    assert usage.cost == pytest.approx(1.0)
