"""The global configuration: $PCTL_HOME/config.yaml, with environment variables on top.

Precedence (lowest first): built-in defaults < the file < environment variables. Environment
variables: PCTL_REGION (then AWS_REGION, then AWS_DEFAULT_REGION), PCTL_KEY_NAME, PCTL_SSH_ALLOWED_CIDR.
Each value remembers where it came from, so `pctl config show` can say why a value is what it is.

A malformed file is a ConfigError that names the file, the line and the fix: this file is edited by
hand as often as by `pctl config set`. Writes are atomic (temp file + fsync + rename) and go through a
Jinja2 template, so the file keeps its explanatory comments.

Plain Python: no prefect, no boto3 (region names come from botocore's data files, read as JSON).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pctl.errors import ConfigError
from pctl.fsutil import atomic_write_text

CONFIG_FILE = "config.yaml"
REGISTRY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Environment variables per key, strongest first.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "region": ("PCTL_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "key_name": ("PCTL_KEY_NAME",),
    "ssh_allowed_cidr": ("PCTL_SSH_ALLOWED_CIDR",),
}
SCALAR_KEYS = ("region", "key_name", "ssh_allowed_cidr")
ALL_KEYS = (*SCALAR_KEYS, "registries")


def pctl_home() -> Path:
    """$PCTL_HOME, else ~/.pctl (not created here: readers must not leave directories behind)."""
    env = os.environ.get("PCTL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".pctl"


def config_path() -> Path:
    return pctl_home() / CONFIG_FILE


@dataclass
class GlobalConfig:
    region: str | None = None
    key_name: str | None = None
    ssh_allowed_cidr: str | None = None
    registries: dict[str, str] = field(default_factory=dict)  # source name -> git URL
    path: Path = field(default_factory=config_path)
    # key -> "default" | "file" | the environment variable that set it
    sources: dict[str, str] = field(default_factory=dict)
    # The values as the file holds them (what `config set` rewrites; env overrides are not persisted).
    file_values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "region": self.region,
            "key_name": self.key_name,
            "ssh_allowed_cidr": self.ssh_allowed_cidr,
            "registries": dict(self.registries),
            "sources": dict(self.sources),
        }


# ---- value checks (shared by the file reader, env overrides and `config set`) -------------------

def _region_problem(value: str) -> str | None:
    from pctl.validation.rules import known_regions

    regions = known_regions()
    if regions and value not in regions:
        close = difflib.get_close_matches(value, sorted(regions), n=1)
        return f"unknown region {value!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    return None


def _cidr_problem(value: str) -> str | None:
    from pctl.validation.rules import cidr_problem

    problem = cidr_problem(value)
    return f"not a valid CIDR ({problem}); write e.g. 203.0.113.0/24" if problem else None


def _key_name_problem(value: str) -> str | None:
    from pctl.validation.rules import KEY_NAME_RE

    return None if KEY_NAME_RE.match(value) else "not a valid EC2 key pair name"


def registry_name_problem(name: str) -> str | None:
    if REGISTRY_NAME_RE.match(name):
        return None
    return "registry names are lowercase letters, digits, '-' or '_', at most 40 characters"


def registry_url_problem(url: str) -> str | None:
    """Git URLs pctl accepts: https, ssh, git@host:path, file:// and absolute local paths (never one that
    starts with '-', which git would read as an option; never unauthenticated http:// or git://)."""
    if url.startswith(("http://", "git://")):  # both unauthenticated: anyone on the path could swap templates
        return f"plain {url.split(':')[0]}:// is refused (templates would travel unauthenticated); use https://"
    if re.fullmatch(r"(https|ssh|file)://\S+", url) or re.fullmatch(r"[\w.][\w.-]*@[\w.-]+:\S+", url):
        return None
    if url.startswith("/") and re.fullmatch(r"\S+", url):
        return None
    return "expected a git URL: https://..., ssh://..., git@host:path, file:///path or an absolute path"


CHECKS: dict[str, Callable[[str], str | None]] = {
    "region": _region_problem,
    "key_name": _key_name_problem,
    "ssh_allowed_cidr": _cidr_problem,
}
HINTS = {
    "region": "use an AWS region code such as us-east-1 or eu-west-1",
    "key_name": "use the name of an EC2 key pair in your account (`aws ec2 describe-key-pairs`)",
    "ssh_allowed_cidr": "use your site's network, e.g. 203.0.113.0/24 (0.0.0.0/0 opens SSH to the world)",
}


# ---- reading -------------------------------------------------------------------------------------

def _fail(path: Path, line: int | None, message: str, hint: str) -> ConfigError:
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {message}", hint)


def _read_file(path: Path) -> tuple[dict[str, Any], dict]:
    """The file's mapping and its line marks; {} when there is no file."""
    # pctl.validation first: importing pctl.model.loader alone hits the loader <-> validation import cycle.
    import pctl.validation  # noqa: F401
    from pctl.model.loader import parse_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, None, f"cannot read the config file: {exc}", "check its permissions and encoding") from exc
    loaded = parse_yaml(text, str(path))
    if loaded.issues:
        issue = loaded.issues[0]
        raise _fail(path, issue.line, issue.message,
                    (issue.hint or "fix the YAML") + ", or remove the file and use `pctl config set`")
    if loaded.data is None:
        return {}, loaded.marks
    if not isinstance(loaded.data, dict):
        raise _fail(path, 1, f"the config must be a mapping of `key: value` lines, not a {type(loaded.data).__name__}",
                    "write e.g. `region: us-east-1`")
    return loaded.data, loaded.marks


def _check_file_values(path: Path, data: dict[str, Any], marks: dict) -> dict[str, Any]:
    def line_of(*key: Any) -> int | None:
        mark = marks.get(tuple(key))
        return mark[0] if mark else None

    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in ALL_KEYS:
            close = difflib.get_close_matches(str(key), ALL_KEYS, n=1)
            hint = f"did you mean `{close[0]}`?" if close else "known keys: " + ", ".join(ALL_KEYS)
            raise _fail(path, line_of(key), f"unknown key {key!r}", hint)
        if key == "registries":
            if value is None:
                out[key] = {}
                continue
            if not isinstance(value, dict):
                raise _fail(path, line_of(key), "`registries` must be a mapping of name: git-url",
                            "write e.g.\n    registries:\n      community: https://github.com/org/pctl-templates.git")
            for name, url in value.items():
                problem = registry_name_problem(str(name)) if isinstance(name, str) else "must be text"
                if problem is None:
                    problem = registry_url_problem(url) if isinstance(url, str) else "the URL must be text"
                if problem:
                    raise _fail(path, line_of(key, name), f"registries.{name}: {problem}",
                                "fix it here or run `pctl registry remove` / `pctl registry add`")
            out[key] = {str(k): str(v) for k, v in value.items()}
            continue
        if value is None:
            out[key] = None
            continue
        if not isinstance(value, str):
            raise _fail(path, line_of(key), f"`{key}` must be text, not {type(value).__name__}",
                        f"quote the value: {key}: \"{value}\"")
        problem = CHECKS[key](value)
        if problem:
            raise _fail(path, line_of(key), f"{key}: {problem}", HINTS[key])
        out[key] = value
    return out


def load_config() -> GlobalConfig:
    """The effective configuration: file values, then environment overrides (each checked)."""
    path = config_path()
    data, marks = _read_file(path)
    values = _check_file_values(path, data, marks)
    cfg = GlobalConfig(path=path, file_values=dict(values))
    cfg.registries = dict(values.get("registries") or {})
    cfg.sources["registries"] = "file" if "registries" in values else "default"
    for key in SCALAR_KEYS:
        value, source = values.get(key), ("file" if values.get(key) is not None else "default")
        for var in ENV_VARS[key]:
            env_value = os.environ.get(var)
            if env_value:
                problem = CHECKS[key](env_value)
                if problem:
                    raise ConfigError(f"environment variable {var}: {key}: {problem}",
                                      f"{HINTS[key]}; or unset {var} to use {path}")
                value, source = env_value, var
                break
        setattr(cfg, key, value)
        cfg.sources[key] = source
    return cfg


# ---- writing -------------------------------------------------------------------------------------

_CONFIG_TEMPLATE = """\
# pctl global configuration. Written by `pctl config set` and `pctl registry add|remove`;
# hand edits are fine. Environment variables override these values: PCTL_REGION (then AWS_REGION,
# AWS_DEFAULT_REGION), PCTL_KEY_NAME, PCTL_SSH_ALLOWED_CIDR.
{% for key, comment in scalars %}
# {{ comment }}
{{ key }}: {{ values.get(key) | tojson }}
{% endfor %}
# Git repositories of shared templates (name: url); `pctl registry update` fetches them.
{% if registries %}
registries:
{% for name, url in registries | dictsort %}
  {{ name | tojson }}: {{ url | tojson }}
{% endfor %}
{% else %}
registries: {}
{% endif %}
"""
_COMMENTS = {
    "region": "Default AWS region for templates that do not name one.",
    "key_name": "Default EC2 key pair for SSH to the head node.",
    "ssh_allowed_cidr": "Default CIDR allowed to SSH to head nodes (never 0.0.0.0/0 unless written here).",
}


def render_config(values: dict[str, Any]) -> str:
    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    template = env.from_string(_CONFIG_TEMPLATE)
    return template.render(
        scalars=[(k, _COMMENTS[k]) for k in SCALAR_KEYS],
        values=values,
        registries=values.get("registries") or {},
    )


def save_file_values(values: dict[str, Any], path: Path | None = None) -> Path:
    """Persist the file layer (not env overrides) atomically."""
    path = path or config_path()
    atomic_write_text(path, render_config(values))
    return path


def _file_values() -> dict[str, Any]:
    path = config_path()
    data, marks = _read_file(path)
    return _check_file_values(path, data, marks)


def set_value(key: str, value: str | None) -> GlobalConfig:
    """`pctl config set KEY VALUE` (an empty VALUE or None clears the key). Returns the new config."""
    if key not in SCALAR_KEYS:
        if key == "registries":
            raise ConfigError("registries are managed with `pctl registry add|remove`", "see `pctl registry --help`")
        close = difflib.get_close_matches(key, SCALAR_KEYS, n=1)
        raise ConfigError(f"unknown config key {key!r}",
                          f"did you mean `{close[0]}`?" if close else "keys: " + ", ".join(SCALAR_KEYS))
    if value:
        problem = CHECKS[key](value)
        if problem:
            raise ConfigError(f"{key}: {problem}", HINTS[key])
    values = _file_values()
    values[key] = value or None
    save_file_values(values)
    return load_config()


def set_registry(name: str, url: str | None) -> GlobalConfig:
    """Add (url given) or remove (url None) a registry source in the file."""
    values = _file_values()
    registries = dict(values.get("registries") or {})
    if url is None:
        registries.pop(name, None)
    else:
        registries[name] = url
    values["registries"] = registries
    save_file_values(values)
    return load_config()
