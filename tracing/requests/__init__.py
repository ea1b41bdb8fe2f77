"""Trace requests between national points of contact (ITI section V): content, lifecycle, candidates,
answers, deadlines and statistics. `docs/tracing.md` is the user's guide."""
