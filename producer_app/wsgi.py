"""WSGI entry point of the servers (``python -m producer_app.serve``): each worker builds the app here."""

from producer_app import create_app, settle_heap

app = create_app()
settle_heap()
