"""One blueprint per concern: typed events, compatibility routes, operations (health, readiness, docs)."""
