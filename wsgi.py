"""WSGI entry point for your own gunicorn: ``gunicorn wsgi:app``."""

from api import create_app

app = create_app()
