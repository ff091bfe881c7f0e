"""AWS failures, classified: retry the transient ones, explain the rest in words a researcher can act on."""

from __future__ import annotations

from pctl.aws.resource import Resource
from pctl.errors import AwsError, PctlError

__all__ = ["Resource", "is_transient", "to_pctl_error", "error_code", "is_not_found", "unreachable_hint"]

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "TooManyRequests",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
    }
)

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidAccessKeyId",
    }
)

_PERMISSION_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "UnauthorizedAccess"}
)

_VALIDATION_CODES = frozenset(
    {
        "ValidationError",
        "ValidationException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "MissingParameter",
        "InvalidRequest",
        "Unsupported",
        "UnsupportedOperation",
        "InvalidInput",
    }
)

_LIMIT_CODES = frozenset(
    {
        "VpcLimitExceeded",
        "AddressLimitExceeded",
        "InstanceLimitExceeded",
        "VcpuLimitExceeded",
        "NatGatewayLimitExceeded",
        "InternetGatewayLimitExceeded",
        "TooManyBuckets",
        "LimitExceeded",
        "LimitExceededException",
        "ResourceLimitExceeded",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return None


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        msg = (response.get("Error") or {}).get("Message")
        if msg:
            return str(msg)
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    """True for 'that resource does not exist' errors (deleting it again is then a no-op)."""
    code = error_code(exc) or ""
    return (
        code.endswith(".NotFound")
        or code.endswith("NotFound")
        or code.endswith("NotFoundException")
        or code in {"NoSuchBucket", "NoSuchEntity", "NoSuchKey", "InvalidAMIID.Unavailable", "404"}
    )


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later may succeed: throttling, 5xx, connection trouble, timeouts."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | EndpointConnectionError | ConnectionClosedError):
        return True
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    code = error_code(exc)
    if code is None:
        return False
    if code in _TRANSIENT_CODES or code.startswith("Throttl"):
        return True
    status = _status(exc)
    return status is not None and status >= 500


def unreachable_hint() -> str:
    """What to check when no answer came back from AWS at all: the way there, not the credentials."""
    import os

    hint = ("Check that this machine reaches AWS: its network, a proxy (HTTPS_PROXY, NO_PROXY) if it needs one, "
            "and the region name")
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{hint}. AWS_ENDPOINT_URL={endpoint} sends every AWS call there: unset it to reach AWS itself."
    return f"{hint}; pctl retries transient failures."


def to_pctl_error(exc: BaseException, doing: str) -> PctlError:
    """A PctlError that says what failed while ``doing`` what, and what to do about it."""
    if isinstance(exc, PctlError):
        return exc
    from botocore.exceptions import ConnectionError as AwsConnectionError
    from botocore.exceptions import (
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"No AWS credentials found while {doing}.",
            "Configure credentials (aws configure, AWS_PROFILE, or an SSO login); pctl uses the standard AWS credential chain.",
        )
    if isinstance(exc, ProfileNotFound):
        return AwsError(f"{exc} (while {doing}).", "List your profiles with `aws configure list-profiles`.")
    if isinstance(exc, NoRegionError):
        return AwsError(f"No AWS region set while {doing}.", "Set cluster.region in the template.")
    if isinstance(exc, AwsConnectionError | HTTPClientError):  # refused, DNS, timeouts, proxy, TLS, dropped
        return AwsError(f"Could not reach AWS while {doing}: {exc}.", unreachable_hint())

    code = error_code(exc)
    message = _message(exc)
    if code is None:
        return AwsError(f"Failed while {doing}: {exc}")
    text = f"AWS refused while {doing}: {message} ({code})."
    if code in _PERMISSION_CODES:
        hint = "Your AWS identity lacks a permission pctl needs; docs/aws.md lists the IAM actions per step."
        if code == "UnauthorizedOperation" and "Encoded authorization failure message" in message:
            hint += " Decode the detail with `aws sts decode-authorization-message --encoded-message <msg>`."
        return AwsError(text, hint)
    if code in _CREDENTIAL_CODES:
        return AwsError(
            text,
            "The AWS credentials are invalid or expired: refresh them (e.g. `aws sso login`) and re-run; "
            "pctl resumes where it stopped.",
        )
    if code in _LIMIT_CODES or (code.endswith("LimitExceeded") and not is_transient(exc)):
        return AwsError(
            text,
            "An AWS account quota was reached: delete unused resources or request an increase in the "
            "Service Quotas console.",
        )
    if code in _VALIDATION_CODES or code.startswith("Invalid"):
        return AwsError(text, "A value sent to AWS was rejected; check the template field it came from.")
    if is_transient(exc):
        return AwsError(text, "AWS is throttling or briefly unavailable; wait a minute and re-run (it resumes).")
    return AwsError(text)


class DeleteError(AwsError):
    """A delete stopped part-way; ``deleted`` lists what was removed before it stopped."""

    def __init__(self, message: str, hint: str | None, deleted: list[Resource], remaining: list[Resource]) -> None:
        super().__init__(message, hint)
        self.deleted = deleted
        self.remaining = remaining
