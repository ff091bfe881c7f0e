"""platform: pcs, inside the create and delete flows: the same steps and guarantees as ParallelCluster
(validate, network, bucket, render, upload), then PCS's own: node resources (security group, shared
EFS, instance profile, image, launch templates) and the PCS cluster with its node groups and queues.

Compensation works as for ParallelCluster: every step that creates something pushes its teardown on the
undo stack first, so a failure at any step (or Ctrl-C) leaves nothing behind, and a re-run with
rollback off resumes (every PCS create is idempotent by name or client token).
"""

from __future__ import annotations

from typing import Any

from pctl import state
from pctl.model.constants import CLUSTER_TAG
from pctl.model.template import InstallMode, Template
from pctl.render.rendered import PCS_PLAN_FILE
from pctl.requests import CreateRequest
from pctl.words import plural
from tasks._common import log


def check_plan(plan_json: str):  # -> pctl.lifecycle.plan.Check
    """The dry run's check of `pcs/plan.json`: every request's parameters against AWS's `pcs` service model
    (botocore's own validator, offline), with pctl's `${kind:name}` references standing in for ids."""
    import json

    import botocore.session
    from botocore.validate import ParamValidator

    from pctl.lifecycle.plan import Check
    from pctl.pcs.executor import REF_RE

    model = botocore.session.get_session().get_service_model("pcs")
    plan = json.loads(plan_json)
    problems = []
    for req in plan["requests"]:
        params = json.loads(REF_RE.sub("ref-placeholder", json.dumps(req["params"])))
        op = model.operation_model("".join(w.title() for w in req["operation"].split("_")))
        report = ParamValidator().validate(params, op.input_shape)
        if report.has_errors():
            problems.append(f"{req['operation']}: {report.generate_report()}")
    if problems:
        return Check("PCS requests (service model)", "failed", "; ".join(problems), "this is a bug in pctl: report it")
    return Check("PCS requests (service model)", "passed",
                 f"{plural(len(plan['requests']), 'request')}: {plural(len(plan['node_groups']), 'node group')}, Slurm "
                 f"{plan['slurm_version']}, size {plan['size']}")


def shared_volumes(t: Template) -> list[dict[str, Any]]:
    """The template's shared volumes and EFS data mounts as PCS mounts them: every one is EFS (the
    user's own `file_system_id`, or one pctl creates); validation refuses FSx on PCS."""
    volumes = [{"name": s.name, "mount_point": s.mount_point, "file_system_id": s.file_system_id}
               for s in t.shared_storage]
    volumes += [{"name": f"data-efs-{i}", "mount_point": e.mount_point, "file_system_id": e.file_system_id}
                for i, e in enumerate(t.data.efs, 1)]
    return volumes


def bucket_access(t: Template, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Nodes read their own bootstrap prefix of pctl's bucket and the template's mounts (write where asked)."""
    out = [{"bucket": bucket, "write": False, "prefix": f"{prefix}/"}]
    for m in t.data.s3_mounts:
        out.append({"bucket": m.bucket, "write": not m.read_only, "prefix": m.prefix})
    return out


def create_pcs(template: Template, settings: Any, source: str, request: CreateRequest, text: str) -> dict[str, Any]:
    import json

    from flows.create import _begin, _cache_bucket, _fail, bake_step, owner_tag
    from pctl import instance_types
    from pctl.lifecycle import keypair
    from pctl.lifecycle.status import refuse_existing
    from pctl.lifecycle.undo import UndoStack
    from tasks import bootstrap, network, pcs
    from tasks import keypair as key_tasks
    from tasks.preflight import preflight
    from tasks.render import render_cluster

    name, region = settings.name, settings.region
    rollback = getattr(request, "rollback", True)
    with state.lock(name, "create"):
        before = state.load(name)
        refuse_existing(before, name, region, check_lock=False)  # we hold the lock
        pf = preflight(template, settings, resuming=before is not None)
        if pf.failed:
            raise pf.error(name)
        key_name = settings.key_name or keypair.default_name(name)
        from pctl.aws.ownership import claim_for_create

        claim_for_create(name, region)
        undo = UndoStack()
        step = "start"
        try:
            st = _begin(settings, source, rollback, template, text, key_name)
            def _pcs(s: state.ClusterState) -> None:
                s.platform = "pcs"
                s.pcs_cluster_requested = bool(s.pcs_cluster_requested)  # a resume keeps True

            state.update(name, _pcs)
            if pf.key_to_create:
                step = "key pair"
                undo.push(f"key pair {key_name}", key_tasks.delete, name, region)
                key_tasks.ensure(name, region, key_name)

            step = "network"
            if settings.user_network:
                from pctl.aws.session import client, make_session

                ec2 = client(make_session(region), "ec2")
                subnets = [s for s in (settings.subnet_id, settings.compute_subnet_id) if s]
                vpc_id = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
            else:
                undo.push(f"network of {name}", network.teardown, name, region)
                net = network.ensure(name, region, template.networking.vpc_cidr, settings.ssh_allowed_cidr,
                                     template.networking.public_only, template.cluster.tags, st.epoch)
                vpc_id, subnets = net.vpc_id, list(dict.fromkeys([net.compute_subnet_id, net.head_subnet_id]))
            public_subnet = subnets[-1]  # pctl's public subnet (or the user's): a builder needs the internet

            step = "bootstrap bucket"
            undo.push(f"bootstrap objects of {name}", bootstrap.teardown, name, region)
            bucket = bootstrap.ensure_bucket(name, region, st.epoch)

            if template.software.containers:
                step = "container images"
                from tasks.containers import pin

                template = pin(name, region, template)

            cache = None
            cache_bucket = _cache_bucket(template, bucket["bucket"])
            if cache_bucket and template.software.install is InstallMode.shared:
                # The login node builds and pushes (issue 15): only its role gets the cache and the key.
                step = "binary cache access"
                from tasks import cache as cache_tasks

                access = cache_tasks.signing_key(name, region, cache_bucket)
                cache = {"bucket": cache_bucket, "secret_arn": access["secret_arn"]}

            image_id = None
            if template.software.install is InstallMode.ami:
                step = "AMI bake"
                image_id = bake_step(template, name, region, bucket["bucket"], st.epoch, request.timeout_minutes,
                                     undo, public_subnet)["image_id"]

            step = "render"
            rendered = render_cluster(template, name, subnet_id=subnets[0], key_name=settings.key_name,
                                      ssh_allowed_cidr=settings.ssh_allowed_cidr, scripts_s3_prefix=bucket["url"],
                                      extra_tags={CLUSTER_TAG: name, **owner_tag()})
            plan = json.loads(rendered.files[PCS_PLAN_FILE])
            step = "bootstrap upload"
            bootstrap.upload(name, region, bucket["bucket"], bucket["prefix"], rendered.scripts)

            step = "PCS node resources"
            undo.push(f"PCS resources of {name}", pcs.delete, name, region, request.timeout_minutes)
            refs = pcs.node_resources(
                name, region, plan=plan, vpc_id=vpc_id, subnet_ids=subnets,
                ssh_cidr=settings.ssh_allowed_cidr or template.networking.vpc_cidr,
                shared=shared_volumes(template), buckets=bucket_access(template, bucket["bucket"], bucket["prefix"]),
                scripts_url=bucket["url"], architecture=instance_types.architecture(template.compute.head_node) or "x86_64",
                key_name=key_name, image_id=image_id, tags={**template.cluster.tags, **owner_tag()}, cache=cache)

            step = "PCS cluster"
            state.update(name, lambda s: setattr(s, "pcs_cluster_requested", True))  # write-ahead
            out = pcs.apply(name, region, plan, refs, request.timeout_minutes)
            step = "login node"
            pcs.record_login_node(name, region)
        except BaseException as exc:
            _fail(name, step, exc, undo if rollback else None)
            raise

        def _done(s: state.ClusterState) -> None:
            s.set_status(state.Status.ACTIVE, f"PCS cluster {out['cluster:id']}")
            s.cluster_status = "ACTIVE"
            s.last_error = None

        st = state.update(name, _done)
    if request.verify and st.head_node_public_ip:
        from flows.create import _verify

        _verify(name)
    log(f"PCS cluster {name} is ACTIVE" + (f": ssh {st.ssh_user}@{st.head_node_public_ip}"
                                            if st.head_node_public_ip else ""))
    return {"name": name, "region": region, "status": st.status, "platform": "pcs",
            "pcs_cluster_id": out["cluster:id"], "login_node_public_ip": st.head_node_public_ip, "warnings": [],
            "resources": [r.model_dump() for r in st.resources]}


def delete_pcs(name: str, region: str, timeout_minutes: int) -> list[str]:
    """The PCS side of a delete (the delete flow then removes the network, bucket objects and state)."""
    from tasks import pcs

    return pcs.delete(name, region, timeout_minutes)
