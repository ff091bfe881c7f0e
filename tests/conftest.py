"""Session-wide test settings. Fixture families live in tests/fixtures/*.py and load automatically."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

import pytest

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


# ---- parallel runs (pytest-xdist; scripts/test runs `-n 2`) -------------------------------------------------
# Tests that share one machine-wide resource run in ONE worker, in collection order: the local node cluster
# of tier 3 (fixed ports, a lock), the loopback head node (fixed ports; its session fixture starts and stops
# it), and the Spack binary cache test (one cache directory). Every other test file is one unit, so its
# module fixtures are set up once. The machine-wide groups are dispatched first: they are the long, mostly
# single-core ones (concretizing), and the other worker runs the rest of the suite beside them.
# (xdist's own `--dist loadgroup` renames item.nodeid, which pytest >= 9 no longer allows; and the controller
# sees only node ids, so each worker writes its nodeid -> group map for the scheduler below.)
_MACHINE_GROUPS = ("nodes", "headnode", "spack-cache")
# Then the files that took longest in CI (--durations), so that no long one is left for the end while the
# other worker idles. Only the dispatch order: a file missing here still runs.
_LONG_FILES = ("tests/test_tier2_corpus.py", "tests/test_cli_no_traceback.py", "tests/test_flow_ami.py",
               "tests/test_hostile_loader.py", "tests/test_cli_journey.py", "tests/test_flow_pcs.py")
_GROUPS_ENV = "PCTL_TEST_GROUPS_DIR"


def _group_of(item) -> str:
    file = item.nodeid.split("::", 1)[0]
    if file == "tests/tier3/test_cache_spack.py":
        return "spack-cache"
    if file.startswith("tests/tier3/"):
        return "nodes"
    if "headnode" in getattr(item, "fixturenames", ()) or file in _asks_for_headnode():
        return "headnode"
    return file


@functools.cache
def _asks_for_headnode() -> frozenset[str]:
    """Test files that take the head node with request.getfixturevalue (invisible in fixturenames)."""
    return frozenset(p.relative_to(REPO).as_posix() for p in (REPO / "tests").rglob("test_*.py")
                     if 'getfixturevalue("headnode")' in p.read_text(errors="replace"))


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ[_GROUPS_ENV] = str(_SESSION_TMP / "xdist-groups")  # the workers inherit it


def pytest_collection_modifyitems(config, items):
    groups_dir = os.environ.get(_GROUPS_ENV)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not (groups_dir and worker):
        return  # a plain run keeps pytest's order
    groups = {item.nodeid: _group_of(item) for item in items}
    rank = {g: i for i, g in enumerate(_MACHINE_GROUPS + _LONG_FILES)}
    items.sort(key=lambda item: rank.get(groups[item.nodeid], len(rank)))  # stable: order in a group kept
    out = Path(groups_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{worker}.tmp").write_text(json.dumps(groups))
    (out / f"{worker}.tmp").rename(out / f"{worker}.json")


@pytest.hookimpl(optionalhook=True)  # an xdist hook: only called when xdist runs
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """xdist's loadscope with our groups as the scopes, dispatched in collection order."""

        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:  # read when scheduling starts: every worker has collected by then
                self._groups = {}
                for f in Path(os.environ[_GROUPS_ENV]).glob("*.json"):
                    self._groups.update(json.loads(f.read_text()))
            return self._groups.get(nodeid) or nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
