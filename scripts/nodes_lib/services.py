"""Files that make a node a ParallelCluster-like node: Slurm, munge, sshd, node.env, the S3 stand-in.

All are written into a node's overlay upper layer (its disk) before the node first starts, and the
node's services script (/usr/local/sbin/pctl-node-services) starts the daemons at every boot, as
ParallelCluster's own bootstrap does before it runs a node's OnNodeConfigured action.

Ports (127.0.0.1 only, all nodes share the host's network): slurmctld SLURMCTLD_PORT, each compute
node's slurmd its own port from SLURMD_PORT up, the head node's sshd SSH_PORT. They differ from
scripts/headnode's (2222, 6817, 6818) so both can run at once.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

SSH_PORT = 2322
SLURMCTLD_PORT = 6827
SLURMD_PORT = 6828
CLUSTER_NAME = "pctl-nodes"


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def slurm_conf(compute: list[tuple[str, list[str]]], cpus: int) -> str:
    """COMPUTE: (node name, [queues it serves]) in order; one NodeName per compute node, own port."""
    lines = [
        f"ClusterName={CLUSTER_NAME}",
        "SlurmctldHost=head(127.0.0.1)",
        "SlurmUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"SlurmctldPort={SLURMCTLD_PORT}",
        f"SlurmdPort={SLURMD_PORT}",
        "StateSaveLocation=/var/spool/slurmctld",
        "SlurmdSpoolDir=/var/spool/slurmd",
        "SlurmctldPidFile=/run/slurmctld.pid",
        "SlurmdPidFile=/run/slurmd.pid",
        "SlurmctldLogFile=/var/log/slurm/slurmctld.log",
        "SlurmdLogFile=/var/log/slurm/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "MinJobAge=600",
        "SlurmdTimeout=60",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        # ParallelCluster propagates no resource limits either.
        "PropagateResourceLimitsExcept=ALL",
    ]
    for i, (node, _) in enumerate(compute):
        lines.append(f"NodeName={node} NodeAddr=127.0.0.1 Port={SLURMD_PORT + i} CPUs={cpus} "
                     "RealMemory=1000 State=UNKNOWN")
    first = True
    for node, queues in compute:
        for q in queues:
            lines.append(f"PartitionName={q} Nodes={node} Default={'YES' if first else 'NO'} "
                         "MaxTime=INFINITE State=UP")
            first = False
    return "\n".join(lines) + "\n"


def node_env(values: dict[str, str]) -> str:
    """/etc/pctl/node.env: plain KEY=value shell lines, sourced by every rendered node script."""
    head = "# Written by scripts/nodes (the local tier-3 cluster); knobs of the pctl node scripts.\n"
    return head + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def hosts(names: list[str]) -> str:
    return "127.0.0.1 localhost " + " ".join(names) + "\n::1 localhost ip6-localhost\n"


# mount-s3 stand-in: S3 cannot be reached here. BOUNDARY, documented in docs/nodes.md: it checks the
# arguments the way mount-s3 does (bucket, directory, --prefix ending in '/', known options), records
# them, and bind-mounts the bucket's local stand-in directory (read-only with --read-only).
MOUNT_S3 = r"""#!/bin/bash
# pctl-nodes stand-in for Mountpoint for Amazon S3 (mount-s3): S3 is out of reach of the local nodes.
# It records its arguments in /var/log/pctl-nodes/mount-s3.log and bind-mounts
# /var/lib/pctl-nodes/s3/BUCKET[/PREFIX] (a directory shared by every node) on the mount point.
set -euo pipefail
mkdir -p /var/log/pctl-nodes
printf '%s\n' "$*" >> /var/log/pctl-nodes/mount-s3.log
ro=0 prefix="" pos=()
while (($#)); do
    case $1 in
        --read-only) ro=1 ;;
        --prefix) prefix=$2; shift ;;
        --prefix=*) prefix=${1#--prefix=} ;;
        --allow-other|--allow-delete|--allow-overwrite|--allow-root|--foreground|-f) ;;
        --dir-mode|--file-mode|--uid|--gid|--region|--cache|--max-threads|--part-size) shift ;;
        --*) echo "mount-s3 (stand-in): unknown option $1" >&2; exit 2 ;;
        *) pos+=("$1") ;;
    esac
    shift
done
((${#pos[@]} == 2)) || { echo "mount-s3 (stand-in): want BUCKET DIRECTORY, got: ${pos[*]}" >&2; exit 2; }
bucket=${pos[0]} dir=${pos[1]}
if [[ -n $prefix && $prefix != */ ]]; then
    echo "mount-s3: error: prefix '$prefix' must end in '/'" >&2; exit 2
fi
src=/var/lib/pctl-nodes/s3/$bucket/$prefix
[[ -d /var/lib/pctl-nodes/s3/$bucket ]] || { echo "mount-s3: bucket $bucket does not exist" >&2; exit 1; }
mkdir -p "$src"
mount --bind "$src" "$dir"
if ((ro)); then mount -o remount,bind,ro "$dir"; fi
"""


# apptainer stand-in: Apptainer has no Debian package and images cannot be pulled here. BOUNDARY,
# documented in docs/nodes.md: it records every call; `pull [--force] DEST SOURCE` writes a small file
# at DEST (naming SOURCE) the way a pull leaves a SIF; `exec [--bind B] SIF CMD ARGS...` prints what it
# would run and exits 0.
APPTAINER = r"""#!/bin/bash
# pctl-nodes stand-in for Apptainer: records its arguments in /var/log/pctl-nodes/apptainer.log.
set -euo pipefail
mkdir -p /var/log/pctl-nodes
printf '%s\n' "$*" >> /var/log/pctl-nodes/apptainer.log
case ${1:-} in
    pull)
        shift
        [[ ${1:-} == --force ]] && shift
        (($# == 2)) || { echo "apptainer (stand-in): pull [--force] DEST SOURCE" >&2; exit 2; }
        printf 'stand-in SIF of %s\n' "$2" > "$1" ;;
    exec)
        shift
        [[ ${1:-} == --bind ]] && shift 2
        [[ -f ${1:-} ]] || { echo "apptainer (stand-in): no image ${1:-}" >&2; exit 255; }
        shift
        echo "APPTAINER-EXEC $*" ;;
    *) echo "apptainer (stand-in): only pull and exec" >&2; exit 2 ;;
esac
"""


def services_script(role: str) -> str:
    """/usr/local/sbin/pctl-node-services: start munge and this node's Slurm daemon (and sshd on head)."""
    daemons = {
        "head": ["/usr/sbin/slurmctld", "/usr/sbin/sshd -f /etc/ssh/pctl-nodes_sshd_config"],
        "compute": ["/usr/sbin/slurmd"],
    }[role]
    ready = {
        "head": "scontrol ping | grep -q UP",
        "compute": "test -s /run/slurmd.pid",
    }[role]
    return f"""#!/bin/bash
# Started by scripts/nodes at every boot of this node, before the OnNodeConfigured action.
set -euo pipefail
export PATH=/opt/slurm/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/munge /run/sshd /var/log/slurm /var/log/pctl-nodes /var/spool/slurmd /var/spool/slurmctld
chown munge:munge /run/munge /etc/munge/munge.key
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged
for _ in $(seq 100); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
munge -n </dev/null | unmunge >/dev/null
{chr(10).join(daemons)}
for _ in $(seq 300); do {ready} 2>/dev/null && exit 0; sleep 0.1; done
echo "pctl-node-services: {role} services did not come up" >&2
exit 1
"""


def sshd_config() -> str:
    return f"""# The head node's sshd for pctl verify (scripts/nodes): loopback only, keys only.
Port {SSH_PORT}
ListenAddress 127.0.0.1
HostKey /etc/ssh/pctl-nodes_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
Subsystem sftp internal-sftp
"""
