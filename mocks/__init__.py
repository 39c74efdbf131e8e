"""Simulated external systems (population database, ...) served as real HTTP on loopback."""
