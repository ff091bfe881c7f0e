"""PctlSettings: site defaults an admin saves once (UI: Blocks > Pctl Settings), used when a request omits them."""

from __future__ import annotations

from ipaddress import ip_network

from prefect.blocks.core import Block
from pydantic import Field, field_validator

DEFAULT_BLOCK_NAME = "default"
DEFAULT_REBUILD_CRON = "0 3 * * 0"  # Sundays 03:00: the weekly AMI rebuild


class PctlSettings(Block):
    """Site defaults for pctl runs."""

    _block_type_name = "Pctl Settings"
    _description = "Defaults for pctl cluster runs: region, EC2 key pair, SSH CIDR, template registry, AMI rebuild schedule."

    region: str = Field("us-east-1", description="AWS region used when a template or request names none.")
    key_name: str | None = Field(None, description="EC2 key pair for head-node SSH.")
    ssh_allowed_cidr: str | None = Field(
        None, description="CIDR allowed to SSH to head nodes (e.g. your campus range). Empty: no SSH ingress rule."
    )
    registry: str | None = Field(None, description="Git URL of the template registry.")
    rebuild_cron: str = Field(DEFAULT_REBUILD_CRON, description="Cron schedule of the ami-rebuild deployment.")
    aws_credentials_block: str | None = Field(
        None, description="Name of an AWS Credentials block; empty uses the worker's default AWS credential chain."
    )
    ssh_key_secret: str | None = Field(None, description="Name of a Secret block holding the SSH private key for verify.")

    @field_validator("ssh_allowed_cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v:
            ip_network(v, strict=False)  # ValueError names the bad value; the UI shows it on the field
        return v

    @field_validator("rebuild_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=v)  # Prefect's own cron check: the same rule the deployment schedule applies
        return v


def load_settings(name: str = DEFAULT_BLOCK_NAME) -> PctlSettings:
    """The saved settings block, or the built-in defaults when none is saved under `name`."""
    try:
        return PctlSettings.load(name)
    except ValueError:
        return PctlSettings()
