"""The ParallelCluster stack's progress, read from CloudFormation: resources done of the total, the latest
event, elapsed time. ParallelCluster names the cluster's stack after the cluster.

`read(session, stack, doing)` -> StackProgress or None (no such stack, or CloudFormation did not answer:
progress is nice to have and never fails a create). Three read-only calls per poll: ListStackResources,
GetTemplate (the total: resources the template declares) and DescribeStackEvents (first page only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StackProgress:
    status: str | None
    done: int
    total: int
    event: str | None  # "HeadNode CREATE_IN_PROGRESS" (+ ": reason")

    def line(self, name: str, elapsed_s: float) -> str:
        mins, secs = divmod(int(elapsed_s), 60)
        parts = [f"cluster {name}: {self.status or 'starting'}", f"{self.done}/{self.total or '?'} resources"]
        if self.event:
            parts.append(self.event)
        parts.append(f"{mins}:{secs:02d} elapsed")
        return " | ".join(parts)


def _template_total(cf: Any, stack: str) -> int:
    body = cf.get_template(StackName=stack).get("TemplateBody")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            import yaml

            try:
                body = yaml.load(body, Loader=_cfn_loader())  # noqa: S506 - SafeLoader plus CFN's short tags
            except yaml.YAMLError:
                return 0
    resources = body.get("Resources") if isinstance(body, dict) else None
    return len(resources) if isinstance(resources, dict) else 0


def _cfn_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader: Any, suffix: str, node: Any) -> Any:  # !Ref, !GetAtt, !Sub...: values do not matter
        return None

    Loader.add_multi_constructor("!", any_tag)
    return Loader


def read(session: Any, stack: str, deleting: bool = False) -> StackProgress | None:
    from pctl.aws.session import client

    try:
        cf = client(session, "cloudformation")
        stacks = cf.describe_stacks(StackName=stack)["Stacks"]
        status = stacks[0]["StackStatus"] if stacks else None
        resources = [r for page in cf.get_paginator("list_stack_resources").paginate(StackName=stack)
                     for r in page["StackResourceSummaries"]]
        total = _template_total(cf, stack) or len(resources)
        events = sorted(cf.describe_stack_events(StackName=stack)["StackEvents"],
                        key=lambda e: e.get("Timestamp") or 0, reverse=True)  # newest first
    except Exception:
        return None
    want = "DELETE_COMPLETE" if deleting else "_COMPLETE"
    done = sum(1 for r in resources if r["ResourceStatus"].endswith(want) and
               (deleting or not r["ResourceStatus"].startswith("DELETE")))
    if deleting:
        total = max(total, len(resources))
    event = None
    for e in events:  # newest first; skip the stack's own events when a resource has one
        if e.get("LogicalResourceId") != stack or e is events[-1]:
            event = f"{e.get('LogicalResourceId')} {e.get('ResourceStatus')}"
            if e.get("ResourceStatusReason"):
                event += f": {e['ResourceStatusReason']}"
            break
    return StackProgress(status, min(done, total) if total else done, total, event)
