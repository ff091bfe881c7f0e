"""PCS lifecycle steps (platform: pcs): node resources, the PCS cluster itself, status and teardown.

Thin Prefect wrappers over `pctl.pcs`: retries on transient AWS errors, the aws-api tag, logs that reach
both the run log and the CLI. The `pcs` client comes from `pcs_client`, the one seam tests replace with
botocore's Stubber (moto has no `pcs`).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.lifecycle import interrupt
from pctl.words import plural
from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, log, poll_seconds, transient_failure

LOGIN_SCRIPT = "head-node.sh"  # the login node group does the head node's share: homes, the Spack install
COMPUTE_SCRIPT = "compute-node.sh"


def pcs_client(session: Any) -> Any:
    from pctl.aws.session import client

    return client(session, "pcs")


def _session(region: str) -> Any:
    from pctl.aws.session import make_session

    return make_session(region)


def _executor(session: Any, timeout_minutes: int) -> Any:
    """A PCS Executor that polls every PCTL_POLL_SECONDS (15 s), gives up after the timeout, logs to the run,
    and stops at the next poll after a Ctrl-C (pctl.lifecycle.interrupt)."""
    from pctl.pcs.executor import Executor

    return Executor(pcs_client(session), poll_seconds=poll_seconds(15), timeout=timeout_minutes * 60, log=log,
                    cancelled=interrupt.pending)


@task(name="pcs-node-resources", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def node_resources(name: str, region: str, *, plan: dict[str, Any], vpc_id: str, subnet_ids: list[str],
                   ssh_cidr: str, shared: list[dict[str, Any]], buckets: list[dict[str, Any]],
                   scripts_url: str, architecture: str, key_name: str | None, image_id: str | None,
                   tags: dict[str, str], cache: dict[str, str] | None = None) -> dict[str, str]:
    """Security group, shared EFS, instance profile, image and one launch template per node group.

    `shared`: [{name, mount_point, file_system_id|None}]; `buckets`: [{bucket, write, prefix}].
    `cache`: {bucket, secret_arn} of the Spack binary cache, which only the login group's role reaches
    (it installs the software); None: no cache. Returns the references the plan needs
    (`security_group:id`, `instance_profile:arn`, `instance_profile:login_arn`, `launch_template:<group>`,
    `subnet:id`).
    """
    from pctl.aws.iam import partition
    from pctl.aws.session import client
    from pctl.pcs import image, nodes, storage
    from pctl.pcs.plan import LOGIN_GROUP

    session = _session(region)
    ec2, iam, efs = client(session, "ec2"), client(session, "iam"), client(session, "efs")
    sg = nodes.ensure_security_group(ec2, name, vpc_id, ssh_cidr, tags)
    log(f"PCS security group {sg}")
    mounts = []
    for volume in shared:
        fs_id = volume.get("file_system_id") or storage.ensure_efs(
            efs, ec2, name, volume["name"], subnet_ids, sg, tags, poll=poll_seconds())
        mounts.append({"mount_point": volume["mount_point"], "file_system_id": fs_id})
        log(f"shared {volume['mount_point']}: EFS {fs_id}")
    access = [nodes.BucketAccess(b["bucket"], b["write"], b.get("prefix")) for b in buckets]
    profile = nodes.ensure_instance_profile(iam, name, access, tags, partition(session))
    cache_policy = None
    if cache:
        from pctl.cache.access import cache_policy as cache_document

        cache_policy = cache_document(cache["bucket"], cache["secret_arn"], partition(session))
    login_profile = nodes.ensure_instance_profile(iam, name, access, tags, partition(session), login=True,
                                                  cache_policy=cache_policy)
    log(f"PCS instance profiles {profile} (compute) and {login_profile} (login"
        + (", with the binary cache)" if cache else ")"))
    if image_id is None:
        sample = image.find_sample_ami(ec2, architecture, plan["slurm_version"])
        image_id = sample["image_id"]
        log(f"image: AWS's PCS sample AMI {sample['name']} ({image_id}); AWS calls it a starting point, "
            "not a production image: bake one with software.install: ami")
    refs = {"security_group:id": sg, "instance_profile:arn": profile, "instance_profile:login_arn": login_profile,
            "subnet:id": subnet_ids[0]}
    for group in plan["node_groups"]:
        script = LOGIN_SCRIPT if group["name"] == LOGIN_GROUP else COMPUTE_SCRIPT
        boot = nodes.bootstrap_script(cluster=name, group=group["name"], region=region, mounts=mounts,
                                      script_url=f"{scripts_url.rstrip('/')}/{script}")
        refs[f"launch_template:{group['name']}"] = nodes.ensure_launch_template(
            ec2, name, group["name"], security_group=sg, user_data_b64=nodes.user_data(boot), tags=tags,
            key_name=key_name, image_id=image_id)
    log(f"{plural(len(plan['node_groups']), 'launch template')} ready")
    return refs


@task(name="pcs-cluster", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def apply(name: str, region: str, plan: dict[str, Any], refs: dict[str, str],
          timeout_minutes: int = 60) -> dict[str, str]:
    """Create (or resume) the PCS cluster, its node groups and queues; wait until all are ACTIVE."""
    out = _executor(_session(region), timeout_minutes).apply(plan, refs)
    log(f"PCS cluster {out['cluster:id']} ACTIVE with {plural(len(plan['node_groups']), 'node group')}")
    return out


@task(name="pcs-login-node", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def record_login_node(name: str, region: str, attempts: int = 3) -> dict[str, Any] | None:
    """Record the login node's address and SSH host key fingerprints (from its console output) in state,
    where `pctl verify NAME` finds them. Never fails the create: without them verify asks for flags."""
    from pctl import state
    from pctl.aws.hostkeys import console_fingerprints
    from pctl.aws.session import client
    from pctl.pcs.login import login_instance

    session = _session(region)
    node = None
    for attempt in range(attempts):
        node = login_instance(client(session, "ec2"), name)
        if node or attempt == attempts - 1:
            break
        interrupt.sleep(poll_seconds(20))
    if node is None:
        log(f"login node of {name}: no running instance yet; `pctl verify {name}` needs --host later")
        return None
    fingerprints = console_fingerprints(session, node["instance_id"])

    def _record(s: state.ClusterState) -> None:
        s.head_node_instance_id = node["instance_id"]
        s.head_node_public_ip, s.head_node_private_ip = node["public_ip"], node["private_ip"]
        s.host_key_fingerprints = fingerprints

    state.update(name, _record)
    log(f"login node {node['instance_id']} ({node['public_ip'] or node['private_ip']}); "
        f"{plural(len(fingerprints), 'SSH host key fingerprint')} recorded")
    return node


@task(name="pcs-status", cache_policy=NO_CACHE, tags=AWS_TAGS)
def status(name: str, region: str) -> dict[str, Any] | None:
    """PCS's own states of the cluster, its node groups and queues (None: no such PCS cluster)."""
    from pctl.pcs.executor import Executor
    from pctl.pcs.limits import CLUSTER_NAME_MAX
    from pctl.pcs.plan import pcs_name

    return Executor(pcs_client(_session(region))).status(pcs_name(name, CLUSTER_NAME_MAX))


@task(name="pcs-delete", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def delete(name: str, region: str, timeout_minutes: int = 60) -> list[str]:
    """Queues, node groups, the PCS cluster, then launch templates, profile, security group and the EFS
    pctl made (found by name and tag, so a crash before state was saved leaks nothing)."""
    from pctl import state
    from pctl.aws.session import client
    from pctl.pcs import nodes, storage
    from pctl.pcs.limits import CLUSTER_NAME_MAX
    from pctl.pcs.plan import pcs_name

    session = _session(region)
    st = state.load(name)
    if st is not None and st.pcs_cluster_requested is False:
        # pctl never sent CreateCluster (written ahead in state): nothing to ask PCS, which may not even answer
        # (no pcs:* permission, a region without PCS); the node resources below still go.
        log(f"no PCS cluster was ever requested for {name}: deleting its node resources only")
        done: list[str] = []
    else:
        done = _executor(session, timeout_minutes).delete(pcs_name(name, CLUSTER_NAME_MAX))
    done += [f"EFS {fs}" for fs in storage.delete_efs(client(session, "efs"), name, poll=poll_seconds())]
    done += nodes.delete_node_resources(client(session, "ec2"), client(session, "iam"), name)
    log(f"PCS: deleted {plural(len(done), 'resource')}" + (f": {', '.join(done)}" if done else ""))
    return done
