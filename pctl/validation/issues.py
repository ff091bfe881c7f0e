"""What validation reports: one Issue per problem, with a level, the field path, its line and a hint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """('compute', 'queues', 0, 'name') -> 'compute.queues[0].name'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out  # "" for the whole document (its file and line say where)


@dataclass(frozen=True)
class Issue:
    level: Level
    path: Path
    message: str
    hint: str | None = None
    code: str = "invalid"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    @property
    def field(self) -> str:
        return format_path(self.path)

    def located(self, line: int | None, column: int | None) -> Issue:
        return Issue(self.level, self.path, self.message, self.hint, self.code, line, column)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = list(self.path)
        d["field"] = self.field
        return d

    def render(self, source: str = "") -> str:
        where = f"{source}:{self.line}:{self.column}" if self.line else (source or "template")
        field = f"{self.field}: " if self.path else ""  # the whole document: the location names it
        text = f"{where}: {self.level.value}: {field}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


@dataclass
class Report:
    source: str
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level is Level.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level is Level.WARNING]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def to_dict(self, strict: bool = False) -> dict:
        return {
            "source": self.source,
            "valid": self.ok(strict),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
        }

    def summary(self) -> str:
        """'1 error, 2 warnings'."""
        from pctl.words import counts

        return counts(len(self.errors), len(self.warnings))

    def render(self) -> str:
        return "\n".join(i.render(self.source) for i in self.issues)
