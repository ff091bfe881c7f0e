"""The create flow: validate -> network -> AMI -> render -> upload scripts -> create cluster -> verify.

Every AWS step is idempotent (it finds what it created before by tag) and cached on content (the template's
sha256, names, fingerprints and the state's epoch; never clients), so a re-run after a failure repeats no
finished work. After each step that created something a compensation goes on an explicit undo stack; on
failure the stack unwinds newest-first (unless rollback is off) and the run fails with a message naming
the failed step and what was cleaned up. The user's own subnet and buckets never go on the stack.

    python -m flows.create templates/starter.yaml --dry-run

Before anything is created, one preflight task checks everything that would stop the create (SSH CIDR,
placeholders, node and pcluster, credentials, key pair, instance types in the zone, quota) and fails
listing all problems: no state is written and nothing is made. After `_begin` every failure, Ctrl-C
included, ends in a recorded failed state naming the step and the cause.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._run import announce, namer
from pctl import state
from pctl.errors import Interrupted, PctlError
from pctl.lifecycle import interrupt, keypair
from pctl.lifecycle import plan as plans
from pctl.lifecycle.settings import CreateSettings, resolve
from pctl.lifecycle.status import refuse_existing
from pctl.lifecycle.undo import UndoStack
from pctl.model.constants import OS_DEFAULT_USER
from pctl.model.template import InstallMode, Platform, Template
from pctl.render.rendered import CONFIG_FILE, PCS_PLAN_FILE
from pctl.requests import CreateRequest
from pctl.words import plural
from tasks import artifacts
from tasks._common import log
from tasks.preflight import preflight
from tasks.render import render_cluster, rendered_dir
from tasks.validate import ValidationFailed, check_schema, check_validators, validate_template


class CreateFailed(PctlError):
    pass


def _pcluster_version() -> str | None:
    try:
        from pctl.pcluster_engine import installed_version
    except ImportError:
        return None
    try:
        return installed_version()
    except Exception:
        return None


def _cost(template: Template) -> tuple[str | None, float | None]:
    try:
        from pctl.cost import estimate
    except ImportError:
        return None, None
    try:
        est = estimate(template)
    except Exception as exc:  # an estimate must never block a create
        return f"Cost estimate unavailable: {exc}", None
    return est.render_text(), est.monthly_total_usd


@flow(name="create-cluster", flow_run_name=namer("create"), log_prints=False)
def create_cluster(request: CreateRequest) -> dict[str, Any]:
    """Create a cluster from a template (or, with dry_run, only validate, render, preflight and plan)."""
    announce(request)
    text, source = request.template.resolve()
    template = validate_template(text, source)
    settings = resolve(template, text, request)
    if request.dry_run:
        return dry_run(template, settings, source, request).__dict__ | {"dry_run": True}
    if template.cluster.platform is Platform.pcs:
        from flows.pcs import create_pcs

        return create_pcs(template, settings, source, request, text)
    return _create(template, settings, source, request, text)


def _check(name: str, problems: list[str] | None) -> plans.Check:
    if problems is None:
        return plans.Check(name, "skipped", "pctl.pcluster_engine is not available")
    return plans.Check(name, "failed" if problems else "passed", "; ".join(problems))


# ---- dry run ----------------------------------------------------------------------------------

def dry_run(template: Template, settings: CreateSettings, source: str,
            request: CreateRequest | None = None) -> plans.Plan:
    """Validate, render, check with pcluster's schema, preflight (and tier 2 when AWS answers); create nothing."""
    plan = plans.build(template, settings, source, _pcluster_version())
    plan.create_command = plans.create_command(source, request)
    plan.checks.append(plans.Check("template (offline)", "passed"))
    key_name = settings.key_name or keypair.default_name(settings.name)
    rendered = render_cluster(template, settings.name, subnet_id=settings.subnet_id,
                              compute_subnet_id=settings.compute_subnet_id, key_name=key_name,
                              ssh_allowed_cidr=settings.ssh_allowed_cidr)
    plan.config_path = str(rendered_dir(settings.name) / CONFIG_FILE)
    plan.placeholders = list(rendered.placeholders)
    pcs = template.cluster.platform is Platform.pcs
    if pcs:  # the PCS requests, checked against AWS's pcs service model (botocore, offline)
        import json

        from flows.pcs import check_plan

        plan.checks.append(check_plan(rendered.files[PCS_PLAN_FILE]))
        # PCS has no ParallelCluster config: the user reviews the PCS requests, with their own stand-ins
        plan.config_path = str(rendered_dir(settings.name) / PCS_PLAN_FILE)
        plan.placeholders = list(json.loads(rendered.files[PCS_PLAN_FILE]).get("placeholders", []))
    else:
        plan.checks.append(_check("ParallelCluster schema (tier 1)", check_schema(rendered.config_text, settings.name)))
    pf = preflight(template, settings, dry_run=True)
    plan.checks += pf.checks
    if not pcs:
        plan.checks.append(_tier2(rendered.config_text, settings, aws_ok=pf.account is not None))
    plan.cost_text, plan.monthly_usd = _cost(template)
    artifacts.publish_plan(plan)
    artifacts.publish_config(settings.name, rendered.config_text)
    failed = [c for c in plan.checks if c.outcome == "failed"]
    if failed:
        raise ValidationFailed(
            f"the dry run of {settings.name} found {len(failed)} problem{'' if len(failed) == 1 else 's'} "
            "a create would stop on:\n"
            + "\n".join(f"  {c.name}: {c.detail}" + (f"\n      fix: {c.hint}" if c.hint else "") for c in failed),
            f"the config is at {plan.config_path}; after the fixes: {plan.create_command}",
        )
    log(f"dry run of {settings.name}: {plural(len(plan.steps), 'step')} planned, nothing created")
    return plan


def _tier2(config_text: str, settings: CreateSettings, aws_ok: bool) -> plans.Check:
    """pcluster's validators, only against real values: the user's subnet, never a placeholder one."""
    name = "ParallelCluster validators (tier 2)"
    if not aws_ok:
        return plans.Check(name, "skipped", "AWS did not answer (see AWS credentials)")
    if not settings.user_network:
        return plans.Check(name, "skipped", "pctl creates the network at create time, so there is no subnet to "
                           "check yet; ParallelCluster validates the config then",
                           "pass --subnet-id to check everything against an existing subnet now")
    found = check_validators(config_text, settings.name, settings.region)
    check = _check(name, None if found is None else found[0])
    if found is not None and found[1] and check.outcome == "passed":
        check.detail = f"{plural(len(found[1]), 'warning')}: " + "; ".join(found[1])
    return check


# ---- the real create --------------------------------------------------------------------------

def _begin(settings: CreateSettings, source: str, rollback: bool, template: Template,
           text: str, key_name: str | None = None) -> state.ClusterState:
    """New state, or resume one a previous run left behind (after _refuse_existing and preflight)."""
    st = state.load(settings.name)
    if st is None:
        st = state.ClusterState(name=settings.name, region=settings.region)
    else:
        log(f"resuming {settings.name}: the previous run ended {st.status}")
    st.template_source, st.template_hash = source, settings.template_hash
    st.pcluster_version = _pcluster_version()
    st.key_name = key_name or settings.key_name
    # A copy of what was created, and who logs in: `pctl verify NAME` needs no flags after a create.
    st.template_text = text
    st.ssh_user = OS_DEFAULT_USER[template.cluster.os]
    if settings.subnet_id:
        st.user_supplied["subnet_id"] = settings.subnet_id
    if settings.key_name:
        st.user_supplied["key_name"] = settings.key_name
    st.set_status(state.Status.CREATING, f"from {source}" + ("" if rollback else " (rollback off)"))
    state.save(st)
    return st


def _create(template: Template, settings: CreateSettings, source: str, request: CreateRequest,
            text: str) -> dict[str, Any]:
    from tasks import bootstrap, cluster, network
    from tasks import keypair as key_tasks

    name, region = settings.name, settings.region
    rollback = getattr(request, "rollback", True)
    with state.lock(name, "create"):
        before = state.load(name)
        refuse_existing(before, name, region, check_lock=False)  # we hold the lock
        pf = preflight(template, settings, resumed_with=before.pcluster_version if before else None,
                       resuming=before is not None)
        if pf.failed:
            raise pf.error(name)
        key_name = settings.key_name or keypair.default_name(name)
        # The lock that lives in AWS (issue 14): another installation holding this name stops us here.
        from pctl.aws.ownership import claim_for_create

        claim_for_create(name, region)
        step = "start"
        undo = UndoStack()
        warnings: list[str] = []
        try:
            st = _begin(settings, source, rollback, template, text, key_name)
            cost_text, _ = _cost(template)
            if cost_text:
                log(cost_text)

            if pf.key_to_create:
                step = "key pair"
                undo.push(f"key pair {key_name}", key_tasks.delete, name, region)
                key_tasks.ensure(name, region, key_name)

            step = "network"
            if settings.user_network:
                head_subnet, compute_subnet = settings.subnet_id, settings.compute_subnet_id
                log(f"network: using your subnet {head_subnet} (pctl will never delete it)")
            else:
                # Pushed before the step: a network that fails half-way is still torn down (the
                # compensation deletes what state recorded and what carries the cluster's tag).
                undo.push(f"network of {name}", network.teardown, name, region)
                net = network.ensure(name, region, template.networking.vpc_cidr, settings.ssh_allowed_cidr,
                                     template.networking.public_only, template.cluster.tags, st.epoch)
                head_subnet, compute_subnet = net.head_subnet_id, net.compute_subnet_id

            step = "bootstrap bucket"
            undo.push(f"bootstrap objects of {name}", bootstrap.teardown, name, region)
            bucket = bootstrap.ensure_bucket(name, region, st.epoch)

            if template.software.containers:
                step = "container images"
                from tasks.containers import pin

                template = pin(name, region, template)

            cache_policy = None
            cache_bucket = _cache_bucket(template, bucket["bucket"])
            if cache_bucket and template.software.install is InstallMode.shared:
                # The head node builds and pushes (issue 15): it gets the cache's managed policy.
                step = "binary cache access"
                from tasks import cache as cache_tasks

                undo.push(f"binary cache policy of {name}", cache_tasks.remove_access, name, region)
                cache_policy = cache_tasks.ensure_access(name, region, cache_bucket, state.owner_id())["policy_arn"]

            custom_ami = None
            if template.software.install is InstallMode.ami:
                step = "AMI bake"
                # The builder needs the internet: the cluster's public subnet, or the user's own subnet.
                baked = bake_step(template, name, region, bucket["bucket"], st.epoch, request.timeout_minutes,
                                  undo, head_subnet)
                custom_ami = baked["image_id"]
                if baked.get("warning"):
                    warnings.append(baked["warning"])

            step = "render"
            rendered = render_cluster(template, name, subnet_id=head_subnet, compute_subnet_id=compute_subnet,
                                      key_name=key_name, ssh_allowed_cidr=settings.ssh_allowed_cidr,
                                      scripts_s3_prefix=bucket["url"], custom_ami=custom_ami,
                                      cache_policy_arn=cache_policy, extra_tags={state_tag(): name, **owner_tag()},
                                      vpc_cidr=_user_vpc_cidr(settings, region))
            if rendered.placeholders:  # preflight saw none; never hand pcluster a stand-in value
                raise CreateFailed("the rendered config still has placeholders: " + "; ".join(rendered.placeholders))
            step = "bootstrap upload"
            bootstrap.upload(name, region, bucket["bucket"], bucket["prefix"], rendered.scripts)
            artifacts.publish_config(name, rendered.config_text)

            step = "cluster create"
            undo.push(f"cluster {name}", cluster.delete, name, region, request.timeout_minutes)
            cluster.create(name, rendered.config_text, region)
            if request.wait:
                step = "cluster wait"
                info = cluster.wait_created(name, region, request.timeout_minutes)
                state.update(name, lambda s: _record_cluster(s, info))
                try:  # nice to have: never worth rolling back a running cluster for
                    cluster.record_host_keys(name, region, info)
                except Exception as exc:
                    log(f"WARNING: head node host keys not recorded: {_reason(exc).splitlines()[0]}")

            def _done(s: state.ClusterState) -> None:
                s.set_status(state.Status.ACTIVE if request.wait else state.Status.CREATING,
                             None if request.wait else "cluster create started; not waiting")
                s.last_error = None

            step = "record"
            st = state.update(name, _done)
        except BaseException as exc:
            _fail(name, step, exc, undo if rollback else None)
            raise  # _fail raises; this keeps type checkers honest
    artifacts.publish_resources(name)
    if request.wait and request.verify:
        _verify(name)
    return {"name": name, "region": region, "status": st.status, "head_node_public_ip": st.head_node_public_ip,
            "ami_id": st.ami_id, "host_key_fingerprints": st.host_key_fingerprints, "warnings": warnings,
            "key_name": key_name, "resources": [r.model_dump() for r in st.resources]}


def _cache_bucket(template: Template, pctl_bucket: str) -> str | None:
    """The binary cache's bucket for this template (pctl.cache.location), None when turned off."""
    from pctl.cache.location import cache_bucket_for

    return cache_bucket_for(template.software.binary_cache, pctl_bucket)


def _user_vpc_cidr(settings: CreateSettings, region: str) -> str | None:
    """With the user's own subnet, SSH's default range is that VPC's real CIDR (issue 14), not vpc_cidr."""
    if not settings.user_network or settings.subnet_id is None:
        return None
    from pctl.aws.network import subnet_vpc_cidr
    from pctl.aws.session import make_session

    return subnet_vpc_cidr(make_session(region), settings.subnet_id)


def owner_tag() -> dict[str, str]:
    """pctl:owner=<this installation> on the cluster's own resources too (issue 14)."""
    from pctl.aws.ownership import OWNER_TAG

    return {OWNER_TAG: state.owner_id()}


def bake_step(template: Template, name: str, region: str, bucket: str, epoch: str, timeout_minutes: int,
              undo: UndoStack, subnet_id: str | None) -> dict[str, Any]:
    """The AMI step of a create (both platforms): compensations pushed first, so a builder instance or
    role a killed bake left (recorded in state the moment they existed) goes with a rollback, and the
    image too when this run made it; the image is recorded in state. Returns tasks.ami.bake's dict."""
    from tasks import ami as ami_tasks
    from tasks import teardown

    undo.push(f"AMI builder of {name}", teardown.delete_leftovers, name, region)
    baked = ami_tasks.bake(template, region, bucket, epoch, owner=name, timeout_minutes=timeout_minutes,
                           subnet_id=subnet_id)
    if baked["created"]:
        undo.push(f"image {baked['image_id']}", ami_tasks.delete, baked["image_id"], region, name)

    def _ami(s: state.ClusterState) -> None:
        s.ami_id, s.ami_pcluster_version = baked["image_id"], baked.get("pcluster_version")

    state.update(name, _ami)
    return baked


def state_tag() -> str:
    from pctl.model.constants import CLUSTER_TAG

    return CLUSTER_TAG


def _record_cluster(s: state.ClusterState, info: dict[str, Any]) -> None:
    from pctl.lifecycle.pcluster_view import head_ips, status_of

    s.cluster_status = status_of(info)
    s.head_node_public_ip, s.head_node_private_ip = head_ips(info)


def _reason(exc: BaseException) -> str:
    """The error's own text (its first 15 lines: validation lists every problem), or its type."""
    lines = str(exc).strip().splitlines()
    return "\n".join(lines[:15]) if lines else type(exc).__name__


def _fail(name: str, step: str, exc: BaseException, undo: UndoStack | None) -> None:
    """Unwind (when rollback is on; after Ctrl-C, when the user or PCTL_ON_INTERRUPT says so), record the
    outcome in state, raise one message that says it all. Survives a second Ctrl-C and a failing unwind:
    the state is written whatever happens here."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    reason = "interrupted (Ctrl-C)" if interrupted else _reason(exc)
    interrupt.handled()  # acted on now: the rollback's own waits run (a second Ctrl-C marks it again)
    if undo is not None and interrupted and len(undo) and interrupt.choice(name, step) == interrupt.KEEP:
        undo = None
    summary, status = "", state.Status.CREATE_FAILED
    try:
        if undo is None:
            summary = "everything created so far is kept; re-run the same command to resume"
            if not interrupted:
                summary = "rollback is off: " + summary
        else:
            log(f"{step} {'interrupted' if interrupted else 'failed'}; undoing {plural(len(undo), 'step')}: {', '.join(reversed(undo.labels)) or 'none'}")
            report = undo.unwind()
            summary = report.summary()
            status = state.Status.ROLLED_BACK if not report.failed else state.Status.CREATE_FAILED
            if status == state.Status.ROLLED_BACK:  # nothing left: free the name for others (issue 14)
                try:
                    from pctl.aws.ownership import release_after_delete

                    release_after_delete(name, state.load(name).region if state.load(name) else "")
                except Exception as err:
                    log(f"WARNING: could not release the claim on the name {name}: {err}")
    except BaseException as again:  # Ctrl-C during the rollback: stop, and say what may be left
        summary = (f"the rollback was interrupted ({type(again).__name__}); what is left is recorded: "
                   f"`pctl status {name}`, then `pctl delete {name}`")
        status = state.Status.CREATE_FAILED

    def _record(s: state.ClusterState) -> None:
        s.set_status(status, f"{step}: {reason.splitlines()[0]}")
        s.last_error = f"{step} failed: {reason}. {summary}"
        if status == state.Status.ROLLED_BACK:
            import uuid

            s.epoch = uuid.uuid4().hex[:12]  # what the cache remembers is gone now

    for _ in range(3):  # a Ctrl-C landing in the write itself: try again (the write is atomic)
        try:
            if state.load(name) is not None:
                state.update(name, _record)
            break
        except KeyboardInterrupt:
            continue
        except Exception as err:
            log(f"WARNING: could not record the failure in state: {err}")
            break
    hint = getattr(exc, "hint", None)
    if status == state.Status.CREATE_FAILED:
        hint = hint or f"fix the cause, then re-run: it resumes (`pctl status {name}` shows what exists)"
    else:
        hint = hint or "fix the cause, then re-run the same command"
    if interrupted:
        raise Interrupted(f"create of {name} interrupted during {step}. {summary}",
                          f"`pctl status {name}`; re-run the create to resume, or `pctl delete {name}`") from None
    raise CreateFailed(f"create of {name} failed at step '{step}': {reason}\n{summary}", hint) from exc


def _verify(name: str) -> None:
    try:
        from tasks import verify
    except ImportError:
        log("verify: tasks.verify is not available in this build; skipped")
        return
    fn = getattr(verify, "verify_cluster", None) or getattr(verify, "verify", None)
    if fn is None:
        log("verify: no verify task found; skipped")
        return
    fn(name)


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("create", prog_name="python -m flows.create")
