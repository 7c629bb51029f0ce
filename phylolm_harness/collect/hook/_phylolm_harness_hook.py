"""Make a stock ``lm_eval`` find phylolm-harness's tasks and models (lm-eval 0.4.13 to 0.5).

Installed as a top-level module and imported by ``phylolm_harness_lm_eval.pth`` at interpreter
start. It imports nothing heavy: it only adds a finder to ``sys.meta_path`` that waits for two
lm-eval modules and, once each has been executed, registers this plugin with it:

* ``lm_eval.tasks.manager``: ``TaskManager`` also indexes phylolm-harness's task folder, next to
  lm-eval's own tasks (not with ``include_defaults=False``);
* ``lm_eval.api.registry``: the ``phylolm-*`` model names are registered lazily (their modules
  are imported only when such a model is asked for).

Set ``PHYLOLM_HARNESS_NO_HOOK=1`` to switch it off.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~10 ms at interpreter start: import it for type checkers only
    import importlib.machinery
    import types
    from collections.abc import Callable, Sequence
    from typing import Any


def _patch_task_manager(module: types.ModuleType) -> None:
    cls = module.TaskManager
    original = cls.__init__
    if getattr(original, "_phylolm_harness", False):
        return
    import inspect

    signature = inspect.signature(original)
    if not {"include_path", "include_defaults"} <= set(signature.parameters):
        _step_aside(f"lm_eval.tasks.TaskManager{signature} takes no include_path/include_defaults")
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # The plugin's tasks join lm-eval's own defaults, so they are left out whenever the
        # defaults are. Arguments are bound by name, whatever their position.
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:  # lm-eval's own call error: let the original raise it
            original(self, *args, **kwargs)
            return
        bound.apply_defaults()
        if bound.arguments["include_defaults"]:
            try:
                bound.arguments["include_path"] = _with_plugin_tasks(
                    bound.arguments["include_path"]
                )
            except Exception as error:  # noqa: BLE001 - never break someone's lm_eval run
                _step_aside(f"{type(error).__name__}: {error}")
        original(*bound.args, **bound.kwargs)

    __init__._phylolm_harness = True  # type: ignore[attr-defined]
    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls.__init__ = __init__


def _step_aside(reason: str) -> None:
    """Warn in one line that this lm-eval is not one the hook knows, and change nothing."""
    if sys.stderr is not None:  # pythonw has none
        sys.stderr.write(
            f"phylolm-harness: warning: not registering with this lm-eval ({reason}); pass "
            '--include_path "$(phylolm-harness tasks-dir)" to lm_eval for the PhyloLM tasks\n'
        )


def _with_plugin_tasks(include_path: Any) -> Any:
    try:
        from phylolm_harness.collect.tasks_location import tasks_dir
    except ModuleNotFoundError as error:
        _unless_uninstalled(error)
        return include_path
    ours = str(tasks_dir())
    paths: list[Any]
    if include_path is None:
        paths = []
    elif isinstance(include_path, (list, tuple)):
        paths = list(include_path)
    else:
        paths = [include_path]
    normalised = {os.path.realpath(str(p)) for p in paths}
    if os.path.realpath(ours) in normalised:
        return include_path
    return [ours, *paths]  # the user's own paths come later and win on name clashes


def _unless_uninstalled(error: ModuleNotFoundError) -> None:
    """Be quiet if the plugin was uninstalled (its .pth is left behind); warn if this is stale."""
    if error.name == "phylolm_harness":
        return
    import warnings

    warnings.warn(
        f"phylolm-harness: this lm-eval hook ({__file__}) does not match the installed package "
        f"({error}); reinstall phylolm-harness so that lm_eval finds its tasks and models",
        stacklevel=2,
    )


def _register_models(module: types.ModuleType) -> None:
    try:
        from phylolm_harness.collect.models import MODEL_CLASSES
    except ModuleNotFoundError as error:
        _unless_uninstalled(error)
        return
    registry = getattr(module, "model_registry", None)
    if registry is None or not hasattr(registry, "register"):
        _step_aside("lm_eval.api.registry has no model_registry.register")
        return
    # lm_eval registers its built-in models only while the registry is empty: do it first.
    import lm_eval.models  # noqa: F401

    for name, target in MODEL_CLASSES.items():
        if name not in registry:
            registry.register(name, target=target)


_PATCHES: dict[str, Callable[[types.ModuleType], None]] = {
    "lm_eval.tasks.manager": _patch_task_manager,
    "lm_eval.api.registry": _register_models,
}


def _patched(patch: Callable[[types.ModuleType], None], module: types.ModuleType) -> None:
    """Apply a patch; if lm-eval changed under it, warn in one line and leave lm-eval alone."""
    try:
        patch(module)
    except Exception as error:  # noqa: BLE001 - never break someone's unrelated lm_eval run
        _step_aside(f"{module.__name__}: {type(error).__name__}: {error}")


class _Loader:
    def __init__(self, wrapped: Any, patch: Callable[[types.ModuleType], None]):
        self._wrapped = wrapped
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._wrapped.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        self._wrapped.exec_module(module)
        _patched(self._patch, module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... of the real loader
        return getattr(self._wrapped, name)


class _Finder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, patch)  # type: ignore[assignment]
                return spec
        return None


def install() -> None:
    """Add the finder once, unless ``PHYLOLM_HARNESS_NO_HOOK`` is set."""
    if os.environ.get("PHYLOLM_HARNESS_NO_HOOK", "") not in ("", "0"):
        return
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    for name, patch in _PATCHES.items():  # already imported before us: patch now
        if name in sys.modules:
            _patched(patch, sys.modules[name])
    sys.meta_path.insert(0, _Finder())
