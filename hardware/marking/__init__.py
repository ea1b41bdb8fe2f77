"""Marking machines: one `MarkingMachine` protocol, vendor host protocols in layers (sans-I/O codec,
transport, driver), and a simulator per protocol built on the same codec."""
