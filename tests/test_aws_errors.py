"""Classification and wording of AWS errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from pctl.aws.errors import is_not_found, is_transient, to_pctl_error
from pctl.errors import PctlError


def client_error(code: str, status: int = 400, message: str = "boom") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "DoThing"
    )


@pytest.mark.parametrize(
    "exc",
    [
        client_error("Throttling"),
        client_error("ThrottlingException"),
        client_error("RequestLimitExceeded", 503),
        client_error("TooManyRequestsException", 429),
        client_error("SlowDown", 503),
        client_error("Whatever", 500),
        client_error("InternalError", 500),
        EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com"),
        TimeoutError(),
    ],
)
def test_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [client_error("AccessDenied", 403), client_error("UnauthorizedOperation", 403),
     client_error("InvalidParameterValue"), client_error("VpcLimitExceeded"), ValueError("x")],
)
def test_not_transient(exc):
    assert not is_transient(exc)


def test_access_denied_message_and_hint():
    err = to_pctl_error(client_error("AccessDenied", 403, "User: x is not authorized to perform: ec2:CreateVpc"),
                        "creating the network")
    assert isinstance(err, PctlError)
    assert "creating the network" in str(err) and "ec2:CreateVpc" in str(err)
    assert "permission" in err.hint


def test_unauthorized_operation_points_at_decoding():
    err = to_pctl_error(client_error("UnauthorizedOperation", 403,
                                     "You are not authorized. Encoded authorization failure message: abc"), "x")
    assert "decode-authorization-message" in err.hint


def test_validation_and_quota_and_credentials_hints():
    assert "rejected" in to_pctl_error(client_error("InvalidParameterValue"), "x").hint
    assert "quota" in to_pctl_error(client_error("VpcLimitExceeded"), "x").hint
    assert "expired" in to_pctl_error(client_error("ExpiredToken"), "x").hint
    err = to_pctl_error(NoCredentialsError(), "listing clusters")
    assert "No AWS credentials" in str(err) and "aws configure" in err.hint


def test_pctl_errors_pass_through():
    original = PctlError("already clear", "hint")
    assert to_pctl_error(original, "x") is original


def test_not_found_codes():
    assert is_not_found(client_error("InvalidVpcID.NotFound"))
    assert is_not_found(client_error("NoSuchBucket", 404))
    assert is_not_found(client_error("NoSuchEntity", 404))
    assert not is_not_found(client_error("DependencyViolation"))
