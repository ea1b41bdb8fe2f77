"""A realistic demo country for newcomers: synthetic, deterministic by seed."""
