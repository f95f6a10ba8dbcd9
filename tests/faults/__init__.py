"""Crash and fault tests: real processes, real signals, real faults (RELIABILITY.md)."""
