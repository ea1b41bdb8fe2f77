"""`/api/v1/organisations`: organisations and their licences."""
