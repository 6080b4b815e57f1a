"""The embedded stack: every service on loopback, supervised by supervisord, wired by the settings."""
