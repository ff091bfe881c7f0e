"""One bake per fingerprint: two concurrent bakes, and the S3 lock that decides between them.

The concurrent test runs two threads of the bake task's function against the moto server
(tests/fixtures/moto_server.py), so both share one AWS world over HTTP as two real runs would. No builder
instance boots under moto: `Builder` (tests/test_flow_ami.py) plays each builder's user data and writes
the completion marker. The lock's unit tests use in-process moto; S3 conditional writes
(If-None-Match / If-Match) are moto's own implementation.
"""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from pctl.aws.ami_lock import acquire_or_wait, lock_key, read_lock, try_acquire
from pctl.aws.bucket import ensure_bucket
from tests.test_flow_ami import REGION, TEMPLATE, Builder

BUCKET = "pctl-lock-test"


@pytest.fixture
def s3(aws):
    ensure_bucket(aws, BUCKET, "us-east-1", tls_only=False)
    return aws.client("s3")


def test_only_one_holder_and_only_the_holder_releases(s3):
    first = try_acquire(s3, BUCKET, "f" * 64, holder="run A", hold_s=60)
    assert first is not None
    assert try_acquire(s3, BUCKET, "f" * 64, holder="run B", hold_s=60) is None
    assert read_lock(s3, BUCKET, "f" * 64)[0]["holder"] == "run A"
    assert try_acquire(s3, BUCKET, "e" * 64, holder="run B", hold_s=60) is not None  # another fingerprint
    first.release()
    assert read_lock(s3, BUCKET, "f" * 64) is None
    assert try_acquire(s3, BUCKET, "f" * 64, holder="run B", hold_s=60) is not None


def test_a_stale_lock_is_taken_over_once(s3):
    dead = try_acquire(s3, BUCKET, "a" * 64, holder="died", hold_s=60, now=lambda: time.time() - 3600)
    assert dead is not None
    taker = try_acquire(s3, BUCKET, "a" * 64, holder="taker", hold_s=60)
    assert taker is not None and read_lock(s3, BUCKET, "a" * 64)[0]["holder"] == "taker"
    assert try_acquire(s3, BUCKET, "a" * 64, holder="late", hold_s=60) is None  # the new lock is live
    dead.release()  # the dead run's release must not drop the taker's lock
    assert read_lock(s3, BUCKET, "a" * 64)[0]["holder"] == "taker"


def test_a_waiter_takes_over_when_the_holder_gives_up_without_an_image(s3):
    holder = try_acquire(s3, BUCKET, "b" * 64, holder="A", hold_s=60)
    threading.Timer(0.2, holder.release).start()
    lines: list[str] = []
    lock, image = acquire_or_wait(s3, BUCKET, "b" * 64, holder="B", hold_s=60, find_image=lambda: None,
                                  wait_s=5, poll_s=0.02, log=lines.append)
    assert lock is not None and image is None
    assert any("another bake" in line and "A on" in line for line in lines)


def test_a_waiter_reuses_the_image_the_holder_made(s3):
    try_acquire(s3, BUCKET, "c" * 64, holder="A", hold_s=60)
    made: list[str] = []
    threading.Timer(0.2, lambda: made.append("ami-0123456789abcdef0")).start()
    lock, image = acquire_or_wait(s3, BUCKET, "c" * 64, holder="B", hold_s=60,
                                  find_image=lambda: made[0] if made else None, wait_s=5, poll_s=0.02,
                                  log=lambda _m: None)
    assert (lock, image) == (None, "ami-0123456789abcdef0")


def test_two_concurrent_bakes_of_one_fingerprint(aws_endpoint, tmp_path, monkeypatch, aws_calls):
    from flows.ami import _bucket
    from pctl.model.loader import load_template
    from tasks import ami as ami_tasks

    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)
    template = load_template(path)
    bucket = _bucket(REGION)
    builder = Builder()
    builder.thread.start()
    results: list[dict | None] = [None, None]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = ami_tasks.bake.fn(template, REGION, bucket, "standalone", None, 1, False, None)
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    builder.stop()
    assert errors == [] and builder.errors == []
    assert len(builder.seen) == 1  # exactly one builder ran
    assert aws_calls["RunInstances"] == 1 and aws_calls["CreateRole"] == 1 and aws_calls["CreateImage"] == 1
    a, b = results
    assert a["image_id"] == b["image_id"] and a["fingerprint"] == b["fingerprint"]
    assert sorted(r["how"] for r in results) == ["baked", "waited"]
    assert sorted(r["created"] for r in results) == [False, True]
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=lock_key(a["fingerprint"]))["KeyCount"] == 0  # released
