"""An AMI registry entry: what a published baked image is, and where it can be launched.

A source repository holds one JSON file per image, ``amis/<name>.json``, and an index ``amis.json`` at its
root listing {name, path, sha256, fingerprint, pcluster_version, os, arch} per entry. Readers check each
entry file's sha256 against the index (as the template registry does for templates), so a file changed
without regenerating the index is refused.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pctl.registry.index import NAME_RE, RegistryError, sha256_hex

AMI_INDEX_FILE = "amis.json"
AMI_DIR = "amis"
IMAGE_ID_RE = re.compile(r"ami-[0-9a-f]{8,17}")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class AmiEntry(BaseModel):
    """One published image. `images` maps region -> image id (the source image and its copies)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=NAME_RE.pattern)
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    pcluster_version: str
    os: str
    arch: str
    spack_version: str
    spack_target: str
    packages: list[str] = Field(default_factory=list)
    images: dict[str, str]
    owner_account: str = Field(pattern=r"^\d{12}$")
    date: str
    template_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    description: str = ""

    @field_validator("images")
    @classmethod
    def _images(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("needs at least one region: image id")
        for region, image in value.items():
            if not REGION_RE.fullmatch(region) or not IMAGE_ID_RE.fullmatch(image):
                raise ValueError(f"{region}: {image} is not a region name and an image id")
        return dict(sorted(value.items()))

    def path(self) -> str:
        return f"{AMI_DIR}/{self.name}.json"

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n").encode()

    def matches(self, term: str) -> bool:
        """Case-insensitive substring of name, description, packages, target; or a fingerprint prefix."""
        t = term.lower()
        if len(t) >= 6 and self.fingerprint.startswith(t):
            return True
        return any(t in s.lower() for s in (self.name, self.description, self.spack_target, *self.packages))


class AmiIndexEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=NAME_RE.pattern)
    path: str = Field(pattern=rf"^{AMI_DIR}/[a-z0-9][a-z0-9._-]{{0,63}}\.json$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    pcluster_version: str = ""
    os: str = ""
    arch: str = ""


def index_line(entry: AmiEntry) -> AmiIndexEntry:
    return AmiIndexEntry(name=entry.name, path=entry.path(), sha256=sha256_hex(entry.to_bytes()),
                         fingerprint=entry.fingerprint, pcluster_version=entry.pcluster_version, os=entry.os,
                         arch=entry.arch)


def parse_ami_index(text: str, where: str) -> list[AmiIndexEntry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{where}: {AMI_INDEX_FILE} is not valid JSON (line {exc.lineno}: {exc.msg})",
                            "the publisher must publish again (`pctl ami publish`)") from exc
    if not isinstance(data, list):
        raise RegistryError(f"{where}: {AMI_INDEX_FILE} must be a JSON list of entries")
    out: list[AmiIndexEntry] = []
    for i, raw in enumerate(data):
        try:
            out.append(AmiIndexEntry.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            label = raw.get("name", f"#{i}") if isinstance(raw, dict) else f"#{i}"
            raise RegistryError(f"{where}: {AMI_INDEX_FILE} entry {label}: "
                                f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
    return out


def parse_entry(data: bytes, where: str) -> AmiEntry:
    try:
        return AmiEntry.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise RegistryError(f"{where}: {'.'.join(str(p) for p in first['loc']) or 'entry'}: {first['msg']}",
                            "the publisher must publish it again (`pctl ami publish`)") from exc
