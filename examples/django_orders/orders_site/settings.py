"""The smallest settings for the example: one app, SQLite for Django and for the actors."""

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("ORDERS_DATA_DIR", Path(__file__).resolve().parent.parent))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-example")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = ["orders"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "orders_site.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# where the actors live: any durable-xstate store URL (redis://, postgresql://, ... with several servers)
DURABLE_XSTATE_STORE = os.environ.get("DURABLE_XSTATE_STORE", f"sqlite://{DATA_DIR / 'actors.db'}")
