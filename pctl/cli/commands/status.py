"""`pctl status NAME`: what pctl recorded, ParallelCluster's current view, and the next step to take."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table


@click.command("status")
@click.argument("name")
@click.option("--live", "--refresh", "refresh", is_flag=True,
              help="Also ask ParallelCluster for the live status (needs AWS credentials; slower).")
@click.option("--no-refresh", "no_refresh", is_flag=True, hidden=True)  # the old spelling of the default
@json_option("Print the details as one JSON document (pctl.status/v1).")
def cli(name: str, refresh: bool, no_refresh: bool, as_json: bool) -> None:
    """Show a cluster's details and what to do next.

    Reads only the state file (fast: no AWS, no Prefect); --live also asks ParallelCluster. The
    `cluster-status` flow does the live version for the UI.
    """
    from pctl import state
    from pctl.lifecycle.status import next_step
    from pctl.lifecycle.timefmt import ago

    st = state.get(name)
    info, live_error, pcs_live = None, None, None
    if refresh and not no_refresh and st.platform == "pcs":
        try:
            from pctl.pcs.status import live_status

            pcs_live = live_status(name, st.region)
        except Exception as exc:  # offline or no credentials: the recorded state is still worth showing
            live_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    elif refresh and not no_refresh and st.status != state.Status.ROLLED_BACK:
        try:
            from pctl.lifecycle.pcluster_view import describe, head_ips, quiet_pcluster_logs, status_of

            with quiet_pcluster_logs():
                info = describe(name, st.region)
            if info is not None:
                def _apply(s: state.ClusterState) -> None:
                    s.cluster_status = status_of(info)
                    s.head_node_public_ip, s.head_node_private_ip = head_ips(info)

                st = state.update(name, _apply)
        except Exception as exc:  # offline or no credentials: the recorded state is still worth showing
            live_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    from pctl.lifecycle.versions import version_warnings

    warnings = version_warnings(st)
    if as_json:
        emit_json("status", name=name, state=st.model_dump(mode="json"), pcluster=info, pcs=pcs_live, live_error=live_error,
                  next_step=next_step(st), warnings=warnings)
        return
    rows = [
        ("status", st.status),
        ("ParallelCluster", ("unreachable: " + live_error) if live_error else
         (st.cluster_status or "-") + ("" if refresh else " (as last recorded; --live asks AWS)")),
        ("region", st.region),
        ("template", f"{st.template_source} (sha256 {st.template_hash[:12]})" if st.template_hash else "-"),
        ("created", f"{st.created_at} ({ago(st.created_at)})"),
        ("head node", " / ".join(x for x in (st.head_node_public_ip, st.head_node_private_ip) if x) or "-"),
        ("AMI", st.ami_id or "official ParallelCluster image"),
        ("pcluster version", st.pcluster_version or "-"),
    ]
    if st.platform == "pcs":
        from pctl.pcs.status import rows as pcs_rows

        rows[1] = ("platform", "AWS PCS" + ("" if refresh else " (--live shows PCS's own states)"))
        # PCS has no head node (the login node group takes its place) and no ParallelCluster version.
        rows = [r for r in rows if r[0] not in ("head node", "pcluster version")]
        rows = [("AMI", st.ami_id or "AWS's PCS sample AMI") if r[0] == "AMI" else r for r in rows]
        if st.head_node_public_ip or st.head_node_private_ip:
            rows.append(("login node", " / ".join(x for x in (st.head_node_public_ip, st.head_node_private_ip) if x)))
        if refresh and not live_error:
            rows += pcs_rows(pcs_live)
        elif live_error:
            rows.append(("PCS", "unreachable: " + live_error))
    if st.head_node_public_ip or st.head_node_private_ip:
        rows.append(("SSH host keys", ", ".join(st.host_key_fingerprints)
                     or "not recorded (verify needs --fingerprint or --accept-new-host-key)"))
    for container, ref in st.container_images.items():
        rows.append((f"container {container}", ref))
    if st.user_supplied:
        rows.append(("yours (never deleted)", ", ".join(f"{k} {v}" for k, v in st.user_supplied.items())))
    if st.last_error:
        rows.append(("last error", st.last_error))
    if refresh and not no_refresh and not live_error:
        rows.append(("software", _software_origin(name, st.region)))
    print_table(["", name], rows, styles={0: "bold"})
    if st.resources:
        click.echo("\nResources pctl created:")
        print_table(["KIND", "ID", "REGION", "CREATED"], [(r.kind, r.id, r.region, ago(r.created_at)) for r in st.resources])
    click.echo("\nHistory:")
    for h in st.history[-8:]:
        click.echo(f"  {h.at}  {h.status}" + (f": {h.detail}" if h.detail else ""))
    click.echo(f"\nNext: {next_step(st)}")
    for w in warnings:
        click.echo(f"WARNING: {w}", err=True)


def _software_origin(name: str, region: str) -> str:
    """Per package: from the account's binary cache or built on the cluster (issue 15, pctl.cache.origins)."""
    try:
        from pctl import state
        from pctl.aws.session import make_session
        from pctl.cache.origins import fetch_status, status_row

        st = state.load(name)
        # The cache's bucket: the template's own (binary_cache: s3://BUCKET) when create recorded one
        bucket = next((r.extra.get("bucket") for r in (st.resources_of("iam_policy") if st else [])), None)
        return status_row(fetch_status(make_session(region), region, name, bucket))
    except Exception as exc:  # the rest of status is still worth showing
        return f"unknown ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
