"""SSH to a head node with verified host keys (paramiko).

A host key is trusted when it is in a known_hosts file (the user's ~/.ssh/known_hosts, or pctl's own
$PCTL_HOME/known_hosts) or when it matches a fingerprint recorded at create time (EC2's console output
prints the host key fingerprints). An unknown or changed key is refused; accepting a new one takes an
explicit `accept_new_host_key=True`, which records it in pctl's known_hosts.

Remote commands run in a login shell (`bash -lc`) so that `module` (Lmod) and /etc/profile.d exist.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from pctl.errors import PctlError


class SshError(PctlError):
    pass


class HostKeyError(SshError):
    pass


class SshTimeout(SshError):
    pass


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout then stderr, stripped (Lmod, for one, writes to stderr)."""
        return "\n".join(s for s in (self.stdout.strip(), self.stderr.strip()) if s)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint ("SHA256:base64-without-padding"), as `ssh-keygen -l` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _normalize_fingerprint(fp: str) -> str:
    fp = fp.strip()
    if fp.upper().startswith("SHA256:"):
        fp = fp[len("SHA256:"):]
    return "SHA256:" + fp.rstrip("=")


def pctl_known_hosts() -> Path:
    """pctl's own known_hosts: $PCTL_HOME/known_hosts."""
    return Path(os.environ.get("PCTL_HOME") or Path.home() / ".pctl") / "known_hosts"


def host_key_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _Policy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for a host with no known key of the offered type."""

    def __init__(self, owner: SshClient) -> None:
        self.owner = owner

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fp = fingerprint(key)
        self.owner.presented_fingerprint = fp
        if self.owner.expected_fingerprints:
            if fp in self.owner.expected_fingerprints:
                self.owner._record(hostname, key)
                return
            raise HostKeyError(
                f"host key of {hostname} ({key.get_name()} {fp}) does not match the recorded fingerprint "
                f"{', '.join(sorted(self.owner.expected_fingerprints))}",
                "this may be a different machine (or an attack); compare with the instance's console "
                "output (`aws ec2 get-console-output`) before trusting it",
            )
        if self.owner.accept_new_host_key:
            self.owner._record(hostname, key)
            return
        raise HostKeyError(
            f"unknown host key for {hostname}: {key.get_name()} {fp}",
            "check the fingerprint (the instance's console output prints it), then re-run with "
            "--accept-new-host-key to record it, or pass it with --fingerprint",
        )


class SshClient:
    """One SSH connection; `run()` commands in a login shell. Use as a context manager."""

    def __init__(
        self,
        host: str,
        user: str,
        port: int = 22,
        key_path: str | os.PathLike[str] | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        expected_fingerprint: str | Iterable[str] | None = None,
        accept_new_host_key: bool = False,
        timeout: float = 20,
    ) -> None:
        self.host = host
        self.user = user
        self.port = port
        self.key_path = str(Path(key_path).expanduser()) if key_path else None
        # Where accepted keys are recorded; also read. The user's own file is read, never written.
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else pctl_known_hosts()
        if isinstance(expected_fingerprint, str):
            expected_fingerprint = expected_fingerprint.replace(",", " ").split()
        self.expected_fingerprints = {_normalize_fingerprint(f) for f in expected_fingerprint or ()}
        self.accept_new_host_key = accept_new_host_key
        self.timeout = timeout
        self.presented_fingerprint: str | None = None
        self._client: paramiko.SSHClient | None = None

    # ---- connection --------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _record(self, hostname: str, key: paramiko.PKey) -> None:
        keys = paramiko.HostKeys()
        if self.known_hosts.exists():
            keys.load(str(self.known_hosts))
        keys.add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        keys.save(str(self.known_hosts))
        self.known_hosts.chmod(0o600)

    def _new_client(self, user_file: bool = True) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if user_file and not self.known_hosts_given_explicitly() and self._user_known_hosts().exists():
            client.load_system_host_keys(str(self._user_known_hosts()))
        if self.known_hosts.exists():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_Policy(self))
        return client

    def known_hosts_given_explicitly(self) -> bool:
        return self.known_hosts != pctl_known_hosts()

    @staticmethod
    def _user_known_hosts() -> Path:
        return Path.home() / ".ssh" / "known_hosts"

    def _changed(self, exc: paramiko.BadHostKeyException) -> HostKeyError:
        """The refusal for a key that differs from a known_hosts entry, naming the file that holds it."""
        name = host_key_name(self.host, self.port)
        stale = self.known_hosts
        user_file = self._user_known_hosts()
        if not self.known_hosts_given_explicitly() and user_file.exists():
            try:
                if name in paramiko.HostKeys(str(user_file)):
                    stale = user_file
            except Exception:  # an unreadable user file: name pctl's own
                pass
        return HostKeyError(
            f"HOST KEY CHANGED for {self.host}:{self.port}: it now presents {exc.key.get_name()} "
            f"{fingerprint(exc.key)}, {stale} has {fingerprint(exc.expected_key)}",
            "if the head node was replaced, compare with its console output and remove the old "
            f"entry (ssh-keygen -R '{name}' -f {stale}); otherwise do not connect",
        )

    def connect(self) -> SshClient:
        if self._client is not None:
            return self
        try:
            self._client = self._connect_once()
        except paramiko.BadHostKeyException as exc:
            fp = fingerprint(exc.key)
            self.presented_fingerprint = fp
            if fp not in self.expected_fingerprints:
                raise self._changed(exc) from None
            # The recorded fingerprint (from this instance's console) wins over a stale known_hosts
            # entry, e.g. an Elastic IP now pointing at a new head node: pctl's own entry is replaced,
            # the user's ~/.ssh/known_hosts (read, never written) is skipped for this connection.
            self._forget(host_key_name(self.host, self.port))
            try:
                self._client = self._connect_once(user_file=False)
            except paramiko.BadHostKeyException as again:  # never an "internal error"
                raise self._changed(again) from None
        return self

    def _forget(self, hostname: str) -> None:
        if not self.known_hosts.exists():
            return
        keys = paramiko.HostKeys(str(self.known_hosts))
        if hostname in keys:
            del keys[hostname]
        keys.save(str(self.known_hosts))

    def _private_key(self) -> paramiko.PKey | None:
        if self.key_path is None:
            return None
        try:
            return paramiko.PKey.from_path(self.key_path)
        except FileNotFoundError:
            raise SshError(f"SSH key {self.key_path} does not exist", "pass the key pair's private key with --key") from None
        except paramiko.PasswordRequiredException:
            raise SshError(f"SSH key {self.key_path} is passphrase-protected",
                           "load it into ssh-agent and omit --key") from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise SshError(f"cannot read the SSH key {self.key_path}: {exc}",
                           "pass an OpenSSH or PEM private key with --key") from None

    def _connect_once(self, user_file: bool = True) -> paramiko.SSHClient:
        pkey = self._private_key()
        client = self._new_client(user_file)
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                pkey=pkey,
                look_for_keys=self.key_path is None,
                allow_agent=self.key_path is None,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
            )
        except (HostKeyError, paramiko.BadHostKeyException):
            client.close()
            raise
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SshError(
                f"SSH authentication failed for {self.target}: {exc}",
                "check the user (the OS default user, e.g. ec2-user) and --key (the key pair's private key)",
            ) from None
        except TimeoutError as exc:
            client.close()
            raise SshError(
                f"SSH to {self.target} timed out after {self.timeout:g}s",
                "is the head node running, and does its security group allow SSH from here?",
            ) from exc
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise SshError(
                f"cannot SSH to {self.target}: {exc}",
                "is the head node running, and does its security group allow SSH from here?",
            ) from None
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SshClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- commands ----------------------------------------------------------------------------
    def run(self, cmd: str, timeout: float = 60, stdin: str | None = None) -> Result:
        """Run `cmd` in a remote login shell; SshTimeout after `timeout` seconds."""
        self.connect()
        assert self._client is not None
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(f"SSH connection to {self.target} was closed")
        channel = transport.open_session(timeout=self.timeout)
        try:
            channel.exec_command(f"bash -lc {shlex.quote(cmd)}")
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                busy = False
                while channel.recv_ready():
                    out += channel.recv(65536)
                    busy = True
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    busy = True
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    raise SshTimeout(
                        f"remote command timed out after {timeout:g}s on {self.host}: {cmd[:120]}",
                        "the head node may be overloaded; re-run, or raise the timeout",
                    )
                if not busy:
                    time.sleep(0.005)
            return Result(channel.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace"))
        finally:
            channel.close()
