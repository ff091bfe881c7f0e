"""SSH exposure from options, the environment and the user's VPC (issue 14); the template side is H3's validator."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.errors import ConfigError
from pctl.model.template import Template
from pctl.render import RenderOptions, render
from tests.conftest import REPO

BASE = {
    "cluster": {"name": "demo", "region": "us-east-1", "os": "alinux2023"},
    "compute": {"head_node": "t3.medium", "queues": [{"name": "compute", "instance_types": ["c6i.2xlarge"],
                                                      "max_count": 8}]},
}
SUBNET = "subnet-0123456789abcdef0"


def template(**networking) -> Template:
    data = copy.deepcopy(BASE)
    data["networking"] = networking
    return Template.model_validate(data)


def allowed(rendered) -> str:
    return yaml.safe_load(rendered.config_text)["HeadNode"]["Ssh"]["AllowedIps"]


@pytest.mark.parametrize(("options", "words"), [
    (RenderOptions(ssh_allowed_cidr="0.0.0.0/0"), "whole internet"),
    (RenderOptions(ssh_allowed_cidr="8.0.0.0/7"), "public addresses"),
    (RenderOptions(ssh_allowed_cidr="198.51.100.0/24"), "which the template does not name"),
    (RenderOptions(subnet_id=SUBNET, vpc_cidr="52.10.0.0/16"), "your subnet's VPC"),
])
def test_internet_or_unwritten_public_range_warns_and_fails_strict(options, words):
    r = render(template(), options)
    assert len(r.warnings) == 1 and words in r.warnings[0], r.warnings
    assert "closed to the internet" not in r.config_text  # the comment never lies
    strict = RenderOptions(**{**options.__dict__, "strict": True})
    with pytest.raises(ConfigError, match="--strict"):
        render(template(), strict)


@pytest.mark.parametrize(("t", "options"), [
    (template(), RenderOptions(ssh_allowed_cidr="10.1.0.0/16")),
    (template(ssh_allowed_cidr="198.51.100.0/24"), RenderOptions(ssh_allowed_cidr="198.51.100.0/24")),
    (template(ssh_allowed_cidr="198.51.100.0/24"), RenderOptions()),
    (template(), RenderOptions(subnet_id=SUBNET, vpc_cidr="172.31.0.0/16")),
    (template(), RenderOptions()),
])
def test_private_or_written_ranges_do_not_warn(t, options):
    assert render(t, options).warnings == []


def test_users_subnet_uses_its_vpcs_real_cidr_not_vpc_cidr():
    r = render(template(vpc_cidr="10.42.0.0/16"), RenderOptions(subnet_id=SUBNET, vpc_cidr="172.31.0.0/16"))
    assert allowed(r) == "172.31.0.0/16"
    assert "SSH is closed to the internet" in r.config_text


def test_vpc_cidr_lookup_of_the_users_subnet(aws):
    from pctl.aws.network import subnet_vpc_cidr

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="52.10.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="52.10.1.0/24")["Subnet"]["SubnetId"]
    cidr = subnet_vpc_cidr(aws, subnet)
    assert cidr == "52.10.0.0/16"
    r = render(template(), RenderOptions(subnet_id=subnet, vpc_cidr=cidr))
    assert allowed(r) == "52.10.0.0/16" and "public range 52.10.0.0/16" in r.warnings[0]


def run_render(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "pctl", "render", "starter", "-o", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, **(env or {})})


def test_cli_ssh_cidr_internet_warns_and_strict_exits_1(tmp_path):
    proc = run_render(tmp_path, "--ssh-cidr", "0.0.0.0/0")
    assert proc.returncode == 0 and "warning: SSH to the head node is open to the whole internet" in proc.stderr
    proc = run_render(tmp_path, "--ssh-cidr", "0.0.0.0/0", "--strict")
    assert proc.returncode == 1 and "--strict" in proc.stderr and "Traceback" not in proc.stderr


def test_environment_variable_reaches_the_warning_in_create_settings(monkeypatch):
    """PCTL_SSH_ALLOWED_CIDR is the global config's value: resolve() takes it, render warns about it."""
    from pctl.lifecycle.settings import resolve
    from pctl.requests import CreateRequest, TemplateSource

    monkeypatch.setenv("PCTL_SSH_ALLOWED_CIDR", "0.0.0.0/0")
    t = template()
    text = yaml.safe_dump(BASE)
    settings = resolve(t, text, CreateRequest(template=TemplateSource(yaml=text)))
    assert settings.ssh_allowed_cidr == "0.0.0.0/0"
    r = render(t, RenderOptions(ssh_allowed_cidr=settings.ssh_allowed_cidr))
    assert "whole internet" in r.warnings[0] and "PCTL_SSH_ALLOWED_CIDR" in r.warnings[0]
