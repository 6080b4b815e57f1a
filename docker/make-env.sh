#!/bin/sh
# Write the secrets the distributed stack needs into .env (the project's one .env file), generating
# random values for the ones not set yet. Existing lines are kept. Run from the repo root.
set -eu
env_file="${1:-.env}"
touch "$env_file"
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
fernet() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }
add() {
  if ! grep -q "^$1=" "$env_file"; then
    printf '%s=%s\n' "$1" "$2" >> "$env_file"
    echo "added $1 to $env_file"
  fi
}
add MINIO_ROOT_USER eventlake
add MINIO_ROOT_PASSWORD "$(random)"
add POSTGRES_PASSWORD "$(random)"
add EVENTLAKE_ADMIN_PASSWORD "$(random | cut -c1-20)"
add EVENTLAKE_VIEWER_PASSWORD "$(random | cut -c1-20)"
add AIRFLOW_JWT_SECRET "$(random)"
add AIRFLOW_API_SECRET_KEY "$(random)"
add AIRFLOW_FERNET_KEY "$(fernet)"
chmod 600 "$env_file"
