"""WSGI entry point of the tasks service: ``slolab serve tasks`` runs it under granian
(``python -m granian --interface wsgi slolab.services.tasks.wsgi:app``) or, with
``TASKS_SERVER=gunicorn``, under ``gunicorn -c python:slolab.services.tasks.gunicorn_conf``.

Both servers import this module in each worker process, after the fork: the
place to start tracing (its export thread does not survive a fork).
"""

from slolab.services.tasks.app import create_app
from slolab.telemetry import flush_tracing_at_exit, setup_tracing

setup_tracing("tasks")
flush_tracing_at_exit()
app = create_app()
