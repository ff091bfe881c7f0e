"""pctl.ssh against the real loopback sshd (scripts/headnode): host key policy, commands, timeouts."""

from __future__ import annotations

import socket
import time

import paramiko
import pytest

from pctl.errors import PctlError
from pctl.ssh import HostKeyError, SshClient, SshError, SshTimeout, fingerprint, host_key_name

pytestmark = pytest.mark.headnode


def test_recorded_fingerprint_is_trusted_and_recorded(headnode, tmp_path):
    kh = tmp_path / "known_hosts"
    with headnode.client(kh) as ssh:
        assert ssh.run("echo hi", timeout=20).stdout == "hi\n"
        assert ssh.presented_fingerprint == headnode.fingerprint  # same as `ssh-keygen -l` prints
    assert "[127.0.0.1]:2222 ssh-ed25519 " in kh.read_text()
    # Next time the known_hosts entry alone is enough.
    with SshClient(headnode.host, headnode.user, port=headnode.port, key_path=headnode.key_path,
                   known_hosts=kh) as ssh:
        assert ssh.run("true", timeout=20).ok


def test_unknown_host_key_is_refused_with_a_hint(headnode, tmp_path):
    kh = tmp_path / "known_hosts"
    client = SshClient(headnode.host, headnode.user, port=headnode.port, key_path=headnode.key_path, known_hosts=kh)
    with pytest.raises(HostKeyError) as err:
        client.connect()
    assert "unknown host key for [127.0.0.1]:2222" in str(err.value)
    assert headnode.fingerprint in str(err.value)
    assert "--accept-new-host-key" in err.value.hint
    assert not kh.exists()


def test_accept_new_host_key_records_it(headnode, tmp_path):
    kh = tmp_path / "sub" / "known_hosts"
    with SshClient(headnode.host, headnode.user, port=headnode.port, key_path=headnode.key_path,
                   known_hosts=kh, accept_new_host_key=True) as ssh:
        assert ssh.run("id -un", timeout=20).stdout.strip() == headnode.user
    keys = paramiko.HostKeys(str(kh))
    assert fingerprint(keys[host_key_name("127.0.0.1", 2222)]["ssh-ed25519"]) == headnode.fingerprint


def test_wrong_fingerprint_is_refused(headnode, tmp_path):
    bogus = fingerprint(paramiko.Ed25519Key.from_private_key_file(headnode.key_path))  # the client key's, not the host's
    with pytest.raises(HostKeyError, match="does not match the recorded fingerprint"):
        headnode.client(tmp_path / "kh", expected_fingerprint=bogus).connect()


def test_changed_host_key_is_refused_even_with_accept_new(headnode, tmp_path):
    kh = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(headnode.key_path)
    keys = paramiko.HostKeys()
    keys.add(host_key_name("127.0.0.1", 2222), "ssh-ed25519", other)
    keys.save(str(kh))
    client = SshClient(headnode.host, headnode.user, port=headnode.port, key_path=headnode.key_path,
                       known_hosts=kh, accept_new_host_key=True)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as err:
        client.connect()
    assert "ssh-keygen -R" in err.value.hint
    # The console's fingerprint of the new node overrides the stale entry, and replaces it.
    with headnode.client(kh) as ssh:
        assert ssh.run("true", timeout=20).ok
    assert fingerprint(paramiko.HostKeys(str(kh))["[127.0.0.1]:2222"]["ssh-ed25519"]) == headnode.fingerprint


def test_run_in_login_shell_with_exit_code_stdout_stderr_and_stdin(headnode, tmp_path):
    with headnode.client(tmp_path / "kh") as ssh:
        r = ssh.run("echo out; echo err >&2; exit 3", timeout=20)
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert not r.ok
        # Lmod's `module` exists only in a login shell; quoting survives the trip.
        assert ssh.run("type -t module", timeout=20).stdout.strip() == "function"
        assert ssh.run("printf '%s|' \"a b\" 'c$d'", timeout=20).stdout == "a b|c$d|"
        assert ssh.run("tr a-z A-Z", timeout=20, stdin="hello").stdout == "HELLO"


def test_run_timeout_is_bounded(headnode, tmp_path):
    with headnode.client(tmp_path / "kh") as ssh:
        started = time.monotonic()
        with pytest.raises(SshTimeout):
            ssh.run("sleep 30", timeout=0.5)
        assert time.monotonic() - started < 5
        assert ssh.run("echo still-usable", timeout=20).ok


def test_wrong_key_fails_authentication_with_a_hint(headnode, tmp_path):
    key = tmp_path / "other"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(key))
    client = SshClient(headnode.host, headnode.user, port=headnode.port, key_path=key,
                       known_hosts=tmp_path / "kh", expected_fingerprint=headnode.fingerprint)
    with pytest.raises(SshError, match="authentication failed") as err:
        client.connect()
    assert "--key" in err.value.hint


def test_nothing_listening_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PctlError, match=f"cannot SSH to u@127.0.0.1:{port}"):
        SshClient("127.0.0.1", "u", port=port, known_hosts=tmp_path / "kh", timeout=3).connect()
