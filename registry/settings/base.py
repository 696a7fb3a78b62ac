"""Base settings, read from the environment (django-environ).

The embedded default — no environment at all besides ``DEBUG=true`` — runs on a SQLite file in the project
folder with Celery tasks executed in-process. Setting ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switches to
PostgreSQL and Redis. Anything that would be unsafe is loud: without ``DEBUG`` a ``SECRET_KEY`` is required.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required unless DEBUG=true. Set it in the environment or in .env "
            "(`make run` writes a development .env with a random key)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-true"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "registry.apps.RegistryConfig",
    "patients.apps.PatientsConfig",
    "dosing.apps.DosingConfig",
    "outcomes.apps.OutcomesConfig",
    "adverse_events.apps.AdverseEventsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that static files carry the CSP and the other headers too.
    "registry.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database outage raised by a view is a 503 (registry.resilience; handler500 covers the rest).
    "registry.resilience.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Idle and absolute session expiry, then the two-factor gate (registry.middleware).
    "registry.middleware.SessionExpiryMiddleware",
    "registry.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes last: it needs the authenticated user and answers locked-out logins itself.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"
ASGI_APPLICATION = "registry.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context_processors.registry_context",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------------------
# Embedded default: a SQLite file in the project folder. Production and CI: PostgreSQL via psycopg 3.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # one transaction policy: @transaction.atomic on services
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Bound a connection attempt to an unreachable server (seconds): a 503 soon rather than a hung worker.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )

# The API's list pages run as server-side prepared statements with a generic plan (registry.api.compiled):
# turn off behind a connection pooler in transaction mode (PgBouncer), where a session's statements are lost.
REGISTRY_PREPARED_PAGES = env.bool("REGISTRY_PREPARED_PAGES", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling (django-axes): lock a username from one address after 5 failures for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "registry.access_events.lockout_response"  # 429, says for how long
AXES_VERBOSE = False

# Sessions end at browser close, after REGISTRY_SESSION_IDLE_MINUTES without a request, and at the latest
# SESSION_COOKIE_AGE seconds after the log-in (registry.middleware.SessionExpiryMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
REGISTRY_SESSION_IDLE_MINUTES = env.int("REGISTRY_SESSION_IDLE_MINUTES", default=30)
SESSION_COOKIE_SAMESITE = "Lax"

# Two-factor authentication (TOTP, django-otp): whoever has confirmed a device enters a code after the
# password; with REGISTRY_REQUIRE_STAFF_2FA, staff reach the admin only after a verified code.
REGISTRY_REQUIRE_STAFF_2FA = env.bool("REGISTRY_REQUIRE_STAFF_2FA", default=False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="CAR T registry")
# The admin never shows another user's TOTP secret or QR code (staff may still delete a lost device).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Internationalisation -------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Rome")
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

# --- Email -----------------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="registry@localhost")

# --- Celery ----------------------------------------------------------------------------------------------
# Without a broker, tasks run in-process (eager) and beat's jobs have management-command twins.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None) or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs defined here (django-celery-beat copies them into its table when beat starts; the summaries'
# schedules come from a data migration): exports requested while the broker was down are queued again.
CELERY_BEAT_SCHEDULE = {
    "queue exports left pending": {"task": "registry.tasks.redispatch_pending_exports", "schedule": 300.0},
    "delete expired export files": {"task": "registry.tasks.purge_expired_exports", "schedule": 3600.0},
}

# --- REST framework ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    # Per API client (registry.api.throttling); counts live in the cache (per process unless shared).
    "DEFAULT_THROTTLE_RATES": {"api_client": env.str("REGISTRY_API_RATE", default="600/minute")},
}
REGISTRY_API_PAGE_SIZE = env.int("REGISTRY_API_PAGE_SIZE", default=100)
SPECTACULAR_SETTINGS = {
    "TITLE": "CAR T paediatric autoimmune registry API",
    "DESCRIPTION": (
        "Read-only, de-identified data for pooled analyses: patient pseudonyms per client, centres as "
        "C1, C2 …, every date as a study day relative to the infusion (day 0), no names, dates of birth, "
        "hospital numbers, free text or calendar dates. Cursor pagination, filters, incremental pulls with "
        "removals, CSV, and a data dictionary at /api/v1/dictionary/."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "CapdAnswerEnum": "adverse_events.grading.CAPD_ANSWERS",
        "IcansToolEnum": "adverse_events.models.IcansTool",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Audit (django-simple-history) ------------------------------------------------------------------------
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Registry ----------------------------------------------------------------------------------------------
REGISTRY_SYSTEM_USERNAME = env.str("REGISTRY_SYSTEM_USERNAME", default="registry-system")
REGISTRY_DEMO_ALLOWED = env.bool("REGISTRY_DEMO_ALLOWED", default=DEBUG)
REGISTRY_VERSION = "0.1.0"
# Follow-up summaries: absolute links in e-mails, the local hour after which a centre's daily digest is made,
# and how far back a completed visit is checked for missing instruments and labs.
REGISTRY_SITE_URL = env.str("REGISTRY_SITE_URL", default="")
REGISTRY_DIGEST_LOCAL_HOUR = env.int("REGISTRY_DIGEST_LOCAL_HOUR", default=6)
REGISTRY_DIGEST_INCOMPLETE_VISIT_DAYS = env.int("REGISTRY_DIGEST_INCOMPLETE_VISIT_DAYS", default=90)
# B-cell aplasia below / reconstitution at or above (CD19+ cells/µL), outcomes.selectors.
REGISTRY_B_CELL_APLASIA_BELOW_PER_UL = env.float("REGISTRY_B_CELL_APLASIA_BELOW_PER_UL", default=1.0)
REGISTRY_B_CELL_RECONSTITUTION_PER_UL = env.float("REGISTRY_B_CELL_RECONSTITUTION_PER_UL", default=10.0)
# Background exports: files expire after this many hours.
REGISTRY_EXPORT_EXPIRY_HOURS = env.int("REGISTRY_EXPORT_EXPIRY_HOURS", default=72)
# An export still pending after this many minutes (its message never reached a worker) is queued again.
REGISTRY_EXPORT_REDISPATCH_MINUTES = env.int("REGISTRY_EXPORT_REDISPATCH_MINUTES", default=5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
