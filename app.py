"""WSGI entry point: `flask --app app run` or `gunicorn app:app` (with gunicorn.conf.py)."""

from dotenv import load_dotenv

from portal import create_app
from portal.config import ConfigError

load_dotenv()
try:
    app = create_app()
except ConfigError as error:
    # One line saying which setting to fix, instead of a traceback.
    raise SystemExit(f"configuration error: {error}") from None
