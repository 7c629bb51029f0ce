"""``phylolm-harness baseline`` and ``check`` on result folders written by the layout helper.

The real ``lm_eval`` runs are in ``test_check_end_to_end.py``; here the many ways a check must
refuse its input are tried quickly.
"""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import HOSTILE, fuzz, json_paths, replaced
from support.results_layout import write_run

from phylolm_harness.cli import main
from phylolm_harness.io.baseline import _checksum

GENES = [f"math-{i:03d}" for i in range(16)]
WORDS = ["alpha", "beta ", "gamma", "delta", "eps  ", "zeta!", "theta", "kappa"]


def _distributions(seed):
    return np.random.default_rng(seed).dirichlet(np.full(len(WORDS), 0.4), size=len(GENES))


TRUTH = {"a": _distributions(1), "b": _distributions(2), "c": _distributions(3)}


def _collect(root, seed, models=TRUTH, probes=32, **kwargs):
    rng = np.random.default_rng(seed)
    for name, truth in models.items():
        continuations = {
            gene: [WORDS[i] for i in rng.choice(len(WORDS), size=probes, p=p)]
            for gene, p in zip(GENES, truth, strict=True)
        }
        write_run(root, name, continuations, **kwargs)
    return root


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    results = _collect(root / "before", seed=0)
    baseline = root / "baseline.json"
    assert main(["baseline", str(results), "-o", str(baseline)]) == 0
    return baseline


def test_recollection_passes_and_writes_every_output(recorded, tmp_path, capsys):
    results = _collect(tmp_path / "after", seed=1)
    out = tmp_path / "out"
    status = main(["check", str(results), "--baseline", str(recorded), "-o", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "3 of 3 rules hold" in printed
    report = json.loads((out / "check.json").read_text())
    assert report["passed"] is True
    assert {v["subject"] for v in report["verdicts"]} == {"a", "b", "c"}
    assert all(0 < v["p_value"] <= 1 for v in report["verdicts"])
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "0"
    assert "✅ PhyloLM check passed" in (out / "check.md").read_text()


def test_swapped_model_fails_with_its_evidence(recorded, tmp_path, capsys):
    swapped = {"a": TRUTH["a"], "b": TRUTH["c"], "c": TRUTH["c"]}
    results = _collect(tmp_path / "after", seed=2, models=swapped)
    out = tmp_path / "out"
    status = main(["check", str(results), "--baseline", str(recorded), "-o", str(out)])
    printed = capsys.readouterr().out
    assert status == 1
    assert printed.startswith("FAIL same model: b:")
    report = json.loads((out / "check.json").read_text())
    failed = [v for v in report["verdicts"] if not v["passed"]]
    assert [v["subject"] for v in failed] == ["b"]
    assert failed[0]["adjusted_p"] < 0.01 and failed[0]["value"] > failed[0]["threshold"]
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    failure = suite.find(".//testcase[@name='b']/failure")
    assert failure is not None and "distance" in failure.get("message")


def test_rules_by_name(recorded, tmp_path, capsys):
    results = _collect(tmp_path / "after", seed=3)
    args = ["check", str(results), "--baseline", str(recorded), "-o", str(tmp_path / "o")]
    status = main(
        [*args, "--same-model", "none", "--nearest", "a", "--max-drift", "a:b=10",
         "--max-drift", "c=10", "--max-rf", "0", "--min-support", "0.9"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    # a, b and c are unrelated: which is a's closest relative, 16 genes cannot tell.
    assert status == 1, printed
    assert printed.startswith("INCONCLUSIVE nearest relative: a:")
    assert "same model" not in printed
    assert "ok   max drift: a -> b:" in printed and "ok   max drift: c:" in printed
    assert "ok   tree: tree:" in printed
    assert "1 inconclusive (counted as failures: --inconclusive fail)" in printed
    suite = ET.parse(tmp_path / "o" / "junit.xml").getroot()
    assert (suite.get("failures"), suite.get("errors")) == ("0", "1")
    assert suite.find(".//testcase[@name='a']/error").get("type") == "inconclusive"
    assert "❔ PhyloLM check inconclusive" in (tmp_path / "o" / "check.md").read_text()
    # Counted as a pass when asked, and still named as inconclusive everywhere.
    lenient = [*args, "--same-model", "none", "--nearest", "a", "--inconclusive", "pass"]
    assert main(lenient) == 0
    assert "INCONCLUSIVE nearest relative: a:" in capsys.readouterr().out
    report = json.loads((tmp_path / "o" / "check.json").read_text())
    assert report["passed"] is True and report["inconclusive"] == 1
    assert [v["outcome"] for v in report["verdicts"]] == ["inconclusive"]
    suite = ET.parse(tmp_path / "o" / "junit.xml").getroot().find("testsuite")
    assert (suite.get("errors"), suite.get("skipped")) == ("0", "1")
    # A drift bound far below the distance between two different models fails.
    assert main([*args, "--same-model", "none", "--max-drift", "a:b=0.01"]) == 1
    assert "FAIL max drift: a -> b" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"models": {"a": TRUTH["a"], "b": TRUTH["b"]}},
            "model 'c' of the baseline",
        ),
        ({"models": {**TRUTH, "d": TRUTH["a"]}}, "model 'd' is in this run but not"),
        ({"fingerprint": "sha256:" + "cd" * 32}, "genome 'math' is sha256:cdcd"),
        ({"model_args": {"temperature": 1}}, None),
    ],
)
def test_runs_that_cannot_be_compared_are_refused(recorded, tmp_path, capsys, change, message):
    models = change.pop("models", TRUTH)
    results = _collect(tmp_path / "after", seed=4, models=models, **change)
    status = main(["check", str(results), "--baseline", str(recorded), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    if message is None:  # model_args other than weight settings are not part of the identity
        assert status == 0
        return
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_other_mode_is_refused(recorded, tmp_path, capsys):
    rows = [
        {"model": m, "genome": "math", "fingerprint": "sha256:" + "ab" * 32, "gene": g,
         "mode": "exact", "tail": 0.0, "alleles": {"alph": 1.0}}
        for m in "abc" for g in GENES
    ]  # fmt: skip
    populations = tmp_path / "exact.jsonl"
    populations.write_text("".join(json.dumps(r) + "\n" for r in rows))
    status = main(
        ["check", "--populations", str(populations), "--baseline", str(recorded),
         "-o", str(tmp_path / "o")]
    )  # fmt: skip
    assert status == 2
    assert "collected in exact mode here but in sampled mode" in capsys.readouterr().err


def test_exact_runs_with_other_expansion_settings_are_refused(tmp_path, capsys):
    exact = json.dumps({"alleles": {"alph": 0.6, "beta": 0.3}, "tail": 0.1})

    def run(root, top_p):
        for name in "abc":
            write_run(
                root, name, {g: [exact] for g in GENES}, task="phylolm_genes_exact_math",
                generation_kwargs={"top_p": top_p, "top_k": 10, "min_mass": 0.01},
            )  # fmt: skip
        return root

    baseline = tmp_path / "exact.json"
    assert main(["baseline", str(run(tmp_path / "before", 0.9)), "-o", str(baseline)]) == 0
    status = main(
        ["check", str(run(tmp_path / "after", 0.95)), "--baseline", str(baseline),
         "-o", str(tmp_path / "o")]
    )  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "expansion=top_p=0.95" in err and "expansion=top_p=0.9," in err


def _edit(path: Path, edit, keep_checksum=False) -> Path:
    document = json.loads(path.read_text())
    edit(document)
    if not keep_checksum:
        document["checksum"] = _checksum(document)
    out = path.parent / f"edited-{abs(hash(json.dumps(document, sort_keys=True)))}.json"
    out.write_text(json.dumps(document))
    return out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:500]), "not valid JSON (truncated?)"),
        (lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()), "not UTF-8"),
        (lambda p: p.write_text("[]"), "not a phylolm-harness baseline"),
        (lambda p: p.unlink(), "no such baseline file"),
    ],
)
def test_damaged_baselines_are_refused(recorded, tmp_path, capsys, damage, message):
    copy = tmp_path / "baseline.json"
    copy.write_bytes(recorded.read_bytes())
    damage(copy)
    results = _collect(tmp_path / "after", seed=5)
    assert main(["check", str(results), "--baseline", str(copy)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _set_distance(value):
    def edit(document):
        values = document["distances"]["values"]
        values[0][1] = values[1][0] = value

    return edit


def _swap_tips(document):
    newick = document["tree"]["newick"]
    document["tree"]["newick"] = newick.replace("a", "@").replace("b", "a").replace("@", "b")


def _set_first(field, value):
    def edit(document):
        if field == "standard_errors":
            document["distances"]["standard_errors"][0][1] = value
        else:
            document["tree"]["splits"].append({"side": ["a"], "bootstrap": value, "transfer": 0.5})

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_distance(0.001), "distance from 'a' to 'b' is 0.001, its populations give"),
        (_set_distance(-0.5), "distance from 'a' to 'b' is -0.5"),
        (_set_distance(None), "distance from 'a' to 'b' is nan"),
        (_set_distance(float("inf")), "distance from 'a' to 'b' is inf"),
        (lambda d: d["tree"].update(newick="(a,b,zz);"), "tree has other tips than its models"),
        (lambda d: d["tree"].update(newick="((a,b"), "malformed baseline"),
        (_set_first("standard_errors", -1.0), "negative standard error"),
        (_set_first("support", 7.0), "split support outside [0, 1]"),
    ],
    ids=["distance", "negative", "null", "infinity", "tips", "broken-newick", "se", "support"],
)
def test_a_baseline_whose_checksum_was_recomputed_is_still_checked(
    recorded, tmp_path, capsys, edit, message
):
    """A checksum anyone can recompute guards against accidents; the content is checked too."""
    forged = _edit(recorded, edit)
    results = _collect(tmp_path / "after", seed=5)
    assert main(["check", str(results), "--baseline", str(forged)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_hand_edits_other_versions_and_unknown_models_are_refused(recorded, tmp_path, capsys):
    results = str(_collect(tmp_path / "after", seed=6))

    def refused(baseline, *extra):
        assert main(["check", results, "--baseline", str(baseline), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        return err

    def lower_distance(d):
        d["distances"]["values"][0][1] = 0.0

    assert "checksum does not match" in refused(_edit(recorded, lower_distance, True))
    newer = _edit(recorded, lambda d: d.update(version=2))
    assert "format version 2" in refused(newer)
    other_tool = _edit(recorded, lambda d: d.update(tool_version="0.0.1"))
    assert "written by phylolm-harness 0.0.1" in refused(other_tool)
    assert main(["check", results, "--baseline", str(other_tool), "--any-tool-version"]) == 0
    capsys.readouterr()
    assert "no model 'zz'" in refused(recorded, "--nearest", "zz")
    assert "no such model" in refused(recorded, "--max-drift", "a:zz=0.1")
    assert "--max-drift 'a'" in refused(recorded, "--max-drift", "a")
    assert "--level" in refused(recorded, "--level", "1.5")
    assert "nothing to check" in refused(recorded, "--same-model", "none")
    for resamples in (-5, 1, 10**9):  # checksum recomputed: a forged setting, refused anyway
        forged = _edit(recorded, lambda d, r=resamples: d.update(resamples=r))
        assert f"resamples {resamples} is not between 2 and 10000" in refused(forged)


@pytest.fixture(scope="module")
def later_run(tmp_path_factory):
    return _collect(tmp_path_factory.mktemp("later"), seed=7)


@fuzz(80)
@given(data=st.data())
def test_fuzz_edited_baselines_give_a_verdict_or_one_clean_line(
    recorded, later_run, tmp_path_factory, capsys, data
):
    """A hostile edit with a recomputed checksum: a verdict (0 or 1), or one clean line (2)."""
    document = json.loads(recorded.read_text())
    where, _ = data.draw(st.sampled_from(list(json_paths(document))))
    edited = replaced(document, where, data.draw(HOSTILE))
    if isinstance(edited, dict):
        edited["checksum"] = _checksum(edited)
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "baseline.json"
    path.write_text(json.dumps(edited))
    capsys.readouterr()
    status = main(["check", str(later_run), "--baseline", str(path), "-o", str(folder / "o")])
    err = capsys.readouterr().err
    assert status in (0, 1, 2)
    assert (status == 2) == bool(err) and err.count("\n") <= 1


def test_an_endpoint_answering_garbage_fails_rather_than_erroring(recorded, tmp_path, capsys):
    """Alleles shared with nothing make distances undefined: a failed rule, not bad input."""
    results = _collect(
        tmp_path / "after", seed=8, models={k: v for k, v in TRUTH.items() if k != "b"}
    )
    write_run(results, "b", {gene: ["\ufffd\ufffd\ufffd\ufffd"] * 32 for gene in GENES})
    status = main(
        ["check", str(results), "--baseline", str(recorded), "--nearest", "b", "-o",
         str(tmp_path / "o")]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 1, printed
    assert "FAIL same model: b: sampled on 16 genes: distance inf" in printed
    report = json.loads((tmp_path / "o" / "check.json").read_text())
    outcomes = {(v["rule"], v["subject"]): v["outcome"] for v in report["verdicts"]}
    assert outcomes[("same model", "b")] == "fail"
    # b shares no allele with anyone: no closest relative can be shown.
    assert outcomes[("nearest relative", "b")] == "inconclusive"
    assert [k for k, v in outcomes.items() if v != "pass"] == [
        ("same model", "b"),
        ("nearest relative", "b"),
    ]


def test_a_drift_from_a_model_to_itself_is_refused(recorded, tmp_path, capsys):
    results = _collect(tmp_path / "after", seed=9)
    status = main(["check", str(results), "--baseline", str(recorded), "--max-drift", "a:a=0.1"])
    assert status == 2
    assert "a model's distance to itself is always 0" in capsys.readouterr().err
