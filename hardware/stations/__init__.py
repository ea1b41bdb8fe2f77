"""Marking stations: the bridge between the registry and the hardware drivers. The only part of
`hardware/` that may import `registry/`."""
