"""`/api/v1/audit`: tree heads, inclusion and consistency proofs, verification."""
