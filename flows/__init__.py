"""Prefect flows, one module per lifecycle action (`python -m flows.NAME`).

pctl's Prefect settings (no telemetry, the local server when one is up) are applied here, before any
flow module imports prefect: Prefect reads its settings once, at import.
"""

from pctl.prefect_env import configure as _configure

_configure()
