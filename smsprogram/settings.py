"""The one settings module, driven by the environment (see .env.example and README).

Unset, everything falls back to the embedded default: SQLite in the project folder
and Celery tasks run in-process, so a fresh checkout runs with nothing installed.
"""

from datetime import timedelta
from pathlib import Path

import environ

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "development-only-key-never-used-with-debug-off"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "smsprogram.apps.BackOfficeAdminConfig",  # django.contrib.admin on our site (smsprogram/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "import_export",
    "axes",
    "contacts",
    "reports",
    "transfers",
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
    # Last, as django-axes asks: it turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smsprogram.urls"
WSGI_APPLICATION = "smsprogram.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# A kept connection is checked before reuse: one the server dropped (failover, pg_terminate_backend) is
# replaced instead of failing the next request or task.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Ingestion writes in long transactions; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 30)
    # Every transaction takes the write lock when it begins: one that read first and wrote later would lose
    # to any writer that committed meanwhile ("database is locked", no wait) — a report's heartbeat did that.
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Admin logins are throttled and audited (django-axes): every attempt, failed or not, is kept and shown to
# Admin staff; after AXES_FAILURE_LIMIT failures from one address for one username, that pair is locked out
# for AXES_COOLOFF_MINUTES. Keying on the pair keeps one office's shared address from locking everyone out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # failures stay on record after a success resets the count

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Chart.js is served from the installed npm package, never a CDN or a copy.
    ("chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
# django-import-export's file between preview and confirm: in MEDIA_ROOT under a name it generated, confirmable
# only by the user whose preview stored it (its default, the temp directory, took any name posted back).
IMPORT_EXPORT_TMP_STORAGE_CLASS = "transfers.admin_mixins.PendingImportStorage"

# Every upload (a report, a CSV import, the Import buttons) is refused past this size while the body is read,
# before anything is stored (smsprogram/uploads.py). Stored upload files are deleted this many days after their
# upload by a daily task; the report and job rows, and their counts, stay.
UPLOAD_MAX_MB = env.int("UPLOAD_MAX_MB", default=1024)
UPLOAD_RETENTION_DAYS = env.int("UPLOAD_RETENTION_DAYS", default=90)
# An export of more rows than this is written by a worker and offered for download when ready, instead of
# streamed in the request: a streamed response must end inside gunicorn's worker timeout (30 s by default),
# slow client included. 200,000 rows is about 16 MB, a second of database time.
EXPORT_DIRECT_MAX_ROWS = env.int("EXPORT_DIRECT_MAX_ROWS", default=200_000)
FILE_UPLOAD_HANDLERS = [
    "smsprogram.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Production is secure by default; each switch can be turned off for a TLS-terminating proxy.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# A load balancer's plain-HTTP health probe gets its answer, not a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload submits the domain to browsers' built-in lists, a one-way step that
    # is the operator's decision (SECURE_HSTS_PRELOAD=1), not a default of ours.
    "security.W021",
]

# Celery: with REDIS_URL unset, tasks run in-process (the embedded default).
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task taken but not acknowledged (its worker died, or Redis went away before the ack) goes back to
# the queue after this long. It must outlast the longest task and the longest retry countdown (an hour),
# or Redis hands a waiting retry to a second worker; the tasks are idempotent, so a late copy is harmless.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600)}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: one readable line; json: one JSON object a line, the message's key=value context as fields.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "smsprogram.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# Carrier deactivation reports (AWS End User Messaging, requester-pays bucket). The S3
# endpoint and credentials come from boto3's own environment (AWS_ENDPOINT_URL_S3, AWS_*).
DEACT_REPORTS_REGION = env.str("DEACT_REPORTS_REGION", default="us-east-1")
DEACT_REPORTS_COUNTRY = env.str("DEACT_REPORTS_COUNTRY", default="us")
# The AWS account that owns that bucket, sent as ExpectedBucketOwner on every call when set: S3 then refuses a
# bucket of the same name in anyone else's account. Both are checked at start-up (reports/checks.py).
DEACT_REPORTS_BUCKET_OWNER = env.str("DEACT_REPORTS_BUCKET_OWNER", default="")
# Where deactivation reports come from (issue 18): aws, twilio, http. DEACT_SOURCES decides which sources' beat
# schedules run (a daily and a backfill each); `ingest_deactivations --source` runs any configured one on demand.
DEACT_SOURCES = env.list("DEACT_SOURCES", default=["aws"])
# Twilio's Deactivations API (basic auth). An http:// base URL is allowed, for a local stand-in.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://messaging.twilio.com")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Any provider serving a day's file at a URL with {date} (YYYY-MM-DD) in it, with Name=value headers (secrets,
# never shown), kept this many days back for a backfill.
DEACT_HTTP_URL = env.str("DEACT_HTTP_URL", default="")
DEACT_HTTP_HEADERS = env.str("DEACT_HTTP_HEADERS", default="")
DEACT_HTTP_DAYS_KEPT = env.int("DEACT_HTTP_DAYS_KEPT", default=30)

# The signal intake API (POST /api/receipts/, /api/carrier-notices/): requests are signed with this shared
# secret (HMAC-SHA256). Unset, the endpoints answer 503 rather than accept unsigned data.
SIGNAL_API_SECRET = env.str("SIGNAL_API_SECRET", default="")

# The mass opt-out guard (R14): a file, report or import that would opt out more than this percent of a
# list's subscribers, and more than OPT_OUT_GUARD_MIN of them, is held for an Admin. 0 turns it off.
OPT_OUT_GUARD_PERCENT = env.float("OPT_OUT_GUARD_PERCENT", default=5.0)
OPT_OUT_GUARD_MIN = env.int("OPT_OUT_GUARD_MIN", default=100)
# A report with more invalid rows than this percent is not the layout we read: it fails whole.
REPORT_INVALID_MAX_PERCENT = env.float("REPORT_INVALID_MAX_PERCENT", default=50.0)

# Alerts for the on-call engineer (reports/alerts.py), by email through Django's mail. No ALERT_EMAILS:
# alerts are only logged. EMAIL_URL unset: the console backend (mail printed, never sent).
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="smsprogram@localhost")
# Alerts are sent from the ingest itself: a mail server that hangs must not hold a report's worker for long.
EMAIL_TIMEOUT = 10
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Bearer token for GET /healthz/ingestion from a monitor; unset, only a staff session may read it.
HEALTH_TOKEN = env.str("HEALTH_TOKEN", default="")
# The reassigned-number ledger (R13): deactivations older than this many days are pruned daily; answers for
# consents before that are `no_data` unless a later deactivation is known.
LEDGER_RETENTION_DAYS = env.int("LEDGER_RETENTION_DAYS", default=730)

# The cache: per-process memory by default; Redis when REDIS_URL is set, so limits hold across processes.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "cache"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Re-engagement by email (export_reengagement, /reconsent/<token>/): the links' site, how long a link works,
# and how many requests one client address may make to the reconsent pages.
REENGAGE_BASE_URL = env.str("REENGAGE_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
REENGAGE_MAX_AGE_DAYS = env.int("REENGAGE_MAX_AGE_DAYS", default=30)
REENGAGE_RATE_LIMIT = env.str("REENGAGE_RATE_LIMIT", default="30/minute")
