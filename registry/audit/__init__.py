"""Tamper-evident audit log: Merkle tree (RFC 9162), proof verification and signed tree heads."""
