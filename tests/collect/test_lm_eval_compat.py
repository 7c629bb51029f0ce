"""What differs between lm-eval versions is absorbed in one place, with the same metrics."""

import re

import tomllib
from lm_eval.api.instance import Instance
from support.paths import REPO

from phylolm_harness.collect import exact, sampled
from phylolm_harness.collect.lm_eval_compat import copied_request, first_request, flat_responses
from phylolm_harness.core.alleles import AlleleDistribution


def _request(**kwargs):
    """A request the way the installed lm-eval builds one for a generation task."""
    if isinstance(Instance.__dataclass_fields__["metadata"].default_factory(), tuple):  # 0.4
        ids = {"metadata": ("t", 3, 32)}
    else:  # 0.5
        ids = {"task_name": "t", "doc_id": 3, "repeats": 32}
    return Instance(
        request_type="generate_until",
        doc={"text": "gene"},
        arguments=("gene", {"until": []}),
        idx=0,
        **ids,
        **kwargs,
    )


def test_copies_answer_once_and_never_share_a_response_list():
    base = _request()
    base.resps.append("already answered")
    first = copied_request(base, idx=1)
    second = copied_request(base, idx=2)
    first.resps.append("a")
    assert (first.idx, second.idx) == (1, 2)
    assert first.repeats == second.repeats == 1
    assert second.resps == [] and base.resps == ["already answered"]
    assert (first.task_name, first.doc_id) == ("t", 3)


def test_one_request_is_taken_alone_or_from_a_list_of_one():
    base = _request()
    assert first_request(base) is base
    assert first_request([base]) is base


def test_sampled_metrics_are_the_same_for_nested_and_flat_answers():
    # lm-eval 0.4 hands one list per request, 0.5 one flat list: counting the characters of a
    # flat list's strings as continuations gave 47 distinct alleles from 32 probes.
    continuations = ["abcd1", "abcd2", "wxyz", "abcd", "qq"] * 6 + ["zzzz", "abcd"]
    nested = sampled.process_results({}, [[c] for c in continuations])
    flat = sampled.process_results({}, list(continuations))
    assert nested == flat
    assert nested["distinct_alleles"] == 4.0


def test_exact_metrics_are_the_same_for_nested_and_flat_answers():
    answer = AlleleDistribution({"abcd": 0.5, "wxyz": 0.25}, tail=0.25).to_json()
    doc = {"gene": "g"}
    assert exact.process_results(doc, [answer]) == exact.process_results(doc, [[answer]])
    assert flat_responses([[answer]]) == [answer]


def _lower_bounds():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [*dependencies["dependencies"], *dependencies["optional-dependencies"]["demo"]]
    bounds = {}
    for requirement in declared:
        name, bound = re.fullmatch(r"([\w-]+)(?:\[[\w,]+\])?>=([\w.]+).*", requirement).groups()
        bounds[name] = bound
    return bounds


def _release(version):
    return tuple(int(part) for part in version.split(".")) + (0,) * (3 - version.count(".") - 1)


def test_every_declared_lower_bound_is_the_version_the_floor_environment_pins():
    pins = {}
    for line in (REPO / ".ci" / "floors.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    bounds = _lower_bounds()
    assert set(bounds) == set(pins)
    for name, bound in bounds.items():
        assert _release(bound) == _release(pins[name]), name
