"""`pctl cache ...` as a fresh user meets it: no bucket yet, --bucket forms, region defaults, no credentials.

AWS is moto in-process (the `aws` fixture). The CLI runs through `pctl.cli.main`, so the exit codes and the
one-line errors are the ones a user sees. No AWS credentials: the environment has none and IMDS is off, so
botocore's own credential chain finds nothing (nothing of pctl is replaced).
"""

from __future__ import annotations

import json

import pytest

from pctl.cli import main

ACCOUNT_BUCKET = "pctl-123456789012-us-east-1"  # moto's account


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def ok(argv, capsys):
    """Commands that return normally (no sys.exit): (stdout, stderr)."""
    main(argv)
    out = capsys.readouterr()
    return out.out, out.err


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    for var in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(var, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def home(monkeypatch, tmp_path):
    """A fresh PCTL_HOME (no global config) and no region in the environment."""
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    for var in ("PCTL_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "pctl"


# ---- 1. no bucket yet ---------------------------------------------------------------------------

def test_list_with_no_bucket_yet_says_empty(aws, capsys):
    out, err = ok(["cache", "list", "--region", "us-east-1"], capsys)
    assert "empty" in out and f"s3://{ACCOUNT_BUCKET}" in out and "does not exist yet" in out, (out, err)
    out, _ = ok(["cache", "list", "--region", "us-east-1", "--json"], capsys)
    doc = json.loads(out)
    assert doc["groups"] == [] and doc["bucket"] == ACCOUNT_BUCKET and doc["bucket_exists"] is False


def test_prune_with_no_bucket_yet_has_nothing_to_prune(aws, monkeypatch, capsys):
    from pctl.cache import names

    monkeypatch.setattr(names, "named_packages", lambda **_: names.Named(packages={"zlib"}))
    out, err = ok(["cache", "prune", "--region", "us-east-1", "--yes"], capsys)
    assert "nothing to prune" in out and "does not exist yet" in out, (out, err)


def test_a_named_bucket_that_does_not_exist_is_an_error_not_an_empty_cache(aws, capsys):
    code, _, err = run(["cache", "list", "--region", "us-east-1", "--bucket", "no-such-lab-cache"], capsys)
    assert code == 1 and "no-such-lab-cache" in err and "does not exist" in err and "hint:" in err, err
    assert "internal error" not in err


# ---- 2. --bucket ---------------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["my-lab-cache", "s3://my-lab-cache", "s3://my-lab-cache/"])
def test_bucket_takes_the_templates_s3_form(aws, capsys, given):
    aws.client("s3").create_bucket(Bucket="my-lab-cache")
    out, err = ok(["cache", "list", "--region", "us-east-1", "--bucket", given, "--json"], capsys)
    doc = json.loads(out)
    assert doc["bucket"] == "my-lab-cache" and doc["groups"] == [] and doc["bucket_exists"] is True, err


@pytest.mark.parametrize("given", ["Bad_B", "s3://my-lab-cache/some/prefix", "s3://-x"])
def test_a_bad_bucket_is_a_usage_error_naming_the_option(capsys, given):
    code, _, err = run(["cache", "list", "--region", "us-east-1", "--bucket", given], capsys)
    assert code == 2 and "--bucket" in err and "e.g. --bucket my-lab-cache" in err, err
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["cache", "list"], ["cache", "prune", "--yes"]])
@pytest.mark.parametrize("bucket", [[], ["--bucket", "s3://my-lab-cache"]])
def test_no_credentials_is_the_credentials_message_with_or_without_bucket(no_credentials, monkeypatch, capsys,
                                                                         argv, bucket):
    from pctl.cache import names

    monkeypatch.setattr(names, "named_packages", lambda **_: names.Named(packages={"zlib"}))
    code, _, err = run([*argv, "--region", "us-east-1", *bucket], capsys)
    assert code == 1 and "No AWS credentials found" in err and "aws configure" in err, err
    assert "internal error" not in err


# ---- 3. the region -------------------------------------------------------------------------------

def test_no_region_anywhere_names_all_three_ways(home, capsys):
    for argv in (["cache", "list"], ["cache", "key"], ["cache", "prune", "--dry-run"]):
        code, _, err = run(argv, capsys)
        assert code == 1, err
        assert "--region" in err and "pctl config set region" in err and "AWS_REGION" in err, err


def test_a_misspelt_region_is_named_before_any_aws_call(capsys):
    code, _, err = run(["cache", "list", "--region", "us-east-1x"], capsys)
    assert code == 1 and "--region" in err and "did you mean 'us-east-1'" in err, err


def test_region_comes_from_the_global_config(aws, home, capsys):
    ok(["config", "set", "region", "us-east-1"], capsys)
    out, err = ok(["cache", "list", "--json"], capsys)
    assert json.loads(out)["region"] == "us-east-1", err


def test_region_comes_from_the_environment(aws, home, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    out, err = ok(["cache", "list", "--json"], capsys)
    assert json.loads(out)["region"] == "us-east-1", err


def test_the_flag_wins_over_the_config(aws, home, capsys):
    ok(["config", "set", "region", "eu-west-1"], capsys)
    out, _ = ok(["cache", "list", "--region", "us-east-1", "--json"], capsys)
    assert json.loads(out)["region"] == "us-east-1"


# ---- 4. --timeout says its unit ------------------------------------------------------------------

def test_every_timeout_option_says_minutes():
    import click

    from pctl.cli import cli

    ctx = click.Context(cli)
    seen = []

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])
            return
        for p in cmd.params:
            if isinstance(p, click.Option) and "--timeout" in p.opts:
                seen.append(" ".join(path))
                assert p.help and "minute" in p.help.lower(), f"pctl {' '.join(path)} --timeout: {p.help!r}"

    walk(cli, [])
    assert "cache warm" in seen and "create" in seen


# ---- 5. warm: credentials before Prefect ---------------------------------------------------------

def test_warm_without_credentials_fails_before_prefect_starts(no_credentials, monkeypatch, capsys):
    from pctl.lifecycle import runner
    from pctl.lifecycle.preflight import CREDENTIALS_FIX

    def no_prefect(*_a, **_k):
        raise AssertionError("Prefect started")

    monkeypatch.setattr(runner, "prepare", no_prefect)
    monkeypatch.setattr(runner, "run_flow", no_prefect)
    code, _, err = run(["cache", "warm", "starter"], capsys)
    assert code == 1 and "no AWS credentials found" in err and CREDENTIALS_FIX in err, err
    assert "Prefect" not in err and "internal error" not in err
