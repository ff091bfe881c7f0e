"""Prefect blocks pctl uses: AWS credentials (prefect-aws), PctlSettings, and the SSH key Secret.

Importing this package imports prefect; the CLI imports it lazily, after pctl.prefect_env.configure().
"""

from __future__ import annotations

from blocks.aws import session_for
from blocks.settings import PctlSettings, load_settings
from blocks.ssh import ssh_key_file
from blocks.types import register_block_types

__all__ = ["PctlSettings", "load_settings", "register_block_types", "session_for", "ssh_key_file"]
