"""Pure syntax rules shared by validators, renderers and capture (no template needed)."""

from __future__ import annotations

import ipaddress
import json
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path, PurePosixPath

from pctl.model.constants import SYSTEM_PATHS

CLUSTER_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]+$")
CLUSTER_NAME_MAX = 60
QUEUE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
QUEUE_NAME_MAX = 25  # also compute resource names
POSIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
MOUNT_POINT_RE = re.compile(r"^/[A-Za-z0-9._/-]+$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
EFS_ID_RE = re.compile(r"^fs-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
FSX_ID_RE = re.compile(r"^fs-[0-9a-f]{17}$")  # pcluster requires the 17-digit form
EBS_VOLUME_RE = re.compile(r"^vol-[0-9a-f]{8,17}$")
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9 ._:/+=@-]{1,255}$")
SPACK_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
TAG_KEY_RE = re.compile(r"^[\w.:/=+@ -]{1,128}$")
TAG_VALUE_RE = re.compile(r"^[\w.:/=+@ -]{0,256}$")

# ---- Spack specs -------------------------------------------------------------------------------
# A deliberately small grammar: a package name, then tokens Spack understands. Anything else,
# and any shell metacharacter, is refused before it can reach a script.
_NAME = r"[a-z0-9][a-z0-9_-]*"
_VERSION = r"[A-Za-z0-9_.:,-]+"
_SPEC_TOKEN = re.compile(
    rf"""^(?:
        {_NAME}(?:@={_VERSION}|@{_VERSION})?       # package[@version]
      | @={_VERSION} | @{_VERSION}                  # @version
      | [+~-][a-z0-9_]+                             # +variant ~variant
      | [a-z0-9_]+==?[A-Za-z0-9_.,:-]+              # variant=value
      | %{_NAME}(?:@{_VERSION})?                    # %compiler[@version]
      | \^{_NAME}(?:@{_VERSION})?                   # ^dependency[@version]
      | /[a-z0-9]{{4,32}}                           # /hash
    )$""",
    re.VERBOSE,
)
SHELL_METACHARACTERS = set(";&|$`<>(){}[]'\"\\!*?#\n\r\t")


def spack_spec_problem(spec: str) -> str | None:
    """Why `spec` is not an acceptable Spack spec, or None."""
    if not spec.strip():
        return "empty spec"
    bad = sorted({c for c in spec if c in SHELL_METACHARACTERS})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"contains shell metacharacters ({shown})"
    tokens = spec.split()
    if not re.fullmatch(_NAME, tokens[0].split("@")[0]):
        return f"must start with a lowercase package name, not {tokens[0]!r}"
    for token in tokens:
        # Spack also allows `^dep+variant`/`pkg+variant` glued together; split such tokens.
        for piece in re.split(r"(?=[+~%^](?![=]))", token):
            if piece and not _SPEC_TOKEN.match(piece):
                return f"cannot read {piece!r}"
    return None


def spack_package_name(spec: str) -> str:
    return re.split(r"[@%+~^ /]", spec.strip(), maxsplit=1)[0]


def spack_spec_version(spec: str) -> str | None:
    m = re.match(rf"^{_NAME}@=?([A-Za-z0-9_.-]+)", spec.strip())
    return m.group(1) if m else None


# ---- S3 ----------------------------------------------------------------------------------------

def s3_bucket_problem(bucket: str) -> str | None:
    """AWS's general-purpose bucket naming rules."""
    if not 3 <= len(bucket) <= 63:
        return "must be 3 to 63 characters long"
    if not re.fullmatch(r"[a-z0-9.-]+", bucket):
        return "may contain only lowercase letters, digits, dots and hyphens"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if ".." in bucket:
        return "must not contain two adjacent dots"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if bucket.startswith(prefix):
            return f"must not start with {prefix!r}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if bucket.endswith(suffix):
            return f"must not end with {suffix!r}"
    return None


# ---- paths -------------------------------------------------------------------------------------

def mount_point_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return "must be an absolute path"
    if not MOUNT_POINT_RE.match(path):
        return "may contain only letters, digits, '.', '_', '-' and '/'"
    if path != str(PurePosixPath(path)) or "/../" in f"{path}/" or "/./" in f"{path}/":
        return f"must be a normalized path (no trailing '/', '//', '.' or '..'): {PurePosixPath(path)}"
    for system in SYSTEM_PATHS:
        if path == system or (system != "/" and path.startswith(system + "/")):
            return f"is inside the system path {system}"
    return None


def paths_overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


# ---- regions -----------------------------------------------------------------------------------

@cache
def known_regions() -> frozenset[str]:
    """Regions from botocore's own endpoint data, read as JSON (no botocore import: keep validate fast)."""
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    regions: set[str] = set()
    endpoints = data_dir / "endpoints.json"
    if endpoints.exists():
        for partition in json.loads(endpoints.read_text())["partitions"]:
            regions.update(partition.get("regions", {}))
    return frozenset(regions)


def cidr_problem(cidr: str) -> str | None:
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return str(exc)
    return None
