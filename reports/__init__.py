"""Documents officers file and charts they look at: the formal answer to a trace request, a weapon's record
sheet, the ITI sections of the national report (PDF, in the six UN languages), CSV/XLSX exports and SVG charts.

An edge-like layer: it reads `registry/`, `tracing/` and `hardware/codes` through a SQLAlchemy session and
returns bytes or text; only `api/` and `cli/` import it. It writes nothing but audit entries for views of
confidential trace information, and never commits.
"""
