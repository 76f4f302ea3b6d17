"""Benchmarks: scripts that measure and print figures; never assertions on time."""
