"""AWS sessions: from a named prefect-aws `AwsCredentials` block, else from boto3's default chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctl.errors import ConfigError

if TYPE_CHECKING:
    import boto3


def session_for(region: str, credentials_block: str | None = None) -> boto3.Session:
    """A boto3 session for `region`.

    With `credentials_block`, the keys (or profile) come from that saved `AwsCredentials` block and the
    region argument wins over the block's own region. Without it, pctl.aws.session.make_session uses the
    default chain (env, profile, instance role), so worker hosts with an IAM role need no block at all.
    """
    if not credentials_block:
        from pctl.aws.session import make_session

        return make_session(region)

    from prefect_aws import AwsCredentials

    try:
        creds = AwsCredentials.load(credentials_block)
    except ValueError as exc:  # prefect raises ValueError for an unknown block name
        raise ConfigError(
            f"no AwsCredentials block named {credentials_block!r}",
            "create one in the UI (Blocks > AWS Credentials) or with AwsCredentials(...).save(name); "
            "omit it to use the default AWS credential chain",
        ) from exc
    return creds.model_copy(update={"region_name": region}).get_boto3_session()
