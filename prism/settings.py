"""Prism settings: the only module that reads the environment.

Every setting comes from an environment variable (or a `.env` file beside manage.py).
With nothing configured Prism runs on SQLite and kombu's filesystem broker under `var/`,
so a bare laptop needs no servers. Secrets have no production fallbacks: a missing
SECRET_KEY with DEBUG off stops Prism at startup.

Importing this module creates no folders: `python -m prism.bootstrap` (the first
step of `make run`) creates `var/`, and the Celery app creates the filesystem broker's
folders when it is configured (prism/celery.py).
"""

import json
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# What the environment itself holds, before .env adds to it (PROMETHEUS_MULTIPROC_DIR below).
_ENVIRONMENT = frozenset(os.environ)
# Values already in the environment win over the file.
ENV_FILE = Path(env.str("PRISM_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    env.read_env(ENV_FILE)


def _positive_int(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive whole number, got {value}.")
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def _credential(name: str) -> str:
    """A secret setting, refused when it holds whitespace: a token pasted with its trailing
    newline fails every call, and ends up quoted in errors that are stored and logged."""
    value = env.str(name, default="")
    if any(character.isspace() for character in value):
        raise ImproperlyConfigured(
            f"{name} contains whitespace (a trailing newline or space?); set it to the bare value."
        )
    return value


def _private_key(name: str, file_name: str) -> str:
    """A PEM private key given inline (with `\\n` for newlines, as one env line must) or as a
    file path. Errors name the setting, never the key."""
    inline = env.str(name, default="").strip()
    path = env.str(file_name, default="").strip()
    if inline and path:
        raise ImproperlyConfigured(f"Set {name} or {file_name}, not both.")
    if path:
        try:
            inline = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfigured(
                f"{file_name} cannot be read ({type(exc).__name__}): {path}"
            ) from exc
    key = inline.replace("\\n", "\n")
    if key and not (key.startswith("-----BEGIN") and "PRIVATE KEY-----" in key):
        raise ImproperlyConfigured(
            f"{name} is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)."
        )
    return key + "\n" if key else ""


def _dollars(name: str) -> Decimal | None:
    """An amount of US dollars, or None when unset; refused when negative or not a number."""
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(
            f"{name} must be an amount of dollars, e.g. 5.00; got {raw!r}."
        ) from exc
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more dollars; got {raw!r}.")
    return value


def _prices(name: str) -> dict[str, dict[str, Decimal]]:
    """Model -> {"input": $, "output": $} per million tokens, from a JSON object."""
    raw = env.str(name, default="").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from exc
    example = '{"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6}}'
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}.")
    prices = {}
    for model, price in data.items():
        if not (
            isinstance(price, dict)
            and set(price) == {"input", "output"}
            and all(isinstance(v, Decimal) and v.is_finite() and v >= 0 for v in price.values())
        ):
            raise ImproperlyConfigured(
                f"{name}[{model!r}] must give dollars per million tokens as "
                '{"input": <number>, "output": <number>}, both 0 or more.'
            )
        prices[str(model).strip()] = {"input": price["input"], "output": price["output"]}
    return prices


DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env "
            "(`make run` writes one), or set DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105

# Loopback names stay allowed so the container health check (which probes
# http://127.0.0.1:8000/healthz) works whatever public host name is configured.
ALLOWED_HOSTS = [*env.list("ALLOWED_HOSTS", default=[]), "localhost", "127.0.0.1", "[::1]"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS ----------------------------------------------------------------------------
# Production is HTTPS-only unless said otherwise: with DEBUG off, plain-HTTP requests are
# redirected, cookies are sent only over HTTPS, and browsers are told (HSTS) never to use
# plain HTTP again. `make run` serves http://localhost, so prism/bootstrap.py writes the
# plain-HTTP values into the .env it generates.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The container health check probes gunicorn over plain HTTP on loopback: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"SECURE_HSTS_SECONDS must be 0 or more, got {SECURE_HSTS_SECONDS}.")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Behind the compose stack's nginx (deploy/nginx/prism.conf.template), which terminates TLS
# and sets X-Forwarded-Proto itself: trust that header to tell HTTPS requests apart. Only
# where gunicorn is unreachable except through that proxy, or any client could claim HTTPS.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Preload is an opt-in: with it in the header anyone may submit the domain to the browsers'
# preload lists, which takes months to undo. So check --deploy's nudge towards it is
# silenced while it is off, deliberately, and only that one.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "prism.urls"
WSGI_APPLICATION = "prism.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'prism.sqlite3'}"),
}
# Persistent connections: opening a PostgreSQL connection costs more than the whole
# webhook request; health checks drop connections the server closed meanwhile.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=600))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to one file; wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts the admin's files (the image collects them when it is built).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# GitHub caps webhook payloads at 25 MB; only the webhook view reads bodies that large
# (it applies this limit itself). Everything else keeps Django's 2.5 MB default.
GITHUB_WEBHOOK_MAX_BYTES = 25 * 1024 * 1024

# The API throttle counts requests per user here, so with several web workers it needs a
# shared cache: set CACHE_URL (redis://host:6379/1) in production.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1000/hour").strip()
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE must look like 1000/hour (per second, minute, hour or day); "
        f"got {API_THROTTLE_RATE!r}."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Knox first: DRF takes the WWW-Authenticate header from the first class, and only
        # with one does it answer 401 (not 403) to a request without credentials.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["reviews.api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# API tokens are stored hashed (SHA-512); the key is shown once by `create_api_token`.
# They never expire unless created with --expires-days; delete one in the admin to revoke it.
REST_KNOX = {"TOKEN_TTL": None, "TOKEN_PREFIX": "prism_", "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "Prism API",
    "DESCRIPTION": "Browse pull request reviews and re-run them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Like the rest of the API: log in to the admin (or send a token) to read the docs.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The schema describes /api/ only; the webhook is GitHub's contract, not ours.
    "PREPROCESSING_HOOKS": ["reviews.api.views.only_api_endpoints"],
    # Swagger UI from the sidecar package: self-hosted Prism may have no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a `status` with other choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "AnalysisStatusEnum": "reviews.models.Analysis.Status",
        "CommandStatusEnum": "reviews.models.Command.Status",
    },
}

# text: one readable line per record (`make run`); json: one JSON object per line carrying the
# review's analysis id, delivery id, repository and PR number (reviews/logs.py).
LOG_FORMAT = _choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "reviews.logs.JsonFormatter"},
    },
    "filters": {
        "context": {"()": "reviews.logs.ContextFilter"},
        "credentials": {"()": "reviews.scrub.CredentialFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context", "credentials"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs full URLs at DEBUG; keep it quiet so nothing sensitive leaks.
        "urllib3": {"level": "WARNING"},
        # Django's own console handler (DEBUG only) would write its lines a second time, as
        # plain text and unscrubbed: they reach the handler above through the root logger.
        "django": {"handlers": [], "level": "INFO"},
    },
}

# Where this Prism is reachable (https://prism.example.com): sent to OpenRouter as the
# app's referrer, and used for links back to the admin. Empty: no such links are made.
PRISM_PUBLIC_URL = env.str("PRISM_PUBLIC_URL", default="").rstrip("/")

# --- Metrics --------------------------------------------------------------------------
# GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (403).
METRICS_TOKEN = _credential("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters long.")
# prometheus-client's multiprocess folder, shared by gunicorn and the Celery workers
# (reviews/metrics_files.py). prometheus-client and gunicorn's master read the variable
# themselves before .env is read, so it must be set in the environment itself.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR and "PROMETHEUS_MULTIPROC_DIR" not in _ENVIRONMENT:
    raise ImproperlyConfigured(
        "PROMETHEUS_MULTIPROC_DIR is set in .env only: set it in the environment of gunicorn "
        "and the Celery worker (compose and `make run` do), which read it before .env."
    )
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_absolute():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR must be an absolute path, got {PROMETHEUS_MULTIPROC_DIR!r}."
    )

# --- GitHub ---------------------------------------------------------------------------
GITHUB_WEBHOOK_SECRET = _credential("GITHUB_WEBHOOK_SECRET")
GITHUB_TOKEN = _credential("GITHUB_TOKEN")
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com").rstrip("/")
GITHUB_TIMEOUT_SECONDS = env.float("GITHUB_TIMEOUT_SECONDS", default=20.0)
# Content-creating requests per token (docs/github-facts.md L3, L4; reviews/github/pacing.py).
GITHUB_WRITES_PER_MINUTE = _positive_int("GITHUB_WRITES_PER_MINUTE", 80)
GITHUB_WRITES_PER_HOUR = _positive_int("GITHUB_WRITES_PER_HOUR", 500)
GITHUB_WRITE_INTERVAL_SECONDS = env.float("GITHUB_WRITE_INTERVAL_SECONDS", default=0.75)
if GITHUB_WRITE_INTERVAL_SECONDS < 0:
    raise ImproperlyConfigured("GITHUB_WRITE_INTERVAL_SECONDS must be 0 or more seconds.")

# --- GitHub App mode (README "GitHub App mode") ----------------------------------------
# With GITHUB_APP_ID and a private key set Prism acts as a GitHub App: each review uses its
# installation's token, and only installed, enabled repositories are reviewed. Unset, it
# acts with GITHUB_TOKEN as before. The key is read here and never logged or shown.
GITHUB_APP_ID = env.str("GITHUB_APP_ID", default="").strip()
if GITHUB_APP_ID and not GITHUB_APP_ID.isdigit():
    raise ImproperlyConfigured(
        f"GITHUB_APP_ID must be the App's numeric id, got {GITHUB_APP_ID!r}."
    )
GITHUB_APP_PRIVATE_KEY = _private_key("GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_FILE")
if bool(GITHUB_APP_ID) != bool(GITHUB_APP_PRIVATE_KEY):
    raise ImproperlyConfigured(
        "GitHub App mode needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY "
        "(or GITHUB_APP_PRIVATE_KEY_FILE); set both, or neither for personal-token mode."
    )
# A repository added to an installation is reviewed at once (true) or waits for an
# operator to enable it in the admin (false).
AUTO_ENABLE_NEW_REPOS = env.bool("AUTO_ENABLE_NEW_REPOS", default=True)

# --- LLM (any OpenAI-compatible chat-completions server) ------------------------------
LLM_BASE_URL = env.str("LLM_BASE_URL", default="https://openrouter.ai/api/v1").rstrip("/")
LLM_API_KEY = _credential("LLM_API_KEY") or _credential("OPENROUTER_API_KEY")
LLM_MODEL = env.str("LLM_MODEL", default="openai/gpt-4o-mini")
LLM_RESPONSE_FORMAT = _choice(
    "LLM_RESPONSE_FORMAT", "json_schema", ("json_schema", "json_object", "none")
)
LLM_MAX_PROMPT_TOKENS = _positive_int("LLM_MAX_PROMPT_TOKENS", 24_000)
LLM_MAX_OUTPUT_TOKENS = _positive_int("LLM_MAX_OUTPUT_TOKENS", 4_000)
LLM_CONCURRENCY = _positive_int("LLM_CONCURRENCY", 8)
LLM_MAX_CALLS = _positive_int("LLM_MAX_CALLS", 20)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.1)
LLM_READ_TIMEOUT_SECONDS = env.float("LLM_READ_TIMEOUT_SECONDS", default=180.0)
# Models a repository's policy file may choose instead of LLM_MODEL; any other is refused
# (with the reason in the comment), so a repository cannot run up the operator's bill.
LLM_ALLOWED_MODELS = [name.strip() for name in env.list("LLM_ALLOWED_MODELS", default=[])]
# Asked in order for a chunk when the model before stays unavailable (429, 5xx, timeouts)
# after its retries; a repository's chosen model is followed by these too.
LLM_FALLBACK_MODELS = [name.strip() for name in env.list("LLM_FALLBACK_MODELS", default=[])]
if "" in LLM_FALLBACK_MODELS or len(set(LLM_FALLBACK_MODELS)) < len(LLM_FALLBACK_MODELS):
    raise ImproperlyConfigured("LLM_FALLBACK_MODELS has an empty or repeated model name.")
if LLM_MODEL in LLM_FALLBACK_MODELS:
    raise ImproperlyConfigured(f"LLM_FALLBACK_MODELS lists LLM_MODEL ({LLM_MODEL}) itself.")
if LLM_ALLOWED_MODELS and (_unlisted := set(LLM_FALLBACK_MODELS) - set(LLM_ALLOWED_MODELS)):
    raise ImproperlyConfigured(
        "LLM_FALLBACK_MODELS must be in LLM_ALLOWED_MODELS; not listed: "
        f"{', '.join(sorted(_unlisted))}."
    )
# Model calls in flight at once in one worker process, whatever review makes them (a
# provider's concurrency limit), and how long a call may wait for one of them.
LLM_MAX_INFLIGHT = _positive_int("LLM_MAX_INFLIGHT", 32)
LLM_INFLIGHT_WAIT_SECONDS = _positive_int("LLM_INFLIGHT_WAIT_SECONDS", 120)

# --- Money (README "Budgets") ----------------------------------------------------------
# Dollars per million tokens, per model: {"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6}}.
# Prices each review before its first model call (against the budgets) and its cost when
# the provider reports none.
LLM_PRICES = _prices("LLM_PRICES")
# A daily cap on what every repository's reviews together may spend (UTC days); empty: none.
BUDGET_DAILY_USD = _dollars("BUDGET_DAILY_USD")

# --- Review behaviour -----------------------------------------------------------------
IGNORE_PATHS = env.list("IGNORE_PATHS", default=[])
# Read each repository's .github/prism.yml (else .prism.yml) from its default branch; off:
# every repository is reviewed under these settings alone.
REPO_POLICY = env.bool("REPO_POLICY", default=True)
REVIEW_LEASE_SECONDS = _positive_int("REVIEW_LEASE_SECONDS", 900)
REVIEW_MAX_ATTEMPTS = _positive_int("REVIEW_MAX_ATTEMPTS", 3)
# A push to a reviewed pull request: review only what its new commits changed (falling back
# to a full review when that is not safe), everything again, or nothing.
REVIEW_ON_PUSH = _choice("REVIEW_ON_PUSH", "incremental", ("incremental", "full", "off"))
SWEEP_INTERVAL_SECONDS = _positive_int("SWEEP_INTERVAL_SECONDS", 60)
# Publishing to one pull request's comment is leased, never locked across a GitHub call: the
# lease is renewed before every call, so it only has to outlast one (retries included), and
# a second publisher waits at most PUBLISH_WAIT_SECONDS before recording `comment_error`.
PUBLISH_LEASE_SECONDS = _positive_int("PUBLISH_LEASE_SECONDS", 300)
PUBLISH_WAIT_SECONDS = _positive_int("PUBLISH_WAIT_SECONDS", 30)
POST_INLINE_COMMENTS = env.bool("POST_INLINE_COMMENTS", default=True)
# The commit status prism/review: always in personal-token mode; in App mode the check run
# (below) says the same with annotations, so the status is off unless asked for.
POST_COMMIT_STATUS = env.bool("POST_COMMIT_STATUS", default=not GITHUB_APP_ID)
# App mode only (GitHub lets only Apps create check runs): the "Prism review" check run with
# one annotation per anchored finding and a "Re-run review" button.
POST_CHECK_RUNS = env.bool("POST_CHECK_RUNS", default=True)
SEVERITIES = ("low", "medium", "high", "critical")
INLINE_MIN_SEVERITY = _choice("INLINE_MIN_SEVERITY", "medium", SEVERITIES)
FAIL_ON_SEVERITY = _choice("FAIL_ON_SEVERITY", "never", ("never", *SEVERITIES))
# Commands on pull requests (`@prism review`, README "Talk to Prism"): the name they address
# (the App's slug once App mode exists), and the manual reviews and questions one pull
# request may ask for.
# Empty: `prism`, and in App mode the App's slug too (reviews/commands/names.py).
PRISM_BOT_NAME = env.str("PRISM_BOT_NAME", default="").strip().lstrip("@")
if PRISM_BOT_NAME and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*(\[bot\])?", PRISM_BOT_NAME):
    raise ImproperlyConfigured(
        f"PRISM_BOT_NAME must be a GitHub login (letters, digits, hyphens); got {PRISM_BOT_NAME!r}."
    )
MANUAL_RUNS_PER_PR = _positive_int("MANUAL_RUNS_PER_PR", 10)

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # filesystem:// keeps its folders in var/broker; filesystem:///some/path puts them there.
    _broker_path = CELERY_BROKER_URL.removeprefix("filesystem://")
    _broker_dir = Path(_broker_path) if _broker_path.startswith("/") else VAR_DIR / "broker"
    # The folders are made when Celery is configured: see prism/celery.py.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for both directions: producers and consumers meet there.
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # Threads (as everywhere, below), never prefork: on this transport a SIGKILLed prefork
    # child can wedge the whole worker for good (the evidence is in prism/celery.py).
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A reserved but unacknowledged task returns to the queue after this long if its
        # worker vanished; the sweep usually recovers such reviews much sooner.
        "visibility_timeout": REVIEW_LEASE_SECONDS * 2,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
# Reviews wait on the model and GitHub, so the worker runs them on threads: many in flight in
# one process (prism/celery.py has the measurements). SQLite serialises its writers: fewer.
# A setting, because Celery lets a configured pool win over `worker --pool prefork`.
WORKER_POOL = _choice("WORKER_POOL", "threads", ("threads", "prefork"))
if WORKER_POOL == "prefork" and CELERY_BROKER_URL.startswith("filesystem://"):
    raise ImproperlyConfigured(
        "WORKER_POOL=prefork needs CELERY_BROKER_URL=redis://…: on the filesystem broker a "
        "killed prefork child can stop the worker for good (prism/celery.py)."
    )
CELERY_WORKER_POOL = WORKER_POOL
WORKER_CONCURRENCY = _positive_int(
    "WORKER_CONCURRENCY",
    2 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 32,
)
CELERY_WORKER_CONCURRENCY = WORKER_CONCURRENCY
# The write windows of every GitHub token, shared by all processes: the cache's Redis, else
# the broker's; neither (the embedded defaults): each process paces its own writes.
GITHUB_PACING_REDIS_URL = next(
    (
        url
        for url in (env.str("CACHE_URL", default=""), CELERY_BROKER_URL)
        if url.startswith(("redis://", "rediss://"))
    ),
    "",
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A webhook must answer within GitHub's 10 seconds even with the broker down: give up
# publishing quickly; the row is committed and the sweep dispatches it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-analyses": {
        "task": "reviews.tasks.sweep_stale_analyses",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
}
