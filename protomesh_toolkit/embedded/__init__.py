"""Real PostgreSQL and NATS servers from the pip-installed binaries, for the cluster and tests."""
