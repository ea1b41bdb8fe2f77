"""Encrypted, verified backups of the whole registry database (`iti backup`, `iti restore`)."""
