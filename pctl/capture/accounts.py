"""Users and groups of a live cluster (getent passwd / group) -> the template's `users:` and `groups:`.

Users keep their UID; a user alone in its primary group keeps it as a private group (`gid:`); shared primary
groups and supplementary groups keep their names and GIDs as declared `groups:`. What cannot be carried over
(service accounts, OS groups, IDs outside pctl's range) is reported, never guessed.
"""

from __future__ import annotations

from typing import Any

from pctl.model.constants import RESERVED_GROUP_NAMES, RESERVED_USER_NAMES, USER_ID_MAX, USER_ID_MIN
from pctl.validation.rules import POSIX_USER_RE

LOGIN_SHELLS = ("/bin/bash", "/bin/sh", "/bin/zsh", "/bin/tcsh", "/bin/csh", "/bin/ksh", "/usr/bin/bash",
                "/usr/bin/zsh", "/usr/bin/tcsh", "/usr/bin/ksh")


def users_and_groups(facts: dict[str, Any], plan: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(users, groups) for the template from getent passwd/group facts; `plan` collects `users`,
    `users_skipped` and `assumptions` for the report."""
    users: list[dict[str, Any]] = []
    seen_uids: set[int] = set()
    group_names = {g["gid"]: g["name"] for g in facts.get("groups", [])}
    for u in facts.get("passwd", []):
        uid, name = u["uid"], u["name"]
        if uid < 1000 or name == "nobody" or uid == 65534:
            continue  # system accounts
        reason = None
        if not u["shell"].startswith(LOGIN_SHELLS):
            reason = f"login shell {u['shell']}: looks like a service account, not migrated"
        elif not USER_ID_MIN <= uid <= USER_ID_MAX:
            reason = (f"UID {uid} is outside pctl's range {USER_ID_MIN}-{USER_ID_MAX}: give this user a new UID "
                      "in the template (and chown their files when copying data)")
        elif not POSIX_USER_RE.match(name):
            reason = "the name is not a portable POSIX user name"
        elif name in RESERVED_USER_NAMES:
            reason = "the name is reserved by the OS or ParallelCluster"
        elif uid in seen_uids:
            reason = f"UID {uid} is shared with another user"
        if reason:
            plan.users_skipped.append({"name": name, "uid": uid, "reason": reason})
            continue
        seen_uids.add(uid)
        entry: dict[str, Any] = {"name": name, "uid": uid, "gid": u["gid"]}
        if u["shell"] != "/bin/bash":
            entry["shell"] = u["shell"]
        users.append(entry)
        plan.users.append({**entry, "primary_group": group_names.get(u["gid"], str(u["gid"]))})
    groups = _groups(facts, users, plan)
    if users:
        plan.assumptions.append("users keep their UID; a user alone in its primary group keeps it as a group of its "
                                "own (same GID); shared primary and supplementary groups keep their names and GIDs "
                                "(top-level `groups:`), created once on every node; passwords and SSH keys are not copied")
    return users, groups


def _group_problem(name: str, gid: int) -> str | None:
    if name in RESERVED_GROUP_NAMES:
        return "an OS group (the images define it)"
    if not POSIX_USER_RE.match(name):
        return "not a portable POSIX group name"
    if not USER_ID_MIN <= gid <= USER_ID_MAX:
        return f"GID {gid} is outside pctl's range {USER_ID_MIN}-{USER_ID_MAX}"
    return None


def _groups(facts: dict[str, Any], users: list[dict[str, Any]], plan: Any) -> list[dict[str, Any]]:
    """The groups captured users need, as `groups: [{name, gid}]`; users' entries are rewritten to use them.

    A primary group only its user has, named like the user, stays a private group (`gid:` only). A primary
    group shared by several users, or named otherwise, is declared and named with `group:`. Supplementary
    groups are declared too (or name another captured user's private group). OS groups and GIDs outside
    pctl's range are left out, each with an assumption.
    """
    by_gid = {g["gid"]: g for g in facts.get("groups", [])}
    primary_users: dict[int, list[str]] = {}
    for u in users:
        primary_users.setdefault(u["gid"], []).append(u["name"])
    private = {u["name"]: u["gid"] for u in users
               if len(primary_users[u["gid"]]) == 1 and by_gid.get(u["gid"], {}).get("name", u["name"]) == u["name"]}
    declared: dict[str, int] = {}
    used_gids = set(private.values())

    def declare(name: str, gid: int, why: str) -> bool:
        problem = _group_problem(name, gid)
        if problem is None and gid in used_gids and declared.get(name) != gid:
            problem = f"GID {gid} is already another group's"
        if problem:
            plan.assumptions.append(f"group {name} (GID {gid}, {why}) is not captured: {problem}")
            return False
        declared[name] = gid
        used_gids.add(gid)
        return True

    for u in users:
        gid = u["gid"]
        if u["name"] in private:
            continue
        group = by_gid.get(gid)
        name = group["name"] if group else f"group{gid}"
        if group is None:
            plan.assumptions.append(f"primary GID {gid} of {', '.join(primary_users[gid])} has no group entry: "
                                    f"declared as group{gid}")
        if declare(name, gid, f"primary group of {', '.join(primary_users[gid])}"):
            del u["gid"]
            u["group"] = name
        else:  # keep the user, with a private group of its own (GID = UID when that GID is free)
            new_gid = u["uid"] if u["uid"] not in used_gids and u["uid"] not in by_gid else None
            if new_gid is None:
                plan.assumptions.append(f"user {u['name']} keeps GID {gid}: fix its primary group by hand")
                continue
            u["gid"] = new_gid
            used_gids.add(new_gid)
            plan.assumptions.append(f"user {u['name']} gets a private group with GID {new_gid} instead of {name}")
    for u in users:
        wanted = []
        for g in sorted(facts.get("groups", []), key=lambda g: g["name"]):
            if u["name"] not in g["members"] or g["gid"] == u.get("gid") or g["name"] == u.get("group"):
                continue
            if g["name"] in private and private[g["name"]] == g["gid"]:
                wanted.append(g["name"])  # another captured user's own group: no declaration needed
            elif g["name"] in declared or declare(g["name"], g["gid"], f"supplementary group of {u['name']}"):
                wanted.append(g["name"])
        if wanted:
            u["groups"] = wanted
    return [{"name": n, "gid": g} for n, g in sorted(declared.items(), key=lambda kv: kv[1])]
