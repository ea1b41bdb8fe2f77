"""Token-bucket stores for the HTTP rate limits (api/ratelimit.py): in memory, in the registry's database, or
in Redis. Plain Python over an engine or a client; nothing here knows HTTP."""
