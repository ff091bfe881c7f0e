"""Live on-demand instance prices from the AWS Price List API (`pctl cost --live`).

The API lives in a few regions only (us-east-1 is one) and prices every region from there. Failures never
raise: they come back as warnings, and the caller falls back to pctl's price table (pctl.cost).
"""

from __future__ import annotations

import json
from typing import Any

PRICING_API_REGION = "us-east-1"  # the Price List API lives in a few regions only; us-east-1 is one


def _live_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    pairs = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in pairs.items()]


def _on_demand_usd(price_item: str) -> float | None:
    product = json.loads(price_item)
    for offer in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in offer.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


# Client errors that every further request would get too: the account or its keys, not the instance type.
_WHOLE_API_CODES = frozenset({"UnrecognizedClientException", "InvalidSignatureException", "ExpiredToken",
                              "ExpiredTokenException", "AccessDenied", "AccessDeniedException",
                              "InvalidClientTokenId"})


def live_prices(instance_types: list[str], region: str, client: Any) -> tuple[dict[str, float], list[str]]:
    """On-demand Linux prices from the Price List API. Failures are reported, never raised.

    No credentials, an unreachable endpoint or refused keys stop the asking at the first type (one
    warning, not one per type and one timeout each); a failure for one type moves on to the next."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as AwsConnectionError

    prices: dict[str, float] = {}
    problems: list[str] = []
    types = sorted(set(instance_types))
    for instance_type in types:
        try:
            resp = client.get_products(ServiceCode="AmazonEC2", Filters=_live_filters(instance_type, region),
                                       FormatVersion="aws_v1", MaxResults=10)
        except (BotoCoreError, ClientError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
            if isinstance(exc, (NoCredentialsError, PartialCredentialsError, AwsConnectionError, HTTPClientError)) \
                    or code in _WHOLE_API_CODES:
                problems.append(f"no live price could be obtained ({exc}): table prices used for "
                                f"{', '.join(t for t in types if t not in prices)}")
                break
            problems.append(f"live price for {instance_type} unavailable ({exc}); table price used")
            continue
        found = next((p for p in map(_on_demand_usd, resp.get("PriceList", [])) if p is not None), None)
        if found is None:
            problems.append(f"the Price List API has no on-demand Linux price for {instance_type} in {region}; "
                            "table price used")
        else:
            prices[instance_type] = found
    return prices, problems


def pricing_client(session: Any) -> Any:
    from botocore.config import Config

    if session is None:
        import boto3

        session = boto3.Session()
    cfg = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})
    return session.client("pricing", region_name=PRICING_API_REGION, config=cfg)
