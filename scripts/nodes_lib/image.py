"""What a node's root filesystem carries, per OS: the ONE place where tier 3 differs by OS.

The nodes are Debian bookworm (debootstrap from Debian's archive). A template's OS is rendered as the
nearest Debian-family OS ParallelCluster supports, so the node scripts run their Ubuntu (`deb`) branch.
`IMAGE_PACKAGES` is what an official ParallelCluster image of that OS carries that the scripts rely on;
`NODE_PACKAGES` is what runs the local node itself (not part of any ParallelCluster image).
docs/nodes.md lists both with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Image:
    render_os: str             # the template OS the nodes render for (its script branch runs here)
    packages: tuple[str, ...]  # Debian packages standing in for the official image's software
    module_system: str         # what the image's /etc/profile.d brings: "environment-modules" (Tcl)
    bash_env: bool             # the image's module init exports BASH_ENV (Ubuntu and EL8 images do)
    files: tuple[tuple[str, str], ...] = ()  # (path, text) the image has beyond its packages


# Official ParallelCluster Ubuntu 22.04 image (aws-parallelcluster-cookbook, install recipes):
# build tools (gcc, g++, make; no gfortran), environment-modules (Tcl), Slurm under /opt/slurm with munge,
# python3, git, curl. Debian 12 versions of the same packages stand in.
UBUNTU2204 = Image(
    render_os="ubuntu2204",
    packages=(
        "gcc", "g++", "make", "patch", "file", "bzip2", "xz-utils", "unzip", "gzip", "tar",
        "ca-certificates", "curl", "git", "gnupg", "python3", "python3-venv", "sudo",
        "environment-modules", "tcl",
        "munge", "slurmctld", "slurmd", "slurm-client", "libslurm-dev",
        "openssh-server",
    ),
    module_system="environment-modules",
    bash_env=True,
    files=(
        # Ubuntu images' environment-modules init exports BASH_ENV, so every non-interactive bash (a
        # `#!/bin/bash` batch job) gets the Tcl `module` function; Debian's package does not, so add it.
        ("/etc/profile.d/modules-bash-env.sh",
         "# pctl-nodes: as on ParallelCluster's Ubuntu images, non-login bash gets the Tcl module command\n"
         "export BASH_ENV=/usr/share/modules/init/bash\n"),
    ),
)

# Runs the local node itself (init, process tools), not something the scripts may rely on.
# lmod: `spack install --fake` leaves Spack's own Lmod an empty prefix, so Debian's Lmod stands in for
# it at /usr/share/lmod (one of the places the node scripts look). Debian's lmod package conflicts with
# environment-modules (the image's), so its files are unpacked (EXTRACT) beside its Lua dependencies,
# and its /etc/profile.d hook is removed (UNHOOK): only the scripts' own profile snippet may make
# `module` Lmod, as on a real image.
NODE_PACKAGES = ("tini", "procps", "iproute2", "util-linux",
                 "lua5.3", "lua-posix", "lua-filesystem", "lua-json", "lua-term")
EXTRACT = ("lmod",)
UNHOOK = ("/etc/profile.d/lmod.sh",)

# Every template OS maps to the image the nodes can stand in for.
RENDER_AS = {
    "ubuntu2204": UBUNTU2204,
    "ubuntu2404": UBUNTU2204,
    "alinux2023": UBUNTU2204,
    "rhel8": UBUNTU2204,
    "rhel9": UBUNTU2204,
    "rocky8": UBUNTU2204,
    "rocky9": UBUNTU2204,
}

# The OS default user of the image (uid 1000 on Ubuntu images): pctl verify logs in as this user.
DEFAULT_USER = ("ubuntu", 1000)


def image_for(template_os: str) -> Image:
    """The image standing in for TEMPLATE_OS (ubuntu2204 for every OS today)."""
    return RENDER_AS.get(template_os, UBUNTU2204)


def all_packages(image: Image) -> tuple[str, ...]:
    return tuple(sorted(set(image.packages) | set(NODE_PACKAGES)))
