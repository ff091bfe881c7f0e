"""Credentials present but AWS unreachable (H10's fresh-user notes, item 13): the fix is about reaching
AWS (network, proxy, AWS_ENDPOINT_URL), not about configuring credentials. No credentials at all still
gets the credentials fix.

Real botocore throughout: fake keys and an endpoint nothing listens on (127.0.0.1:9, connection refused
at once), so nothing is mocked and nothing waits on a network timeout.
"""

from __future__ import annotations

import pytest

from pctl.aws.errors import to_pctl_error, unreachable_hint
from pctl.lifecycle import preflight as pf
from pctl.lifecycle.settings import CreateSettings
from pctl.model.loader import load_text

TEMPLATE = """\
cluster: {name: pf, region: us-east-1}
compute:
  head_node: t3.medium
  queues: [{name: small, instance_types: [c6i.large], max_count: 4}]
"""
DEAD_ENDPOINT = "http://127.0.0.1:9"


def _settings() -> CreateSettings:
    return CreateSettings(name="pf", region="us-east-1", key_name="k", subnet_id=None, compute_subnet_id=None,
                          ssh_allowed_cidr="203.0.113.0/24", template_hash="0" * 64)


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "HTTPS_PROXY", "https_proxy",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def unreachable(no_aws):
    no_aws.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    no_aws.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    no_aws.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
    return no_aws


def _credentials_check(checks):
    (found,) = [c for c in checks if c.name == "AWS credentials"]
    return found


def test_unreachable_aws_gets_a_network_fix_not_a_credentials_fix(unreachable):
    loaded = load_text(TEMPLATE, "pf.yaml")
    result = pf.run(loaded.template, _settings())
    check = _credentials_check(result.checks)
    assert check.outcome == "failed" and "Could not reach AWS" in check.detail
    assert "aws configure" not in check.hint and "credentials" not in check.hint
    assert "network" in check.hint and "proxy" in check.hint
    assert f"AWS_ENDPOINT_URL={DEAD_ENDPOINT}" in check.hint  # the likely culprit, named with its value


def test_no_credentials_still_gets_the_credentials_fix(no_aws):
    loaded = load_text(TEMPLATE, "pf.yaml")
    check = _credentials_check(pf.run(loaded.template, _settings()).checks)
    assert check.outcome == "failed" and check.detail.startswith("no AWS credentials found")
    assert check.hint == pf.CREDENTIALS_FIX and "aws configure" in check.hint


def test_identity_keeps_its_three_values(unreachable):
    session, ident, why = pf.identity("us-east-1")
    assert session is None and ident is None and "Could not reach AWS" in why


@pytest.mark.parametrize("make", [
    lambda e: e.ConnectTimeoutError(endpoint_url="https://sts.amazonaws.com"),
    lambda e: e.EndpointConnectionError(endpoint_url="https://sts.amazonaws.com"),
    lambda e: e.ProxyConnectionError(proxy_url="http://proxy:3128", error="refused"),
    lambda e: e.ReadTimeoutError(endpoint_url="https://sts.amazonaws.com"),
])
def test_every_way_of_not_reaching_aws_says_so(make, no_aws):
    import botocore.exceptions as e

    err = to_pctl_error(make(e), "asking STS who you are")
    assert str(err).startswith("Could not reach AWS while asking STS who you are")
    assert err.hint == unreachable_hint() and "AWS_ENDPOINT_URL" not in err.hint  # not set here


def test_online_validate_gets_the_same_hint(unreachable):
    """`pctl validate --online` (pctl.aws.preflight): its warning carries the network hint too. (The
    exception is built, not provoked: a real call there retries 10 times per check, about a minute.)"""
    import botocore.exceptions as e

    from pctl.aws.preflight import _unreachable

    issue = _unreachable((), "checking instance types", e.EndpointConnectionError(endpoint_url=DEAD_ENDPOINT))
    assert issue.code == "PreflightUnavailable" and "Could not reach AWS" in issue.message
    assert DEAD_ENDPOINT in issue.hint and "network" in issue.hint
