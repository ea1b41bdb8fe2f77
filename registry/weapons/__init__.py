"""weapons."""
