"""Panasonic LP-series laser markers (LP-GS, LP-M, LP-400): serial/Ethernet host commands."""
