"""Shared helpers for Ferryman's tests and benchmarks (model makers, server processes)."""
