"""Blocks: AWS sessions from an AwsCredentials block or the default chain, PctlSettings, the SSH key Secret.

Blocks are saved on the session's real Prefect server (`prefect_server`); AWS calls go to moto's mock_aws.
"""

from __future__ import annotations

import stat
import uuid

import pytest
from moto import mock_aws

from pctl.errors import ConfigError

pytestmark = pytest.mark.prefect


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_register_block_types_puts_them_on_the_server(prefect_server):
    from prefect import get_client

    from blocks import register_block_types

    slugs = register_block_types()
    assert slugs == ["pctl-settings", "aws-credentials", "secret"]
    with get_client(sync_client=True) as client:
        bt = client.read_block_type_by_slug("pctl-settings")
        schema = client.get_most_recent_block_schema_for_block_type(bt.id)
    assert {"region", "key_name", "ssh_allowed_cidr", "registry", "rebuild_cron"} <= set(schema.fields["properties"])


def test_pctl_settings_round_trip_and_defaults(prefect_server):
    from blocks import PctlSettings, load_settings

    name = _name("site")
    PctlSettings(region="eu-west-1", key_name="lab", ssh_allowed_cidr="192.0.2.0/24", rebuild_cron="0 4 * * 1").save(name)
    got = load_settings(name)
    assert (got.region, got.key_name, got.ssh_allowed_cidr, got.rebuild_cron) == (
        "eu-west-1", "lab", "192.0.2.0/24", "0 4 * * 1")
    defaults = load_settings(_name("absent"))
    assert defaults.region == "us-east-1" and defaults.rebuild_cron == "0 3 * * 0" and defaults.ssh_allowed_cidr is None


@pytest.mark.parametrize(("field", "value"), [("rebuild_cron", "61 * * * *"), ("ssh_allowed_cidr", "10.0.0.0/33")])
def test_pctl_settings_rejects_bad_values(field, value):
    from pydantic import ValidationError

    from blocks import PctlSettings

    with pytest.raises(ValidationError, match=field):
        PctlSettings(**{field: value})


def test_session_from_the_default_chain_uses_the_requested_region(monkeypatch):
    from blocks import session_for

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "chain-key")
    s = session_for("eu-central-1")
    assert s.region_name == "eu-central-1"
    assert s.get_credentials().access_key == "chain-key"


def test_session_from_an_aws_credentials_block(prefect_server):
    from prefect_aws import AwsCredentials

    from blocks import session_for

    name = _name("aws")
    AwsCredentials(aws_access_key_id="AKIABLOCKKEY", aws_secret_access_key="blocksecret",
                   region_name="us-west-2").save(name)
    with mock_aws():
        s = session_for("ap-southeast-2", name)
        assert s.region_name == "ap-southeast-2"  # the request's region wins over the block's
        assert s.get_credentials().access_key == "AKIABLOCKKEY"
        assert s.client("sts").get_caller_identity()["Account"]


def test_unknown_credentials_block_is_a_clear_error(prefect_server):
    from blocks import session_for

    with pytest.raises(ConfigError, match="no AwsCredentials block named") as err:
        session_for("us-east-1", _name("missing"))
    assert "default AWS credential chain" in err.value.hint


def test_ssh_key_file_is_private_and_removed_after_use(prefect_server):
    from prefect.blocks.system import Secret

    from blocks import ssh_key_file

    name = _name("key")
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
    Secret(value=key).save(name)
    with ssh_key_file(name) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text() == key + "\n"
        kept = path
    assert not kept.exists() and not kept.parent.exists()

    with pytest.raises(RuntimeError), ssh_key_file(name) as path:  # removed on error too
        kept = path
        raise RuntimeError("verify failed")
    assert not kept.exists()


def test_missing_secret_is_a_clear_error(prefect_server):
    from blocks import ssh_key_file

    with pytest.raises(ConfigError, match="no Secret block named"), ssh_key_file(_name("nokey")):
        pass


def test_cli_blocks_register_and_show(prefect_server):
    from click.testing import CliRunner

    from pctl.cli.commands.blocks import cli

    res = CliRunner().invoke(cli, ["register"])
    assert res.exit_code == 0, res.output
    assert "pctl-settings" in res.output and prefect_server in res.output
    res = CliRunner().invoke(cli, ["show", "--name", _name("none"), "--json"])
    assert res.exit_code == 0, res.output
    assert '"rebuild_cron": "0 3 * * 0"' in res.output
