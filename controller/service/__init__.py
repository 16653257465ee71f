"""Running unattended: a git source, HTTP endpoints, Prometheus metrics and notifications."""
