"""Store layer."""
