"""The test moto server (tests/fixtures/moto_server.py) must not stall on one silent client.

Found by a Ctrl-C test that hung in CI: a Ctrl-C landing while pctl opened an HTTPS connection left a
socket connected but silent. Werkzeug's TLS server did every handshake in its one accepting thread, so that
socket stopped the whole moto server, and the rollback's next call waited in its handshake for minutes.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import boto3
from botocore.config import Config


def test_a_silent_client_does_not_stall_the_server(aws_endpoint):
    url = urlparse(aws_endpoint)
    silent = socket.create_connection((url.hostname, url.port))  # connected, never says hello
    try:
        time.sleep(0.5)  # the server has accepted it
        ec2 = boto3.client("ec2", region_name="us-east-1",
                           config=Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1}))
        started = time.monotonic()
        assert ec2.describe_vpcs()["Vpcs"] is not None
        assert time.monotonic() - started < 5
    finally:
        silent.close()
