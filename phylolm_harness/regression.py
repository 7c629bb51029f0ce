"""CI regression checks as functions: record a baseline, then check new runs against it.

``baseline`` runs ``tree`` and keeps what a later check needs (see
:mod:`phylolm_harness.io.baseline`); ``check`` reads a new run the same way, refuses to compare
what cannot be compared (other genes, another mode or temperature, models missing on either
side), and evaluates the rules of :mod:`phylolm_harness.core.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from phylolm_harness import __version__
from phylolm_harness.core.check import by_gene
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import DEFAULT_RESAMPLES, Phylogeny, infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.rules import Drift, Rules, TreeSide, Verdict, evaluate
from phylolm_harness.core.similarity import DEFAULT_DISTANCE, MIN_SHARED_GENES, Distance, Estimator
from phylolm_harness.core.tree import MethodChoice, from_newick, splits
from phylolm_harness.errors import InputError
from phylolm_harness.io.baseline import Baseline, format_baseline, mode_of, read_baseline
from phylolm_harness.io.runs import Identity, Results
from phylolm_harness.pipeline import TreeResult, read_inputs, tree
from phylolm_harness.report.check import (
    check_json,
    check_markdown,
    check_passed,
    console_summary,
    junit_xml,
)

__all__ = ["CHECK_OUTPUTS", "CheckResult", "baseline", "check"]

CHECK_OUTPUTS = ("check.json", "junit.xml", "check.md")
"""Files ``check`` writes into its output folder."""

_COMPARED_SETTINGS = ("mode", "temperature", "chat", "expansion")
"""Collection settings a model must share with its baseline entry to be compared at all."""


def baseline(
    results_dir: Results | None,
    populations: Sequence[Path] = (),
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
    method: MethodChoice = "auto",
    estimator: Estimator = "unbiased",
    resamples: int | None = None,
    seed: int = 0,
    distance: Distance = DEFAULT_DISTANCE,
) -> tuple[TreeResult, bytes]:
    """Build a baseline: the tree of a results folder and the baseline file's bytes."""
    resamples = DEFAULT_RESAMPLES if resamples is None else resamples
    if resamples < 2:
        raise InputError("a baseline needs --resamples of at least 2 (for the branch supports)")
    found = tree(
        results_dir,
        populations,
        rename=rename,
        genomes=genomes,
        method=method,
        estimator=estimator,
        resamples=resamples,
        seed=seed,
        benchmarks_hint=False,
        distance=distance,
    )
    modes = {m: mode_of(obs) for m, obs in _per_model(found.observations).items()}
    mixed = sorted(m for m, mode in modes.items() if mode == "mixed")
    if mixed:
        raise InputError(
            f"model {mixed[0]!r} has both sampled and exact observations: give each mode its own "
            "label (lm-eval runs are labelled by mode automatically)"
        )
    content = format_baseline(
        found.phylogeny,
        found.observations,
        found.identities,
        tool_version=__version__,
        resamples=resamples,
        seed=seed,
    )
    return found, content


@dataclass(frozen=True)
class CheckResult:
    """Verdicts of every rule, the notes of the comparison and what was compared."""

    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...]
    level: float
    baseline: Path
    models: tuple[str, ...]
    inconclusive_fails: bool = True
    """Whether a rule the data cannot decide fails the check (``--inconclusive fail``)."""

    @property
    def passed(self) -> bool:
        """Whether the check passes: no rule failed, nor was inconclusive where those fail."""
        return check_passed(self.verdicts, self.inconclusive_fails)

    def summary(self) -> str:
        """Console text."""
        return console_summary(self.verdicts, self.level, self.notes, self.inconclusive_fails)

    def files(self) -> dict[str, bytes]:
        """``check.json``, ``junit.xml`` and ``check.md``."""
        meta: dict[str, Any] = {"baseline": str(self.baseline), "models": list(self.models)}
        return {
            "check.json": check_json(
                self.verdicts, self.level, self.notes, meta, self.inconclusive_fails
            ),
            "junit.xml": junit_xml(
                self.verdicts,
                f"phylolm-harness check ({self.baseline.name})",
                self.inconclusive_fails,
            ),
            "check.md": check_markdown(
                self.verdicts, self.level, self.notes, self.baseline.name, self.inconclusive_fails
            ).encode("utf-8"),
        }


def check(
    results_dir: Results | None,
    populations: Sequence[Path],
    baseline_path: Path,
    rules: Rules,
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
    any_tool_version: bool = False,
) -> CheckResult:
    """Check a new run against a baseline.

    Raises
    ------
    InputError
        A bad baseline; a baseline from another tool version (unless ``any_tool_version``);
        rules naming unknown models; other genomes, modes or settings; models missing on
        either side; and the errors of :func:`phylolm_harness.pipeline.tree`.
    """
    base = read_baseline(baseline_path)
    if base.tool_version != __version__ and not any_tool_version:
        raise InputError(
            f"{baseline_path}: written by phylolm-harness {base.tool_version}, this is "
            f"{__version__}; rebuild the baseline, or pass --any-tool-version to compare anyway"
        )
    rules = _check_rules(rules, base)
    wanted = frozenset(name for name, _, _ in base.genomes)
    if genomes is not None and not genomes & wanted:
        raise InputError(
            f"--genome {', '.join(sorted(genomes))}: the baseline {baseline_path} holds genomes "
            f"{', '.join(sorted(wanted))}"
        )
    inputs = read_inputs(
        results_dir, populations, rename=rename, genomes=wanted & genomes if genomes else wanted
    )
    pops = Populations.from_observations(inputs.observations)  # the checks of every population
    notes = list(inputs.notes)
    current = _per_model(inputs.observations)
    previous = _per_model(base.observations)
    _check_genomes(base, dict(pops.genomes), genomes)
    _check_models(base, inputs.identities, current, notes)
    _check_genes(previous, current, notes)
    current_tree = None
    if rules.max_rf is not None:
        phylogeny = infer_phylogeny(
            pops,
            base.method,
            base.estimator,
            base.resamples,
            base.seed,
            distance=base.distance,
        )
        current_tree = _current_tree(phylogeny)
    verdicts = evaluate(
        rules,
        {m: by_gene(obs) for m, obs in previous.items()},
        {m: by_gene(obs) for m, obs in current.items()},
        baseline_nearest=_nearest(base),
        baseline_tree=_baseline_tree(base) if rules.max_rf is not None else None,
        current_tree=current_tree,
        estimator=base.estimator,
    )
    return CheckResult(
        tuple(verdicts),
        tuple(notes),
        rules.level,
        baseline_path,
        pops.models,
        inconclusive_fails=rules.inconclusive == "fail",
    )


def _per_model(observations: Sequence[GeneObservation]) -> dict[str, list[GeneObservation]]:
    out: dict[str, list[GeneObservation]] = {}
    for obs in observations:
        out.setdefault(obs.model, []).append(obs)
    return out


def _check_rules(rules: Rules, base: Baseline) -> Rules:
    """Refuse rules naming models the baseline lacks, before any heavy work.

    A drift written ``MODEL:PARENT`` is split at the colon that leaves two known labels (labels
    may hold colons themselves); a whole known label is a drift from the baseline entry.
    """
    known = set(base.labels)
    rules = replace(rules, drift=tuple(_resolve(d, known, base.path) for d in rules.drift))
    named = [*(rules.same_model or ()), *rules.nearest]
    named += [d.model for d in rules.drift] + [d.parent for d in rules.drift if d.parent]
    for model in named:
        if model not in known:
            raise InputError(
                f"{base.path}: no model {model!r} in the baseline (it holds "
                f"{', '.join(repr(label) for label in sorted(known))})"
            )
    if rules.nearest and len(known) < 2:
        raise InputError("--nearest needs at least 2 models in the baseline")
    if rules.max_rf is not None and base.newick is None:
        raise InputError(
            f"{base.path}: the baseline has no tree (fewer than 3 models): no --max-rf"
        )
    return rules


def _resolve(drift: Drift, known: set[str], where: Path) -> Drift:
    if drift.parent is not None or drift.model in known:
        return drift
    text = drift.model
    for i, char in enumerate(text):
        if char == ":" and text[:i] in known and text[i + 1 :] in known:
            if text[:i] == text[i + 1 :]:
                raise InputError(
                    f"--max-drift {text!r}: a model's distance to itself is always 0; name "
                    "another PARENT, or MODEL alone for its baseline entry"
                )
            return Drift(text[:i], drift.max_distance, text[i + 1 :])
    raise InputError(
        f"--max-drift {text!r}: no such model (or MODEL:PARENT pair) in the baseline {where}"
    )


def _check_genomes(base: Baseline, here: Mapping[str, str], genomes: frozenset[str] | None) -> None:
    for name, fingerprint, _ in base.genomes:
        if genomes is not None and name not in genomes:
            continue
        if name not in here:
            raise InputError(
                f"no observation on genome {name!r}, which the baseline {base.path} was "
                "collected on"
            )
        if here[name] != fingerprint:
            raise InputError(
                f"genome {name!r} is {here[name][:19]}… here but {fingerprint[:19]}… in "
                f"{base.path}: a check compares collections on the same genes"
            )


def _check_models(
    base: Baseline,
    identities: Mapping[str, Identity],
    current: Mapping[str, Sequence[GeneObservation]],
    notes: list[str],
) -> None:
    missing = sorted(set(base.labels) - set(current))
    if missing:
        raise InputError(
            f"model {missing[0]!r} of the baseline {base.path} is not in this run"
            + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else "")
            + "; rename labels with --rename, or rebuild the baseline"
        )
    extra = sorted(set(current) - set(base.labels))
    if extra:
        raise InputError(
            f"model {extra[0]!r} is in this run but not in the baseline {base.path}"
            + (f" ({len(extra) - 1} more)" if len(extra) > 1 else "")
            + "; add it by rebuilding the baseline, or leave its run out"
        )
    for label in sorted(current):
        entry = base.models[label]
        mode = mode_of(current[label])
        if mode != entry.mode:
            raise InputError(
                f"model {label!r} was collected in {mode} mode here but in {entry.mode} mode in "
                f"the baseline {base.path}: a check compares collections made the same way"
            )
        identity = identities.get(label)
        if identity is None or not entry.settings:
            continue
        settings = identity.settings
        for key in _COMPARED_SETTINGS:
            if key not in entry.settings and (key != "expansion" or key not in settings):
                continue
            if settings.get(key) != entry.settings.get(key):
                raise InputError(
                    f"model {label!r}: {key}={settings.get(key, '(unrecorded)')} here but "
                    f"{key}={entry.settings.get(key, '(unrecorded)')} in the baseline {base.path}"
                )
        changed = sorted(
            k
            for k in {*settings, *entry.settings} - set(_COMPARED_SETTINGS)
            if settings.get(k) != entry.settings.get(k)
        )
        if changed:
            notes.append(
                f"{label}: settings differ from the baseline: "
                + ", ".join(
                    f"{k} {entry.settings.get(k, '(unset)')} -> {settings.get(k, '(unset)')}"
                    for k in changed
                )
            )


def _check_genes(
    previous: Mapping[str, Sequence[GeneObservation]],
    current: Mapping[str, Sequence[GeneObservation]],
    notes: list[str],
) -> None:
    for label in sorted(current):
        before = set(by_gene(previous[label]))
        now = set(by_gene(current[label]))
        common = len(before & now)
        if common < min(MIN_SHARED_GENES, len(before)):
            raise InputError(
                f"model {label!r}: only {common} of its {len(before)} baseline genes were "
                "collected in this run"
            )
        if common < len(before) or common < len(now):
            notes.append(
                f"{label}: compared on the {common} genes both collections hold ({len(before)} "
                f"in the baseline, {len(now)} here)"
            )


def _nearest(base: Baseline) -> dict[str, str]:
    out = {}
    for i, label in enumerate(base.labels):
        row = base.distances[i].copy()
        row[i] = np.inf
        out[label] = min(zip(row.tolist(), base.labels, strict=True))[1]
    return out


def _baseline_tree(base: Baseline) -> TreeSide:
    assert base.newick is not None
    supports = {side: boot for side, (boot, _) in base.supports.items()}
    return TreeSide(splits(from_newick(base.newick)), supports)


def _current_tree(phylogeny: Phylogeny) -> TreeSide:
    if phylogeny.tree is None:
        raise InputError(f"this run gives no tree ({phylogeny.why_no_tree}): no --max-rf")
    supports = (
        {side: boot for side, (boot, _) in phylogeny.supports.lookup().items()}
        if phylogeny.supports is not None
        else {}
    )
    return TreeSide(splits(phylogeny.tree), supports)
