"""Head node host keys: parsing EC2 console output, finding the head node, recording them in state, and
`pctl verify NAME` using what state recorded."""

from __future__ import annotations

import pytest

from pctl import state
from pctl.aws.hostkeys import console_fingerprints, head_node_instance_id, parse_fingerprints
from pctl.verify import VerifyFailed, resolve_target

ED25519 = "SHA256:Xy7bXq0S6hY1kT0vW0n0n3b5E0o6wqW0Xk1uJmLq4aQ"
ECDSA = "SHA256:1b7nG5ZkP9m0GJtq7G3yN6cV1Q2xWw0bA9s8r7q6p5o"
RSA = "SHA256:Qm9vZ2xlIGlzIG5vdCBhIHJlYWwga2V5IGF0IGFsbC4"

# What Amazon Linux 2023's console shows (cloud-init output, each line prefixed by the `ec2:` logger).
AL2023_CONSOLE = f"""\
[   10.512345] cloud-init[1612]: Cloud-init v. 22.2.2 running 'modules:final' at Tue, 04 Mar 2025 10:00:01 +0000.
ec2: <13>Mar  4 10:00:02 ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 {ECDSA} no comment (ECDSA)
ec2: 256 {ED25519} no comment (ED25519)
ec2: 3072 {RSA} no comment (RSA)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBE= root@ip-10-0-0-12
-----END SSH HOST KEY KEYS-----
[   11.000000] cloud-init[1612]: Cloud-init v. 22.2.2 finished at Tue, 04 Mar 2025 10:00:02 +0000.
"""


def test_parses_the_sha256_lines_of_the_block():
    assert parse_fingerprints(AL2023_CONSOLE) == [ECDSA, ED25519, RSA]


def test_ubuntu_style_block_with_crlf_and_md5_lines():
    text = ("ci-info: no authorized SSH keys\r\n-----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n"
            "1024 MD5:12:f8:7e:78:61:b4:bf:e2:de:24:15:96:4e:d4:72:53 root@ip (DSA)\r\n"
            f"256 {ED25519} root@ip-172-31-5-9 (ED25519)\r\n-----END SSH HOST KEY FINGERPRINTS-----\r\n")
    assert parse_fingerprints(text) == [ED25519]


def test_the_newest_block_wins_and_no_block_gives_nothing():
    old = AL2023_CONSOLE.replace(ED25519, "SHA256:" + "A" * 43)
    assert parse_fingerprints(old + AL2023_CONSOLE.replace(RSA, "")) == [ECDSA, ED25519]
    assert parse_fingerprints("Linux version 2.6.16-xenU\nBIOS-provided physical RAM map:\n") == []
    assert parse_fingerprints(None) == []
    # A block cut off by the console buffer (no END) is not trusted.
    assert parse_fingerprints(AL2023_CONSOLE.split("-----END")[0]) == []


def test_head_node_found_by_describe_or_by_tag_and_moto_console_has_no_block(aws):
    ec2 = aws.client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    assert head_node_instance_id(aws, "c1", {"headNode": {"instanceId": "i-0abc"}}) == "i-0abc"
    assert head_node_instance_id(aws, "c1", {"headNode": {}}) is None
    head = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": "parallelcluster:cluster-name", "Value": "c1"},
                                             {"Key": "parallelcluster:node-type", "Value": "HeadNode"}]}])
    head_id = head["Instances"][0]["InstanceId"]
    assert head_node_instance_id(aws, "c1", None) == head_id
    assert head_node_instance_id(aws, "c2", None) is None
    assert console_fingerprints(aws, head_id) == []  # moto's canned console text


def _recorded(**fields) -> state.ClusterState:
    st = state.ClusterState(name="hk", region="us-east-1", template_source="<yaml>",
                            head_node_public_ip="198.51.100.7", **fields)
    state.save(st)
    return st


TEMPLATE = """
cluster: {name: hk, region: us-east-1, os: ubuntu2204, key_name: lab-key}
compute:
  head_node: t3.medium
  queues: [{name: q, instance_types: [c6i.large]}]
"""


def test_state_round_trip_of_what_verify_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    _recorded(host_key_fingerprints=[ED25519, ECDSA], head_node_instance_id="i-0abc", template_text=TEMPLATE,
              ssh_user="ubuntu", key_name="lab-key", ami_pcluster_version="3.16.1")
    st = state.get("hk")
    assert st.host_key_fingerprints == [ED25519, ECDSA] and st.head_node_instance_id == "i-0abc"
    assert (st.template_text, st.ssh_user, st.key_name, st.ami_pcluster_version) == (TEMPLATE, "ubuntu", "lab-key",
                                                                                       "3.16.1")


def test_verify_target_from_state_needs_no_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # the key pair's ~/.ssh/<name>.pem lives here
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "lab-key.pem").write_text("key")
    _recorded(host_key_fingerprints=[ED25519, ECDSA], template_text=TEMPLATE, ssh_user="ubuntu", key_name="lab-key")
    target = resolve_target("hk")
    assert target.host == "198.51.100.7" and target.user == "ubuntu"
    assert target.expected_fingerprint == f"{ED25519},{ECDSA}"
    assert target.key_path == str(tmp_path / ".ssh" / "lab-key.pem")
    assert target.template().cluster.name == "hk" and "(as created)" in target.template_label
    # An explicit --fingerprint wins over the recorded ones.
    assert resolve_target("hk", expected_fingerprint=RSA).expected_fingerprint == RSA


def test_verify_without_a_recorded_key_asks_for_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    _recorded(template_text=TEMPLATE, head_node_instance_id="i-0abc")
    with pytest.raises(VerifyFailed, match="no SSH host key fingerprint") as err:
        resolve_target("hk")
    assert "i-0abc" in err.value.hint and "--fingerprint" in err.value.hint
    assert resolve_target("hk", accept_new_host_key=True).expected_fingerprint is None
    # A key already in known_hosts is enough (verified before, e.g. with --accept-new-host-key).
    (tmp_path / "known_hosts").write_text(
        "198.51.100.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    assert resolve_target("hk").host == "198.51.100.7"
