"""The result of a render: relative path -> text, plus what is still a placeholder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "cluster-config.yaml"  # ParallelCluster's cluster config
PCS_PLAN_FILE = "pcs/plan.json"  # a PCS cluster's requests, in its place
SCRIPTS_DIR = "scripts"


@dataclass
class Rendered:
    files: dict[str, str]
    placeholders: list[str] = field(default_factory=list)
    # relative path of each node script -> the s3:// URL the config expects it at
    script_urls: dict[str, str] = field(default_factory=dict)
    # what the user should know before using the files (e.g. SSH open to the internet); see RenderOptions.strict
    warnings: list[str] = field(default_factory=list)

    @property
    def config_text(self) -> str:
        return self.files[CONFIG_FILE]

    @property
    def scripts(self) -> dict[str, str]:
        return {p: text for p, text in self.files.items() if p.startswith(f"{SCRIPTS_DIR}/")}

    def write(self, outdir: Path) -> list[Path]:
        """Write every file under outdir (scripts executable) and return the paths written."""
        outdir = Path(outdir)
        written = []
        for rel, text in sorted(self.files.items()):
            path = outdir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if rel.endswith(".sh"):
                path.chmod(0o755)
            written.append(path)
        return written
