"""Cluster state under $PCTL_HOME/clusters: one JSON file per cluster, written atomically.

Why a file per cluster: `pctl list` must survive one corrupt file, and two clusters never contend.
Every write goes to a temp file in the same directory, is fsynced, then renamed over the old file, so
a crash mid-write leaves the previous state intact. A per-cluster `flock` lock makes sure that two
concurrent creates (or a create and a delete) of one name cannot both proceed.

Plain Python: no prefect, no boto3.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from pctl.errors import NotFound, StateError
from pctl.fsutil import atomic_write_text

SCHEMA_VERSION = 1
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,59}$")
_process_lock = threading.Lock()  # tasks of one flow run may record resources from worker threads


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Status:
    """The statuses a cluster's state moves through (strings in the file, so old files stay readable)."""

    PLANNED = "planned"
    CREATING = "creating"
    CREATE_FAILED = "create_failed"
    ROLLED_BACK = "rolled_back"
    ACTIVE = "active"
    DELETING = "deleting"
    DELETE_FAILED = "delete_failed"


class StatusChange(BaseModel):
    status: str
    at: str = Field(default_factory=now)
    detail: str | None = None


class ResourceRecord(BaseModel):
    """One AWS resource pctl created (never one the user supplied)."""

    kind: str
    id: str
    region: str
    extra: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=now)


class ClusterState(BaseModel):
    schema_version: int = SCHEMA_VERSION
    name: str
    region: str
    platform: str = "parallelcluster"  # or "pcs": which engine create, status and delete drive
    # PCS only, written before CreateCluster is sent: False means pctl never asked PCS for a cluster, so a
    # teardown needs no PCS call (None: not known, e.g. an older state: ask PCS).
    pcs_cluster_requested: bool | None = None
    container_images: dict[str, str] = Field(default_factory=dict)  # container name -> the image it runs (by digest)
    template_source: str = ""
    template_hash: str = ""
    status: str = Status.CREATING
    history: list[StatusChange] = Field(default_factory=list)
    # `epoch` is part of every Prefect cache key of an AWS step: after a rollback or a delete it
    # changes, so a cached "VPC vpc-123" is never handed back once vpc-123 is gone.
    epoch: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    resources: list[ResourceRecord] = Field(default_factory=list)
    # What the user brought: recorded so teardown can prove it never touches them.
    user_supplied: dict[str, str] = Field(default_factory=dict)
    ami_id: str | None = None
    ami_pcluster_version: str | None = None  # the pcluster the AMI was baked for (its parallelcluster:version)
    bucket: str | None = None
    scripts_prefix: str | None = None
    head_node_public_ip: str | None = None
    head_node_private_ip: str | None = None
    head_node_instance_id: str | None = None
    # SHA256 host key fingerprints from the head node's console output (cloud-init prints them at first
    # boot): `pctl verify` trusts exactly these. Empty: none found; verify then needs --fingerprint.
    host_key_fingerprints: list[str] = Field(default_factory=list)
    # What `pctl verify NAME` needs with no flags: the template as created, the SSH user and key pair.
    template_text: str | None = None
    ssh_user: str | None = None
    key_name: str | None = None
    pcluster_version: str | None = None  # the pcluster that created the cluster
    cluster_status: str | None = None  # pcluster's own status, last seen
    last_error: str | None = None
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)

    def set_status(self, status: str, detail: str | None = None) -> None:
        self.status = status
        self.history.append(StatusChange(status=status, detail=detail))

    def add_resource(self, kind: str, id: str, region: str, extra: dict[str, Any] | None = None) -> bool:
        """Record a created resource; False when it is already recorded (re-runs are idempotent)."""
        if any(r.kind == kind and r.id == id for r in self.resources):
            return False
        self.resources.append(ResourceRecord(kind=kind, id=id, region=region, extra=dict(extra or {})))
        return True

    def remove_resources(self, ids: set[str]) -> None:
        self.resources = [r for r in self.resources if r.id not in ids]

    def resources_of(self, *kinds: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.kind in kinds]


@dataclass(frozen=True)
class Entry:
    """One file in the state directory: a state, or why it could not be read."""

    name: str
    path: Path
    state: ClusterState | None
    error: str | None = None


# ---- locations --------------------------------------------------------------------------------

def home() -> Path:
    return Path(os.environ.get("PCTL_HOME") or Path.home() / ".pctl")


def state_dir() -> Path:
    d = home() / "clusters"
    d.mkdir(parents=True, exist_ok=True)
    return d


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise StateError(
            f"invalid cluster name {name!r}",
            "a letter, then letters, digits or hyphens; at most 60 characters",
        )
    return name


def path_for(name: str) -> Path:
    return state_dir() / f"{check_name(name)}.json"


# ---- reading and writing ----------------------------------------------------------------------

MAX_STATE_BYTES = 16 * 1024 * 1024  # a state holds a template and a resource list: kilobytes


def _parse(path: Path) -> ClusterState:
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise StateError(f"state file {path} is unreadable: larger than {MAX_STATE_BYTES} bytes", "move it aside")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError too
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise StateError(f"state file {path} is unreadable: {reason}",
                         "move it aside; `pctl list` shows the others") from exc
    if not isinstance(data, dict):
        raise StateError(f"state file {path} is not a JSON object", "move it aside")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise StateError(f"state file {path} has schema version {version!r}, this pctl reads {SCHEMA_VERSION}",
                         "use the pctl version that wrote it, or move the file aside")
    try:
        state = ClusterState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"state file {path} is invalid at {where}: {first['msg']}", "move it aside") from exc
    if state.name != path.stem:
        # Saving it would overwrite the state of the cluster it names: refuse it instead.
        raise StateError(f"state file {path} is for a cluster named {state.name[:60]!r}, not {path.stem!r}",
                         "move it aside (pctl never renames state files); `pctl list` shows the others")
    return state


def load(name: str) -> ClusterState | None:
    """The cluster's state, None when there is none; StateError when the file is corrupt."""
    path = path_for(name)
    if not path.exists():
        return None
    return _parse(path)


def get(name: str) -> ClusterState:
    state = load(name)
    if state is None:
        raise NotFound(f"no cluster named {name!r} in {state_dir()}",
                       f"`pctl list` shows the clusters pctl knows; if {name}'s local state is lost while its AWS "
                       f"resources remain, `pctl delete {name} --from-tags --region REGION` finds and deletes them "
                       "by their tags")
    return state


def save(state: ClusterState) -> Path:
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    path = path_for(state.name)
    state.updated_at = now()
    with _write_lock(path):
        _clean_temporaries(path)
        atomic_write_text(path, state.model_dump_json(indent=2) + "\n", mode=0o600)
    return path


@contextlib.contextmanager
def _write_lock(path: Path) -> Iterator[None]:
    """Serialise writers of one state file across processes (held for milliseconds): while a writer
    holds it, any temporary file of `path` that is not its own was left by a writer that died."""
    fd = os.open(path.with_name(f".{path.name}.write-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _clean_temporaries(path: Path) -> None:
    """Remove temporary files a killed write left (atomic_write_text names them .<file>.<random>.tmp)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def update(name: str, change: Any) -> ClusterState:
    """Load, apply `change(state)`, save: the one way tasks record things (thread-safe in-process)."""
    with _process_lock:
        state = get(name)
        change(state)
        save(state)
        return state


def remove(name: str) -> None:
    path = path_for(name)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    _clean_temporaries(path)


# ---- the owner id -----------------------------------------------------------------------------

OWNER_ID_RE = re.compile(r"[0-9a-f]{16}")


def owner_id() -> str:
    """This installation's owner id: 16 hex digits, made once per PCTL_HOME and kept in $PCTL_HOME/owner-id.

    Every AWS resource pctl creates carries it (tag pctl:owner), so two installations in one account
    (two colleagues, a laptop and a Prefect worker) never adopt or delete each other's resources.
    """
    path = home() / "owner-id"
    try:
        value = path.read_text(encoding="ascii").strip()
        if OWNER_ID_RE.fullmatch(value):
            return value
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".owner-id.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(uuid.uuid4().hex[:16] + "\n", encoding="ascii")
    try:
        os.link(tmp, path)  # first writer wins; a racing one reads the winner's id below
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
        if not OWNER_ID_RE.fullmatch(value):  # a corrupt id file: replace it (nothing valid carries it)
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path.read_text(encoding="ascii").strip()


def list_all() -> list[Entry]:
    """Every state file, sorted by name; unreadable ones come back with `error` set (never raised)."""
    out = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            out.append(Entry(path.stem, path, _parse(path)))
        except StateError as exc:
            out.append(Entry(path.stem, path, None, str(exc)))
        except Exception as exc:  # never let one file break the listing
            out.append(Entry(path.stem, path, None, f"state file {path} is unreadable: {type(exc).__name__}"))
    return out


# ---- the per-cluster lock ---------------------------------------------------------------------

@contextlib.contextmanager
def lock(name: str, doing: str = "create") -> Iterator[None]:
    """Hold an exclusive, non-blocking flock on <name>.lock; a second holder fails at once.

    flock is released by the kernel when the process dies, so a crashed run never leaves a stale lock.
    """
    path = state_dir() / f"{check_name(name)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another pctl process"
            raise StateError(
                f"cluster {name!r} is locked by {holder}",
                "another pctl run is working on this cluster; wait for it to finish (`pctl status "
                f"{name}`), or pick another --name",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({doing}, since {now()})".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def locked_by(name: str) -> str | None:
    """Who holds the cluster's lock right now ("pid N (create, since T)"), None when nobody does.

    Used to tell a running create from one that died (a `creating` state whose lock is free).
    """
    path = state_dir() / f"{check_name(name)}.lock"
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another pctl process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
