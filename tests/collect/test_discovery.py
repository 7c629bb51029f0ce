"""A stock lm-eval finds the plugin's tasks and models after installation, and only then."""

import os
import subprocess
import sys
import types
from pathlib import Path

from support.paths import REPO

from phylolm_harness.collect.tasks_location import tasks_dir
from phylolm_harness.io.mmlu import CATEGORIES, SUBJECTS

LIST_TASKS = (
    "import sys; from lm_eval.tasks import TaskManager; "
    "tm = TaskManager(include_path=sys.argv[1] if len(sys.argv) > 1 else None); "
    "print(' '.join(t for t in tm.all_tasks if t.startswith('phylolm')))"
)
GET_MODELS = (
    "from lm_eval.api.registry import get_model; "
    "print(get_model('hf').__name__, get_model('phylolm-hf').__name__)"
)


def python(code, *args, **env):
    """Run ``python -c CODE ARGS`` with extra environment variables; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_stock_task_manager_indexes_the_tasks():
    found = python(LIST_TASKS).stdout.split()
    for task in ("phylolm_genes", "phylolm_genes_math", "phylolm_genes_code"):
        assert task in found


def test_hook_can_be_switched_off_and_include_path_still_works():
    assert python(LIST_TASKS, PHYLOLM_HARNESS_NO_HOOK="1").stdout.split() == []
    with_path = python(LIST_TASKS, str(tasks_dir()), PHYLOLM_HARNESS_NO_HOOK="1").stdout.split()
    assert "phylolm_genes" in with_path


def test_hook_and_include_path_together_index_the_tasks_once():
    result = python(LIST_TASKS, str(tasks_dir()))
    assert result.stdout.split().count("phylolm_genes") == 1


def test_models_are_registered_without_hiding_the_built_in_ones():
    result = python(GET_MODELS)
    assert result.stdout.split() == ["HFLM", "PhyloHFLM"]


def test_interpreter_start_does_not_import_lm_eval():
    result = python("import sys; print('lm_eval' in sys.modules, 'phylolm_harness' in sys.modules)")
    assert result.stdout.split() == ["False", "False"]


def test_tasks_dir_command_prints_the_folder(capsys):
    from phylolm_harness.cli import main

    assert main(["tasks-dir"]) == 0
    printed = capsys.readouterr().out.strip()
    assert os.path.isfile(os.path.join(printed, "phylolm", "phylolm_genes.yaml"))


def test_entry_points_declare_the_same_models_as_the_hook():

    import tomllib

    from phylolm_harness.collect.models import MODEL_CLASSES

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["lm_eval.models"] == MODEL_CLASSES


ONLY_CUSTOM = (
    "import sys; from lm_eval.tasks import TaskManager; "
    "kw = TaskManager(include_path=sys.argv[1], include_defaults=False).all_tasks; "
    "pos = TaskManager(None, sys.argv[1], False).all_tasks; print(kw == pos, ' '.join(kw))"
)


def test_without_lm_evals_defaults_the_plugin_adds_no_task(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "task: my_only_task\ndataset_path: json\noutput_type: generate_until\n"
        "doc_to_text: x\ndoc_to_target: y\n",
        encoding="utf-8",
    )
    result = python(ONLY_CUSTOM, str(tmp_path))
    assert result.stdout.split() == ["True", "my_only_task"]


def test_lm_eval_lists_only_the_user_facing_phylolm_tasks():
    found = set(python(LIST_TASKS).stdout.split())
    shipped = {p.stem for p in (tasks_dir() / "phylolm").glob("phylolm_*.yaml")}
    mmlu = {"phylolm_mmlu", *(f"phylolm_mmlu_{s}" for s in SUBJECTS)}
    mmlu |= {f"phylolm_mmlu_{c}{tag}" for c in CATEGORIES for tag in ("", "_tasks")}
    assert found == shipped | mmlu
    assert not any("arith" in task or "bench" in task for task in found)


def test_the_installed_hook_is_this_source_trees_hook():
    # The hook is copied into site-packages at install time (editable installs too): after it
    # changes, an old copy would quietly stop finding the tasks. Reinstall when this fails.
    import _phylolm_harness_hook

    installed = Path(_phylolm_harness_hook.__file__).read_bytes()
    source = (REPO / "phylolm_harness/collect/hook/_phylolm_harness_hook.py").read_bytes()
    assert installed == source, "reinstall: pip install -e ."


def test_a_stale_hook_warns_instead_of_going_quiet():
    code = (
        "import _phylolm_harness_hook as h, warnings; "
        "warnings.simplefilter('error'); "
        "h._unless_uninstalled(ModuleNotFoundError('x', name='phylolm_harness'))\n"
        "try:\n"
        "    h._unless_uninstalled(ModuleNotFoundError('x', name='phylolm_harness.moved'))\n"
        "except UserWarning as w:\n"
        "    print('warned', 'reinstall' in str(w))"
    )
    result = python(code)
    assert result.stdout.split() == ["warned", "True"], result.stderr


def _hook():
    import _phylolm_harness_hook

    return _phylolm_harness_hook


def test_a_task_manager_without_the_known_arguments_is_left_alone_with_one_line(capsys):
    class TaskManager:
        def __init__(self, verbosity=None, paths=None):
            self.paths = paths

    module = types.ModuleType("lm_eval.tasks.manager")
    module.TaskManager = TaskManager
    original = TaskManager.__init__
    _hook()._patched(_hook()._patch_task_manager, module)
    assert TaskManager.__init__ is original
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not registering with this lm-eval" in err
    assert "--include_path" in err


def test_a_changed_lm_eval_module_never_raises_into_the_users_run(capsys):
    module = types.ModuleType("lm_eval.api.registry")  # no model_registry at all
    _hook()._patched(_hook()._register_models, module)
    empty = types.ModuleType("lm_eval.tasks.manager")  # no TaskManager at all
    _hook()._patched(_hook()._patch_task_manager, empty)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("phylolm-harness: warning:") for line in lines)


def test_task_manager_arguments_are_bound_by_name_in_any_position(tmp_path):
    calls = []

    class TaskManager:
        def __init__(self, verbosity=None, include_path=None, include_defaults=True, meta=None):
            calls.append((include_path, include_defaults))

    module = types.ModuleType("lm_eval.tasks.manager")
    module.TaskManager = TaskManager
    _hook()._patch_task_manager(module)
    ours = str(tasks_dir())
    TaskManager(None, str(tmp_path))
    TaskManager(include_path=str(tmp_path))
    TaskManager(None, str(tmp_path), False)
    TaskManager(include_defaults=False, include_path=str(tmp_path))
    assert calls == [([ours, str(tmp_path)], True)] * 2 + [(str(tmp_path), False)] * 2


def test_a_failure_while_adding_the_tasks_leaves_lm_evals_call_as_it_was(monkeypatch, capsys):
    calls = []

    class TaskManager:
        def __init__(self, verbosity=None, include_path=None, include_defaults=True):
            calls.append(include_path)

    module = types.ModuleType("lm_eval.tasks.manager")
    module.TaskManager = TaskManager
    hook = _hook()
    hook._patch_task_manager(module)

    def broken(include_path):
        raise UserWarning("stale hook")  # as warnings.warn raises under -W error

    monkeypatch.setattr(hook, "_with_plugin_tasks", broken)
    TaskManager(include_path="mine")
    assert calls == ["mine"]
    assert capsys.readouterr().err.startswith("phylolm-harness: warning: not registering")
