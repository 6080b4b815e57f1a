"""WSGI entry point: ``gunicorn -c producer_app/gunicorn_conf.py producer_app.wsgi:app``."""

from producer_app import create_app

app = create_app()
