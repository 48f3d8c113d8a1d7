"""WSGI entry point: ``gunicorn -c python:services.tasks.gunicorn_conf services.tasks.wsgi:app``."""

from services.tasks.app import create_app

app = create_app()
