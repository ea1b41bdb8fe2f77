"""`/api/v1/users`: account administration."""
