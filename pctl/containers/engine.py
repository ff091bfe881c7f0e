"""Build a container recipe with podman or Docker, and push the image to Amazon ECR.

Neither engine is required: `find_engine()` returns None when none is installed or none answers
(`<engine> info` fails: no daemon, no user namespaces), and the caller says so and leaves the recipe.
The ECR side is boto3 only: `ensure_repository` (scan on push, encryption at rest, tagged with the
cluster) and `registry_login` (the token from `get_authorization_token`, piped to `<engine> login
--password-stdin`, never on a command line).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pctl.errors import PctlError
from pctl.model.constants import CLUSTER_TAG

ENGINES = ("podman", "docker")


@dataclass(frozen=True)
class Engine:
    name: str
    path: str

    def run(self, *args: str, input_text: str | None = None, timeout: float = 7200) -> subprocess.CompletedProcess:
        return subprocess.run([self.path, *args], input=input_text, capture_output=True, text=True, timeout=timeout)


def find_engine() -> tuple[Engine | None, str]:
    """The first engine that is installed AND answers `info`; else None and why (for the user)."""
    reasons = []
    for name in ENGINES:
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} is not installed")
            continue
        engine = Engine(name, path)
        try:
            probe = engine.run("info", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{name} does not answer ({exc})")
            continue
        if probe.returncode == 0:
            return engine, f"{name} at {path}"
        first = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"{name} is installed but cannot run containers here ({first})")
    return None, "; ".join(reasons)


def build(engine: Engine, context_dir: Path, tag: str) -> None:
    proc = engine.run("build", "-t", tag, "-f", str(context_dir / "Dockerfile"), str(context_dir))
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise PctlError(f"{engine.name} build of {tag} failed:\n{tail}",
                        f"the recipe is in {context_dir}; fix the packages or build it by hand")


def repository_name(cluster: str, container: str) -> str:
    return f"pctl/{cluster.lower()}/{container}"


def ensure_repository(ecr: Any, name: str, cluster: str, kms_key: str | None = None) -> str:
    """The repository's URI, created with scan on push and encryption (KMS when a key is named)."""
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
        encryption = {"encryptionType": "KMS", "kmsKey": kms_key} if kms_key else {"encryptionType": "AES256"}
        repo = ecr.create_repository(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration=encryption, imageTagMutability="IMMUTABLE",
            tags=[{"Key": CLUSTER_TAG, "Value": cluster}])["repository"]
    return repo["repositoryUri"]


def registry_login(ecr: Any, engine: Engine) -> str:
    """Log `engine` in to the account's registry; returns the registry host."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    host = data["proxyEndpoint"].removeprefix("https://")
    proc = engine.run("login", "--username", user, "--password-stdin", host, input_text=password, timeout=120)
    if proc.returncode != 0:
        raise PctlError(f"{engine.name} login to {host} failed: {proc.stderr.strip()[:300]}",
                        "check the AWS credentials (ecr:GetAuthorizationToken)")
    return host


def push(engine: Engine, local_tag: str, remote: str) -> None:
    for args in (("tag", local_tag, remote), ("push", remote)):
        proc = engine.run(*args)
        if proc.returncode != 0:
            raise PctlError(f"{engine.name} {args[0]} {remote} failed: {proc.stderr.strip()[:300]}",
                            "check the repository policy and your credentials")


def pushed_digest(ecr: Any, repository: str, tag: str) -> str | None:
    """The sha256 digest ECR holds for `repository:tag` (what a cluster then pins), or None."""
    try:
        images = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("ImageNotFoundException",
                                                                         "RepositoryNotFoundException"):
            return None
        raise
    return images[0]["imageDigest"] if images else None
