from support.paths import REPO
from support.tiny_models import FAMILY_TREE

from phylolm_harness import __version__
from phylolm_harness.core.tree import from_newick, robinson_foulds
from phylolm_harness.io.baseline import read_baseline

COMMITTED = REPO / "tests" / "baselines" / "tiny_family.json"


def test_committed_family_baseline_is_current_and_recovers_the_family():
    """The baseline `.ci/family_check.py` checks against (rebuild it with `--write`)."""
    baseline = read_baseline(COMMITTED)
    assert baseline.tool_version == __version__
    truth = from_newick(FAMILY_TREE)
    assert set(baseline.labels) == {t.name for t in truth.tips()}
    assert robinson_foulds(from_newick(baseline.newick), truth) == 0.0
    assert all(b == 1.0 for b, _ in baseline.supports.values())
    assert {m.mode for m in baseline.models.values()} == {"sampled"}
