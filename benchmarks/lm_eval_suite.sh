#!/usr/bin/env bash
# Run lm-eval's own test suite with and without the phylolm-harness hook and compare outcomes.
#
# Downloads the sdist of the installed lm_eval version (its tests/ folder), runs the test files
# that work offline twice against the installed lm_eval: once with the .pth hook active, once
# with PHYLOLM_HARNESS_NO_HOOK=1. lm-eval 0.4.x never reads entry points, so with that variable
# set lm-eval sees no trace of the plugin, as if it were not installed. Prints per-run outcome
# counts and every test whose outcome differs; exits 1 if any does.
#
# Usage: PYTHON=.venv/bin/python benchmarks/lm_eval_suite.sh [WORK_DIR]
# The sdist lacks some of the repository's test fixtures (conftest.py, tests/test_configs/), and
# some tests need the Hugging Face hub: those fail in both runs and are only compared.
set -euo pipefail

PYTHON=${PYTHON:-python}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# Offline test files of 0.4.13 and of 0.5.0.dev1; those a version does not ship are left out.
candidates=(
    test_aggregation_pipeline.py test_cache.py test_cli_subcommands.py test_doc_iterator.py
    test_doc_to_fields.py test_evaluator_utils.py test_fewshot_context.py test_filters.py
    test_formats.py test_group.py test_kormedmcqa.py test_metrics.py test_misc.py
    test_multimodal_cache_keys.py test_overlapping_groups.py test_prompt.py test_registry.py
    test_ruler.py test_samplers.py test_scorers.py test_serialization.py test_task_manager.py
    test_utils.py
)

version=$(PHYLOLM_HARNESS_NO_HOOK=1 "$PYTHON" -c \
    'import importlib.metadata as m; print(m.version("lm_eval"))')
"$PYTHON" -m pip download -q --no-deps --no-binary :all: "lm-eval==$version" -d "$work"
sdist="$work/lm_eval-$version.tar.gz"
files=()
for file in "${candidates[@]}"; do
    if tar -tzf "$sdist" "lm_eval-$version/tests/$file" >/dev/null 2>&1; then
        files+=("$file")
    fi
done

run() {  # run NAME [env assignments...]: fresh sources, one pytest process, junit report
    local name=$1 src="$work/$1/lm_eval-$version" start rc=0
    shift
    rm -rf "${work:?}/$name"
    mkdir -p "$work/$name"
    tar -xzf "$sdist" -C "$work/$name"
    start=$(date +%s.%N)
    # cd into tests/ so the sdist's lm_eval/ is not importable: the installed one is tested.
    (cd "$src/tests" && env -u PHYLOLM_HARNESS_NO_HOOK "$@" \
        HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        HF_HOME="$work/$name/hf_home" LM_HARNESS_CACHE_PATH="$work/$name/cache" \
        "$PYTHON" -m pytest "${files[@]}" -q -p no:cacheprovider --continue-on-collection-errors \
        --rootdir "$src" -c "$src/pyproject.toml" --basetemp "$work/$name/tmp" \
        --junitxml "$work/$name.xml" >"$work/$name.log" 2>&1) || rc=$?
    if ((rc > 1)); then
        echo "pytest exited with $rc in run '$name'; see $work/$name.log" >&2
        exit 2
    fi
    echo "$name $start $(date +%s.%N)" >>"$work/times"
}

rm -f "$work/times"
run hook_on
run hook_off PHYLOLM_HARNESS_NO_HOOK=1

"$PYTHON" - "$work" "${#files[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET
from collections import Counter

work, n_files = sys.argv[1], sys.argv[2]
times = {n: float(end) - float(t0) for n, t0, end in map(str.split, open(f"{work}/times"))}

def outcomes(name):
    out = {}
    for case in ET.parse(f"{work}/{name}.xml").iter("testcase"):
        cls, node = case.get("classname"), case.get("name")
        if cls:  # "tests.test_x.TestY" -> "tests/test_x.py::TestY::<name>"
            parts = cls.split(".")
            node = "::".join(["/".join(parts[:2]) + ".py", *parts[2:], node])
        result = "passed"
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                result = {"failure": "failed"}.get(tag, tag)
                if tag == "skipped" and child.get("type") == "pytest.xfail":
                    result = "xfailed"
        if out.get(node, "passed") == "passed":  # a teardown error adds a second entry
            out[node] = result
    return out

runs = {name: outcomes(name) for name in ("hook_on", "hook_off")}
tests = sorted(set().union(*runs.values()))
print(f"lm-eval test suite: {n_files} files, {len(tests)} tests (work dir: {work})")
for name, out in runs.items():
    counts = ", ".join(f"{n} {k}" for k, n in sorted(Counter(out.values()).items()))
    print(f"  {name:8}: {counts}  ({times[name]:.1f} s)")
differ = [t for t in tests if runs["hook_on"].get(t) != runs["hook_off"].get(t)]
print(f"tests whose outcome differs: {len(differ)}")
for t in differ:
    print(f"  {t}: hook_on={runs['hook_on'].get(t, 'missing')}"
          f" hook_off={runs['hook_off'].get(t, 'missing')}")
sys.exit(1 if differ else 0)
EOF
