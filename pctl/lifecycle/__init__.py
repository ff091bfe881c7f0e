"""Plain-Python orchestration helpers for the lifecycle flows: the undo stack and the plan."""
