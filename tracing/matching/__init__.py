"""Candidate matching of observed markings against the registry: exact, then tolerant of confusable
characters, unreadable positions (`?`) and one transposition. `docs/tracing.md` explains the method and its
recall limits; `skeleton` and `scorer` are pure, `repository` holds the SQL, `service` puts them together."""
