"""MicroTrial."""
