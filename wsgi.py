"""Entry point for `flask run` and `gunicorn wsgi:app`. Settings that cannot work stop
it with their message (which setting to set), not a traceback."""

from app import create_app
from app.config import Settings

try:
    app = create_app(Settings())
except ValueError as exc:  # Settings' own checks and ConfigurationError say what to set
    raise SystemExit(f"Incident Desk cannot start: {exc}") from None
