"""The deployment files: Dockerfile, docker-compose.yml and the GitHub Actions workflow.

No database and no Docker engine: compose only validates and resolves its file
(`docker compose config`), and the Dockerfile and workflow are read as text.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "prism.conf.template"

APP_SERVICES = ("web", "worker", "beat")


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    return result.returncode == 0


needs_compose = pytest.mark.skipif(
    not _compose_available(), reason="needs the docker CLI with the compose plugin"
)


POSTGRES_PASSWORD = "s3cretFromDotenv42"


def _compose(folder: Path, dotenv: str | None) -> subprocess.CompletedProcess:
    """`docker compose config` on a copy of the file, with `dotenv` as the `.env` beside it.

    A copy in an empty folder keeps the result independent of whatever `.env` the
    developer has in the repository root.
    """
    shutil.copy(COMPOSE_FILE, folder / "docker-compose.yml")
    if dotenv is not None:
        (folder / ".env").write_text(dotenv)
    return subprocess.run(
        ["docker", "compose", "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=folder,
        # Only the .env under test configures compose, never the test run's environment.
        env={key: value for key, value in os.environ.items() if key != "POSTGRES_PASSWORD"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module", params=["minimal .env", "full .env"])
def compose_config(request, tmp_path_factory) -> dict:
    dotenv = f"POSTGRES_PASSWORD={POSTGRES_PASSWORD}\n"
    if request.param == "full .env":
        dotenv += "DATABASE_URL=sqlite:////tmp/from-dotenv.sqlite3\nLOG_LEVEL=DEBUG\n"
        dotenv += "BEHIND_PROXY=false\n"
    result = _compose(tmp_path_factory.mktemp("compose"), dotenv)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_compose
@pytest.mark.parametrize("dotenv", [None, "LOG_LEVEL=DEBUG\n", "POSTGRES_PASSWORD=\n"])
def test_compose_refuses_to_start_without_a_postgres_password_from_env(tmp_path, dotenv):
    result = _compose(tmp_path, dotenv)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


def test_no_password_is_written_in_the_compose_file():
    text = COMPOSE_FILE.read_text()
    assert "prism:prism@" not in text
    assert re.search(r"POSTGRES_PASSWORD:\s*\$\{POSTGRES_PASSWORD:\?", text)


@needs_compose
def test_compose_defines_the_app_the_database_the_broker_and_a_migration_step(compose_config):
    assert set(compose_config["services"]) == {
        "web",
        "worker",
        "beat",
        "migrate",
        "postgres",
        "redis",
        "nginx",
    }
    assert compose_config["services"]["postgres"]["image"] == "postgres:16"
    assert compose_config["services"]["redis"]["image"] == "redis:7"


@needs_compose
def test_web_worker_beat_and_migrate_run_the_same_build(compose_config):
    services = [compose_config["services"][name] for name in (*APP_SERVICES, "migrate")]
    builds = {json.dumps(service["build"], sort_keys=True) for service in services}
    images = {service["image"] for service in services}
    assert len(builds) == 1
    assert len(images) == 1


@needs_compose
def test_the_app_waits_for_healthy_servers_and_finished_migrations(compose_config):
    services = compose_config["services"]
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


@needs_compose
def test_the_servers_and_the_web_app_have_healthchecks(compose_config):
    services = compose_config["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    # The image's probe targets the web server, which beat does not run.
    assert services["beat"]["healthcheck"]["disable"] is True


@needs_compose
def test_postgres_keeps_its_data_in_a_named_volume(compose_config):
    assert "pgdata" in compose_config["volumes"]
    mounts = compose_config["services"]["postgres"]["volumes"]
    assert {"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"} in [
        {key: mount[key] for key in ("type", "source", "target")} for mount in mounts
    ]


@needs_compose
def test_compose_points_the_app_at_its_own_servers_whatever_env_says(compose_config):
    database_url = f"postgres://prism:{POSTGRES_PASSWORD}@postgres:5432/prism"
    for name in (*APP_SERVICES, "migrate"):
        environment = compose_config["services"][name]["environment"]
        assert environment["DATABASE_URL"] == database_url
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        # Behind nginx, which sets X-Forwarded-Proto: the HTTPS checks rely on it.
        assert environment["BEHIND_PROXY"] == "true"
    postgres = compose_config["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == POSTGRES_PASSWORD


@needs_compose
def test_only_nginx_publishes_ports_and_gunicorn_stays_internal(compose_config):
    services = compose_config["services"]
    assert sorted((p["target"], p["published"]) for p in services["nginx"]["ports"]) == [
        (80, "80"),
        (443, "443"),
    ]
    for name in ("web", "worker", "beat", "migrate", "postgres", "redis"):
        assert "ports" not in services[name], name
        assert "container_name" not in services[name], name
    assert services["web"]["expose"] == ["8000"]
    assert services["worker"]["command"] == ["celery", "-A", "prism", "worker", "-l", "info"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "prism", "beat"]


@needs_compose
def test_nginx_is_the_official_image_with_the_repositorys_config(compose_config):
    nginx = compose_config["services"]["nginx"]
    image, _, tag = nginx["image"].partition(":")
    assert image == "nginx"
    assert re.fullmatch(r"\d+\.\d+\.\d+(-alpine)?", tag), "pin a full version"
    mounts = {mount["target"]: mount for mount in nginx["volumes"]}
    template = mounts["/etc/nginx/templates/default.conf.template"]
    assert Path(template["source"]).name == NGINX_TEMPLATE.name
    assert template["read_only"] is True
    assert mounts["/etc/nginx/tls"]["read_only"] is True
    assert nginx["environment"]["PRISM_UPSTREAM"] == "web:8000"
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    # Every variable the template uses is given, so nothing is left unsubstituted.
    assert set(re.findall(r"\$\{(\w+)\}", NGINX_TEMPLATE.read_text())) <= set(nginx["environment"])


def _nginx_directives() -> list[tuple[str, str]]:
    directives = []
    for raw in NGINX_TEMPLATE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.endswith(";"):
            name, _, value = line[:-1].partition(" ")
            directives.append((name, value.strip()))
    return directives


def test_nginx_buffers_requests_times_out_slow_clients_and_caps_bodies_at_25mb():
    directives = _nginx_directives()
    assert ("proxy_request_buffering", "on") in directives
    assert ("proxy_buffering", "on") in directives
    assert ("client_max_body_size", "25m") in directives
    for name in ("client_header_timeout", "client_body_timeout"):
        values = [int(value.rstrip("s")) for found, value in directives if found == name]
        assert values and max(values) <= 15, name
    assert ("proxy_pass", "http://prism_web") in directives
    assert ("server", "${PRISM_UPSTREAM}") in directives


def test_nginx_sets_the_forwarded_headers_itself_and_terminates_tls():
    directives = _nginx_directives()
    headers = {
        value.split()[0]: value.split(None, 1)[1]
        for name, value in directives
        if name == "proxy_set_header"
    }
    # Overwritten, never taken from the client: BEHIND_PROXY trusts X-Forwarded-Proto.
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["Host"] == "$host"
    assert ("listen", "${NGINX_HTTPS_PORT} ssl") in directives
    assert ("return", "301 https://$host$request_uri") in directives
    assert ("server_tokens", "off") in directives


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _index(instructions, keyword: str, containing: str = "") -> int:
    for position, (found, arguments) in enumerate(instructions):
        if found == keyword and containing in arguments:
            return position
    raise AssertionError(f"no {keyword} {containing!r} in the Dockerfile")


def test_the_image_is_python_3_12_slim():
    assert _dockerfile_instructions()[0] == ("FROM", "python:3.12-slim")


def test_requirements_are_installed_before_the_source_is_copied():
    instructions = _dockerfile_instructions()
    requirements = _index(instructions, "COPY", "requirements.txt")
    install = _index(instructions, "RUN", "pip install -r requirements.txt")
    source = _index(instructions, "COPY", ". .")
    assert requirements < install < source


def test_the_image_runs_as_a_non_root_user():
    instructions = _dockerfile_instructions()
    user = _index(instructions, "USER")
    assert instructions[user][1] not in {"root", "0"}
    assert user < _index(instructions, "CMD")
    assert "--uid 10001" in instructions[_index(instructions, "RUN", "useradd")][1]


def test_static_files_are_collected_with_a_build_only_secret_key():
    instructions = _dockerfile_instructions()
    collectstatic = instructions[_index(instructions, "RUN", "collectstatic --noinput")][1]
    assert collectstatic.startswith("SECRET_KEY=build-only DEBUG=false ")
    env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
    assert "SECRET_KEY" not in env
    assert "ARG" not in {keyword for keyword, _ in instructions}


def test_the_image_serves_gunicorn_on_port_8000_with_a_healthcheck():
    instructions = _dockerfile_instructions()
    assert ("EXPOSE", "8000") in instructions
    healthcheck = instructions[_index(instructions, "HEALTHCHECK")][1]
    assert "urllib.request" in healthcheck
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    command = json.loads(instructions[_index(instructions, "CMD")][1])
    assert command[:2] == ["gunicorn", "prism.wsgi:application"]
    assert "0.0.0.0:8000" in command
    assert command[command.index("--access-logfile") + 1] == "-"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_ci_runs_on_pushes_and_pull_requests():
    workflow = _workflow()
    # YAML 1.1 reads a bare `on` key as True.
    triggers = workflow.get("on", workflow.get(True))
    assert triggers is not None
    assert {"push", "pull_request"} <= set(triggers)


def test_ci_tests_against_postgres_and_redis_service_containers():
    test_job = _workflow()["jobs"]["test"]
    services = test_job["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["env"]["POSTGRES_DB"] == "test"
    assert "pg_isready" in services["postgres"]["options"]
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["redis"]["image"] == "redis:7"
    assert "redis-cli ping" in services["redis"]["options"]
    assert services["redis"]["ports"] == ["6379:6379"]


def test_ci_runs_make_test_with_the_service_urls_and_only_this_repository():
    steps = _workflow()["jobs"]["test"]["steps"]
    runs = [step for step in steps if step.get("run") == "make test"]
    assert len(runs) == 1
    env = runs[0]["env"]
    assert env["DATABASE_URL"] == "postgres://postgres:postgres@localhost:5432/test"
    assert env["CELERY_BROKER_URL"] == "redis://localhost:6379/0"
    assert env["CI"] == "true"
    # The tests carry their fixtures (tests/fixtures/github/): one checkout, of this repository.
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout")]
    assert checkouts == [{"uses": "actions/checkout@v4"}]
    assert steps.index(checkouts[0]) < steps.index(runs[0])
    assert not any("../" in step.get("run", "") for step in steps)


def test_ci_lints_with_ruff_check_and_format():
    runs = " ".join(step.get("run", "") for step in _workflow()["jobs"]["lint"]["steps"])
    assert "ruff check" in runs
    assert "ruff format --check" in runs


def test_web_and_every_worker_share_one_in_memory_metrics_folder():
    """GET /metrics sums the files every process writes there (README, "Metrics and logs")."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    folder = compose["x-prism"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("web", "worker"):
        assert f"metrics:{folder}" in compose["services"][name]["volumes"], name
    options = compose["volumes"]["metrics"]["driver_opts"]
    assert options["type"] == "tmpfs"
    # Owned by the image's user, who must write there.
    assert "uid=10001" in options["o"]
    install = _dockerfile_instructions()[_index(_dockerfile_instructions(), "RUN", "useradd")][1]
    assert folder in install
    assert (REPO_ROOT / "gunicorn.conf.py").is_file()  # read by gunicorn from /app
