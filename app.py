"""WSGI entry point: `flask --app app run` or `gunicorn app:app`."""

from dotenv import load_dotenv

from portal import create_app

load_dotenv()
app = create_app()
