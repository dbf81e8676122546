"""PostgreSQL for a service: pools, roles and schemas, migrations, its settings."""
