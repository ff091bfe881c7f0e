"""A stale ~/.ssh/known_hosts entry (issue 14): the refusal message, never "internal error: BadHostKeyException".

The server is paramiko's own SSH server on loopback (a real SSH handshake; only the host key matters
here, so no shell is served): the thing under test is pctl.ssh's client-side host key handling.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from pctl.ssh import HostKeyError, SshClient, fingerprint, host_key_name


class _Server(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL


@pytest.fixture
def sshd() -> Iterator[tuple[int, paramiko.PKey]]:
    host_key = paramiko.RSAKey.generate(2048)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    port = sock.getsockname()[1]
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            transports.append(t)
            try:
                t.start_server(server=_Server())
            except Exception:
                t.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, host_key
    sock.close()
    for t in transports:
        t.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    client_key = paramiko.RSAKey.generate(2048)
    path = tmp_path / "id_rsa"
    client_key.write_private_key_file(str(path))
    return path


def stale_user_entry(port: int) -> Path:
    other = paramiko.RSAKey.generate(2048)  # the key of the head node that used to live at this address
    user_file = Path.home() / ".ssh" / "known_hosts"
    user_file.parent.mkdir(parents=True)
    keys = paramiko.HostKeys()
    keys.add(host_key_name("127.0.0.1", port), other.get_name(), other)
    keys.save(str(user_file))
    return user_file


def test_stale_user_known_hosts_entry_is_a_refusal_naming_that_file(sshd, home):
    port, key = sshd
    user_file = stale_user_entry(port)
    before = user_file.read_text()
    client = SshClient("127.0.0.1", "ec2-user", port=port, key_path=home, timeout=10)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as err:
        client.connect()
    assert fingerprint(key) in str(err.value) and str(user_file) in str(err.value)
    assert f"-f {user_file}" in err.value.hint and "ssh-keygen -R" in err.value.hint
    assert user_file.read_text() == before  # the user's file is read, never written


def test_recorded_fingerprint_wins_over_a_stale_user_entry(sshd, home):
    port, key = sshd
    user_file = stale_user_entry(port)
    before = user_file.read_text()
    with SshClient("127.0.0.1", "ec2-user", port=port, key_path=home, timeout=10,
                   expected_fingerprint=fingerprint(key)) as ssh:
        assert ssh.presented_fingerprint == fingerprint(key)
    assert user_file.read_text() == before


def test_stale_entry_in_both_files_with_a_wrong_recorded_fingerprint_is_refused(sshd, home):
    port, _ = sshd
    stale_user_entry(port)
    wrong = fingerprint(paramiko.RSAKey.generate(2048))
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        SshClient("127.0.0.1", "ec2-user", port=port, key_path=home, timeout=10, expected_fingerprint=wrong).connect()
