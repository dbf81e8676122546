"""The databases' admin side: roles, schemas and grants, made before any service starts."""
