"""Global config: file < environment precedence, validation with file and line, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctl.config import load_config, pctl_home, set_registry, set_value
from pctl.errors import ConfigError

ENV = ("PCTL_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "PCTL_KEY_NAME", "PCTL_SSH_ALLOWED_CIDR")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(text)
    return home / "config.yaml"


def test_home_defaults_to_dot_pctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCTL_HOME", raising=False)
    assert pctl_home() == Path.home() / ".pctl"


def test_no_file_means_defaults(home: Path) -> None:
    cfg = load_config()
    assert (cfg.region, cfg.key_name, cfg.ssh_allowed_cidr, cfg.registries) == (None, None, None, {})
    assert cfg.path == home / "config.yaml"
    assert not home.exists()  # reading never creates anything


def test_file_then_env_precedence(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home, "region: eu-west-1\nkey_name: lab-key\nssh_allowed_cidr: 10.0.0.0/8\n")
    cfg = load_config()
    assert (cfg.region, cfg.key_name, cfg.ssh_allowed_cidr) == ("eu-west-1", "lab-key", "10.0.0.0/8")
    assert cfg.sources["region"] == "file"

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert (load_config().region, load_config().sources["region"]) == ("us-west-2", "AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    assert load_config().region == "us-east-2"
    monkeypatch.setenv("PCTL_REGION", "ap-southeast-2")  # strongest
    monkeypatch.setenv("PCTL_KEY_NAME", "other-key")
    monkeypatch.setenv("PCTL_SSH_ALLOWED_CIDR", "192.0.2.0/24")
    cfg = load_config()
    assert (cfg.region, cfg.key_name, cfg.ssh_allowed_cidr) == ("ap-southeast-2", "other-key", "192.0.2.0/24")
    assert cfg.sources == {"region": "PCTL_REGION", "key_name": "PCTL_KEY_NAME",
                           "ssh_allowed_cidr": "PCTL_SSH_ALLOWED_CIDR", "registries": "default"}


def test_bad_env_value_names_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCTL_SSH_ALLOWED_CIDR", "10.0.0.1/8")
    with pytest.raises(ConfigError, match="PCTL_SSH_ALLOWED_CIDR"):
        load_config()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("region: us-east-1\nregoin: eu-west-1\n", 2, "unknown key 'regoin'"),
        ("region: us-east-1\nssh_allowed_cidr: 10.0.0.0/33\n", 2, "not a valid CIDR"),
        ("key_name: k\nregion: mars-north-1\n", 2, "unknown region 'mars-north-1'"),
        ("region: [us-east-1\n", 2, "YAML syntax error"),
        ("region: us-east-1\n  key_name: x\n", 2, "YAML syntax error"),
        ("region: 12\n", 1, "must be text"),
        ("registries:\n  lab: http://example.org/t.git\n", 2, "plain http:// is refused"),
        ("- region\n", 1, "must be a mapping"),
        ("region: a\nregion: b\n", 2, "duplicate key"),
    ],
)
def test_malformed_file_names_file_and_line(home: Path, text: str, line: int, words: str) -> None:
    path = write(home, text)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert words in str(err.value)
    assert err.value.hint


def test_set_validates_and_writes_atomically(home: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'eu-west-1'"):
        set_value("region", "eu-wset-1")
    with pytest.raises(ConfigError, match="unknown config key 'regon'"):
        set_value("regon", "us-east-1")
    with pytest.raises(ConfigError, match="not a valid CIDR"):
        set_value("ssh_allowed_cidr", "300.1.1.0/24")
    assert not (home / "config.yaml").exists()  # failed sets write nothing

    set_value("region", "eu-west-1")
    set_value("ssh_allowed_cidr", "203.0.113.0/24")
    set_registry("lab", "https://github.com/example/templates.git")
    cfg = load_config()
    assert (cfg.region, cfg.ssh_allowed_cidr) == ("eu-west-1", "203.0.113.0/24")
    assert cfg.registries == {"lab": "https://github.com/example/templates.git"}
    # comments survive and no temp files are left behind
    text = (home / "config.yaml").read_text()
    assert text.startswith("# pctl global configuration")
    assert sorted(p.name for p in home.iterdir()) == ["config.yaml"]

    set_value("region", None)  # clearing
    assert load_config().region is None
    assert load_config().registries  # other keys kept


def test_env_override_is_not_persisted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_value("key_name", "file-key")
    monkeypatch.setenv("PCTL_KEY_NAME", "env-key")
    set_value("region", "us-west-2")
    monkeypatch.delenv("PCTL_KEY_NAME")
    assert load_config().key_name == "file-key"


def test_values_with_yaml_specials_roundtrip(home: Path) -> None:
    set_value("key_name", "lab key: @1")
    assert load_config().key_name == "lab key: @1"


def test_cli_show_and_set(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from pctl.cli import main

    main(["config", "set", "region", "eu-central-1"])
    monkeypatch.setenv("PCTL_KEY_NAME", "from-env")
    capsys.readouterr()
    main(["config", "show", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["region"] == "eu-central-1" and shown["sources"]["key_name"] == "PCTL_KEY_NAME"

    write(home, "region: us-east-1\nbogus: 1\n")
    with pytest.raises(SystemExit) as exit_:
        main(["config", "show"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert f"{home / 'config.yaml'}:2: unknown key 'bogus'" in err
    assert "Traceback" not in err
