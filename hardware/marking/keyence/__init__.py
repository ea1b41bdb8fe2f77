"""Keyence MD-series laser markers (MD-X, MD-F, MD-U): `WX,…` / `RX,…` ASCII commands over TCP or serial."""
