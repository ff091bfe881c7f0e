"""One module per top-level command; each exports `cli`. Plus the offline commands' start-up diet."""

from __future__ import annotations

import os
import sys
import types

_PLUGIN_LOADER = "pydantic.plugin._loader"
_PLUGINS_OFF = ("__all__", "1", "true")  # the values pydantic itself reads as "no plugins"


class _NoPluginLoader(types.ModuleType):
    """Stands in for pydantic's plugin loader while plugins are off: `get_plugins()` returns no plugins,
    as pydantic's own loader does under PYDANTIC_DISABLE_PLUGINS=__all__, without importing
    importlib.metadata. Anything else (or plugins switched back on) loads the real module."""

    def get_plugins(self):  # noqa: ANN201 - pydantic's signature
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _PLUGINS_OFF:
            return ()
        return self._real().get_plugins()

    def __getattr__(self, name: str):  # noqa: ANN204
        if name.startswith("__"):  # the import system probes __path__, __spec__...: not a request for the loader
            raise AttributeError(name)
        return getattr(self._real(), name)

    def _real(self) -> types.ModuleType:
        import importlib

        if sys.modules.get(_PLUGIN_LOADER) is self:
            del sys.modules[_PLUGIN_LOADER]
        return importlib.import_module(_PLUGIN_LOADER)


def light_pydantic() -> None:
    """Spare an offline command (validate, render, cost, templates) pydantic's plugin discovery.

    When pydantic builds its first model it looks for plugins: it imports importlib.metadata (~20 ms of
    CPU here: email, zipfile, csv...) and reads the entry points of every installed distribution (~15 ms
    with this venv's ~230). pctl uses no pydantic plugin. So unless PYDANTIC_DISABLE_PLUGINS is set
    already (set it to an empty value to keep plugins), it is set to pydantic's own `__all__`, and the
    loader is answered by `_NoPluginLoader` (see benchmarks/bench_validate_render.py for the figures).
    Call it before the first pydantic model is built; later it changes nothing that matters.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in _PLUGINS_OFF and _PLUGIN_LOADER not in sys.modules:
        sys.modules[_PLUGIN_LOADER] = _NoPluginLoader(_PLUGIN_LOADER)
