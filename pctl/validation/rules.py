"""Pure syntax rules shared by validators, renderers and capture (no template needed)."""

from __future__ import annotations

import ipaddress
import json
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path, PurePosixPath

from pctl.model.constants import PCLUSTER_RESERVED_DIRS, SYSTEM_PATHS

CLUSTER_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]+\Z")
CLUSTER_NAME_MAX = 60
QUEUE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*\Z")
QUEUE_NAME_MAX = 25  # also compute resource names
POSIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
MOUNT_POINT_RE = re.compile(r"^/[A-Za-z0-9._/-]+\Z")
SUBNET_RE = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})\Z")
EFS_ID_RE = re.compile(r"^fs-(?:[0-9a-f]{8}|[0-9a-f]{17})\Z")
FSX_ID_RE = re.compile(r"^fs-[0-9a-f]{17}\Z")  # pcluster requires the 17-digit form
EBS_VOLUME_RE = re.compile(r"^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})\Z")
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9 ._:/+=@-]{1,255}\Z")
SPACK_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\Z")
TAG_KEY_RE = re.compile(r"^[\w.:/=+@ -]{1,128}\Z")
TAG_VALUE_RE = re.compile(r"^[\w.:/=+@ -]{0,256}\Z")
SNAPSHOT_RE = re.compile(r"^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})\Z")
ACCESS_POINT_RE = re.compile(r"^fsap-[0-9a-f]{17}\Z")
# A KMS key id (UUID), alias/NAME, or the ARN of either.
KMS_KEY_RE = re.compile(
    r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]{1,250})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[A-Za-z0-9/_-]{1,250})\Z"
)
HHMM_RE = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]\Z")
WEEKLY_TIME_RE = re.compile(r"^[1-7]:(?:[01][0-9]|2[0-3]):[0-5][0-9]\Z")
CONTAINER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z")

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
    )\Z""",
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
            if piece and not _SPEC_TOKEN.fullmatch(piece):
                return f"cannot read {piece!r}"
    return None


def spack_package_name(spec: str) -> str:
    return re.split(r"[@%+~^ /]", spec.strip(), maxsplit=1)[0]


def spack_spec_version(spec: str) -> str | None:
    m = re.match(rf"{_NAME}@=?([A-Za-z0-9_.-]+)", spec.strip())
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

def mount_point_problem(path: str, *, home_ok: bool = False) -> str | None:
    """Why `path` cannot be a mount point, or None. `home_ok`: /home itself is allowed (shared storage)."""
    if not path.startswith("/"):
        return "must be an absolute path"
    if not MOUNT_POINT_RE.fullmatch(path):
        return "may contain only letters, digits, '.', '_', '-' and '/'"
    if path != str(PurePosixPath(path)) or "/../" in f"{path}/" or "/./" in f"{path}/":
        return f"must be a normalized path (no trailing '/', '//', '.' or '..'): {PurePosixPath(path)}"
    if path in PCLUSTER_RESERVED_DIRS:
        return f"is {path} itself, which ParallelCluster reserves (a directory below it works)"
    for system in SYSTEM_PATHS:
        if home_ok and system == "/home" and path == "/home":
            continue
        if path == system or (system != "/" and path.startswith(system + "/")):
            return f"is inside the system path {system}"
    return None


def paths_overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


# ---- regions -----------------------------------------------------------------------------------

@cache
def known_regions() -> frozenset[str]:
    """Regions from botocore's own data, read as JSON (no botocore import: keep validate fast).

    botocore's partitions.json (a few KB, what botocore itself resolves regions from) is read when it
    exists, else the 1.2 MB endpoints.json (~25 ms to parse). Pseudo-regions (`aws-global`) are left out.
    """
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    regions: set[str] = set()
    for name in ("partitions.json", "endpoints.json"):
        path = data_dir / name
        if path.exists():
            for partition in json.loads(path.read_text())["partitions"]:
                regions.update(r for r in partition.get("regions", {}) if not r.endswith("-global"))
            break
    return frozenset(regions)


def cidr_problem(cidr: str) -> str | None:
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return str(exc)
    return None


# ---- container images ------------------------------------------------------------------------------
# The OCI distribution reference grammar (github.com/distribution/reference): [domain[:port]/]path[:tag][@digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_PART}(?:/{_PATH_PART})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?\Z"
)
ECR_DOMAIN_RE = re.compile(r"^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\Z")


def image_reference_problem(ref: str) -> str | None:
    """Why `ref` is not a registry image reference (ECR URI, Docker Hub name, other registry), or None."""
    m = IMAGE_REF_RE.fullmatch(ref)
    if not m:
        return ("is not an image reference: [registry/]repository[:tag][@sha256:digest], lowercase repository, "
                "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1")
    if len(m.group("name")) > 255:
        return "has a repository name longer than 255 characters"
    domain = m.group("domain")
    first = m.group("name").split("/", 1)[0]
    # Only a first component with a dot, a port or `localhost` is a registry (else it is a Docker Hub path).
    if domain and ("." in first or ":" in first or first == "localhost"):
        if ".dkr.ecr" in domain and not ECR_DOMAIN_RE.fullmatch(domain):
            return "has a malformed ECR registry: ACCOUNT(12 digits).dkr.ecr.REGION.amazonaws.com"
    elif not re.fullmatch(_PATH_PART, first):
        return "has an upper-case or malformed repository name (repositories are lowercase)"
    return None


def ecr_region(ref: str) -> str | None:
    """The region of an ECR image reference, or None for other registries."""
    domain = ref.split("/", 1)[0]
    if ECR_DOMAIN_RE.fullmatch(domain):
        return domain.split(".")[3]
    return None


# ---- networks --------------------------------------------------------------------------------------

def ipv4_cidr_problem(cidr: str) -> str | None:
    """Why `cidr` is not an IPv4 network in CIDR form (host bits clear), or None."""
    if not re.fullmatch(r"[0-9./]+", cidr, re.ASCII):
        return "write an IPv4 network such as 10.42.0.0/16"
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return str(exc)
    if net.version != 4:
        return "ParallelCluster takes IPv4 ranges only"
    return None


PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def vpc_cidr_problem(cidr: str) -> str | None:
    """A VPC range pctl creates: private (RFC 1918) and /16 to /28 (AWS's VPC size limits)."""
    problem = ipv4_cidr_problem(cidr)
    if problem:
        return problem
    net = ipaddress.ip_network(cidr)
    if not 16 <= net.prefixlen <= 28:
        return f"is a /{net.prefixlen}; AWS VPCs are /16 to /28"
    if not any(net.subnet_of(p) for p in PRIVATE_RANGES):
        return "is not a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
    return None


def ssh_exposure(cidr: str, written_in_template: bool) -> str | None:
    """Why an effective SSH range deserves a warning, or None.

    The internet (or any range of a /8 or wider that holds public addresses) always warrants one; any
    other public range warrants one unless the template itself wrote it in `networking.ssh_allowed_cidr`
    (an option, an environment variable or a VPC's own public range is not the template's word).
    """
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None  # not a CIDR: refused elsewhere
    private = any(net.version == p.version and net.subnet_of(p) for p in PRIVATE_RANGES)
    if net.prefixlen == 0:
        return "SSH to the head node is open to the whole internet"
    if not private and net.prefixlen <= 8:
        return f"SSH to the head node is open to {net.num_addresses:,} public addresses ({cidr})"
    if not private and not written_in_template:
        return f"SSH to the head node is open to the public range {cidr}, which the template does not name"
    return None
