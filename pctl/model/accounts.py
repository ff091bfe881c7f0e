"""Users and groups: fixed UIDs and GIDs, identical on every node.

A user's primary group is either its own private group (`gid:` only: a group named like the user with that
GID) or a declared group shared by several users (`group: lab`, or a `gid:` equal to a declared group's).
Supplementary groups (`groups: [...]`) name declared groups or other users' private groups: every group has
one name and one GID, written in the template (the site's own), and is created once on every node.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from pctl.model.base import Strict, StrictInt, alias


class Group(Strict):
    name: str = Field(description="POSIX group name, e.g. a lab group.")
    gid: StrictInt = Field(description="The site's GID for this group (same on every node).")


class User(Strict):
    name: str
    uid: StrictInt
    gid: StrictInt | None = Field(None, description="Primary GID: the user's own group, or a declared group's GID.")
    group: str | None = alias("group", "primary_group", default=None,
                              description="Primary group by name: one of the top-level `groups` (several users may share it).")
    shell: str = "/bin/bash"
    groups: list[str] = alias("groups", "supplementary_groups", default_factory=list,
                              description="Supplementary groups: names of top-level `groups` (or of other users' own groups).")


@dataclass(frozen=True)
class NodeGroup:
    """A group to create on every node: a declared group, or a user's private group."""

    name: str
    gid: int
    private: bool = False  # a user's own group (named like the user)


def resolve_groups(users: list[User], groups: list[Group]) -> list[NodeGroup]:
    """Every group the nodes create, each once: declared groups first (template order), then users' own groups.

    A user's gid that equals a declared group's GID makes that group its primary group (no private group).
    Inconsistent input (two private groups with one GID...) is not resolved here: validators report it.
    """
    out = [NodeGroup(g.name, g.gid) for g in groups]
    names = {g.name for g in groups}
    gids = {g.gid for g in groups}
    for u in users:
        if (u.group is not None and u.group != u.name) or u.gid is None or u.gid in gids or u.name in names:
            continue
        out.append(NodeGroup(u.name, u.gid, private=True))
        names.add(u.name)
        gids.add(u.gid)
    return out
