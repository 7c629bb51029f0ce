import csv
import json

import numpy as np
import pytest
from support.results_layout import write_benchmark_run, write_run

from phylolm_harness.cli import main
from phylolm_harness.core.tree import from_newick, robinson_foulds
from phylolm_harness.io.populations_file import format_populations_file, read_populations_file

GENES = [f"math-{i:03d}" for i in range(6)]


def family_runs(root, names=("a1", "a2", "b1", "b2")):
    """Two families: a* answer 'alpha'-ish, b* answer 'beta'-ish, with small individual twists."""
    rng = np.random.default_rng(0)
    styles = {"a": ["alph", "alps", "also", "beta"], "b": ["beta", "bets", "bead", "alph"]}
    for name in names:
        weights = np.array([0.55, 0.25, 0.15, 0.05])
        conts = {
            g: [" " + str(rng.choice(styles[name[0]], p=weights)) + "..." for _ in range(32)]
            for g in GENES
        }
        write_run(root, f"/models/{name}", conts)


def read_matrix(path):
    with path.open() as handle:
        rows = list(csv.reader(handle))
    return rows[0][1:], np.array([[float(x) for x in r[1:]] for r in rows[1:]])


def test_tree_from_results_folder(tmp_path, capsys):
    family_runs(tmp_path / "results")
    assert main(["tree", str(tmp_path / "results"), "--resamples", "20"]) == 0
    out = tmp_path / "results" / "phylolm"
    labels, distances = read_matrix(out / "distances.csv")
    assert labels == ["a1", "a2", "b1", "b2"]
    np.testing.assert_allclose(distances, distances.T)
    assert np.all(np.diag(distances) == 0)
    assert distances[0, 1] < distances[0, 2]  # family members are closer than outsiders
    tree = from_newick((out / "tree.nwk").read_text())
    assert robinson_foulds(tree, from_newick("((a1,a2),(b1,b2));")) == 0.0
    report = (out / "report.md").read_text()
    assert "a1" in report and "Neighbour-Joining" in report
    assert (out / "tree.png").read_bytes()[:4] == b"\x89PNG"
    assert "4 models, 6 genes" in capsys.readouterr().out


def test_outputs_are_byte_identical_across_runs(tmp_path):
    family_runs(tmp_path / "results")
    assert main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "one")]) == 0
    assert main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "two")]) == 0
    names = ("distances.csv", "similarity.csv", "tree.nwk", "tree.png", "tree.html", "report.md")
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_populations_file_rebuilds_the_same_matrix(tmp_path):
    family_runs(tmp_path / "results")
    main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "one")])
    pops = tmp_path / "one" / "populations.parquet"
    assert main(["tree", "--populations", str(pops), "-o", str(tmp_path / "two")]) == 0
    assert (tmp_path / "one" / "distances.csv").read_bytes() == (
        tmp_path / "two" / "distances.csv"
    ).read_bytes()
    lines = tmp_path / "pops.jsonl"  # the JSON Lines form of the same file: the same matrix
    lines.write_text(format_populations_file(read_populations_file(pops)), encoding="utf-8")
    assert main(["tree", "--populations", str(lines), "-o", str(tmp_path / "three")]) == 0
    assert (tmp_path / "three" / "distances.csv").read_bytes() == (
        tmp_path / "two" / "distances.csv"
    ).read_bytes()


def test_one_whole_parquet_file_is_copied_as_given_and_others_written(tmp_path):
    family_runs(tmp_path / "results")
    main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "one"), "--resamples", "0"])
    written = tmp_path / "one" / "populations.parquet"
    assert main(["tree", "--populations", str(written), "-o", str(tmp_path / "two")]) == 0
    assert (tmp_path / "two" / "populations.parquet").read_bytes() == written.read_bytes()
    # the same observations in JSON Lines, in another order with a blank line, or in two files,
    # or a genome selected: the Parquet file is written afresh, in its own order
    text = format_populations_file(read_populations_file(written))
    given = tmp_path / "given.jsonl"
    given.write_text("\n".join([*reversed(text.splitlines()), "", ""]), encoding="utf-8")
    lines = given.read_text(encoding="utf-8").splitlines(keepends=True)
    halves = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    halves[0].write_text("".join(lines[:10]), encoding="utf-8")
    halves[1].write_text("".join(lines[10:]), encoding="utf-8")
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "populations.jsonl").write_text(text, encoding="utf-8")  # older output
    for argv in (
        ["--populations", str(given)],
        ["--populations", str(written), "--genome", "math"],
        ["--populations", str(halves[0]), "--populations", str(halves[1])],
    ):
        out = tmp_path / "three"
        assert main(["tree", *argv, "-o", str(out)]) == 0
        assert (out / "populations.parquet").read_bytes() == written.read_bytes()
        assert not (out / "populations.jsonl").exists()


def test_two_models_give_matrices_and_say_why_there_is_no_tree(tmp_path, capsys):
    family_runs(tmp_path / "results", names=("a1", "b1"))
    out = tmp_path / "out"
    (out).mkdir()
    (out / "tree.nwk").write_text("stale;")
    assert main(["tree", str(tmp_path / "results"), "-o", str(out)]) == 0
    assert (out / "distances.csv").exists()
    assert not (out / "tree.nwk").exists()
    assert "at least 3 models" in capsys.readouterr().out
    assert "No tree" in (out / "report.md").read_text()


def test_newest_run_wins_and_is_reported(tmp_path, capsys):
    family_runs(tmp_path / "results")
    write_run(
        tmp_path / "results",
        "/models/a1",
        {g: [" beta"] * 32 for g in GENES},
        timestamp="2026-02-01T00-00-00.000000",
    )
    assert main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "out")]) == 0
    assert "a1: phylolm_genes_math was run 2 times" in capsys.readouterr().out


def test_rename_and_odd_names(tmp_path):
    family_runs(tmp_path / "results")
    args = [
        "tree",
        str(tmp_path / "results"),
        "-o",
        str(tmp_path / "out"),
        "--rename",
        "a1=modèle 'one', v2",
        "--rename",
        "/models/b2=b:2",
    ]
    assert main(args) == 0
    labels, _ = read_matrix(tmp_path / "out" / "distances.csv")
    assert "modèle 'one', v2" in labels and "b:2" in labels
    tips = {t.name for t in from_newick((tmp_path / "out" / "tree.nwk").read_text()).tips()}
    assert tips == set(labels)


def expect_error(capsys, args, *fragments):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    for fragment in fragments:
        assert fragment in err


def test_run_without_log_samples(tmp_path, capsys):
    family_runs(tmp_path / "results")
    write_run(tmp_path / "results", "/models/c1", {g: ["x"] for g in GENES}, log_samples=False)
    expect_error(capsys, ["tree", str(tmp_path / "results")], "results_", "--log_samples")
    assert not (tmp_path / "results" / "phylolm").exists()


def test_truncated_samples_file(tmp_path, capsys):
    family_runs(tmp_path / "results")
    samples = next((tmp_path / "results").rglob("samples_*.jsonl"))
    samples.write_text(samples.read_text()[:-40])
    expect_error(capsys, ["tree", str(tmp_path / "results")], samples.name, "malformed JSON")


def test_missing_sample_lines(tmp_path, capsys):
    family_runs(tmp_path / "results")
    samples = next((tmp_path / "results").rglob("samples_*.jsonl"))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:-2]))
    expect_error(capsys, ["tree", str(tmp_path / "results")], "4 sample lines", "reports 6")


def test_folder_without_phylolm_task(tmp_path, capsys):
    write_run(tmp_path / "results", "m", {"g": ["x"]}, task="arc_challenge")
    expect_error(
        capsys, ["tree", str(tmp_path / "results")], "no lm-eval results of a PhyloLM task"
    )


def test_mixed_genomes(tmp_path, capsys):
    family_runs(tmp_path / "results")
    write_run(
        tmp_path / "results",
        "/models/c1",
        {g: ["alph"] * 4 for g in GENES},
        fingerprint="sha256:" + "cd" * 32,
    )
    expect_error(capsys, ["tree", str(tmp_path / "results")], "genome 'math'", "c1")


def test_zero_similarity_writes_nothing(tmp_path, capsys):
    family_runs(tmp_path / "results", names=("a1", "a2"))
    write_run(tmp_path / "results", "/models/zz", {g: ["zzzz"] * 8 for g in GENES})
    expect_error(capsys, ["tree", str(tmp_path / "results")], "'zz'", "share no allele")
    assert not (tmp_path / "results" / "phylolm").exists()


def test_label_collision(tmp_path, capsys):
    family_runs(tmp_path / "results", names=("a1", "a2", "b1"))
    write_run(tmp_path / "results", "/other/a1", {g: ["alph"] * 4 for g in GENES})
    expect_error(capsys, ["tree", str(tmp_path / "results")], "label 'a1'", "--rename")


def test_malformed_results_file(tmp_path, capsys):
    path = write_run(tmp_path / "results", "m", {"g": ["x"]})
    path.write_text(path.read_text()[:20])
    expect_error(capsys, ["tree", str(tmp_path / "results")], path.name, "malformed JSON")


def test_bad_populations_file(tmp_path, capsys):
    bad = tmp_path / "pops.jsonl"
    bad.write_text(json.dumps({"model": "m", "genome": "g"}) + "\n")
    expect_error(
        capsys,
        ["tree", "--populations", str(bad), "-o", str(tmp_path / "o")],
        "pops.jsonl:1",
        "missing",
    )


def test_missing_results_folder(tmp_path, capsys):
    expect_error(capsys, ["tree", str(tmp_path / "nope")], "nope", "results folder not found")


@pytest.mark.parametrize(
    "argv",
    [["tree"], ["tree", "x", "--resamples", "-1"], ["tree", "x", "--resamples", "1000000000"]],
)
def test_usage_errors_exit_2(tmp_path, argv, capsys):
    assert main(argv) == 2


def test_exact_and_sampled_runs_of_one_distribution_meet_at_distance_zero(tmp_path):
    """Exact populations (JSON distributions) and sampled ones mix in one tree."""
    rng = np.random.default_rng(3)
    probs = {"alph": 0.5, "beta": 0.3, "gamm": 0.2}
    genes = [f"math-{i:03d}" for i in range(40)]
    exact = {g: [json.dumps({"alleles": probs, "tail": 0.0})] for g in genes}
    write_run(tmp_path / "r", "/m/exact", exact, task="phylolm_genes_exact_math")
    for name in ("sampled-a", "sampled-b"):
        conts = {g: list(rng.choice(list(probs), size=16, p=list(probs.values()))) for g in genes}
        write_run(tmp_path / "r", f"/m/{name}", conts)
    other = {g: ["alph"] * 2 + ["delt"] * 14 for g in genes}
    write_run(tmp_path / "r", "/m/other", other)
    assert main(["tree", str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 0
    labels, distances = read_matrix(tmp_path / "o" / "distances.csv")
    d = dict(zip(labels, distances, strict=True))
    index = {name: i for i, name in enumerate(labels)}
    assert d["exact"][index["sampled-a"]] < 0.02
    assert d["sampled-a"][index["sampled-b"]] < 0.02
    assert d["exact"][index["other"]] > 0.5
    report = (tmp_path / "o" / "report.md").read_text()
    assert "exact (mean tail 0.000)" in report


def test_malformed_exact_response(tmp_path, capsys):
    family_runs(tmp_path / "results", names=("a1", "a2"))
    write_run(
        tmp_path / "results",
        "/m/x",
        {g: ["{not json"] for g in GENES},
        task="phylolm_genes_exact_math",
    )
    expect_error(capsys, ["tree", str(tmp_path / "results")], "exact-mode response")


def family_with_scores(root):
    family_runs(root, names=("a1", "a2", "a3", "b1", "b2", "b3"))
    scores = {"a1": 0.62, "a2": 0.60, "a3": 0.64, "b1": 0.31, "b2": 0.29}
    for i, (name, score) in enumerate(scores.items()):
        write_benchmark_run(
            root,
            f"/models/{name}",
            "arc_challenge",
            "acc_norm",
            score,
            timestamp=f"2026-03-0{i + 1}T00-00-00.000000",
        )


def test_tree_points_to_predict_when_benchmarks_are_present(tmp_path):
    family_with_scores(tmp_path / "r")
    assert main(["tree", str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 0
    report = (tmp_path / "o" / "report.md").read_text()
    assert "arc_challenge for 5 model(s)" in report and "phylolm-harness predict" in report


def test_predict_scores_every_model_next_to_real_ones(tmp_path):
    family_with_scores(tmp_path / "r")
    assert main(["predict", str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 0
    with (tmp_path / "o" / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_model = {r["model"]: r for r in rows if r["benchmark"].startswith("arc_challenge")}
    assert set(by_model) == {"a1", "a2", "a3", "b1", "b2", "b3"}
    b3 = float(next(v for k, v in by_model["b3"].items() if k.startswith("predicted")))
    assert b3 < 0.45  # b3's relatives score ~0.3, the other family ~0.6
    report = (tmp_path / "o" / "report.md").read_text()
    assert "0.82" in report and "leave-one-out" in report.lower()
    assert (tmp_path / "o" / "tree.nwk").exists()


def test_predict_with_a_benchmark_run_by_one_model(tmp_path, capsys):
    family_runs(tmp_path / "r")
    write_benchmark_run(tmp_path / "r", "/models/a1", "arc_challenge", "acc_norm", 0.5)
    expect_error(capsys, ["predict", str(tmp_path / "r")], "arc_challenge")
    assert not (tmp_path / "r" / "phylolm").exists()


def test_predict_with_na_score(tmp_path, capsys):
    family_with_scores(tmp_path / "r")
    write_benchmark_run(
        tmp_path / "r",
        "/models/b3",
        "arc_challenge",
        "acc_norm",
        "N/A",
        timestamp="2026-04-01T00-00-00.000000",
    )
    expect_error(capsys, ["predict", str(tmp_path / "r")], "b3")


def test_tree_into_an_old_predict_folder_leaves_no_stale_prediction(tmp_path):
    family_runs(tmp_path / "results")
    for name in ("a1", "a2", "b1"):
        write_benchmark_run(
            tmp_path / "results", f"/models/{name}", "mmlu", "acc", 0.5, "2026-02-01T00-00-00.0"
        )
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "results"), "-o", str(out), "--resamples", "0"]) == 0
    assert (out / "predictions.csv").exists() and (out / "predictions_mmlu.png").exists()
    inode = out.stat().st_ino
    assert main(["tree", str(tmp_path / "results"), "-o", str(out), "--resamples", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["similarity.csv", "distances.csv", "distance_errors.csv", "shared_genes.csv",
         "tree.nwk", "tree.png", "tree.html", "heatmap.png", "report.md", "populations.parquet",
         "pairs.npy", "pairs.json"]
    )  # fmt: skip
    assert out.stat().st_ino != inode  # the whole set was swapped in at once
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind


def test_an_output_folder_with_other_files_keeps_them(tmp_path):
    family_runs(tmp_path / "results")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "predictions.csv").write_text("stale")
    assert main(["tree", str(tmp_path / "results"), "-o", str(out), "--resamples", "0"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "predictions.csv").exists()
    assert (out / "tree.nwk").exists() and not list(out.glob(".staging-*"))


def test_predict_plans_runs_before_any_benchmark_has_run(tmp_path, capsys):
    family_runs(tmp_path / "r")
    assert main(["predict", str(tmp_path / "r"), "-o", str(tmp_path / "o"), "--plan", "2"]) == 0
    with (tmp_path / "o" / "plan.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert {r["model"][0] for r in rows} == {"a", "b"}  # one run in each family
    assert not (tmp_path / "o" / "predictions.csv").read_text().strip().count("\n")
    assert "run next:" in capsys.readouterr().out
    assert "Which models to run" in (tmp_path / "o" / "report.md").read_text()


def test_predict_intervals_and_mmlu_definition(tmp_path, capsys):
    family_runs(tmp_path / "r", names=("a1", "a2", "a3", "b1", "b2", "b3"))
    for i, name in enumerate(("a1", "a2", "a3", "b1", "b2")):
        score = 0.6 + 0.01 * i if name[0] == "a" else 0.3 + 0.01 * i
        stamp = f"2026-03-0{i + 1}T00-00-00.000000"
        write_benchmark_run(tmp_path / "r", f"/models/{name}", "mmlu", "acc", score, stamp)
    out = tmp_path / "o"
    assert main(["predict", str(tmp_path / "r"), "-o", str(out), "--coverage", "0.8"]) == 0
    printed = capsys.readouterr().out
    assert "mmlu: MMLU acc, mean of the 57 subject accuracies" in printed
    with (out / "predictions.csv").open() as handle:
        rows = {r["model"]: r for r in csv.DictReader(handle)}
    for row in rows.values():
        assert float(row["lower"]) <= float(row["predicted"]) <= float(row["upper"])
    assert rows["b3"]["nearest_scored"] in {"b1", "b2"} and rows["b3"]["extrapolates"] == "false"
    report = (out / "report.md").read_text()
    assert "80% coverage" in report and "| coverage | width |" in report


def test_predict_notes_scores_of_models_without_genes(tmp_path, capsys):
    family_with_scores(tmp_path / "r")
    write_benchmark_run(tmp_path / "r", "/models/orphan", "arc_challenge", "acc_norm", 0.5)
    assert main(["predict", str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "note: arc_challenge: orphan has a score but no genes" in out
    assert "orphan" not in (tmp_path / "o" / "predictions.csv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coverage", "1.5"], "--coverage must be between 0 and 1"),
        (["--plan", "-1"], "--plan must be 1 or more"),
        (["--benchmark", "mmlu:"], "expected TASK or TASK:METRIC"),
        (["--families", "missing.csv"], "cannot read the families file"),
    ],
)
def test_predict_checks_its_arguments_before_reading_the_genes(tmp_path, capsys, args, message):
    family_with_scores(tmp_path / "r")
    (samples,) = list((tmp_path / "r").glob("*a1/samples_*.jsonl"))[:1]
    samples.write_bytes(b"\xff\xfe not a samples file")  # reading the genes would fail on this
    expect_error(capsys, ["predict", str(tmp_path / "r"), *args], message)


def test_predict_from_benchmark_runs_alone_and_a_populations_file(tmp_path, capsys):
    family_runs(tmp_path / "genes")
    assert main(["tree", str(tmp_path / "genes"), "-o", str(tmp_path / "tree")]) == 0
    scores = tmp_path / "scores"  # another folder: benchmark runs only, no PhyloLM task
    for name, value in [("a1", 0.61), ("a2", 0.63), ("b1", 0.31)]:
        write_benchmark_run(scores, f"/models/{name}", "arc_challenge", "acc_norm", value)
    expect_error(capsys, ["predict", str(scores)], "no lm-eval results of a PhyloLM task")
    pops = ["--populations", str(tmp_path / "tree" / "populations.parquet")]
    assert main(["predict", str(scores), *pops, "-o", str(tmp_path / "out")]) == 0
    with (tmp_path / "out" / "predictions.csv").open(encoding="utf-8") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"a1", "a2", "b1", "b2"} and rows["b2"]["real"] == ""
    assert rows["b2"]["nearest_scored"] == "b1"  # its relative, found through the file's genes
    given = (tmp_path / "tree" / "populations.parquet").read_bytes()
    assert (tmp_path / "out" / "populations.parquet").read_bytes() == given  # all of it: copied
    assert 0 <= float(rows["b2"]["predicted"]) < 0.62


def test_da_distance_and_tree_likeness_are_reported(tmp_path):
    family_runs(tmp_path / "results", names=("a1", "a2", "a3", "b1", "b2", "b3"))
    out = tmp_path / "da"
    argv = ["tree", str(tmp_path / "results"), "--distance", "da", "--resamples", "20", "-o"]
    assert main([*argv, str(out)]) == 0
    labels, distances = read_matrix(out / "distances.csv")
    _, similarity = read_matrix(out / "similarity.csv")
    np.testing.assert_allclose(distances + np.eye(6), 1 - similarity + np.eye(6), atol=1e-8)
    assert np.all((distances >= 0) & (distances <= 1))
    tree = from_newick((out / "tree.nwk").read_text())
    assert robinson_foulds(tree, from_newick("((a1,a2,a3),(b1,b2,b3));")) < 1
    report = (out / "report.md").read_text()
    assert "Nei's `D_A`" in report and "`D_A = 1 - S`" in report
    delta = float(report.split("δ = ")[1].split(" ")[0])
    assert 0 <= delta <= 1
    assert "quartet concordance" in report
    page = (out / "tree.html").read_text()
    assert '"distance_name":"D_A distance"' in page and '"concordance":[' in page
    # Nei's distances from the same runs differ: the choice is not a label only
    assert main(["tree", str(tmp_path / "results"), "-o", str(tmp_path / "nei")]) == 0
    _, nei = read_matrix(tmp_path / "nei" / "distances.csv")
    assert not np.allclose(nei, distances)
    assert "Nei's standard distance `-ln S`" in (tmp_path / "nei" / "report.md").read_text()


def test_a_baseline_keeps_its_distance_for_the_check(tmp_path, capsys):
    family_runs(tmp_path / "results", names=("a1", "a2", "b1", "b2"))
    baseline = tmp_path / "base.json"
    argv = ["baseline", str(tmp_path / "results"), "--distance", "da", "-o", str(baseline)]
    assert main(argv) == 0
    document = json.loads(baseline.read_text())
    assert document["distance"] == "da"
    np.testing.assert_allclose(
        np.array(document["distances"]["values"])[0, 1],
        read_matrix_from_tree(tmp_path, "da")[0, 1],
    )
    check = ["check", str(tmp_path / "results"), "--baseline", str(baseline), "--max-rf", "0"]
    assert main([*check, "-o", str(tmp_path / "check")]) == 0


def read_matrix_from_tree(tmp_path, distance):
    out = tmp_path / f"tree-{distance}"
    assert main(["tree", str(tmp_path / "results"), "--distance", distance, "-o", str(out)]) == 0
    return read_matrix(out / "distances.csv")[1]


def test_renames_are_one_simultaneous_mapping(tmp_path):
    family_runs(tmp_path / "results")
    plain, swapped = tmp_path / "plain", tmp_path / "swapped"
    assert main(["tree", str(tmp_path / "results"), "-o", str(plain)]) == 0
    argv = ["tree", str(tmp_path / "results"), "--rename", "a1=b1", "--rename", "b1=a1", "-o"]
    assert main([*argv, str(swapped)]) == 0
    labels, before = read_matrix(plain / "distances.csv")
    again, after = read_matrix(swapped / "distances.csv")
    assert labels == again == ["a1", "a2", "b1", "b2"]
    order = [2, 1, 0, 3]  # the model once called a1 is now b1, and the other way round
    np.testing.assert_allclose(after, before[np.ix_(order, order)])
    assert not np.allclose(after, before)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["baseline", ".", "-o", ""], "an empty path: name a file"),
        (["genes", "build", "src.jsonl", "--name", "n", "-o", "out/"], "ends with '/', a folder"),
        (["tree", ".", "-o", ""], "an empty path: name a folder"),
        (["check", ".", "--baseline", "b.json", "-o", " "], "an empty path: name a folder"),
    ],
)
def test_output_paths_that_name_nothing_or_the_wrong_kind_are_refused(capsys, command, message):
    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0, 2.0])
def test_ctrl_c_at_any_moment_is_one_line_and_status_130(tmp_path, delay):
    """Early signals land during the imports, later ones in the work: one line either way."""
    import signal
    import subprocess
    import sys
    import time

    rows = "".join(
        json.dumps({"model": f"m{m}", "genome": "g", "fingerprint": "sha256:0", "gene": f"{g}",
                    "mode": "sampled", "probes": 4, "alleles": {"ab": m + 1, "cd": 3 - m}}) + "\n"
        for m in range(3) for g in range(50)
    )  # fmt: skip
    (tmp_path / "pops.jsonl").write_text(rows)
    command = [sys.executable, "-m", "phylolm_harness", "tree", "--populations",
               str(tmp_path / "pops.jsonl"), "-o", str(tmp_path / "out")]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=120)[1]
    if process.returncode == 0:  # finished before the signal came: nothing to interrupt
        return
    assert process.returncode == 130, err
    assert err == "phylolm-harness: interrupted; earlier outputs are left as they were\n"


def test_a_labels_file_giving_one_model_two_labels_is_refused(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("model,label\norg/a,first\norg/b,other\norg/a,second\n")
    assert main(["tree", str(tmp_path), "--labels", str(labels), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "labels.csv:4: model 'org/a' is labelled 'second' here and 'first' on line 2" in err


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["genes", "build", "d.jsonl", "--name", "n", "--seed", "-1", "-o", "g.json"],
         "--seed must be between 0 and 2**63 - 1, got -1"),
        (["genes", "build", "d.jsonl", "--name", "\udcff", "-o", "g.json"],
         "holds an unpaired surrogate"),
        (["predict", ".", "--benchmark", "mmlu", "--plan", "0"], "--plan must be 1 or more"),
    ],
)  # fmt: skip
def test_settings_outside_their_range_are_one_line(tmp_path, monkeypatch, capsys, command, message):
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_predict_takes_an_unbounded_metric_on_its_own_scale(tmp_path):
    """bits_per_byte above 1 (lower is better): predicted on its scale, never clipped to [0, 1]."""
    family_runs(tmp_path / "r", names=("a1", "a2", "a3", "b1", "b2", "b3"))
    bpb = {"a1": 1.62, "a2": 1.60, "a3": 1.64, "b1": 0.91, "b2": 0.89}
    for i, (name, score) in enumerate(bpb.items()):
        write_benchmark_run(tmp_path / "r", f"/models/{name}", "prose_ppl", "bits_per_byte", score,
                            timestamp=f"2026-03-0{i + 1}T00-00-00.000000",
                            higher_is_better=False)  # fmt: skip
    out = tmp_path / "o"
    bench = "prose_ppl:bits_per_byte"
    assert main(["predict", str(tmp_path / "r"), "--benchmark", bench, "-o", str(out)]) == 0
    with (out / "predictions.csv").open() as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert float(rows["a1"]["real"]) == 1.62
    assert 0.85 < float(rows["b3"]["predicted"]) < 0.95  # predicted with its family
    assert float(rows["b1"]["predicted"]) > 1.5  # held out, from the a family: not clipped
    report = (out / "report.md").read_text()
    assert "unbounded metric" in report
    assert "score: prose_ppl bits_per_byte,none (lower is better)" in report  # lm-eval's table


def test_predict_refuses_an_accuracy_outside_its_range(tmp_path, capsys):
    family_with_scores(tmp_path / "r")
    write_benchmark_run(tmp_path / "r", "/models/b3", "arc_challenge", "acc_norm", -0.2,
                        timestamp="2026-04-01T00-00-00.000000")  # fmt: skip
    expect_error(capsys, ["predict", str(tmp_path / "r"), "--benchmark", "arc_challenge"],
                 "acc_norm of b3 is -0.2, outside [0, 1]")  # fmt: skip


def test_predict_says_when_the_tree_adds_nothing(tmp_path):
    """Scores unrelated to the families: the report says the mean of the others does as well."""
    family_runs(tmp_path / "r", names=("a1", "a2", "a3", "b1", "b2", "b3"))
    unrelated = {"a1": 0.2, "a2": 0.8, "a3": 0.5, "b1": 0.7, "b2": 0.3, "b3": 0.5}
    for i, (name, score) in enumerate(unrelated.items()):
        write_benchmark_run(tmp_path / "r", f"/models/{name}", "arc_challenge", "acc_norm", score,
                            timestamp=f"2026-03-0{i + 1}T00-00-00.000000")  # fmt: skip
    out = tmp_path / "o"
    assert (
        main(["predict", str(tmp_path / "r"), "--benchmark", "arc_challenge", "-o", str(out)]) == 0
    )
    report = (out / "report.md").read_text()
    assert "baseline: mean of the others" in report
    assert "the tree adds nothing here" in report


def test_predict_sets_a_sample_of_questions_beside_the_tree(tmp_path):
    """Runs that logged their answers: a regression on 100 random questions is a baseline row,
    and where it predicts better than the tree the report says so."""
    family_runs(tmp_path / "r", names=("a1", "a2", "a3", "b1", "b2", "b3"))
    ability = {"a1": 0.2, "a2": 0.8, "a3": 0.5, "b1": 0.7, "b2": 0.3, "b3": 0.6}  # not by family
    rng = np.random.default_rng(0)
    for i, (name, p) in enumerate(ability.items()):
        right = (rng.random(400) < p).astype(int).tolist()
        write_benchmark_run(tmp_path / "r", f"/models/{name}", "arc_challenge", "acc_norm",
                            float(np.mean(right)), timestamp=f"2026-03-0{i + 1}T00-00-00.000000",
                            per_question=right)  # fmt: skip
    out = tmp_path / "o"
    assert (
        main(["predict", str(tmp_path / "r"), "--benchmark", "arc_challenge", "-o", str(out)]) == 0
    )
    report = (out / "report.md").read_text()
    row = "| arc_challenge | baseline: 100 random questions + regression | leave-one-out | 6 |"
    assert row in report
    assert "arc_challenge, leave-one-out, auto: 100 random questions do better.**" in report
