"""Machine-readable marks and labels: the ISO/IEC 15434 payload, Data Matrix ECC200, QR, Code 128, ZPL.

Nothing here knows the registry: callers hand in plain values (see `hardware.stations` for the bridge).
"""
