"""Catalog layer."""
