"""Prefect flows of the cluster lifecycle; each runnable as `python -m flows.NAME --help`."""
