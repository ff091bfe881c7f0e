"""The cache's signing key: a GPG key pctl makes once per account and region and keeps in Secrets Manager.

The secret (``pctl/spack-cache/signing-key``) holds JSON ``{"fingerprint", "public", "private"}`` (ASCII
armoured). Nodes that push read it (`spack gpg trust` of the private key, then `spack buildcache push
--key`); every node trusts this public key and the pinned public cache's, never a key found in the mirror's
``_pgp/`` folder (anything that can write the prefix could put one there).

Needs the ``gpg`` program (GnuPG 2.2+) on the machine that creates the key. Errors: PctlError with a hint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pctl.cache.location import SECRET_NAME
from pctl.errors import PctlError

if TYPE_CHECKING:
    import boto3

_FPR_RE = re.compile(r"[0-9A-F]{40}")
KEY_UID = "pctl Spack binary cache <spack-cache@pctl.invalid>"


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str  # 40 hex digits, upper case
    public: str  # ASCII-armoured public key
    private: str = ""  # ASCII-armoured secret key ("" when only the public part is known)

    def to_secret(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "public": self.public, "private": self.private})

    @classmethod
    def from_secret(cls, text: str) -> SigningKey:
        try:
            d = json.loads(text)
            key = cls(d["fingerprint"], d["public"], d.get("private", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise PctlError(f"The Spack cache signing key secret {SECRET_NAME} is not pctl's JSON ({exc}).",
                            "Delete the secret and run `pctl cache key` to make a new one.") from exc
        if not _FPR_RE.fullmatch(key.fingerprint) or "BEGIN PGP PUBLIC KEY BLOCK" not in key.public:
            raise PctlError(f"The secret {SECRET_NAME} does not hold a GPG key with a fingerprint.")
        return key


def gpg_program() -> str | None:
    """The GnuPG program on PATH (``gpg``, else ``gpg2``), or None."""
    return shutil.which("gpg") or shutil.which("gpg2")


def _gpg(home: str, *args: str, stdin: str | None = None) -> str:
    exe = gpg_program()
    if exe is None:
        raise PctlError("gpg is not installed; it makes the Spack cache's signing key.",
                        "Install GnuPG (apt-get install gnupg / dnf install gnupg2) and run again.")
    run = subprocess.run([exe, "--homedir", home, "--batch", "--no-tty", *args], input=stdin,
                         capture_output=True, text=True, check=False, timeout=120)
    if run.returncode != 0:
        raise PctlError(f"gpg {args[0]} failed: {run.stderr.strip()[-500:]}")
    return run.stdout


def generate_key(uid: str = KEY_UID) -> SigningKey:
    """A new signing key (ed25519, no passphrase, no expiry) made in a throwaway GnuPG home."""
    with tempfile.TemporaryDirectory(prefix="pctl-gpg-") as home:
        os.chmod(home, 0o700)
        try:
            _gpg(home, "--passphrase", "", "--quick-generate-key", uid, "ed25519", "sign", "never")
            listing = _gpg(home, "--with-colons", "--list-secret-keys")
            fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
            if not fprs:
                raise PctlError("gpg made no key")
            public = _gpg(home, "--armor", "--export", fprs[0])
            private = _gpg(home, "--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                           "--export-secret-keys", fprs[0])
        finally:
            stop_agent(home)
    return SigningKey(fprs[0], public, private)


def stop_agent(home: str | os.PathLike[str]) -> None:
    """Stop the gpg-agent that gpg started for the GnuPG home ``home`` (it would outlive the home)."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf:
        subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True,
                       check=False, timeout=30)


def load_signing_key(session: boto3.Session) -> SigningKey | None:
    """The account's key from Secrets Manager, or None when there is none yet."""
    from pctl.aws.errors import is_not_found, to_pctl_error
    from pctl.aws.session import client

    sm = client(session, "secretsmanager")
    try:
        value = sm.get_secret_value(SecretId=SECRET_NAME)["SecretString"]
    except Exception as exc:
        if is_not_found(exc) or "ResourceNotFound" in str(exc):
            return None
        raise to_pctl_error(exc, f"reading the secret {SECRET_NAME}") from exc
    return SigningKey.from_secret(value)


def ensure_signing_key(session: boto3.Session, tags: dict[str, str] | None = None) -> tuple[SigningKey, str]:
    """The account's signing key and its secret's ARN; made and stored on first use (idempotent)."""
    from pctl.aws.errors import to_pctl_error
    from pctl.aws.session import client

    sm = client(session, "secretsmanager")
    key = load_signing_key(session)
    if key is None:
        key = generate_key()
        try:
            sm.create_secret(Name=SECRET_NAME, SecretString=key.to_secret(),
                             Description="pctl: GPG key that signs the account's Spack binary cache",
                             Tags=[{"Key": k, "Value": v} for k, v in {"pctl:role": "spack-cache-key",
                                                                        **(tags or {})}.items()])
        except Exception as exc:
            if "ResourceExists" not in str(exc):
                raise to_pctl_error(exc, f"storing the secret {SECRET_NAME}") from exc
            key = load_signing_key(session)  # another pctl made it first: use theirs
            assert key is not None
    arn = sm.describe_secret(SecretId=SECRET_NAME)["ARN"]
    return key, arn
