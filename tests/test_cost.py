"""Cost arithmetic: hand-computed cases, every number written out.

Prices used (pctl/data/instance_types.json and prices.json, us-east-1): t3.medium 0.0416, c5.large 0.085,
m5.large 0.096, c6i.4xlarge 0.68, c6a.4xlarge 0.612 $/h; gp3 0.08, EFS 0.30, FSx Lustre SCRATCH_2 0.14,
PERSISTENT_2 0.145 $/GB-month; NAT 0.045 $/h and 0.045 $/GB; eu-west-1 multiplier 1.11; spot 65% off;
root volume 40 GB per node; elastic use 20% by default.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pctl.cost import estimate, price_table
from pctl.model.template import Template


def make(queues: list[dict], head: str = "t3.medium", region: str = "us-east-1", **extra: Any) -> Template:
    return Template.model_validate(
        {"cluster": {"name": "costly", "region": region}, "compute": {"head_node": head, "queues": queues}, **extra}
    )


def by_item(est) -> dict[str, Any]:
    return {line.item: line for line in est.lines}


def test_shipped_prices_are_what_these_tests_assume() -> None:
    from pctl.instance_types import info

    assert [info(t)["price_usd_hour"] for t in ("t3.medium", "c5.large", "m5.large", "c6i.4xlarge", "c6a.4xlarge")] \
        == [0.0416, 0.085, 0.096, 0.68, 0.612]
    p = price_table()
    assert p["storage"]["ebs_gp3_gb_month"] == 0.08 and p["nat_gateway"] == {"hour": 0.045, "gb_processed": 0.045}
    assert p["regional_multipliers"]["eu-west-1"] == 1.11 and p["assumptions"]["spot_discount"] == 0.65


def test_on_demand_queue_with_nat_and_default_storage() -> None:
    est = estimate(make([{"name": "cpu", "instance_types": ["c5.large"], "min_count": 2, "max_count": 10}]))
    lines = by_item(est)
    # head node: 730 h x 0.0416 = 30.368
    assert lines["head node t3.medium"].monthly_usd == 30.37
    # always on: 2 nodes x 730 h = 1460 h x 0.085 = 124.10
    assert lines["queue cpu: 2 x c5.large always on"].monthly_usd == 124.10
    # elastic: 20% x (10 - 2) nodes x 730 h = 1168 h x 0.085 = 99.28
    elastic = lines["queue cpu: expected use of 8 elastic x c5.large"]
    assert (elastic.quantity, elastic.monthly_usd) == (pytest.approx(1168), 99.28)
    # root volumes: 40 GB x (1 head + 2 always on + 1168/730 = 1.6) = 184 GB-month x 0.08 = 14.72
    assert lines["root volumes (EBS gp3)"].quantity == pytest.approx(184)
    assert lines["root volumes (EBS gp3)"].monthly_usd == 14.72
    # default /shared: 100 GB gp3 x 0.08 = 8.00; NAT: 730 x 0.045 = 32.85 and 100 GB x 0.045 = 4.50
    assert lines["shared storage shared (EBS gp3, 100 GB)"].monthly_usd == 8.00
    assert lines["NAT gateway (hours)"].monthly_usd == 32.85
    assert lines["NAT gateway (data processed)"].monthly_usd == 4.50
    # 30.368 + 124.10 + 99.28 + 14.72 + 8.00 + 32.85 + 4.50 = 313.818
    assert est.monthly_total_usd == 313.82
    assert est.warnings == []


def test_spot_public_only_regional_multiplier_and_custom_usage() -> None:
    t = make([{"name": "spot", "instance_types": ["m5.large"], "max_count": 4, "capacity_type": "spot"}],
             head="c5.large", region="eu-west-1", networking={"public_only": True})
    est = estimate(t, hours_per_month=100, utilisation=0.5)
    lines = by_item(est)
    # head: 0.085 x 1.11 = 0.09435 $/h x 730 = 68.8755
    assert lines["head node c5.large"].monthly_usd == 68.88
    # spot: 0.096 x 1.11 x (1 - 0.65) = 0.037296 $/h; 0.5 x 4 nodes x 100 h = 200 h -> 7.4592
    spot = lines["queue spot: expected use of 4 elastic x m5.large"]
    assert spot.unit_usd == pytest.approx(0.037296)
    assert spot.monthly_usd == 7.46
    assert "spot (assumed 65% below on-demand)" in spot.note
    # root: 40 x (1 + 200/730) = 50.958904 GB-month x 0.0888 = 4.525151
    assert lines["root volumes (EBS gp3)"].monthly_usd == 4.53
    # shared: 100 x 0.0888 = 8.88; public_only: no NAT
    assert lines["shared storage shared (EBS gp3, 100 GB)"].monthly_usd == 8.88
    assert not any("NAT" in item for item in lines)
    # 68.8755 + 7.4592 + 4.525151 + 8.88 = 89.739851
    assert est.monthly_total_usd == 89.74
    assert "no NAT gateway (networking.public_only)" in est.assumptions
    assert "eu-west-1 prices = us-east-1 prices x 1.11 (approximate)" in est.assumptions


def test_multi_type_queues_price_the_plan() -> None:
    t = make([
        # different vCPUs: one compute resource per type; max_count 5 split 3 + 2, min_count 1 on the first
        {"name": "mixed", "instance_types": ["c6i.4xlarge", "c5.large"], "min_count": 1, "max_count": 5},
        # same vCPUs: one flexible pool, priced at its cheapest type (c6a.4xlarge)
        {"name": "flex", "instance_types": ["c6i.4xlarge", "c6a.4xlarge"], "min_count": 1, "max_count": 1},
    ], networking={"subnet_id": "subnet-0123456789abcdef0"})
    lines = by_item(estimate(t, utilisation=0.2))
    # 1 x c6i.4xlarge x 730 h x 0.68 = 496.40
    assert lines["queue mixed: 1 x c6i.4xlarge always on"].monthly_usd == 496.40
    # the split the config has: c6i.4xlarge MaxCount 3 (min 1), c5.large MaxCount 2: elastic 2 and 2 nodes
    # c6i.4xlarge: 0.2 x 2 x 730 = 292 h x 0.68 = 198.56; c5.large: 292 h x 0.085 = 24.82
    big = lines["queue mixed: expected use of 2 elastic x c6i.4xlarge"]
    small = lines["queue mixed: expected use of 2 elastic x c5.large"]
    assert (big.monthly_usd, small.monthly_usd) == (198.56, 24.82)
    assert "3 of the queue's max_count 5" in big.note and "2 of the queue's max_count 5" in small.note
    # never more nodes than max_count: 1 always on + 2 + 2 elastic = 5
    # flexible pool: 730 h x 0.612 = 446.76, labelled
    flex = lines["queue flex: 1 x c6a.4xlarge always on"]
    assert flex.monthly_usd == 446.76 and "cheapest of c6i.4xlarge, c6a.4xlarge" in flex.note
    assert not any("elastic" in item for item in lines if item.startswith("queue flex"))  # max == min
    assert not any("NAT" in item for item in lines)  # user subnet


def test_priced_node_count_equals_the_rendered_split() -> None:
    """cost and the renderer read one plan: the node counts priced are the MinCount/MaxCount rendered."""
    from pctl.compute_resources import plan_queue

    q = {"name": "gpu", "instance_types": ["m6i.2xlarge", "g4dn.2xlarge", "c6i.2xlarge"], "min_count": 2, "max_count": 10}
    t = make([q], networking={"subnet_id": "subnet-0123456789abcdef0"})
    plan = plan_queue(t.compute.queues[0])
    # m6i and c6i share 8 vCPUs and no GPU: one flexible resource; g4dn (1 GPU) its own
    assert [(cr.instance_types, cr.min_count, cr.max_count) for cr in plan] == [
        (("m6i.2xlarge", "c6i.2xlarge"), 2, 5), (("g4dn.2xlarge",), 0, 5)]
    est = estimate(t, utilisation=1.0)
    elastic = [line for line in est.lines if "elastic" in line.item]
    always = [line for line in est.lines if "always on" in line.item]
    nodes = sum(line.quantity for line in elastic) / est.hours_per_month + sum(line.quantity for line in always) / 730
    assert nodes == 10


def test_storage_types_and_existing_file_systems() -> None:
    t = make(
        [{"name": "q", "instance_types": ["c5.large"], "max_count": 1}],
        shared_storage=[
            {"name": "apps", "mount_point": "/apps", "type": "efs", "size_gb": 50},
            {"name": "scratch", "mount_point": "/scratch", "type": "fsx_lustre", "size_gb": 1200},
            {"name": "old", "mount_point": "/old", "type": "efs", "file_system_id": "fs-0123456789abcdef0"},
        ],
        data={"fsx_lustre": [{"mount_point": "/fsx", "deployment_type": "PERSISTENT_2", "storage_capacity_gb": 2400}],
              "efs": [{"mount_point": "/home2"}]},
    )
    est = estimate(t, utilisation=0)
    lines = by_item(est)
    assert lines["shared storage apps (EFS Standard, 50 GB)"].monthly_usd == 15.00  # 50 x 0.30
    assert lines["shared storage scratch (FSx for Lustre, 1200 GB)"].monthly_usd == 168.00  # 1200 x 0.14
    assert lines["FSx for Lustre /fsx (PERSISTENT_2, 2400 GB)"].monthly_usd == 348.00  # 2400 x 0.145
    assert not any("old" in item for item in lines)
    assert any("existing file systems are not counted" in a and "fs-0123456789abcdef0" in a for a in est.assumptions)
    assert any("/home2" in a and "not included" in a for a in est.assumptions)
    # utilisation 0: no elastic line; root volume for the head node only: 40 x 0.08 = 3.20
    assert lines["root volumes (EBS gp3)"].monthly_usd == 3.20
    # 30.368 + 3.20 + 15 + 168 + 348 + 32.85 + 4.50 = 601.918
    assert est.monthly_total_usd == 601.92


def test_uncovered_region_and_unpriced_type_say_so() -> None:
    # c7a.large is a real type (AWS's table) that pctl has no offline price for
    t = make([{"name": "q", "instance_types": ["c7a.large"], "max_count": 2}], region="af-south-1")
    est = estimate(t)
    assert any("no price data for af-south-1" in w for w in est.warnings)
    assert any("no price for c7a.large" in w and "--live" in w for w in est.warnings)
    line = by_item(est)["queue q: expected use of 2 elastic x c7a.large"]
    assert (line.unit_usd, line.monthly_usd) == (None, 0.0)
    assert not est.complete and est.unpriced == ["c7a.large"]
    text = est.render_text()
    assert "TOTAL per month (INCOMPLETE)" in text and "NOT PRICED" in text and "INCOMPLETE: no price for c7a.large" in text
    d = est.to_dict()
    assert d["complete"] is False and d["unpriced_instance_types"] == ["c7a.large"]
    # us-east-1 prices, unpriced line excluded: 30.368 + root 40 x (1 + 292/730) x 0.08 = 4.48 + 8 + 32.85 + 4.5
    assert est.monthly_total_usd == round(30.368 + 40 * (1 + 292 / 730) * 0.08 + 8 + 32.85 + 4.5, 2) == 80.2


@pytest.mark.parametrize(("head", "queue_type", "named"), [("t3.medium", "c6i.2xlarg", "c6i.2xlarg"),
                                                           ("t3.mediun", "c5.large", "t3.mediun")])
def test_unknown_type_is_refused_never_priced_at_zero(head: str, queue_type: str, named: str) -> None:
    from pctl.errors import PctlError

    with pytest.raises(PctlError) as info:
        estimate(make([{"name": "q", "instance_types": [queue_type]}], head=head))
    assert named in str(info.value) and "did you mean" in (info.value.hint or "")


def test_cli_cost_refuses_a_typo_type_with_did_you_mean(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from pctl import library
    from pctl.cli import main

    bad = tmp_path / "typo.yaml"
    bad.write_text(library.path_of("minimal").read_text().replace("t3.medium", "t3.mediun"))
    with pytest.raises(SystemExit) as exc:
        main(["cost", str(bad)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "t3.mediun" in err and "did you mean" in err and "$" not in err


@pytest.mark.parametrize(("kwargs", "words"), [({"hours_per_month": 0}, "hours per month"),
                                               ({"utilisation": 1.5}, "utilisation")])
def test_bad_arguments(kwargs: dict, words: str) -> None:
    from pctl.errors import PctlError

    with pytest.raises(PctlError, match=words):
        estimate(make([{"name": "q", "instance_types": ["c5.large"]}]), **kwargs)


def test_render_and_dict_agree() -> None:
    est = estimate(make([{"name": "q", "instance_types": ["c5.large"], "max_count": 10}]))
    text = est.render_text()
    # the TOTAL is the table's footer row: its amount ends the PER MONTH column, right-aligned with the lines
    lines = text.splitlines()
    total = next(line for line in lines if line.startswith("TOTAL per month"))
    assert total.endswith(f"${est.monthly_total_usd:,.2f}")
    assert len(total) == max(len(line) for line in lines if line.endswith(f"${est.lines[0].monthly_usd:,.2f}"))
    assert "Assumptions:" in text and "price" in text
    d = json.loads(json.dumps(est.to_dict()))
    assert d["monthly_total_usd"] == est.monthly_total_usd and len(d["lines"]) == len(est.lines)


def _price_item(usd: str) -> str:
    return json.dumps({"product": {"attributes": {"instanceType": "x"}},
                       "terms": {"OnDemand": {"A.B": {"priceDimensions": {"A.B.C": {
                           "unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}}})


def test_live_prices_via_price_list_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Price List API is stubbed with botocore's Stubber: moto's `pricing` support is too thin to
    return EC2 products. The request parameters are checked against the real service model."""
    import boto3
    from botocore.stub import Stubber

    from pctl.cost_live import _live_filters

    session = boto3.Session(region_name="us-east-1")
    client = session.client("pricing", region_name="us-east-1")
    monkeypatch.setattr(session, "client", lambda *a, **k: client)
    stub = Stubber(client)
    # sorted types: c5.large, t3.medium; c5.large live at 0.1 $/h, t3.medium fails (table price used)
    stub.add_response("get_products", {"PriceList": [_price_item("0.1000000000")], "FormatVersion": "aws_v1"},
                      {"ServiceCode": "AmazonEC2", "Filters": _live_filters("c5.large", "eu-west-1"),
                       "FormatVersion": "aws_v1", "MaxResults": 10})
    stub.add_client_error("get_products", "ThrottlingException", "slow down")
    t = make([{"name": "q", "instance_types": ["c5.large"], "min_count": 1, "max_count": 1}], region="eu-west-1")
    with stub:
        est = estimate(t, live=True, session=session)
    stub.assert_no_pending_responses()
    lines = by_item(est)
    assert lines["queue q: 1 x c5.large always on"].monthly_usd == 73.00  # live: 730 x 0.10, no multiplier
    assert lines["head node t3.medium"].monthly_usd == 33.71  # table: 730 x 0.0416 x 1.11 = 33.70848
    assert any("t3.medium unavailable" in w for w in est.warnings)
    assert est.live and est.live_priced == ["c5.large"]
    # the header says what was really used: one type live, the other from the table
    assert est.render_text().splitlines()[0] == (
        "Estimated monthly cost in eu-west-1 (live prices for 1 of 2 instance types, other prices of 2026-10-01):")


def _no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No credentials anywhere this process could find them (env, files, instance metadata)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_live_with_no_credentials_says_table_prices_in_the_header(monkeypatch, tmp_path) -> None:
    """A real boto3 session with no credentials (H10: the header claimed live prices it never got)."""
    _no_aws(monkeypatch, tmp_path)
    t = make([{"name": "q", "instance_types": ["c5.large", "m5.large"], "max_count": 2}])
    est = estimate(t, live=True)
    header = est.render_text().splitlines()[0]
    assert "live instance prices" not in header
    assert header.endswith("(prices of 2026-10-01; --live got no price from AWS, so every instance price is "
                           "the table's):")
    assert est.live_priced == [] and est.to_dict()["live_priced_instance_types"] == []
    # one warning for the whole API, not one per type
    live = [w for w in est.warnings if "live" in w]
    assert live == ["no live price could be obtained (Unable to locate credentials): table prices used for "
                    "c5.large, m5.large, t3.medium"]
    assert by_item(est)["head node t3.medium"].monthly_usd == 30.37  # the table's price


def test_live_with_aws_unreachable_stops_at_the_first_type(monkeypatch, tmp_path) -> None:
    """Fake keys and an endpoint nothing listens on (connection refused): one warning, table prices."""
    _no_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    t = make([{"name": "q", "instance_types": ["c5.large", "m5.large"], "max_count": 2}])
    est = estimate(t, live=True)
    live = [w for w in est.warnings if "live" in w]
    assert len(live) == 1 and "Could not connect" in live[0] and "c5.large, m5.large, t3.medium" in live[0]
    assert "got no price from AWS" in est.render_text().splitlines()[0]


def test_live_prices_for_every_type_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.stub import Stubber

    session = boto3.Session(region_name="us-east-1")
    client = session.client("pricing", region_name="us-east-1")
    monkeypatch.setattr(session, "client", lambda *a, **k: client)
    stub = Stubber(client)
    for usd in ("0.1", "0.05"):  # c5.large, t3.medium
        stub.add_response("get_products", {"PriceList": [_price_item(usd)], "FormatVersion": "aws_v1"})
    with stub:
        est = estimate(make([{"name": "q", "instance_types": ["c5.large"], "max_count": 1}]), live=True,
                       session=session)
    assert est.live_priced == ["c5.large", "t3.medium"]
    assert est.render_text().splitlines()[0].endswith("(live instance prices from AWS, other prices of 2026-10-01):")


def test_cli_cost_json(capsys: pytest.CaptureFixture[str]) -> None:
    from pctl.cli import main

    main(["cost", "starter", "--json", "--utilisation", "0", "--hours-per-month", "100"])
    d = json.loads(capsys.readouterr().out)
    assert d["utilisation"] == 0 and d["hours_per_month"] == 100
    assert not any("elastic" in line["item"] for line in d["lines"])


def test_cli_cost_refuses_an_invalid_template(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown region or min > max would price the wrong thing: the CLI refuses, naming the field."""
    from pctl import library
    from pctl.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(library.path_of("minimal").read_text().replace("region: us-east-1", "region: us-easst-1"))
    with pytest.raises(SystemExit) as exc:
        main(["cost", str(bad)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "cluster.region" in err and "did you mean `us-east-1`" in err


# ---- AWS PCS -----------------------------------------------------------------------------------------

def make_pcs(queues: list[dict], **extra: Any) -> Template:
    return Template.model_validate({"cluster": {"name": "costly", "region": "us-east-1", "platform": "pcs"},
                                    "compute": {"head_node": "t3.large", "queues": queues}, **extra})


def test_pcs_prices_a_login_node_efs_and_says_the_controller_is_not_priced() -> None:
    """prices.json has no published PCS controller figure: the line says so and the total is INCOMPLETE."""
    from pctl.pcs.nodes import ROOT_VOLUME_GB

    est = estimate(make_pcs([{"name": "cpu", "instance_types": ["c5.large"], "min_count": 1, "max_count": 10}]))
    lines = by_item(est)
    assert not any(item.startswith("head node") for item in lines)
    # the login node group: 730 h x 0.0832 = 60.736
    assert lines["login node group t3.large"].monthly_usd == 60.74
    # /shared is an EFS pctl creates on PCS, not EBS: 100 GB x 0.30 = 30.00
    assert not any("EBS gp3, 100 GB" in item for item in lines)
    shared = lines["shared storage shared (EFS Standard, 100 GB)"]
    assert shared.monthly_usd == 30.00 and "PCS" in shared.note
    # root volumes are PCS's launch-template size: 64 GB x (1 login + 1 always on + 0.2 x 9 x 730 / 730)
    assert ROOT_VOLUME_GB == 64
    assert lines["root volumes (EBS gp3)"].quantity == pytest.approx(64 * 3.8)
    # 11 nodes (10 compute + the login node): size SMALL (up to 32)
    controller = lines["PCS cluster controller (size SMALL)"]
    assert controller.unit_usd is None and controller.monthly_usd == 0 and "https://aws.amazon.com/pcs/pricing/" \
        in controller.note
    assert not est.complete and est.unpriced_fees == ["PCS cluster controller (size SMALL)"]
    # login 60.736 + always on 730 x 0.085 = 62.05 + elastic 0.2 x 9 x 730 = 1314 h x 0.085 = 111.69
    # + root 243.2 x 0.08 = 19.456 + EFS 30.00 + NAT 32.85 + 4.50 = 321.282; the controller adds nothing
    assert est.monthly_total_usd == 321.28
    text = est.render_text()
    assert "TOTAL per month (INCOMPLETE)" in text and "NOT PRICED" in text
    assert "INCOMPLETE: no price for PCS cluster controller (size SMALL)" in text
    assert "login node group and min_count nodes run 24/7 (730 h/month)" in est.assumptions
    d = est.to_dict()
    assert d["complete"] is False and d["unpriced_fees"] == ["PCS cluster controller (size SMALL)"]


def test_pcs_controller_is_priced_by_the_size_the_plan_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a figure in the table, the controller line is that figure x 730 h x the regional multiplier.
    (The figures here are test values: pctl's table has none.)"""
    from pctl.pcs.plan import build_plan

    table = price_table()["pcs"]["controller_usd_hour"]
    monkeypatch.setitem(table, "SMALL", 1.0)
    monkeypatch.setitem(table, "MEDIUM", 2.0)
    big = make_pcs([{"name": "cpu", "instance_types": ["c5.large"], "max_count": 40}])
    assert build_plan(big, None, {})["size"] == "MEDIUM"  # 40 + 1 login node > 32
    lines = by_item(estimate(big))
    assert lines["PCS cluster controller (size MEDIUM)"].monthly_usd == 1460.00  # 730 h x 2.0
    small = make_pcs([{"name": "cpu", "instance_types": ["c5.large"], "max_count": 4}])
    est = estimate(small)
    assert by_item(est)["PCS cluster controller (size SMALL)"].monthly_usd == 730.00
    assert est.complete and "INCOMPLETE" not in est.render_text()
    small.cluster.region = "eu-west-1"  # covered region: 730 h x 1.0 x 1.11
    assert by_item(estimate(small))["PCS cluster controller (size SMALL)"].monthly_usd == 810.30


def test_parallelcluster_estimate_has_no_pcs_lines() -> None:
    est = estimate(make([{"name": "q", "instance_types": ["c5.large"], "max_count": 1}]))
    assert not any("PCS" in line.item or "login" in line.item for line in est.lines)
    assert est.complete and est.unpriced_fees == []
