"""Every rendered script of every library template passes `bash -n` and `shellcheck`."""

from __future__ import annotations

import subprocess

import pytest

from pctl import library
from pctl.model.template import InstallMode
from pctl.render import ami_software_script, render
from pctl.validation import validate_file


def rendered_scripts(name: str) -> dict[str, str]:
    t = validate_file(library.path_of(name))[1].template
    r = render(t)
    scripts = {rel: text for rel, text in r.files.items() if rel.endswith(".sh")}
    scripts["scripts/ami-software.sh"] = ami_software_script(t)
    # the same template baked into an AMI: the head node then skips the install
    baked = render(t.model_copy(update={"software": t.software.model_copy(update={"install": InstallMode.ami})}))
    scripts["ami/head-node.sh"] = baked.files["scripts/head-node.sh"]
    return scripts


@pytest.mark.parametrize("name", sorted(library.names()))
def test_scripts_are_bash_n_and_shellcheck_clean(name, tmp_path, shellcheck_bin):
    paths = []
    for rel, text in rendered_scripts(name).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{rel}: {syntax.stderr}"
        if rel.startswith("scripts/"):
            assert text.startswith("#!/bin/bash\n")
            assert "set -euo pipefail" in text or "set -Eeuo pipefail" in text
    check = subprocess.run([shellcheck_bin, "--severity=style", *map(str, paths)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
