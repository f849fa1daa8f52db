import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures import REPO_ROOT

SETTINGS = (REPO_ROOT / "prism" / "settings.py").read_text(encoding="utf-8")
NAME_READ = re.compile(
    r"""(?:env\.\w+|_positive_int|_choice|_credential|_private_key|_prices|_dollars)"""
    r"""\(\s*"([A-Z_]+)\""""
)


def settings_read_from_the_environment() -> set[str]:
    return set(NAME_READ.findall(SETTINGS))


def test_every_setting_is_documented_in_env_example_and_readme():
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", example, flags=re.MULTILINE))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    names = settings_read_from_the_environment()
    assert len(names) > 20
    assert names - documented == set()
    assert {name for name in names if f"`{name}`" not in readme} == set()


def run_python(
    *args: str, env: dict[str, str], root: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a fresh process whose only settings are `env`."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        # A developer's .env must not configure this run: only `env` does.
        env={"PYTHONPATH": str(root), "PRISM_ENV_FILE": "/nonexistent", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python("-c", "import prism.settings", env=env)


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    result = run_settings({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_worker_runs_reviews_on_threads_and_prefork_only_on_redis():
    probe = "import prism.settings as p; print(p.CELERY_WORKER_POOL, p.CELERY_WORKER_CONCURRENCY)"
    sqlite = run_python("-c", probe, env={"SECRET_KEY": "x"})
    assert sqlite.stdout.split() == ["threads", "2"], sqlite.stderr
    postgres = {"SECRET_KEY": "x", "DATABASE_URL": "postgres://u@db:5432/prism"}
    assert run_python("-c", probe, env=postgres).stdout.split() == ["threads", "32"]
    prefork = run_settings({"SECRET_KEY": "x", "WORKER_POOL": "prefork"})
    assert "WORKER_POOL=prefork needs CELERY_BROKER_URL=redis://" in prefork.stderr
    redis_prefork = {**postgres, "WORKER_POOL": "prefork", "CELERY_BROKER_URL": "redis://r/0"}
    assert run_python("-c", probe, env=redis_prefork).stdout.split() == ["prefork", "32"]


def test_settings_refuse_a_bad_value_with_a_clear_message():
    result = run_settings({"SECRET_KEY": "x", "LLM_CONCURRENCY": "0"})
    assert "LLM_CONCURRENCY must be a positive whole number" in result.stderr
    result = run_settings({"SECRET_KEY": "x", "INLINE_MIN_SEVERITY": "urgent"})
    assert "INLINE_MIN_SEVERITY must be one of" in result.stderr
    result = run_settings({"SECRET_KEY": "x", "REVIEW_ON_PUSH": "sometimes"})
    assert "REVIEW_ON_PUSH must be one of incremental, full, off" in result.stderr
    result = run_settings({"SECRET_KEY": "x", "PRISM_BOT_NAME": "prism review"})
    assert "PRISM_BOT_NAME must be a GitHub login" in result.stderr
    result = run_settings({"SECRET_KEY": "x", "MANUAL_RUNS_PER_PR": "0"})
    assert "MANUAL_RUNS_PER_PR must be a positive whole number" in result.stderr


def test_settings_start_with_nothing_but_a_secret_key():
    result = run_settings({"SECRET_KEY": "x"})
    assert result.returncode == 0, result.stderr


def test_fallback_models_and_the_call_cap_are_validated_loudly():
    base = {"SECRET_KEY": "x", "LLM_MODEL": "a/one"}
    allowed = {**base, "LLM_ALLOWED_MODELS": "b/two"}
    result = run_settings({**allowed, "LLM_FALLBACK_MODELS": "b/two,c/three"})
    assert "LLM_FALLBACK_MODELS must be in LLM_ALLOWED_MODELS; not listed: c/three." in (
        result.stderr
    )
    result = run_settings({**base, "LLM_FALLBACK_MODELS": "b/two,a/one"})
    assert "LLM_FALLBACK_MODELS lists LLM_MODEL (a/one) itself." in result.stderr
    result = run_settings({**base, "LLM_FALLBACK_MODELS": "b/two,,b/two"})
    assert "LLM_FALLBACK_MODELS has an empty or repeated model name." in result.stderr
    result = run_settings({**base, "LLM_MAX_INFLIGHT": "0"})
    assert "LLM_MAX_INFLIGHT must be a positive whole number" in result.stderr


def test_valid_fallback_models_are_read_in_order():
    env = {
        "SECRET_KEY": "x",
        "LLM_ALLOWED_MODELS": "c/three,b/two",
        "LLM_FALLBACK_MODELS": " b/two , c/three",
        "LLM_MAX_INFLIGHT": "4",
    }
    code = "import prism.settings as s; print(s.LLM_FALLBACK_MODELS, s.LLM_MAX_INFLIGHT)"
    result = run_python("-c", code, env=env)
    assert result.stdout.strip() == "['b/two', 'c/three'] 4", result.stderr


def test_celery_reads_every_celery_setting_under_its_own_name(settings):
    from prism.celery import app

    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    sweep = app.conf.beat_schedule["sweep-stale-analyses"]
    assert sweep["schedule"] == float(settings.SWEEP_INTERVAL_SECONDS)
    assert app.conf.task_publish_retry_policy["max_retries"] == 2


def test_a_credential_with_a_trailing_newline_refuses_to_start_without_echoing_it():
    token = "ghp_pastedWithItsNewline0000000000000000"
    result = run_settings({"SECRET_KEY": "x", "GITHUB_TOKEN": token + "\n"})
    assert result.returncode != 0
    assert "GITHUB_TOKEN contains whitespace" in result.stderr
    assert token not in result.stderr


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python("manage.py", *args, env=env)


def test_the_example_files_placeholder_secrets_stop_prism_with_how_to_generate_one():
    result = manage(
        "check", SECRET_KEY="change-me", GITHUB_WEBHOOK_SECRET="change-me", DEBUG="false"
    )
    assert result.returncode != 0
    assert "prism.E001" in result.stderr and "SECRET_KEY is a placeholder" in result.stderr
    assert "prism.E002" in result.stderr and "GITHUB_WEBHOOK_SECRET" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr


def test_the_web_server_refuses_to_start_with_a_placeholder_webhook_secret():
    result = run_python(
        "-c",
        "import prism.wsgi",
        env={
            "SECRET_KEY": "a-real-secret-key-for-this-test-only",
            "GITHUB_WEBHOOK_SECRET": "change-me",
        },
    )
    assert result.returncode != 0
    assert "Prism will not start" in result.stderr and "prism.E002" in result.stderr


def test_real_secrets_pass_the_check(tmp_path):
    (tmp_path / "staticfiles.json").write_text("{}")
    result = manage(
        "check",
        SECRET_KEY="k" * 50,
        GITHUB_WEBHOOK_SECRET="w" * 40,
        DEBUG="false",
        STATIC_ROOT=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr


def test_without_collected_static_files_prism_stops_at_startup_saying_so(tmp_path):
    env = {
        "SECRET_KEY": "k" * 50,
        "GITHUB_WEBHOOK_SECRET": "w" * 40,
        "DEBUG": "false",
        "STATIC_ROOT": str(tmp_path / "nothing-collected"),
    }
    # `migrate` must still work (`make run` migrates, then collects the static files).
    assert manage("check", **env).returncode == 0
    served = run_python("-c", "import prism.wsgi", env=env)
    assert served.returncode != 0
    assert "Prism will not start" in served.stderr and "prism.E010" in served.stderr
    assert "collectstatic --noinput" in served.stderr


def test_importing_settings_creates_no_folder(tmp_path):
    # A copy of the package, so BASE_DIR (and its var/) is a folder nobody else uses.
    shutil.copytree(REPO_ROOT / "prism", tmp_path / "prism")
    result = run_python(
        "-c",
        "import prism.settings as s; print(s.BASE_DIR)",
        env={"SECRET_KEY": "x"},
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prism"]


def test_celery_makes_the_filesystem_broker_folders_when_it_is_configured(tmp_path):
    shutil.copytree(REPO_ROOT / "prism", tmp_path / "prism")
    result = run_python(
        "-c",
        "from prism.celery import app; print(app.conf.broker_url)",
        env={"SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "prism.settings"},
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://"
    assert (tmp_path / "var" / "broker" / "queue").is_dir()
    assert (tmp_path / "var" / "broker" / "control").is_dir()


def test_no_broker_folders_are_made_for_redis(tmp_path):
    from prism.celery import make_filesystem_broker_folders

    make_filesystem_broker_folders(
        {
            "broker_url": "redis://127.0.0.1:6379/0",
            "broker_transport_options": {"data_folder_in": str(tmp_path / "queue")},
        }
    )
    assert list(tmp_path.iterdir()) == []


def test_bootstrap_makes_var_for_the_default_sqlite_database(tmp_path, monkeypatch, capsys):
    from prism import bootstrap

    monkeypatch.setattr(bootstrap, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(bootstrap, "VAR_DIR", tmp_path / "var")
    bootstrap.main("8123")
    assert (tmp_path / "var").is_dir()
    assert "GITHUB_WEBHOOK_SECRET" in (tmp_path / ".env").read_text(encoding="utf-8")


def test_a_web_process_knows_the_review_task_without_importing_the_tasks_module():
    # The webhook publishes through app.tasks[...]: a task registered only in the worker
    # made every delivery fail to publish and wait for the sweep.
    code = (
        "import django; django.setup(); from prism.celery import app; "
        "print('reviews.tasks.review_pull_request' in app.tasks)"
    )
    result = run_python(
        "-c",
        code,
        env={
            "SECRET_KEY": "x",
            "DJANGO_SETTINGS_MODULE": "prism.settings",
            "CELERY_BROKER_URL": "memory://",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
