"""The money and check-run settings: prices per model, the global daily cap, and which of the
commit status and the check run each mode posts by default. Each read by a fresh process."""

from tests.test_settings import run_python, run_settings

KEY = "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----"


def show(expression: str, env: dict[str, str]) -> str:
    result = run_python("-c", f"import prism.settings as s; print({expression})", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_prices_are_read_as_dollars_per_million_tokens():
    prices = '{"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6}}'
    shown = show("s.LLM_PRICES", {"SECRET_KEY": "x", "LLM_PRICES": prices})
    assert shown == "{'openai/gpt-4o-mini': {'input': Decimal('0.15'), 'output': Decimal('0.6')}}"


def test_bad_prices_stop_prism_naming_the_setting():
    for value, message in [
        ("{not json", "LLM_PRICES is not valid JSON"),
        ('["a"]', "LLM_PRICES must be a JSON object"),
        ('{"m": {"input": -1, "output": 1}}', "LLM_PRICES['m'] must give dollars per million"),
        ('{"m": {"input": 1}}', "LLM_PRICES['m'] must give dollars per million"),
        ('{"m": {"input": true, "output": 1}}', "LLM_PRICES['m'] must give dollars per million"),
    ]:
        result = run_settings({"SECRET_KEY": "x", "LLM_PRICES": value})
        assert result.returncode != 0 and message in result.stderr, (value, result.stderr)


def test_the_global_daily_cap_is_an_amount_of_dollars():
    assert show("s.BUDGET_DAILY_USD", {"SECRET_KEY": "x"}) == "None"
    assert show("s.BUDGET_DAILY_USD", {"SECRET_KEY": "x", "BUDGET_DAILY_USD": "5.00"}) == "5.00"
    for value in ("-1", "five", "NaN"):
        result = run_settings({"SECRET_KEY": "x", "BUDGET_DAILY_USD": value})
        assert result.returncode != 0 and "BUDGET_DAILY_USD must be" in result.stderr, value


def test_app_mode_posts_the_check_run_and_the_status_only_when_asked():
    app = {"SECRET_KEY": "x", "GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": KEY}
    assert show("(s.POST_COMMIT_STATUS, s.POST_CHECK_RUNS)", app) == "(False, True)"
    asked = {**app, "POST_COMMIT_STATUS": "true"}
    assert show("s.POST_COMMIT_STATUS", asked) == "True"
    assert show("s.POST_COMMIT_STATUS", {"SECRET_KEY": "x"}) == "True"
