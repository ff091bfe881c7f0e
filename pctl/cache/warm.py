"""`pctl cache warm TEMPLATE`: build a template's packages into the account cache before any cluster exists.

It reuses the AMI bake's builder (pctl.aws.ami / ami_bake / iam: the official ParallelCluster image of the
template's OS, the bake user data, the builder role scoped to its own S3 prefix, `_launch`, the completion
marker) and its teardown guarantees: the builder instance is terminated and its role deleted in every
outcome. No image is made. The builder runs the same software script as a bake, with the account cache
(`ami_software_script(..., cache_bucket=bucket)`), so it installs what the cache holds and pushes the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pctl.aws.resource import Resource

if TYPE_CHECKING:
    import boto3

    from pctl.model.template import Template

WARM_ROLE = "cache-warm-builder"


def warm_id(fingerprint: str) -> str:
    """The builder's id: 'warm' + the bake fingerprint (its role, profile and S3 prefix never meet a bake's)."""
    return f"warm{fingerprint}"


def warm_script(template: Template, bucket: str) -> str:
    """The bake's software script with the account cache, without the image clean-up (no image is made)."""
    from pctl.render import ami_software_script

    script = ami_software_script(template, cache_bucket=bucket)
    head, _, rest = script.partition("\n")
    return f"{head}\nexport PCTL_BAKE_CLEANUP=0  # pctl cache warm: no image is made from this builder\n{rest}"


def warm(session: boto3.Session, template: Template, *, bucket: str, pcluster_version: str, timeout_s: int,
         subnet_id: str | None = None, instance_type: str | None = None, poll_s: float = 30,
         profile_wait_s: float = 120, log: Callable[[str], None] = print,
         on_created: Callable[[Resource], None] | None = None) -> dict[str, Any]:
    """Fill the cache with TEMPLATE's packages on a temporary builder; returns {'builder', 'seconds', 'id'}.

    ``bucket``: pctl's bucket (the builder's script, markers and log); the cache is the template's
    ``binary_cache`` bucket, pctl's by default. Raises AwsError for ``binary_cache: false``, and when the
    builder's install fails (with the log's tail) or times out. The builder, its role and its S3 prefix are
    removed whatever happens."""
    from pctl.aws import ami, iam
    from pctl.aws.ami_bake import (
        _instance_state,
        _launch,
        _marker,
        _save_log,
        marker_prefix,
        render_user_data,
    )
    from pctl.aws.bucket import delete_prefix
    from pctl.aws.errors import is_not_found
    from pctl.aws.ownership import OWNER_TAG
    from pctl.aws.session import client
    from pctl.aws.waiting import wait_until
    from pctl.cache.access import grant_builder
    from pctl.cache.keys import ensure_signing_key
    from pctl.cache.location import cache_bucket_for
    from pctl.errors import AwsError
    from pctl.state import owner_id

    cache_bucket = cache_bucket_for(template.software.binary_cache, bucket)
    if cache_bucket is None:
        raise AwsError(f"{template.cluster.name} turns the binary cache off (software.binary_cache: false): nothing to warm",
                       "remove binary_cache: false from the template, or name a bucket (binary_cache: s3://BUCKET)")
    region = session.region_name
    ec2, s3 = client(session, "ec2"), client(session, "s3")
    created = on_created or (lambda _r: None)
    _key, secret_arn = ensure_signing_key(session)
    fp, base_ami = ami.current_fingerprint(session, template, pcluster_version)
    wid = warm_id(fp)
    prefix = marker_prefix(wid)
    tags = [{"Key": "Name", "Value": f"pctl-{template.cluster.name}-cache-warm"}, {"Key": "pctl:role", "Value": WARM_ROLE},
            {"Key": "pctl:cluster", "Value": template.cluster.name}, {"Key": OWNER_TAG, "Value": owner_id()}]
    instance_id: str | None = None
    started = time.monotonic()
    try:
        profile = iam.ensure_builder_profile(session, cluster=template.cluster.name, fingerprint=wid, bucket=bucket,
                                             prefix=prefix, on_created=created)
        grant_builder(session, iam.builder_name(wid), cache_bucket, secret_arn)
        for outcome in ("done", "failed", "log"):
            s3.delete_object(Bucket=bucket, Key=f"{prefix}/{outcome}")
        s3.put_object(Bucket=bucket, Key=f"{prefix}/bake.sh", Body=warm_script(template, cache_bucket).encode())
        root = ec2.describe_images(ImageIds=[base_ami])["Images"][0].get("RootDeviceName", "/dev/xvda")
        run: dict[str, Any] = {
            "ImageId": base_ami, "InstanceType": instance_type or ami.BUILDER_TYPES[ami.template_arch(template)],
            "MinCount": 1, "MaxCount": 1, "UserData": render_user_data(bucket, wid, region),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {"VolumeSize": ami.ROOT_VOLUME_GB, "VolumeType": "gp3",
                                                                 "Encrypted": True, "DeleteOnTermination": True}}],
            "InstanceInitiatedShutdownBehavior": "terminate",
            "IamInstanceProfile": {"Name": profile},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        }
        if subnet_id:
            run["SubnetId"] = subnet_id
        instance_id = _launch(ec2, run, poll_s=poll_s, profile_wait_s=profile_wait_s)
        created(Resource("instance", instance_id, region, {"role": WARM_ROLE}))
        log(f"cache warm: builder {instance_id} launched from {base_ami}; waiting up to {timeout_s} s")

        def finished() -> str | None:
            outcome = _marker(s3, bucket, wid)
            if outcome:
                return outcome
            state = _instance_state(ec2, instance_id)
            if state in ("terminated", "stopped", "shutting-down"):
                raise AwsError(f"The cache builder {instance_id} stopped ({state}) before finishing.")
            log(f"cache warm: still installing ({time.monotonic() - started:.0f} s)")
            return None

        outcome = wait_until(finished, timeout_s=timeout_s, poll_s=poll_s,
                             what=f"the software install on cache builder {instance_id}",
                             hint="raise --timeout; what was pushed so far stays in the cache")
        if outcome == "failed":
            tail = s3.get_object(Bucket=bucket, Key=f"{prefix}/failed")["Body"].read().decode(errors="replace")
            saved = _save_log(s3, bucket, wid)
            raise AwsError(f"The software install on the cache builder failed:\n{tail[-2000:]}",
                           f"Full log: {saved}" if saved else "")
        log(f"cache warm: done in {time.monotonic() - started:.0f} s")
        return {"builder": instance_id, "seconds": round(time.monotonic() - started), "id": wid}
    finally:
        if instance_id:
            try:
                ec2.terminate_instances(InstanceIds=[instance_id])
                log(f"cache warm: builder {instance_id} terminated")
            except Exception as exc:
                if not is_not_found(exc):
                    log(f"WARNING: could not terminate builder {instance_id}: {exc}; terminate it by hand")
        try:
            iam.delete_builder_profile(session, wid)
        except Exception as exc:
            log(f"WARNING: could not delete the builder role {iam.builder_name(wid)}: {exc}")
        try:
            delete_prefix(session, bucket, prefix + "/")
        except Exception as exc:
            log(f"WARNING: could not delete s3://{bucket}/{prefix}/: {exc}")
