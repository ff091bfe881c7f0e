"""Register pctl's block types on the server so the UI offers them under Blocks."""

from __future__ import annotations


def register_block_types() -> list[str]:
    """Register (idempotently) the block types pctl uses; returns their slugs."""
    from prefect.blocks.system import Secret
    from prefect_aws import AwsCredentials

    from blocks.settings import PctlSettings

    slugs = []
    for block_cls in (PctlSettings, AwsCredentials, Secret):
        block_cls.register_type_and_schema()
        slugs.append(block_cls.get_block_type_slug())
    return slugs
