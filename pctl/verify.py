"""Verify a running cluster over SSH: software, users, mounts and one job per queue.

Plain Python (no prefect): `verify_cluster_node(ssh, template)` returns a VerifyReport, a list of
checks (name, ok, detail). It first waits, bounded, for the software install marker the rendered node
scripts write under <spack_root>/.pctl/, then checks what the template promises:

- every package's module loads (`module load name/version`) and, where a probe is known, runs;
- every user exists on the head node with the template's UID/GID (and supplementary groups), and
  inside a job on each queue;
- every mount point exists;
- an sbatch smoke job per queue reaches COMPLETED with the expected output.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pctl.errors import PctlError
from pctl.model.constants import INSTALL_DONE, INSTALL_FAILED, INSTALL_LOG, SOFTWARE_STATUS_DIR
from pctl.validation.rules import spack_package_name, spack_spec_version

if TYPE_CHECKING:
    from pctl.model.template import Template
    from pctl.ssh import SshClient


class Probe(NamedTuple):
    command: str
    shows_version: bool  # the output contains the package version (checked when the spec pins one)


# A command per well-known package that proves the module's program runs (and is the right version).
PROBES: dict[str, Probe] = {
    "python": Probe("python3 --version", True),
    "gcc": Probe("gcc --version", True),
    "llvm": Probe("clang --version", True),
    "openmpi": Probe("mpirun --version", True),
    "mpich": Probe("mpichversion", True),
    "cmake": Probe("cmake --version", True),
    "git": Probe("git --version", True),
    "go": Probe("go version", True),
    "rust": Probe("rustc --version", True),
    "julia": Probe("julia --version", True),
    "r": Probe("Rscript --version", True),
    "perl": Probe("perl -v", True),
    "node-js": Probe("node --version", True),
    "openjdk": Probe("java -version", False),
    "gromacs": Probe("gmx --version", True),
    "samtools": Probe("samtools --version", True),
    "bwa": Probe("bwa", False),
    "hdf5": Probe("h5dump --version", True),
    "netcdf-c": Probe("nc-config --version", True),
    "cuda": Probe("nvcc --version", True),
}

# Slurm job states after which a job will not change any more.
TERMINAL_JOB_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
     "BOOT_FAIL", "DEADLINE"}
)
SMOKE_MARKER = "PCTL-SMOKE-OK"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class VerifyReport:
    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> Check:
        check = Check(name, ok, detail)
        self.checks.append(check)
        return check

    def missing(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def table(self) -> str:
        from pctl.cli.output import table

        rows = [(c.name, "ok" if c.ok else "FAIL", c.detail) for c in self.checks]
        return table(["check", "result", "detail"], rows)

    def markdown(self) -> str:
        """The report as a markdown table (the Prefect artifact)."""
        return _templates().get_template("report.md.j2").render(report=self)

    def to_dict(self) -> dict:
        return {"target": self.target, "ok": self.ok,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


# ---- what the template promises ---------------------------------------------------------------

@dataclass(frozen=True)
class PackageModule:
    spec: str
    name: str
    version: str | None

    @property
    def module(self) -> str:
        return f"{self.name}/{self.version}" if self.version else self.name


def package_modules(template: Template) -> list[PackageModule]:
    return [
        PackageModule(spec, spack_package_name(spec), spack_spec_version(spec))
        for spec in template.software.spack_packages
    ]


def mount_points(template: Template) -> list[str]:
    points = [s.mount_point for s in template.shared_storage]
    points += [m.mount_point for m in (*template.data.s3_mounts, *template.data.efs, *template.data.fsx_lustre)]
    return points


# ---- the checks -------------------------------------------------------------------------------

def _first_line(text: str, limit: int = 100) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _run(ssh: SshClient, cmd: str, timeout: float, stdin: str | None = None):
    """ssh.run, with a timeout turned into a failed result (a check fails; verify goes on)."""
    from pctl.ssh import Result, SshTimeout

    try:
        return ssh.run(cmd, timeout=timeout, stdin=stdin)
    except SshTimeout as exc:
        return Result(124, "", str(exc))


def wait_for_install(
    ssh: SshClient, template: Template, report: VerifyReport, *, wait_timeout_s: float, poll_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool | str:
    """Wait (bounded) for install.done: True when there, "fake" when a `spack install --fake` wrote it
    (its `install args:` line), False on install.failed or a timeout (a check says which)."""
    status_dir = f"{template.spack_root}/{SOFTWARE_STATUS_DIR}"
    done, failed, log = (f"{status_dir}/{n}" for n in (INSTALL_DONE, INSTALL_FAILED, INSTALL_LOG))
    cmd = (
        f"if [ -f {shlex.quote(done)} ]; then echo done; cat {shlex.quote(done)}; "
        f"elif [ -f {shlex.quote(failed)} ]; then echo failed; tail -n 5 {shlex.quote(failed)}; "
        f"else echo pending; tail -n 1 {shlex.quote(log)} 2>/dev/null; fi"
    )
    deadline = time.monotonic() + wait_timeout_s
    started = time.monotonic()
    while True:
        result = _run(ssh, cmd, timeout=30)
        state, _, rest = result.stdout.strip().partition("\n")
        if state == "done":
            fake = bool(re.search(r"^install args:.*(?<!\S)--fake(?!\S)", rest, re.M))
            report.add("software install", True, f"{done} present after {time.monotonic() - started:.0f}s"
                       + (" (spack install --fake: programs are not built)" if fake else ""))
            return "fake" if fake else True
        if state == "failed":
            report.add("software install", False, f"install failed ({failed}): {rest.strip()[-300:]}")
            return False
        if time.monotonic() + poll_s > deadline:
            last = _first_line(rest) or "no progress in " + log
            report.add("software install", False,
                       f"not finished after {wait_timeout_s:.0f}s (no {done}); last log line: {last}")
            return False
        sleep(poll_s)


MODULE_CHECK = """{% import "scripts/_stack.sh.j2" as stack with context %}
{{ stack.module_check(packages, source_lmod=False) }}
"""


def module_check_script(template: Template) -> str:
    """The shell script that loads each package's module (after its MPI where the hierarchy puts it
    there) and runs its probe; the same bash the installer runs before it writes install.done."""
    from pctl.render.context import MPI_PROVIDERS, node_context
    from pctl.render.environment import environment

    ctx = node_context(template)
    packages = []
    for pkg in package_modules(template):
        probe = PROBES.get(pkg.name)
        packages.append({"label": pkg.module, "module": pkg.module, "probe": probe.command if probe else None})
    spack = {"mpi_modules": ctx["spack"]["mpi_modules"], "mpi_providers": list(MPI_PROVIDERS),
             "lmod_link": ctx["spack"]["lmod_link"]}
    return environment().from_string(MODULE_CHECK).render(packages=packages, spack=spack)


def _module_results(output: str) -> dict[str, list[str]]:
    """label -> [status, ...] from the PCTL-MODULE lines of the check script."""
    results = {}
    for line in output.splitlines():
        if line.startswith("PCTL-MODULE\t"):
            fields = line.split("\t")
            if len(fields) >= 3:
                results[fields[1]] = fields[2:]
    return results


def check_modules(ssh: SshClient, template: Template, report: VerifyReport, *, timeout: float = 120,
                  fake_install: bool = False) -> None:
    """`module avail` lists modules, and every package's module loads and its probe runs.

    One round trip: the check script runs in a login shell (as users' jobs see `module`). A module
    the Lmod hierarchy puts under an MPI is loaded after that MPI: the template's MPI first, then any
    MPI module the tree holds; the detail says which. After a `spack install --fake` (install.done
    says so) a probe whose program does not exist (exit 127) or prints nothing (Spack's fake bin/<name>
    is an empty file) is skipped, not failed: the module must still load.
    """
    avail = _run(ssh, "module -t avail", timeout=timeout)
    listed = [ln.strip() for ln in avail.output.splitlines() if ln.strip() and not ln.strip().endswith((":", "/"))]
    report.add("module avail", avail.ok and bool(listed),
               f"{len(listed)} modules" if avail.ok else _first_line(avail.output) or "module command failed")
    result = _run(ssh, module_check_script(template), timeout=timeout)
    results = _module_results(result.stdout)
    for pkg in package_modules(template):
        name = f"module {pkg.module}"
        fields = results.get(pkg.module)
        if fields is None:
            report.add(name, False, f"not checked: {_first_line(result.output) or 'the module check did not run'}")
            continue
        if fields[0] != "ok":
            report.add(name, False, f"module load failed: {fields[1] if len(fields) > 1 else ''}".rstrip())
            continue
        via, rc, out = (fields[1:4] + ["", "0", ""])[:3]
        after = f" after {via}" if via else ""
        probe = PROBES.get(pkg.name)
        if probe is None:
            report.add(name, True, f"loads{after} (no probe known for this package)")
        elif fake_install and (rc == "127" or (rc == "0" and not out.strip())):
            # `spack install --fake` makes bin/<package> an empty executable: it runs and prints nothing.
            report.add(name, True, f"loads{after}; probe `{probe.command}` skipped: fake install (nothing built)")
        elif rc != "0":
            report.add(name, False, f"loads{after}; `{probe.command}` failed: {_first_line(out)}")
        elif probe.shows_version and pkg.version and pkg.version not in out:
            report.add(name, False, f"loads{after}; `{probe.command}` does not report {pkg.version}: "
                                    f"{_first_line(out)}")
        else:
            report.add(name, True, f"loads{after}; {_first_line(out)}")


def _passwd_entries(text: str) -> dict[str, tuple[int, int]]:
    entries = {}
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            entries[parts[0]] = (int(parts[2]), int(parts[3]))
    return entries


def _user_problem(user, entries: dict[str, tuple[int, int]], groups: set[str] | None = None) -> str | None:
    if user.name not in entries:
        return "missing"
    uid, gid = entries[user.name]
    problems = []
    if uid != user.uid:
        problems.append(f"UID {uid}, expected {user.uid}")
    if gid != user.gid:
        problems.append(f"GID {gid}, expected {user.gid}")
    if groups is not None:
        lacking = sorted(set(user.groups) - groups)
        if lacking:
            problems.append(f"not in group(s) {', '.join(lacking)}")
    return "; ".join(problems) or None


def check_users(ssh: SshClient, template: Template, report: VerifyReport, *, timeout: float = 30) -> None:
    if not template.users:
        return
    names = shlex.join(u.name for u in template.users)
    # One round trip: passwd entries, then "groups NAME g1 g2..." per user.
    result = _run(ssh, f"getent passwd {names}; for u in {names}; do echo \"groups $u $(id -nG \"$u\" 2>/dev/null)\"; "
                       "done", timeout=timeout)
    entries = _passwd_entries(result.stdout)
    groups = {ln.split()[1]: set(ln.split()[2:]) for ln in result.stdout.splitlines()
              if ln.startswith("groups ") and len(ln.split()) > 1}
    for user in template.users:
        problem = _user_problem(user, entries, groups.get(user.name, set()) if user.groups else None)
        report.add(f"user {user.name} (head node)", problem is None,
                   problem or f"uid={user.uid} gid={user.gid}")


# ---- the smoke jobs ---------------------------------------------------------------------------

@cache
def _templates():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "render" / "templates" / "verify"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["shquote"] = lambda v: shlex.quote(str(v))
    env.filters["mdcell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    return env


def smoke_job_script(queue: str, users: list[str]) -> str:
    """The sbatch script of the smoke job (rendered from smoke_job.sh.j2; values shell-quoted)."""
    return _templates().get_template("smoke_job.sh.j2").render(queue=queue, users=users, marker=SMOKE_MARKER)


def _job_states(ssh: SshClient, job_ids: list[str]) -> dict[str, str]:
    """JobId -> JobState for every job in one round trip (each SSH command costs a login shell)."""
    cmd = "; ".join(f"scontrol show job -o {shlex.quote(j)} 2>/dev/null || "
                    f"sacct -n -X -P -o JobID,State -j {shlex.quote(j)} 2>/dev/null" for j in job_ids)
    out = _run(ssh, cmd, timeout=60).stdout
    states = dict(re.findall(r"\bJobId=(\d+)\b.*?\bJobState=(\S+)", out))
    # A job aged out of slurmctld's memory (MinJobAge) comes from accounting: "123|COMPLETED".
    states.update((j, st.split()[0]) for j, st in re.findall(r"^(\d+)\|(\S+)", out, re.MULTILINE) if st)
    return states


def check_jobs(
    ssh: SshClient, template: Template, report: VerifyReport, *, job_timeout_s: float, poll_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """One sbatch job per queue, submitted together (nodes boot in parallel), polled until terminal."""
    run_id = uuid.uuid4().hex[:8]
    out_dir = f"$HOME/.pctl/verify/{run_id}"
    mk = _run(ssh, f"mkdir -p {out_dir} && echo {out_dir}", timeout=30)
    out_dir = mk.stdout.strip() or out_dir
    users = [u.name for u in template.users]
    jobs: dict[str, str] = {}
    for queue in (q.name for q in template.compute.queues):
        output = f"{out_dir}/{queue}.out"
        cmd = ("sbatch --parsable " + shlex.join(["-p", queue, "-J", f"pctl-verify-{queue}", "-N", "1", "-n", "1",
                                                  "-t", "10", "-o", output]))
        submitted = _run(ssh, cmd, timeout=60, stdin=smoke_job_script(queue, users))
        job_id = submitted.stdout.strip().split(";")[0]
        if not submitted.ok or not job_id.isdigit():
            report.add(f"job on queue {queue}", False, f"sbatch failed: {_first_line(submitted.output)}")
            continue
        jobs[queue] = job_id

    states: dict[str, str | None] = dict.fromkeys(jobs)
    deadline = time.monotonic() + job_timeout_s
    while jobs:
        pending = [j for q, j in jobs.items() if states[q] not in TERMINAL_JOB_STATES]
        found = _job_states(ssh, pending)
        for queue, job_id in jobs.items():
            states[queue] = found.get(job_id, states[queue])
        if all(s in TERMINAL_JOB_STATES for s in states.values()) or time.monotonic() + poll_s > deadline:
            break
        sleep(poll_s)

    outputs = _read_outputs(ssh, out_dir, [q for q in jobs if states[q] in TERMINAL_JOB_STATES])
    for queue, job_id in jobs.items():
        state = states[queue]
        name = f"job on queue {queue}"
        if state not in TERMINAL_JOB_STATES:
            _run(ssh, f"scancel {shlex.quote(job_id)}", timeout=30)
            report.add(name, False, f"job {job_id} still {state or 'unknown'} after {job_timeout_s:.0f}s (cancelled)")
            for user in template.users:
                report.add(f"user {user.name} (queue {queue})", False, "not checked: the job did not run")
            continue
        out = outputs.get(queue, "")
        marker_ok = f"{SMOKE_MARKER} {queue}" in out
        if state == "COMPLETED" and marker_ok:
            host = next((ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("host ")), "?")
            report.add(name, True, f"job {job_id} COMPLETED on {host}")
        else:
            why = "" if marker_ok else f"; output lacks {SMOKE_MARKER}: {_first_line(out) or '(empty)'}"
            report.add(name, False, f"job {job_id} {state}{why}")
        entries = _passwd_entries("\n".join(ln[len("passwd "):] for ln in out.splitlines()
                                            if ln.startswith("passwd ")))
        for user in template.users:
            problem = _user_problem(user, entries)
            report.add(f"user {user.name} (queue {queue})", problem is None,
                       problem or f"uid={user.uid} gid={user.gid} inside job {job_id}")
    _run(ssh, f"rm -rf {out_dir}", timeout=30)


def _read_outputs(ssh: SshClient, out_dir: str, queues: list[str]) -> dict[str, str]:
    """Each queue's job output, in one round trip; a line `@@pctl@@ QUEUE` starts each one."""
    if not queues:
        return {}
    cmd = "; ".join(f"echo {shlex.quote('@@pctl@@ ' + q)}; cat {shlex.quote(f'{out_dir}/{q}.out')} 2>&1"
                    for q in queues)
    outputs: dict[str, list[str]] = {}
    current: list[str] = []
    for line in _run(ssh, cmd, timeout=60).stdout.splitlines():
        if line.startswith("@@pctl@@ "):
            current = outputs.setdefault(line.split(" ", 1)[1], [])
        else:
            current.append(line)
    return {q: "\n".join(lines) for q, lines in outputs.items()}


def check_mounts(ssh: SshClient, template: Template, report: VerifyReport, *, timeout: float = 30) -> None:
    points = mount_points(template)
    # One round trip: a line "<path>\t<ok|missing>\t<detail>" per mount point.
    cmd = ("for p in " + shlex.join(points) + "; do "
           "if [ -d \"$p\" ] && ls \"$p\" >/dev/null 2>&1; then "
           "printf '%s\\tok\\t%s\\n' \"$p\" \"$(findmnt -n -o FSTYPE,SOURCE --mountpoint \"$p\" "
           "|| echo 'directory (not a separate mount)')\"; "
           "else printf '%s\\tmissing\\n' \"$p\"; fi; done")
    lines = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in _run(ssh, cmd, timeout=timeout).stdout.splitlines()}
    for point in points:
        status = lines.get(point, ["missing"])
        ok = status[0] == "ok"
        report.add(f"mount {point}", ok, (status[1] if len(status) > 1 else "") if ok else "missing or unreadable")


# ---- the whole verification -------------------------------------------------------------------

def verify_cluster_node(
    ssh: SshClient,
    template: Template,
    *,
    wait_timeout_s: float = 3600,
    poll_s: float = 10,
    job_timeout_s: float = 900,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyReport:
    """Every check, in order; a failed check does not stop the others (the report lists them all)."""
    report = VerifyReport(target=ssh.target)
    installed = template.software.spack_packages and wait_for_install(
        ssh, template, report, wait_timeout_s=wait_timeout_s, poll_s=poll_s, sleep=sleep)
    if installed:
        check_modules(ssh, template, report, fake_install=installed == "fake")
        from pctl.cache.origins import annotate_report  # from the binary cache or built (issue 15)

        annotate_report(ssh, template, report)
    check_users(ssh, template, report)
    check_mounts(ssh, template, report)
    if template.software.containers:
        from pctl.containers.verify import container_checks

        report.checks.extend(Check(n, ok, d) for n, ok, d in container_checks(ssh, template))
    check_jobs(ssh, template, report, job_timeout_s=job_timeout_s, poll_s=min(poll_s, 2), sleep=sleep)
    return report


# ---- which node, which template ----------------------------------------------------------------

class VerifyFailed(PctlError):
    pass


@dataclass(frozen=True)
class VerifyTarget:
    """Where to SSH and what the node should provide (plain values: fit for a Prefect task input)."""

    name: str
    host: str
    template_text: str
    template_label: str
    user: str
    port: int = 22
    key_path: str | None = None
    known_hosts: str | None = None
    expected_fingerprint: str | None = None

    def template(self) -> Template:
        from pctl.validation import validate_text

        report, loaded = validate_text(self.template_text, self.template_label)
        if loaded.template is None:
            first = next((str(i) for i in report.issues), "not a template")
            raise VerifyFailed(f"cannot verify against {self.template_label}: {first}",
                               f"`pctl validate {self.template_label}` shows every problem")
        return loaded.template


def _default_key(key_name: str | None) -> str | None:
    """~/.ssh/<key pair name>[.pem] when it exists (where `aws ec2 create-key-pair` users keep it)."""
    if not key_name:
        return None
    for candidate in (Path.home() / ".ssh" / f"{key_name}.pem", Path.home() / ".ssh" / key_name):
        if candidate.is_file():
            return str(candidate)
    return None


def resolve_target(
    name: str,
    *,
    host: str | None = None,
    port: int = 22,
    user: str | None = None,
    key_path: str | None = None,
    template_path: str | None = None,
    template_text: str | None = None,
    known_hosts: str | None = None,
    expected_fingerprint: str | None = None,
    accept_new_host_key: bool = False,
) -> VerifyTarget:
    """The node and template to verify: explicit values first, then the cluster's recorded state.

    From state (no --host): the head node address, its SSH host key fingerprints (read from its console
    output at create), the SSH user, the key pair and the template text as created. With no recorded
    fingerprint and no key in known_hosts, the caller must pass --fingerprint or --accept-new-host-key.
    """
    from pctl.model.constants import OS_DEFAULT_USER

    st = None
    if host is None or (template_path is None and template_text is None):
        from pctl import state

        st = state.get(name)
    from_state = host is None
    if host is None:
        host = st.head_node_public_ip or st.head_node_private_ip
        if not host:
            raise VerifyFailed(f"cluster {name!r} has no head node address recorded (status {st.status})",
                               f"`pctl status {name}`; or pass --host")
    label = "<yaml>"
    if template_text is None and template_path is None and st is not None and st.template_text:
        # The copy taken at create: what the cluster was built from, even if the file changed since.
        template_text, label = st.template_text, f"{st.template_source or name} (as created)"
    if template_text is None:
        ref = template_path or st.template_source
        if not ref or ref.startswith("<") or ref.startswith("registry:"):
            raise VerifyFailed(f"the template of {name!r} ({ref or 'unknown'}) cannot be read back",
                               "pass --template PATH (the file the cluster was created from)")
        from pctl.library import resolve

        path = resolve(ref)
        try:
            template_text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise VerifyFailed(f"cannot read the template {path}: {exc.strerror}", "pass --template PATH") from None
        label = str(path)
    if from_state and expected_fingerprint is None and st.host_key_fingerprints:
        expected_fingerprint = ",".join(st.host_key_fingerprints)
    if from_state:
        user = user or st.ssh_user
    target = VerifyTarget(name=name, host=host, template_text=template_text, template_label=label,
                          user=user or "", port=port, key_path=key_path, known_hosts=known_hosts,
                          expected_fingerprint=expected_fingerprint)
    template = target.template()
    if from_state and not expected_fingerprint and not accept_new_host_key and not _known_host(host, port, known_hosts):
        where = f" (`aws ec2 get-console-output --instance-id {st.head_node_instance_id}`)" \
            if st.head_node_instance_id else ""
        raise VerifyFailed(
            f"no SSH host key fingerprint is recorded for {name}'s head node {host}, and it is not in known_hosts",
            f"read the SHA256 fingerprints from the instance's console output{where} and pass one with "
            "--fingerprint SHA256:..., or pass --accept-new-host-key to trust the key it presents first",
        )
    from dataclasses import replace

    key_name = (st.key_name if from_state and st.key_name else None) or template.cluster.key_name
    return replace(target, user=user or OS_DEFAULT_USER[template.cluster.os],
                   key_path=key_path or _default_key(key_name))


def _known_host(host: str, port: int, known_hosts: str | None) -> bool:
    """Is there a key for host:port in the user's ~/.ssh/known_hosts or pctl's (or the given) file?"""
    import paramiko

    from pctl.ssh import host_key_name, pctl_known_hosts

    files = [Path(known_hosts).expanduser()] if known_hosts else [Path.home() / ".ssh" / "known_hosts",
                                                                  pctl_known_hosts()]
    keys = paramiko.HostKeys()
    for f in files:
        if f.is_file():
            try:
                keys.load(str(f))
            except (OSError, paramiko.SSHException):
                continue
    return keys.lookup(host_key_name(host, port)) is not None


def run_verify(
    target: VerifyTarget,
    *,
    accept_new_host_key: bool = False,
    wait_timeout_s: float = 3600,
    poll_s: float = 10,
    job_timeout_s: float = 900,
) -> VerifyReport:
    """Connect (host key verified) and run every check."""
    from pctl.ssh import SshClient

    template = _with_pinned_images(target.name, target.template())
    with SshClient(target.host, target.user, port=target.port, key_path=target.key_path,
                   known_hosts=target.known_hosts, expected_fingerprint=target.expected_fingerprint,
                   accept_new_host_key=accept_new_host_key) as ssh:
        return verify_cluster_node(ssh, template, wait_timeout_s=wait_timeout_s, poll_s=poll_s,
                                   job_timeout_s=job_timeout_s)


def failure(report: VerifyReport) -> VerifyFailed:
    """The error a failed verification raises: exactly what is missing."""
    lines = "\n".join(f"  - {c.name}: {c.detail}" for c in report.missing())
    return VerifyFailed(f"verify of {report.target} failed: {len(report.missing())} of {len(report.checks)} "
                        f"checks\n{lines}",
                        "fix what is listed (software: see install.log under <spack_root>/.pctl), then re-run "
                        "`pctl verify`")


def _with_pinned_images(name: str, template: Template) -> Template:
    """The template with the container images the cluster was created with (pinned by digest), if any."""
    if not template.software.containers:
        return template
    from pctl import state

    st = state.load(name)
    if st is None or not st.container_images:
        return template
    containers = [c.model_copy(update={"image": st.container_images.get(c.name, c.image)})
                  for c in template.software.containers]
    return template.model_copy(update={"software": template.software.model_copy(update={"containers": containers})})
