"""Prefect deployments of the pctl lifecycle flows: `python -m deployments.register`."""
