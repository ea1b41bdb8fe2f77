"""Tables of marking stations (issue 5): stocktake records, serial reservations, offline checkouts and the
events a station synchronises. The rules that fill them live in `hardware/stations/`; `registry/` keeps only
the tables so that `registry/models.py` can gather them without importing `hardware/`."""
