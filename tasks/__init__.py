"""Prefect tasks: one module per lifecycle step, each a thin wrapper over plain-Python pctl code."""
