"""Interop layer."""
