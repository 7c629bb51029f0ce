"""Hostile inputs: every bad file or option ends in one line naming it and exit code 2.

Each case below once ended in a traceback or a hang; the fuzz tests at the end mutate whole
results folders and populations files and check that nothing but a result or an ``InputError``
comes out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line, tree_or_input_error
from support.results_layout import write_run

from phylolm_harness import pipeline
from phylolm_harness.cli import main
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import format_populations_file, read_populations_file

GENES = [f"math-{i:03d}" for i in range(4)]
STYLES = {"a": ["alph", "alps", "beta"], "b": ["beta", "bets", "alph"], "c": ["gamm", "alph"]}


def three_models(root: Path) -> dict[str, Path]:
    """Results of three models (sampled, 8 probes per gene); model -> its results file."""
    return {
        name: write_run(root, f"/models/{name}", {g: [w for w in words * 3][:8] for g in GENES})
        for name, words in STYLES.items()
    }


def expect_exit_2(capsys, argv, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    for fragment in fragments:
        assert fragment in err, err


def samples_of(results_file: Path) -> Path:
    return next(results_file.parent.glob("samples_*.jsonl"))


# ----------------------------------------------------------------------------- samples files


def test_samples_that_are_not_utf8(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    samples = samples_of(files["b"])
    samples.write_bytes(samples.read_bytes().replace(b"beta", b"b\xffta", 1))
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], samples.name, "not UTF-8")


def test_unpaired_surrogate_in_a_continuation(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    samples = samples_of(files["a"])
    samples.write_text(samples.read_text().replace("alph", "\\ud800lph", 1))
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], f"{samples.name}:1", "surrogate")


def test_a_response_that_is_not_text(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    samples = samples_of(files["c"])
    lines = samples.read_text().splitlines()
    first = json.loads(lines[0])
    first["resps"][0][0] = None
    samples.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], f"{samples.name}:1", "NoneType")


def test_samples_file_that_is_a_fifo_does_not_hang(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    samples = samples_of(files["a"])
    samples.unlink()
    os.mkfifo(samples)
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], samples.name, "not a regular file")


def test_results_file_that_is_a_fifo_is_refused_not_passed_over(tmp_path, capsys):
    three_models(tmp_path / "r")
    os.mkfifo(tmp_path / "r" / "results_2099-01-01T00-00-00.json")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], "results_2099", "not a regular file")


def test_a_model_folder_that_cannot_be_read_is_refused_not_passed_over(tmp_path):
    three_models(tmp_path / "r")
    locked = tmp_path / "r" / "models__b"
    locked.chmod(0)
    command = [sys.executable, "-m", "phylolm_harness", "tree", str(tmp_path / "r"), "-o",
               str(tmp_path / "out")]  # fmt: skip
    if os.geteuid() == 0:  # root reads any folder: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without util-linux's setpriv to drop read rights")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"{locked}: cannot read this folder (Permission denied)" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, None), ({"phylolm_genes_math": None}, None), ("n/a", None)],
)
def test_odd_sample_counts_in_the_results_file_are_not_fatal(tmp_path, value, message):
    files = three_models(tmp_path / "r")
    data = json.loads(files["a"].read_text())
    data["n-samples"] = value
    files["a"].write_text(json.dumps(data))
    assert main(["tree", str(tmp_path / "r"), "--resamples", "0"]) == 0


# ----------------------------------------------------------------------------- results files


def test_huge_integer_and_deep_nesting_in_a_results_file(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    files["a"].write_text('{"model_name": "x", "date": ' + "9" * 5000 + "}")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], files["a"].name, "not a readable")
    files["a"].write_text("[" * 100_000 + "]" * 100_000)
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], files["a"].name, "nested too deeply")


@pytest.mark.parametrize("name", ["", None, 7])
def test_a_results_file_without_a_usable_model_name(tmp_path, capsys, name):
    files = three_models(tmp_path / "r")
    data = json.loads(files["b"].read_text())
    data["model_name"] = name
    files["b"].write_text(json.dumps(data))
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], files["b"].name, "model_name")


def test_runs_without_a_date_compete_only_when_they_can_be_ordered(tmp_path, capsys):
    files = three_models(tmp_path / "r")
    data = json.loads(files["a"].read_text())
    del data["date"]
    odd = files["a"].parent / "results_latest.json"
    files["a"].write_text(json.dumps(data))
    files["a"].rename(odd)
    samples_of(odd).rename(odd.parent / "samples_phylolm_genes_math_latest.jsonl")
    assert main(["tree", str(tmp_path / "r"), "--resamples", "0"]) == 0  # one run: fine
    write_run(tmp_path / "r", "/models/a", {g: ["alph"] * 8 for g in GENES}, timestamp="later")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r")], "no run date", "newest")


# ----------------------------------------------------------------------------- options and CSVs


def test_unknown_rename_is_refused(tmp_path, capsys):
    three_models(tmp_path / "r")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r"), "--rename", "zz=q"], "'zz'", "rename")


def test_negative_seed_is_refused(tmp_path, capsys):
    three_models(tmp_path / "r")
    expect_exit_2(capsys, ["tree", str(tmp_path / "r"), "--seed", "-1"], "--seed")


def test_labels_csv_with_a_byte_order_mark(tmp_path):
    three_models(tmp_path / "r")
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"\xef\xbb\xbfmodel,label\n/models/a,alpha\n")
    assert main(["tree", str(tmp_path / "r"), "--labels", str(labels), "--resamples", "0"]) == 0
    assert "alpha" in (tmp_path / "r" / "phylolm" / "distances.csv").read_text()


def test_csv_with_a_field_over_the_csv_module_limit(tmp_path, capsys):
    three_models(tmp_path / "r")
    labels = tmp_path / "labels.csv"
    labels.write_text('model,label\n/models/a,"' + "x" * 200_000 + '"\n')
    expect_exit_2(capsys, ["tree", str(tmp_path / "r"), "--labels", str(labels)], "labels.csv")


def test_genes_build_onto_a_folder(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"document {i} " * 9}) + "\n" for i in range(9)))
    (tmp_path / "out").mkdir()
    argv = ["genes", "build", str(docs), "--name", "g", "--genes", "3", "-o", str(tmp_path / "out")]
    expect_exit_2(capsys, argv, "out", "folder")


# ----------------------------------------------------------------------------- fuzzing


@fuzz(300)
@given(data=st.data())
def test_fuzz_results_folders(tmp_path_factory, data):
    """Replace one JSON value of a results or samples file with a hostile one."""
    root = tmp_path_factory.mktemp("fuzz")
    files = three_models(root)
    model = data.draw(st.sampled_from(sorted(files)))
    target = data.draw(st.sampled_from([files[model], samples_of(files[model])]))
    mutate_json_line(target, data)
    tree_or_input_error(root)


@fuzz(300)
@given(data=st.data())
def test_fuzz_raw_bytes(tmp_path_factory, data):
    """Truncate a file, or overwrite a few of its bytes with arbitrary ones."""
    root = tmp_path_factory.mktemp("fuzz")
    files = three_models(root)
    model = data.draw(st.sampled_from(sorted(files)))
    target = data.draw(st.sampled_from([files[model], samples_of(files[model])]))
    raw = bytearray(target.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        del raw[at:]
    else:
        raw[at : at + 4] = data.draw(st.binary(min_size=1, max_size=4))
    target.write_bytes(bytes(raw))
    tree_or_input_error(root)


def _replace_kind(path: Path, kind: str) -> None:
    """Put something other than a regular file of JSON where ``path`` is."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link loop":
        path.symlink_to(path)
    else:  # an empty file
        path.write_bytes(b"")


KINDS = ["fifo", "folder", "dangling link", "link loop", "empty file"]


def _hung(signum: int, frame: object) -> None:
    raise AssertionError("tree hung")


@fuzz(120)
@given(data=st.data())
def test_fuzz_file_kinds(tmp_path_factory, data):
    """A file, a newer results file or a model's folder replaced by another kind of thing: a
    clean line naming it, or a tree of the others with a note naming it; never a hang."""
    root = tmp_path_factory.mktemp("kinds")
    files = three_models(root)
    model = data.draw(st.sampled_from(sorted(files)))
    target = data.draw(
        st.sampled_from(
            [
                files[model],
                samples_of(files[model]),
                files[model].parent,
                files[model].parent / "results_2099-01-01T00-00-00.json",
                files[model].parent / "samples_phylolm_genes_math_2099-01-01T00-00-00.jsonl",
            ]
        )
    )
    kind = data.draw(st.sampled_from(KINDS))
    _replace_kind(target, kind)
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)  # a hang fails this test instead of stopping the suite
    try:
        found = pipeline.tree(root, resamples=0, benchmarks_hint=False)
    except InputError as error:
        message = str(error)
        assert "\n" not in message
        assert target.name in message or target.parent.name in message, message
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if target == files[model].parent:
        return  # nothing of the run is left, or a link to nothing where a folder was
    labels = found.phylogeny.labels
    noted = any(target.name in note or str(target.parent) in note for note in found.notes)
    assert len(labels) == 3 or noted, found.notes


@fuzz(300)
@given(data=st.data())
def test_fuzz_populations_file(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz")
    three_models(root / "r")
    found = pipeline.tree(root / "r", resamples=0, benchmarks_hint=False)
    pops = root / "pops.jsonl"
    pops.write_text(format_populations_file(found.observations), encoding="utf-8")
    mutate_json_line(pops, data)
    lines = pops.read_text(encoding="utf-8").splitlines()
    try:
        observations = read_populations_file(pops)
        found = pipeline.tree(None, [pops], resamples=0)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert len(observations) == len(lines)
    format_populations_file(found.observations).encode("utf-8")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_long_and_odd_names_keep_pictures_small_and_tables_whole(tmp_path):
    root = tmp_path / "r"
    names = {"/m/" + "x" * 5000: "a", "/m/two\nlines|pipe": "b", "/m/c": "c"}
    for name, style in names.items():
        results = write_run(root, f"/m/{style}", {g: (STYLES[style] * 3)[:8] for g in GENES})
        data = json.loads(results.read_text())
        results.write_text(json.dumps({**data, "model_name": name}))  # folder names stay short
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    for picture in ("heatmap.png", "tree.png"):
        width, height = png_size(tmp_path / "o" / picture)
        assert width < 2000 and height < 2000, (picture, width, height)
    report = (tmp_path / "o" / "report.md").read_text()
    models_table = report.split("## Models")[1].split("\n\n")[1].splitlines()
    assert len(models_table) == 2 + 3  # header, rule, one row per model
    assert all(row.count(" | ") == 4 for row in models_table[2:])
    assert "x" * 5000 in (tmp_path / "o" / "distances.csv").read_text()  # the data keeps it


def test_names_the_font_cannot_draw_stay_distinct_and_quiet(tmp_path, recwarn):
    root = tmp_path / "r"
    for name, style in (("模型-a", "a"), ("模型-b", "b"), ("c", "c")):
        results = write_run(root, f"/m/{style}", {g: (STYLES[style] * 3)[:8] for g in GENES})
        data = json.loads(results.read_text())
        results.write_text(json.dumps({**data, "model_name": name}))
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    assert not [w for w in recwarn if "Glyph" in str(w.message)]
    assert "模型-a" in (tmp_path / "o" / "distances.csv").read_text(encoding="utf-8")


def test_a_line_break_in_a_name_stays_on_one_error_line(tmp_path, capsys):
    three_models(tmp_path / "r")
    found = pipeline.tree(tmp_path / "r", resamples=0, benchmarks_hint=False)
    pops = tmp_path / "pops.jsonl"
    lines = format_populations_file(found.observations).splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "genome": "two\nlines"})
    pops.write_text("\n".join(lines) + "\n")
    argv = ["tree", "--populations", str(pops), "-o", str(tmp_path / "o")]
    expect_exit_2(capsys, argv, "two\\nlines")


def exact_rows_with_draws(path: Path) -> None:
    """A populations file of three exact models whose pruned mass was sampled by draws."""
    rows = []
    for m, model in enumerate(STYLES):
        for g in range(8):
            alleles = {"alph": 0.5 + 0.05 * m, "beta": 0.375 - 0.05 * m}
            rows.append(
                {"model": model, "genome": "math", "fingerprint": "sha256:00", "gene": f"g{g}",
                 "mode": "exact", "tail": 0.0, "alleles": alleles,
                 "draws": {"mass": 0.25, "count": 1, "weight": 0.125}}
            )  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_exact_rows_with_draws_in_a_populations_file(tmp_path, capsys):
    pops = tmp_path / "pops.jsonl"
    exact_rows_with_draws(pops)
    assert main(["tree", "--populations", str(pops), "-o", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "exact (mean tail 0.000, 0.250 sampled by draws)" in report
    lines = pops.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"count": 1', '"count": "1"')
    pops.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = ["-o", str(tmp_path / "out")]
    expect_exit_2(capsys, ["tree", "--populations", str(pops), *out], "pops.jsonl:4", "tail draws")
    lines[3] = lines[3].replace('"count": "1"', '"count": 3')
    pops.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expect_exit_2(capsys, ["tree", "--populations", str(pops), *out], "pops.jsonl:4", "add up to 1")


def test_a_parquet_populations_file_is_checked_as_json_lines_are(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from phylolm_harness.io.populations_parquet import parquet_chunks

    lines = tmp_path / "pops.jsonl"
    exact_rows_with_draws(lines)
    pops = tmp_path / "pops.parquet"
    pops.write_bytes(b"".join(parquet_chunks(read_populations_file(lines))))
    out = ["-o", str(tmp_path / "out")]
    assert main(["tree", "--populations", str(pops), *out]) == 0
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "exact (mean tail 0.000, 0.250 sampled by draws)" in report
    columns = pq.read_table(pops).to_pydict()
    columns["draws_count"][3] = 3.0  # the draws no longer add up with the rest
    pq.write_table(pa.table(columns), pops)
    expect_exit_2(
        capsys, ["tree", "--populations", str(pops), *out], "pops.parquet:4", "add up to 1"
    )
    pops.write_bytes(pops.read_bytes()[:-40])  # cut short
    expect_exit_2(
        capsys, ["tree", "--populations", str(pops), *out], str(pops), "not a readable Parquet file"
    )


@fuzz(150)
@given(data=st.data())
def test_fuzz_populations_file_with_draws(tmp_path_factory, data):
    pops = tmp_path_factory.mktemp("fuzz") / "pops.jsonl"
    exact_rows_with_draws(pops)
    mutate_json_line(pops, data)
    try:
        found = pipeline.tree(None, [pops], resamples=0)
    except InputError as error:
        assert "\n" not in str(error)
        return
    format_populations_file(found.observations).encode("utf-8")


def test_a_nul_in_a_model_name_is_one_line_naming_the_row(tmp_path, capsys):
    rows = [
        {"model": model, "genome": "g", "fingerprint": "sha256:0", "gene": str(g),
         "mode": "sampled", "probes": 4, "alleles": {"ab": 1 + i, "cd": 3 - i}}
        for i, model in enumerate(["ok", "a\u0000b", "c"]) for g in range(4)
    ]  # fmt: skip
    path = tmp_path / "pops.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    argv = ["tree", "--populations", str(path), "-o", str(tmp_path / "o")]
    expect_exit_2(capsys, argv, "pops.jsonl:5: model 'a\\x00b' holds a NUL character")
    assert not (tmp_path / "o").exists()
