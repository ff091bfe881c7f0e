"""The cluster's SSH key pair when the user names none: pctl creates `pctl-<cluster>` (RSA, the type
ParallelCluster's KeyPairValidator accepts) and keeps the private key at `$PCTL_HOME/keys/<name>.pem`
(mode 0600). It is recorded in state as a `key_pair` resource, so a rollback or `pctl delete` removes
both the AWS key pair and the local file. A key pair the user named is never created or deleted.

Plain Python over a boto3 session (no prefect).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pctl.errors import AwsError


def default_name(cluster: str) -> str:
    return f"pctl-{cluster}"


def private_key_path(key_name: str) -> Path:
    from pctl.state import home

    return home() / "keys" / f"{key_name}.pem"


def describe(session: Any, key_name: str) -> dict[str, Any] | None:
    """The key pair's description, None when it does not exist (other errors raise)."""
    from pctl.aws.errors import error_code
    from pctl.aws.session import client

    try:
        return client(session, "ec2").describe_key_pairs(KeyNames=[key_name])["KeyPairs"][0]
    except Exception as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return None
        raise


def create(session: Any, key_name: str, cluster: str) -> Path:
    """Create the RSA key pair (tagged pctl:cluster) and write its private key, mode 0600. Returns the path.

    A pair of that name that already exists is reused only when its private key is here; otherwise the
    caller gets an AwsError saying how to go on (pctl cannot recover a private key AWS no longer shows).
    """
    from pctl.aws.ownership import OWNER_TAG  # issue 14: --from-tags finds it, never another installation's
    from pctl.aws.session import client
    from pctl.fsutil import atomic_write_text
    from pctl.model.constants import CLUSTER_TAG
    from pctl.state import owner_id

    path = private_key_path(key_name)
    if describe(session, key_name) is not None:
        if path.exists():
            return path
        raise AwsError(f"key pair {key_name} exists in {session.region_name} but its private key is not at {path}",
                       f"pass --key-name with a key pair you hold, or delete it: aws ec2 delete-key-pair "
                       f"--region {session.region_name} --key-name {key_name}")
    made = client(session, "ec2").create_key_pair(
        KeyName=key_name, KeyType="rsa", KeyFormat="pem",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": CLUSTER_TAG, "Value": cluster},
                                                                 {"Key": OWNER_TAG, "Value": owner_id()}]}],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    atomic_write_text(path, made["KeyMaterial"], mode=0o600)
    return path


def delete(session: Any, key_name: str) -> None:
    """Delete the AWS key pair (gone already is fine) and the local private key."""
    from pctl.aws.session import client

    if describe(session, key_name) is not None:
        client(session, "ec2").delete_key_pair(KeyName=key_name)
    with contextlib.suppress(FileNotFoundError):
        private_key_path(key_name).unlink()
