"""Users and groups: names, fixed ids in pctl's range, shared primary groups, supplementary groups with GIDs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pctl.model.constants import RESERVED_GROUP_NAMES, RESERVED_USER_NAMES, USER_ID_MAX, USER_ID_MIN
from pctl.model.template import Template
from pctl.validation import rules
from pctl.validation.base import Validator
from pctl.validation.issues import Issue

SHELLS = ("/bin/bash", "/bin/sh", "/bin/zsh", "/bin/tcsh", "/bin/csh", "/usr/bin/bash", "/usr/bin/zsh")


def free_gid(t: Template) -> int:
    """A GID no user or group of `t` uses (for hints)."""
    used = {g.gid for g in t.groups} | {u.gid for u in t.users if u.gid is not None} | {u.uid for u in t.users}
    gid = max([i for i in used if USER_ID_MIN <= i <= USER_ID_MAX] or [USER_ID_MIN + 3999]) + 1
    while gid in used or gid > USER_ID_MAX:
        gid = USER_ID_MIN if gid > USER_ID_MAX else gid + 1
    return gid


class UserNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        counts = Counter(u.name for u in t.users)
        for i, u in enumerate(t.users):
            path = ("users", i, "name")
            if not rules.POSIX_USER_RE.fullmatch(u.name):
                yield self.issue(path, f"{u.name!r} is not a portable POSIX user name",
                                 "start with a lowercase letter or _, then up to 31 lowercase letters, digits, _ or -")
            elif u.name in RESERVED_USER_NAMES:
                yield self.issue(path, f"{u.name!r} is a system or ParallelCluster account", "choose another name")
            if counts[u.name] > 1:
                yield self.issue(path, f"user {u.name!r} is listed more than once", "remove the duplicate")
            if u.shell not in SHELLS:
                yield self.issue(("users", i, "shell"), f"unsupported login shell {u.shell!r}", "use /bin/bash")


class UserIdValidator(Validator):
    """UIDs and GIDs are fixed and inside the one range capture uses too; UIDs are unique."""

    def check(self, t: Template) -> Iterator[Issue]:
        uids = Counter(u.uid for u in t.users)
        for i, u in enumerate(t.users):
            for attr in ("uid", "gid"):
                value = getattr(u, attr)
                if value is not None and not USER_ID_MIN <= value <= USER_ID_MAX:
                    yield self.issue(("users", i, attr), f"{attr} {value} is outside pctl's range {USER_ID_MIN}-{USER_ID_MAX}",
                                     "below 1001 belong to the OS and its default user; pick an id in the range "
                                     "(and chown migrated data to it)")
            if uids[u.uid] > 1:
                yield self.issue(("users", i, "uid"), f"uid {u.uid} is used by more than one user", "every user needs its own uid")


class GroupValidator(Validator):
    """Declared groups: a portable name that the OS does not own, a GID in range, each name and GID once."""

    def check(self, t: Template) -> Iterator[Issue]:
        names = Counter(g.name for g in t.groups)
        gids = Counter(g.gid for g in t.groups)
        for k, g in enumerate(t.groups):
            if not rules.POSIX_USER_RE.fullmatch(g.name):
                yield self.issue(("groups", k, "name"), f"{g.name!r} is not a portable group name",
                                 "start with a lowercase letter or _, then lowercase letters, digits, _ or -")
            elif g.name in RESERVED_GROUP_NAMES:
                yield self.issue(("groups", k, "name"), f"{g.name!r} is a group the operating system owns",
                                 "name your site's group instead (e.g. `lab`); pctl never grants OS groups")
            elif names[g.name] > 1:
                yield self.issue(("groups", k, "name"), f"group {g.name!r} is declared more than once", "keep one entry")
            if not USER_ID_MIN <= g.gid <= USER_ID_MAX:
                yield self.issue(("groups", k, "gid"), f"gid {g.gid} is outside pctl's range {USER_ID_MIN}-{USER_ID_MAX}",
                                 "below 1001 belong to the OS; use your site's GID for this group if it is in range")
            elif gids[g.gid] > 1:
                others = ", ".join(x.name for x in t.groups if x.gid == g.gid and x is not g)
                yield self.issue(("groups", k, "gid"), f"gid {g.gid} is also the GID of {others}",
                                 "one GID, one group: give each group its own GID")


class PrimaryGroupValidator(Validator):
    """Each user's primary group resolves to exactly one name and one GID, the same on every node."""

    def check(self, t: Template) -> Iterator[Issue]:
        declared = {g.name: g.gid for g in t.groups}
        by_gid = {g.gid: g.name for g in t.groups}
        private: dict[int, list[str]] = {}
        for i, u in enumerate(t.users):
            if u.group is not None and u.group != u.name:
                if u.group not in declared:
                    yield self.issue(("users", i, "group"), f"primary group {u.group!r} is not declared",
                                     f"add it to the top-level `groups:` with its GID, e.g. "
                                     f"`groups: [{{name: {u.group}, gid: {free_gid(t)}}}]`")
                elif u.gid is not None and u.gid != declared[u.group]:
                    yield self.issue(("users", i, "gid"), f"gid {u.gid} differs from group {u.group}'s GID {declared[u.group]}",
                                     "drop `gid:` (the group sets it) or make them agree")
                continue
            if u.gid is None:
                yield self.issue(("users", i), f"user {u.name} has no primary group",
                                 "add `gid:` (the user's own group) or `group:` (a declared group shared by several users)")
                continue
            if u.gid in by_gid:
                continue  # the declared group with this GID is the primary group
            if u.name in declared:
                yield self.issue(("users", i, "gid"), f"group {u.name!r} is declared with GID {declared[u.name]}, "
                                 f"but user {u.name}'s own group would get {u.gid}", "make the two GIDs agree")
                continue
            private.setdefault(u.gid, []).append(u.name)
        for i, u in enumerate(t.users):
            sharing = private.get(u.gid or -1, [])
            if u.name in sharing and len(sharing) > 1:
                yield self.issue(("users", i, "gid"), f"gid {u.gid} is shared by {', '.join(sharing)} but no group declares it",
                                 f"declare the shared group once (`groups: [{{name: lab, gid: {u.gid}}}]`) "
                                 "and give each of these users `group: lab`")


class SupplementaryGroupValidator(Validator):
    """Supplementary groups are declared (with the site's GID) or another user's own group; never an OS group."""

    def check(self, t: Template) -> Iterator[Issue]:
        known = {g.name for g in t.node_groups()}
        for i, u in enumerate(t.users):
            counts = Counter(u.groups)
            for k, name in enumerate(u.groups):
                path = ("users", i, "groups", k)
                if not rules.POSIX_USER_RE.fullmatch(name):
                    yield self.issue(path, f"{name!r} is not a portable group name", "lowercase letters, digits, _ or -")
                elif name in RESERVED_GROUP_NAMES:
                    yield self.issue(path, f"{name!r} is an operating-system group: membership would grant "
                                     "what the OS gives it (root rights for sudo/wheel/adm)",
                                     "remove it; pctl creates only the template's own groups")
                elif name not in known:
                    yield self.issue(path, f"supplementary group {name!r} has no GID",
                                     f"declare it with your site's GID in the top-level `groups:`, e.g. "
                                     f"`groups: [{{name: {name}, gid: {free_gid(t)}}}]`")
                elif counts[name] > 1 and u.groups.index(name) != k:
                    yield self.issue(path, f"group {name!r} is listed twice for {u.name}", "remove the duplicate")
