#!/bin/sh
# Entrypoint of the eventlake and spark images: derive Airflow's and Spark's configuration from the
# EVENTLAKE_* settings (one source of truth), then run the service's command.
set -eu
# An assignment (not `eval "$(...)"`) so that invalid settings stop the container here.
exports="$(python -m eventlake.distributed container-env)"
eval "$exports"
exec "$@"
