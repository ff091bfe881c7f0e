"""What a node needs for the template's containers: the context of the node scripts' containers block.

Shape of `node_context(t, shared_root, arch, package_family)`:
`{"dir": "<shared>/containers", "apptainer": {"version", "url"}, "profile": path,
  "entries": [{"name", "image", "sif", "modules": [{"module": "samtools/1.17", "command": "samtools"}]}]}`.

Every package of a container becomes a module `<package>/<version>` (version from its spec, else
`container`) whose command is the package name, run by `apptainer exec` with the shared volumes and
/home bound. A container with an image but no packages becomes one module named after it, whose command
(the container's name) runs any program inside it. Containers with packages but no `image` are built
with `pctl container build --push`; until the template names the pushed image, nodes skip them.
"""

from __future__ import annotations

from typing import Any

from pctl.model.template import Template

APPTAINER_VERSION = "1.3.6"
# Apptainer's own release packages (github.com/apptainer/apptainer/releases), pinned like mount-s3.
APPTAINER_URLS = {
    ("deb", "x86_64"): "https://github.com/apptainer/apptainer/releases/download/v{v}/apptainer_{v}_amd64.deb",
    ("deb", "arm64"): "https://github.com/apptainer/apptainer/releases/download/v{v}/apptainer_{v}_arm64.deb",
    ("rpm", "x86_64"): "https://github.com/apptainer/apptainer/releases/download/v{v}/apptainer-{v}-1.x86_64.rpm",
    ("rpm", "arm64"): "https://github.com/apptainer/apptainer/releases/download/v{v}/apptainer-{v}-1.aarch64.rpm",
}
PROFILE = "/etc/profile.d/pctl-zz-containers.sh"  # after pctl-modules.sh (Lmod) in name order


def _module(spec: str) -> tuple[str, str]:
    """('samtools', '1.17') from 'samtools@1.17 +foo'; the version is 'container' when the spec has none."""
    head = spec.split()[0]
    name, _, version = head.partition("@")
    version = version.split("%")[0].split("+")[0].split("~")[0] or "container"
    return name.split("%")[0].split("+")[0], version


def node_context(t: Template, shared_root: str, arch: str, package_family: str) -> dict[str, Any]:
    root = f"{shared_root.rstrip('/')}/containers"
    entries = []
    for c in t.software.containers:
        if not c.image:
            continue
        if c.packages:
            mods = [{"module": f"{n}/{v}", "command": n, "any": False} for n, v in map(_module, c.packages)]
        else:
            mods = [{"module": f"{c.name}/latest", "command": c.name, "any": True}]
        entries.append({"name": c.name, "image": c.image, "sif": f"{root}/{c.name}.sif", "modules": mods})
    binds = sorted({s.mount_point for s in t.shared_storage} | {"/home"})
    return {
        "dir": root,
        "binds": ",".join(binds),
        "profile": PROFILE,
        "apptainer": {"version": APPTAINER_VERSION,
                      "url": APPTAINER_URLS[(package_family, arch)].format(v=APPTAINER_VERSION)},
        "entries": entries,
        "unbuilt": [c.name for c in t.software.containers if not c.image],
    }
