"""Constants shared by the model, the validators, the renderers and capture.

They live in one place so that validation and capture agree (for example on the UID range).
"""

from __future__ import annotations

# Users get the same UID/GID on every node. 0-999 are system accounts; 1000 is the default
# user of every ParallelCluster OS image (ec2-user, ubuntu, rocky...); 65534 is nobody and
# 60001+ is commonly reserved for nobody/nfsnobody-style accounts. Capture uses this range too.
USER_ID_MIN = 1001
USER_ID_MAX = 60000

# Names the OS or ParallelCluster already owns; a template user with one of them would clash.
RESERVED_USER_NAMES = frozenset(
    {
        "root", "bin", "daemon", "adm", "lp", "sync", "shutdown", "halt", "mail", "operator",
        "games", "ftp", "nobody", "nfsnobody", "systemd-network", "dbus", "polkitd", "sshd",
        "chrony", "rpc", "rpcuser", "ec2-user", "ubuntu", "centos", "rocky", "admin",
        "slurm", "munge", "pcluster-admin", "pcluster-unprivileged", "spack",
    }
)

# Groups the OS images (or ParallelCluster, Slurm, Docker) already own: a template group with one of these
# names would change what the OS grants (sudo, wheel: root) or clash with its GID on some node.
RESERVED_GROUP_NAMES = frozenset(
    {
        "root", "bin", "daemon", "sys", "adm", "tty", "disk", "lp", "mem", "kmem", "wheel", "sudo", "admin",
        "cdrom", "mail", "man", "dialout", "fax", "voice", "floppy", "games", "tape", "video", "audio", "ftp",
        "lock", "users", "nobody", "nogroup", "nfsnobody", "utmp", "utempter", "ssh_keys", "input", "kvm",
        "render", "sgx", "shadow", "staff", "src", "operator", "plugdev", "netdev", "lxd", "docker", "crontab",
        "messagebus", "syslog", "systemd-journal", "systemd-network", "systemd-resolve", "systemd-timesync",
        "systemd-coredump", "dbus", "polkitd", "sshd", "chrony", "rpc", "rpcuser", "tss", "uucp", "proxy",
        "www-data", "backup", "list", "irc", "gnats", "sasl", "ec2-user", "ubuntu", "centos", "rocky",
        "slurm", "munge", "pcluster-admin", "pcluster-unprivileged", "spack", "cloud-users",
    }
)

# The operating systems a template may name (the schema's enum for cluster.os): ParallelCluster 3.16's
# operating systems that have an official image, and the CPU architectures it builds images for.
# tests/test_validation.py checks this table against pcluster's own constants.
OS_ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "alinux2023": ("x86_64", "arm64"),
    "ubuntu2204": ("x86_64", "arm64"),
    "ubuntu2404": ("x86_64", "arm64"),
    "rhel8": ("x86_64", "arm64"),
    "rhel9": ("x86_64", "arm64"),
}

# ParallelCluster's operating systems with no official image (pcluster.constants.PRIVATE_OSES, checked by
# tests/test_render_pcs.py) -> the accepted OS that is binary compatible with it. ParallelCluster runs them only
# from a custom AMI built on the user's own image; pctl's bake starts from an official image, so they are
# not in OS_ARCHITECTURES (an editor must not offer them) and the validator explains the refusal.
PRIVATE_OSES: dict[str, str] = {"rocky8": "rhel8", "rocky9": "rhel9"}

# The OS's own compiler: Lmod's core_compilers must name it or nothing lands in Core.
OS_COMPILERS: dict[str, str] = {
    "alinux2023": "gcc@11.4.1",
    "ubuntu2204": "gcc@11.4.0",
    "ubuntu2404": "gcc@13.2.0",
    "rhel8": "gcc@8.5.0",
    "rhel9": "gcc@11.4.1",
}

# The default OS user ParallelCluster creates on each image (used for SSH).
OS_DEFAULT_USER: dict[str, str] = {
    "alinux2023": "ec2-user",
    "ubuntu2204": "ubuntu",
    "ubuntu2404": "ubuntu",
    "rhel8": "ec2-user",
    "rhel9": "ec2-user",
}

# Spack: the release is pinned together with its public binary cache (binaries.spack.io/<release>).
DEFAULT_SPACK_VERSION = "0.23.1"

# Mount points that would shadow the OS or ParallelCluster's own directories.
SYSTEM_PATHS = (
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin",
    "/sys", "/tmp", "/usr", "/var", "/opt/parallelcluster", "/opt/slurm", "/opt/intel",
    "/home",
)
# Directories ParallelCluster refuses as a mount point themselves (SharedStorageMountDirValidator), though
# paths below them are fine (/opt/apps, /mnt/data).
PCLUSTER_RESERVED_DIRS = ("/media", "/mnt", "/opt", "/srv")

# The shared volume that holds software when the template names none.
DEFAULT_SHARED_MOUNT = "/shared"
DEFAULT_SHARED_SIZE_GB = 100

# Software install status, written by the rendered head-node script under <spack_root>/.pctl/ and
# read by verify: install.log (progress), install.done (success marker), install.failed (error text).
SOFTWARE_STATUS_DIR = ".pctl"
INSTALL_LOG = "install.log"
INSTALL_DONE = "install.done"
INSTALL_FAILED = "install.failed"
# Where baked (install: ami) software lives on every node's root volume.
AMI_SPACK_ROOT = "/opt/pctl/spack"
# Every AWS resource pctl creates carries this tag key with the cluster name as value.
CLUSTER_TAG = "pctl:cluster"
