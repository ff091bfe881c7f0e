"""Render a template into what ParallelCluster and the nodes need.

`render(template, options)` returns every file: the pcluster v3 config, the node scripts, the Spack
environment and the module snippet. Values the template cannot know (subnet, key pair, where the
scripts are uploaded) come from RenderOptions; missing ones become marked placeholders, so the
output always loads through pcluster's schema and a re-render with real values replaces them.
"""

from __future__ import annotations

from pctl.render.options import RenderOptions
from pctl.render.rendered import Rendered
from pctl.render.renderer import ami_software_script, render

__all__ = ["RenderOptions", "Rendered", "render", "ami_software_script"]
