"""`/api/v1/persons`: holders' personal data, restricted and audited on every read."""
