"""boto3 clients for what pctl itself creates in AWS: network, bucket, baked images, preflight checks.

Plain Python (no Prefect). Every function takes a ``boto3.Session`` from ``make_session`` so the flows
decide region and credentials, and tests point the same code at moto.
"""
