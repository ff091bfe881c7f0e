"""The key pair pctl creates when the user names none (pctl.lifecycle.keypair), recorded in state."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, forget, log, transient_failure

KIND = "key_pair"


@task(name="key-pair", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def ensure(name: str, region: str, key_name: str) -> str:
    """Create `key_name` (or find the one a previous run made) and record it; returns the private key path."""
    from pctl import state
    from pctl.aws.session import make_session
    from pctl.lifecycle import keypair

    path = keypair.create(make_session(region), key_name, name)
    state.update(name, lambda s: s.add_resource(KIND, key_name, region, {"private_key": str(path)}))
    log(f"key pair {key_name} ready; its private key is {path} (mode 0600)")
    return str(path)


@task(name="delete-key-pair", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def delete(name: str, region: str) -> list[str]:
    """Delete the key pairs pctl created for `name` (never one the user named) and their private keys."""
    from pctl import state
    from pctl.aws.session import make_session
    from pctl.lifecycle import keypair

    st = state.load(name)
    records = st.resources_of(KIND) if st else []
    if not records:
        return []
    session = make_session(region)
    for rec in records:
        keypair.delete(session, rec.id)
        log(f"deleted key pair {rec.id} and its private key")
    forget(name, records)
    return [r.id for r in records]
