"""PostgreSQL helpers: the embedded server, pools, roles and schemas, migrations."""
