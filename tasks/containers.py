"""Containers step of a create: pin every container image by digest before the node scripts render."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.model.template import Template
from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, log, transient_failure


@task(name="pin-container-images", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def pin(name: str, region: str, template: Template) -> Template:
    """The template with each ECR image resolved to its digest; the references go into state."""
    from pctl import state
    from pctl.aws.session import client, make_session
    from pctl.containers.pin import NOT_PINNED, pin_images, pinned

    session = make_session(region)
    pinned_template, refs = pin_images(template, lambda r: client(session, "ecr", r))
    for container, ref in refs.items():
        log(f"container {container}: {ref}" + ("" if pinned(ref) else f" ({NOT_PINNED})"))
    state.update(name, lambda s: setattr(s, "container_images", refs))
    return pinned_template
