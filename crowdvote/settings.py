"""CrowdVote settings, all read from the environment.

With no environment at all CrowdVote runs embedded: SQLite (WAL) under ``var/`` and the
in-memory channel layer. ``DATABASE_URL`` and ``REDIS_URL`` switch to the distributed setup.
Every setting is listed in the README's configuration table.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Return the boolean value of an environment variable ("1", "true", "yes", "on")."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Return a comma-separated environment variable as a list of stripped items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("CROWDVOTE_DATA_DIR", BASE_DIR / "var"))
LOG_DIR = Path(os.environ.get("CROWDVOTE_LOG_DIR", BASE_DIR / "logs"))
DEBUG = env_bool("DEBUG")


def _secret_key() -> str:
    """Return ``SECRET_KEY`` from the environment; in DEBUG, a development key kept in a file.

    Outside DEBUG nothing is invented: every machine must share one key (it signs sessions and
    derives pseudonyms), so ``crowdvote.startup`` refuses to start without one.
    """
    configured = os.environ.get("SECRET_KEY")
    if configured:
        return configured
    if not DEBUG:
        return ""
    # Generated once and kept, so sessions and pseudonyms survive restarts.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def env_networks(name: str) -> list[str]:
    """Return a comma-separated list of IP addresses or networks (CIDR), each checked."""
    items = env_list(name, "")
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network (such as 10.0.0.0/8)."
            ) from None
    return items


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# Browser origins allowed to open the GraphQL websocket; clients sending no Origin are allowed.
WEBSOCKET_ALLOWED_ORIGINS = env_list(
    "WEBSOCKET_ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"
)
PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Front ends on other origins (a dev server, a site embedding results) call /graphql with
# bearer tokens; cookies ride along only when CORS_ALLOW_CREDENTIALS is on.
# A websocket whose client reads slower than results come: past this many unread bytes,
# results wait (the newest replacing older ones) and after this many seconds behind it is
# closed with 4408 (schema.outbox).
WEBSOCKET_BACKLOG_BYTES = int(os.environ.get("WEBSOCKET_BACKLOG_BYTES", str(256 * 1024)))
WEBSOCKET_STALL_SECONDS = float(os.environ.get("WEBSOCKET_STALL_SECONDS", "15"))
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", ",".join(WEBSOCKET_ALLOWED_ORIGINS))
CORS_ALLOW_CREDENTIALS = env_bool("CORS_ALLOW_CREDENTIALS")
CORS_URLS_REGEX = r"^/graphql/?$"
CORS_ALLOW_METHODS = ("GET", "OPTIONS", "POST")

# Behind a load balancer: X-Forwarded-For and X-Forwarded-Proto are believed only from these
# peers (crowdvote.proxies), so the client address of rate limits is the visitor's own.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")

# The first app that provides a management command wins: ours come before channels
# (runworker with the sweeper) and strawberry_django (export_schema without arguments).
# crowdvote itself is an app for its `serve` command.
INSTALLED_APPS = [
    "daphne",
    "crowdvote",
    "accounts",
    "democracy",
    "calc",
    "schema",
    "widget",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "strawberry_django",
    "corsheaders",
]
# Benchmarks, the simulator and synthetic seeding (bench_*, simulate, seed_synthetic) come
# with a checkout, not with the installed package.
if importlib.util.find_spec("devtools") is not None:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "crowdvote.proxies.TrustedProxyMiddleware",
    # Early, so that preflights are answered and every /graphql response carries the headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "accounts.csrf.ApiCsrfMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crowdvote.urls"
ASGI_APPLICATION = "crowdvote.asgi.application"
WSGI_APPLICATION = None

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

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# PostgreSQL plans the statements a ballot runs under the decision's lock once per connection
# (core.prepared). Off behind a pooler that moves transactions between sessions (PgBouncer's
# transaction mode), which would lose them.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASE_URL:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    _pool_max = int(os.environ.get("DATABASE_POOL_MAX", "16"))
    if _database["ENGINE"] == "django.db.backends.postgresql" and _pool_max:
        # A pool per process: opening a connection per request (a new server process and
        # its authentication) cost more than the request's own queries. 0 turns it off.
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": _pool_max,
            "timeout": 10,
        }
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Reads timestamps with psycopg's C loader (crowdvote.postgresql).
        _database["ENGINE"] = "crowdvote.postgresql"
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "crowdvote.sqlite3"),
    }
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; IMMEDIATE avoids "database is locked" on
    # read-then-write transactions; crowdvote.sqlite queues this
    # process's writers first come first served.
    _database["ENGINE"] = "crowdvote.sqlite"
    # Kept open by each request thread (crowdvote.handler reuses them): opening a file and
    # running the pragmas again for every request, and closing it after, cost a fifth of a
    # ballot's CPU.
    _database["CONN_MAX_AGE"] = None
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: the shared-cache in-memory database refuses concurrent writers
    # ("database table is locked") where the worker's threads need to wait their turn.
    # A fresh name per run: runs side by side never share one, and a stale -wal file left by
    # an earlier run is never replayed into a new database.
    _test_name = f"test-{os.getpid()}-{secrets.token_hex(4)}.sqlite3"
    _database["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_NAME") or str(DATA_DIR / _test_name)}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults (5 s socket timeout, 100 connections) break the layer's
                # blocking receive (5 s) and large fan-outs; the timeouts stay finite so an
                # unreachable Redis is an outage to ride out, never a hang
                # (docs/running-on-several-machines.md).
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "socket_connect_timeout": 2,
                        "max_connections": 10_000,
                    }
                ],
                "capacity": 1_000,
                "group_expiry": 86_400,
                "prefix": os.environ.get("REDIS_PREFIX", "crowdvote"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "CrowdVote <noreply@localhost>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "accounts.csrf.csrf_failure"

# Sign-in
MAGIC_LINK_TTL_SECONDS = int(os.environ.get("MAGIC_LINK_TTL_SECONDS", "900"))
MAGIC_LINK_MAX_PER_ADDRESS = int(os.environ.get("MAGIC_LINK_MAX_PER_ADDRESS", "5"))
MAGIC_LINK_MAX_PER_IP = int(os.environ.get("MAGIC_LINK_MAX_PER_IP", "20"))
MAGIC_LINK_RATE_WINDOW_SECONDS = int(os.environ.get("MAGIC_LINK_RATE_WINDOW_SECONDS", "900"))

# GraphQL
GRAPHIQL_ENABLED = env_bool("GRAPHIQL", DEBUG)
GRAPHQL_MAX_DEPTH = int(os.environ.get("GRAPHQL_MAX_DEPTH", "12"))
GRAPHQL_MAX_ALIASES = int(os.environ.get("GRAPHQL_MAX_ALIASES", "30"))
GRAPHQL_MAX_PAGE_SIZE = int(os.environ.get("GRAPHQL_MAX_PAGE_SIZE", "100"))
GRAPHQL_MAX_TOKENS = int(os.environ.get("GRAPHQL_MAX_TOKENS", "2000"))
GRAPHQL_MAX_COST = int(os.environ.get("GRAPHQL_MAX_COST", "20000"))
# The parser and validation caches keep documents: a comment costs no token but bytes.
GRAPHQL_MAX_DOCUMENT_BYTES = int(os.environ.get("GRAPHQL_MAX_DOCUMENT_BYTES", "65536"))
# Coercing a variable's list costs per item, before any resolver can refuse it; no input
# of this API holds more than 50.
GRAPHQL_MAX_LIST_ITEMS = int(os.environ.get("GRAPHQL_MAX_LIST_ITEMS", "100"))
STRAWBERRY_DJANGO = {
    "MUTATIONS_DEFAULT_HANDLE_ERRORS": False,
    "PAGINATION_DEFAULT_LIMIT": GRAPHQL_MAX_PAGE_SIZE,
}

# Recalculation (calc.queue and calc.worker)
CALC_DEBOUNCE_MS = int(os.environ.get("CALC_DEBOUNCE_MS", "50"))
# In a storm of changes, the share of the time a decision's calculations may take.
CALC_STORM_SHARE = float(os.environ.get("CALC_STORM_SHARE", "0.25"))
if not 0 < CALC_STORM_SHARE <= 1:
    raise ImproperlyConfigured(
        f"CALC_STORM_SHARE must be above 0 and at most 1 (a share of the time), "
        f"not {CALC_STORM_SHARE}"
    )
# In a storm, the least time between the starts of a decision's calculations.
CALC_STORM_INTERVAL_MS = int(os.environ.get("CALC_STORM_INTERVAL_MS", "250"))
if CALC_STORM_INTERVAL_MS < 0:
    raise ImproperlyConfigured(
        f"CALC_STORM_INTERVAL_MS must be 0 or more (milliseconds), not {CALC_STORM_INTERVAL_MS}"
    )
CALC_MAX_CONCURRENT = int(os.environ.get("CALC_MAX_CONCURRENT", "2"))
# A short lease that a heartbeat renews while the calculation runs: a killed worker's
# decision is taken over by another within lease + sweep seconds.
CALC_LEASE_SECONDS = float(os.environ.get("CALC_LEASE_SECONDS", "6"))
CALC_HEARTBEAT_SECONDS = float(os.environ.get("CALC_HEARTBEAT_SECONDS", "2"))
CALC_RETRY_LIMIT = int(os.environ.get("CALC_RETRY_LIMIT", "5"))
CALC_RETRY_BACKOFF_SECONDS = float(os.environ.get("CALC_RETRY_BACKOFF_SECONDS", "2"))
CALC_SWEEP_SECONDS = float(os.environ.get("CALC_SWEEP_SECONDS", "2"))
CALC_RETENTION_DAYS = int(os.environ.get("CALC_RETENTION_DAYS", "30"))
# Incremental recalculation (calc.kept): members of the decisions whose state a worker keeps
# between calculations (0: read every decision whole each time), and how many snapshots
# in a row are stored as what changed before one is stored whole again.
CALC_KEPT_MEMBERS = int(os.environ.get("CALC_KEPT_MEMBERS", "2000000"))
CALC_SNAPSHOT_CHAIN = int(os.environ.get("CALC_SNAPSHOT_CHAIN", "64"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "event": {
            "()": "core.logs.EventFormatter",
            "datefmt": "%Y-%m-%d %H:%M:%S",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "event"},
        "file": {
            "()": "core.logs.daily_file_handler",
            "directory": str(LOG_DIR),
            "formatter": "event",
        },
    },
    "loggers": {
        "crowdvote": {
            "handlers": ["console", "file"],
            "level": os.environ.get("LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        "django": {"handlers": ["console", "file"], "level": "WARNING"},
        # Unexpected GraphQL errors, with their traceback (schema.error_log).
        "strawberry": {"handlers": ["console", "file"], "level": "WARNING", "propagate": False},
    },
}
