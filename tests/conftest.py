"""Session-wide test settings. Fixture families live in tests/fixtures/*.py and load automatically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Settings that must exist before pcluster, boto3 or prefect are imported anywhere.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="pctl-tests-"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"  # moto only; never real credentials in tests
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ.pop("AWS_PROFILE", None)
os.environ["PCLUSTER_LOG_FILE"] = str(_SESSION_TMP / "pcluster-cli.log")
os.environ["PCTL_HOME"] = str(_SESSION_TMP / "pctl-home")
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py") if p.stem != "__init__"
)
