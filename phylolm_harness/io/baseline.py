"""The baseline file of ``phylolm-harness check``: one JSON document, versioned and checksummed.

A baseline records everything a later check compares with::

    {
      "format": "phylolm-harness-baseline",
      "version": 1,
      "tool_version": "0.1.0",
      "estimator": "unbiased", "distance": "nei", "method": "nj", "resamples": 100, "seed": 0,
      "genomes": [{"name": "math", "fingerprint": "sha256:...", "genes": 24}],
      "models": [{"label": "m", "mode": "sampled", "model_name": "org/m",
                  "settings": {"backend": "hf", "mode": "sampled", ...}}],
      "distances": {"labels": ["m", ...], "values": [[0.0, ...]], "standard_errors": [[...]]},
      "tree": {"newick": "((a,b)97:0.1,...);", "splits": [{"side": ["a", "b"],
               "bootstrap": 0.97, "transfer": 0.98}]},
      "populations": [<one populations-file row per model and gene>],
      "checksum": "sha256:<hex of the canonical JSON of everything above>"
    }

``tree`` is ``null`` with fewer than 3 models; standard errors are ``null`` where not computed.
The checksum makes a truncated or hand-edited file an error rather than a silently different
reference: rebuild it with ``phylolm-harness baseline`` instead of editing it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import MAX_RESAMPLES, Phylogeny, infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import Distance, Estimator
from phylolm_harness.core.tree import Method, from_newick, robinson_foulds, to_newick
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import observation_rows, parse_observation
from phylolm_harness.io.reading import text
from phylolm_harness.io.runs import Identity

if TYPE_CHECKING:
    from skbio import TreeNode

__all__ = ["FORMAT", "VERSION", "Baseline", "BaselineModel", "format_baseline", "read_baseline"]

FORMAT = "phylolm-harness-baseline"
VERSION = 1
_MAX_BYTES = 2**31


@dataclass(frozen=True)
class BaselineModel:
    """One model of a baseline: how it was collected."""

    label: str
    mode: str
    """``sampled``, ``exact`` or ``mixed``."""
    model_name: str | None
    settings: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class Baseline:
    """A baseline file, read and validated."""

    path: Path
    tool_version: str
    estimator: Estimator
    method: Method
    resamples: int
    seed: int
    genomes: tuple[tuple[str, str, int], ...]
    """``(name, fingerprint, number of genes)``."""
    models: Mapping[str, BaselineModel]
    labels: tuple[str, ...]
    distances: NDArray[np.float64]
    standard_errors: NDArray[np.float64]
    newick: str | None
    supports: Mapping[frozenset[str], tuple[float, float]]
    """Split (its side without the first label) -> (bootstrap, transfer) support."""
    observations: tuple[GeneObservation, ...]
    distance: Distance = "nei"


def mode_of(observations: Sequence[GeneObservation]) -> str:
    """``exact``, ``sampled`` or ``mixed``: how one model's observations were collected."""
    modes = {"exact" if o.exact else "sampled" for o in observations}
    return modes.pop() if len(modes) == 1 else "mixed"


def format_baseline(
    phylogeny: Phylogeny,
    observations: Sequence[GeneObservation],
    identities: Mapping[str, Identity],
    *,
    tool_version: str,
    resamples: int,
    seed: int,
) -> bytes:
    """Serialise a baseline (see the module documentation)."""
    pops = phylogeny.populations
    per_model: dict[str, list[GeneObservation]] = {}
    for obs in observations:
        per_model.setdefault(obs.model, []).append(obs)
    genes_per_genome: dict[tuple[str, str], int] = {}
    for gene in pops.genes:
        key = (gene.genome, gene.fingerprint)
        genes_per_genome[key] = genes_per_genome.get(key, 0) + 1
    models = []
    for label in pops.models:
        identity = identities.get(label)
        models.append(
            {
                "label": label,
                "mode": mode_of(per_model[label]),
                "model_name": identity.model_name if identity else None,
                "settings": dict(sorted(identity.settings.items())) if identity else {},
            }
        )
    tree = None
    if phylogeny.tree is not None:
        splits = []
        if phylogeny.supports is not None:
            for side, (boot, transfer) in sorted(
                phylogeny.supports.lookup().items(), key=lambda item: sorted(item[0])
            ):
                splits.append(
                    {"side": sorted(side), "bootstrap": _num(boot), "transfer": _num(transfer)}
                )
        tree = {"newick": to_newick(phylogeny.tree, phylogeny.supports).strip(), "splits": splits}
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "tool_version": tool_version,
        "estimator": phylogeny.estimator,
        "distance": phylogeny.distance,
        "method": phylogeny.method,
        "resamples": resamples,
        "seed": seed,
        "genomes": [
            {"name": name, "fingerprint": fp, "genes": n}
            for (name, fp), n in sorted(genes_per_genome.items())
        ],
        "models": models,
        "distances": {
            "labels": list(pops.models),
            "values": _matrix(phylogeny.distances),
            "standard_errors": _matrix(phylogeny.standard_errors),
        },
        "tree": tree,
        "populations": observation_rows(observations),
    }
    document["checksum"] = _checksum(document)
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _matrix(matrix: NDArray[np.float64]) -> list[list[float | None]]:
    return [[_num(float(v)) for v in row] for row in matrix]


def _checksum(document: Mapping[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "checksum"}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def read_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file.

    Raises
    ------
    InputError
        One line naming the file: unreadable, not JSON (truncated), another format or version,
        a checksum that does not match (edited by hand), or a field of the wrong shape.
    """
    document = _load(path)
    where = str(path)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f'{where}: not a phylolm-harness baseline (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise InputError(
            f"{where}: baseline format version {version!r}; this phylolm-harness reads version "
            f"{VERSION}: rebuild it with `phylolm-harness baseline`"
        )
    if document.get("checksum") != _checksum(document):
        raise InputError(
            f"{where}: checksum does not match the content (edited by hand or damaged); rebuild "
            "it with `phylolm-harness baseline` rather than editing it"
        )
    try:
        baseline = _parse(path, document)
        tree = None if baseline.newick is None else _newick(baseline.newick)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"{where}: malformed baseline ({type(error).__name__}: {error})") from None
    _check_derived(baseline, tree)
    return baseline


def _newick(text: str) -> TreeNode:
    try:
        return from_newick(text)
    except Exception as error:  # noqa: BLE001 - scikit-bio's NewickFormatError and kin
        raise ValueError(f"tree.newick is not Newick ({type(error).__name__})") from None


def _check_derived(base: Baseline, tree: TreeNode | None) -> None:
    """Refuse a baseline whose distances or tree do not follow from its own populations.

    Its checksum guards against accidents, not edits (anyone can recompute it): the distances
    and the tree are computed again from the stored populations, with the stored settings, and
    must agree; standard errors and supports must be in range.
    """
    where = f"{base.path}: the baseline"
    again = infer_phylogeny(
        Populations.from_observations(base.observations),  # with the checks of every population
        base.method,
        base.estimator,
        resamples=0,
        seed=base.seed,
        distance=base.distance,
    )
    position = {label: i for i, label in enumerate(again.populations.models)}
    order = [position[label] for label in base.labels]
    recomputed = again.distances[np.ix_(order, order)]
    off = ~np.isclose(base.distances, recomputed, rtol=1e-9, atol=1e-12, equal_nan=True)
    if off.any():
        i, j = (int(k) for k in np.argwhere(off)[0])
        raise InputError(
            f"{where}'s distance from {base.labels[i]!r} to {base.labels[j]!r} is "
            f"{float(base.distances[i, j])!r}, its populations give {float(recomputed[i, j])!r}: "
            "rebuild it with `phylolm-harness baseline`"
        )
    if np.any(base.standard_errors < 0):
        raise InputError(f"{where} holds a negative standard error: rebuild it")
    if any(not 0 <= v <= 1 for pair in base.supports.values() for v in pair if not math.isnan(v)):
        raise InputError(f"{where} holds a split support outside [0, 1]: rebuild it")
    if (tree is None) != (again.tree is None):
        raise InputError(f"{where}'s tree does not follow from its populations: rebuild it")
    if tree is not None and again.tree is not None:
        tips = sorted(str(t.name) for t in tree.tips())
        if tips != sorted(base.labels):
            raise InputError(f"{where}'s tree has other tips than its models: rebuild it")
        if robinson_foulds(tree, again.tree) != 0:
            raise InputError(
                f"{where}'s tree is not the tree of its own distances ({base.method}): rebuild it"
            )


def _load(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: no such baseline file (or not a regular file)")
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise InputError(f"{path}: baseline file larger than 2 GiB")
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the baseline ({error.strerror})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: the baseline is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: the baseline is not valid JSON (truncated?) at line {error.lineno}"
        ) from None
    except (RecursionError, ValueError):
        raise InputError(f"{path}: the baseline holds unreadable JSON") from None


def _parse(path: Path, doc: Mapping[str, Any]) -> Baseline:
    where = str(path)
    labels = tuple(_str(v, where, "distances.labels") for v in doc["distances"]["labels"])
    n = len(labels)
    distances = _square(doc["distances"]["values"], n, where, "distances.values")
    errors = _square(doc["distances"]["standard_errors"], n, where, "distances.standard_errors")
    models: dict[str, BaselineModel] = {}
    for entry in doc["models"]:
        label = _str(entry["label"], where, "models.label")
        settings = entry["settings"]
        if not isinstance(settings, dict):
            raise TypeError("models.settings must be an object")
        name = entry["model_name"]
        models[label] = BaselineModel(
            label,
            _str(entry["mode"], where, "models.mode"),
            None if name is None else _str(name, where, "models.model_name"),
            {_str(k, where, "setting"): _str(v, where, "setting") for k, v in settings.items()},
        )
    if set(models) != set(labels) or len(models) != n:
        raise ValueError("the models and the distance labels differ")
    observations = tuple(
        parse_observation(row, f"{where}: populations[{i}]")
        for i, row in enumerate(doc["populations"])
    )
    if {o.model for o in observations} != set(labels):
        raise ValueError("the populations and the models differ")
    tree = doc["tree"]
    supports: dict[frozenset[str], tuple[float, float]] = {}
    newick = None
    if tree is not None:
        newick = _str(tree["newick"], where, "tree.newick")
        for split in tree["splits"]:
            side = frozenset(_str(s, where, "tree.splits.side") for s in split["side"])
            if not side <= set(labels):
                raise ValueError("a split names a model the baseline does not hold")
            supports[side] = (_float(split["bootstrap"]), _float(split["transfer"]))
    genomes = tuple(
        (
            _str(g["name"], where, "genomes"),
            _str(g["fingerprint"], where, "genomes"),
            int(g["genes"]),
        )
        for g in doc["genomes"]
    )
    estimator, method = doc["estimator"], doc["method"]
    if estimator not in ("unbiased", "plugin") or method not in ("nj", "upgma", "bme"):
        raise ValueError(f"unknown estimator {estimator!r} or method {method!r}")
    estimator = cast(Estimator, estimator)
    method = cast(Method, method)
    resamples = int(doc["resamples"])
    if not 2 <= resamples <= MAX_RESAMPLES:  # as `baseline` writes them
        raise ValueError(f"resamples {resamples} is not between 2 and {MAX_RESAMPLES}")
    distance = doc.get("distance", "nei")  # baselines written before it was recorded: Nei
    if distance not in ("nei", "da"):
        raise ValueError(f"unknown distance {distance!r}")
    return Baseline(
        path,
        _str(doc["tool_version"], where, "tool_version"),
        estimator,
        method,
        resamples,
        int(doc["seed"]),
        genomes,
        models,
        labels,
        distances,
        errors,
        newick,
        supports,
        observations,
        cast(Distance, distance),
    )


def _str(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string")
    return text(value, where, what)


def _float(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("a number was expected")
    return float(value)


def _square(rows: Any, n: int, where: str, what: str) -> NDArray[np.float64]:
    if (
        not isinstance(rows, list)
        or len(rows) != n
        or any(not isinstance(r, list) or len(r) != n for r in rows)
    ):
        raise ValueError(f"{what} must be a {n} x {n} matrix")
    return np.array([[_float(v) for v in row] for row in rows], dtype=np.float64)
