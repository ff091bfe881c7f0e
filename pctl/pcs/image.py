"""The image of a PCS node group when the template has nothing to bake: the sample AMI AWS publishes
for PCS, found by name, never hard-coded.

AWS PCS User Guide, "Using sample AMIs with AWS PCS": the images are named
`aws-pcs-sample_ami-<OS>-<architecture>-slurm-<scheduler major version>` (OS `amzn2` up to Slurm
25.05, `al2023` from 25.11), owned by Amazon; the newest image of that name wins. The guide calls
them a starting point, not a production image: `pctl create` says so when it uses one.
"""

from __future__ import annotations

from typing import Any

from pctl.errors import PctlError

SAMPLE_NAME = "aws-pcs-sample_ami-*-{arch}-slurm-{version}*"
ARCHES = {"x86_64": "x86_64", "arm64": "arm64"}


def find_sample_ami(ec2: Any, architecture: str, slurm_version: str) -> dict[str, str]:
    """`{"image_id", "name"}` of the newest PCS sample AMI for this architecture and Slurm version.

    Raises PctlError naming the pattern when the region has none.
    """
    pattern = SAMPLE_NAME.format(arch=ARCHES[architecture], version=slurm_version)
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]}])["Images"]
    if not images:
        raise PctlError(f"no PCS sample AMI named {pattern} in this region",
                        "pick a Slurm version AWS publishes sample AMIs for, or bake one (software.install: ami)")
    newest = max(images, key=lambda i: i.get("CreationDate", ""))
    return {"image_id": newest["ImageId"], "name": newest["Name"]}


# The PCS agent's major version in the installer names (aws-pcs-agent-v<major>-latest.tar.gz).
AGENT_MAJOR = "1"


def pcs_software_script(region: str, slurm_version: str) -> str:
    """The bake step that makes an image PCS accepts: the PCS agent and Slurm `slurm_version`, each
    downloaded from AWS's PCS repository in `region` and checked against AWS's PCS public key."""
    from pctl.pcs.nodes import _env

    return _env().get_template("pcs-software.sh.j2").render(region=region, slurm_version=slurm_version,
                                                            agent_major=AGENT_MAJOR)


def fingerprint_payload(slurm_version: str) -> dict[str, str]:
    """What a PCS image adds to pctl's AMI fingerprint: a new agent line or Slurm version re-bakes."""
    return {"pcs_agent": f"v{AGENT_MAJOR}", "pcs_slurm": slurm_version}


# The OS a baked PCS image starts from: Amazon Linux 2023 as AWS publishes it (PCS supports it; the
# agent and Slurm installers come on top). Found by name, newest first.
BASE_NAME = "al2023-ami-2023.*-{arch}"


def base_image_record(ec2: Any, architecture: str) -> dict[str, Any]:
    """The newest Amazon Linux 2023 image for `architecture` (PctlError when the region has none)."""
    pattern = BASE_NAME.format(arch=ARCHES[architecture])
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]}])["Images"]
    images = [i for i in images if "minimal" not in i.get("Name", "")]
    if not images:
        raise PctlError(f"no Amazon Linux 2023 image named {pattern} in this region", "pick another region")
    return max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))


def bake_script(region: str, slurm_version: str, software_script: str) -> str:
    """The whole bake of a PCS image: the PCS agent and Slurm first, then pctl's software script."""
    from pctl.pcs.nodes import _env

    return _env().get_template("bake.sh.j2").render(
        pcs_software=pcs_software_script(region, slurm_version).rstrip("\n"),
        software=software_script.rstrip("\n"))
