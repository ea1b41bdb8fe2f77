"""Reference data shipped with the registry, and the functions that read it.

- `countries`: ISO 3166-1 country codes (REQ-16), normalised through the maintained `pycountry` library.
- `catalogue`: the CSV tables under `data/` — weapon categories of the ITI definition (REQ-01), manufacturers,
  calibres and component kinds (REQ-12, REQ-17, REQ-41) — loaded once and cached.

Pure Python and CSV: nothing here touches a database.
"""
