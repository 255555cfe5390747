"""Reports layer."""
