"""The plain populations file: allele observations as JSON Lines.

One line per model x gene, so alleles collected outside lm-eval (another tool, an API logger) can
join a tree, and collections made on many machines can be concatenated::

    {"model": "m", "genome": "math", "fingerprint": "sha256:...", "gene": "math-000",
     "mode": "sampled", "probes": 32, "alleles": {"The ": 20, "x = ": 12}}
    {"model": "m", "genome": "math", "fingerprint": "sha256:...", "gene": "math-001",
     "mode": "exact", "tail": 0.03, "alleles": {"The ": 0.6, "x = ": 0.37}}

An exact line whose pruned branches were sampled adds ``"draws": {"mass": m, "count": n,
"weight": w}`` (:class:`~phylolm_harness.core.alleles.TailDraws`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_lines, text

_KEYS = ("model", "genome", "fingerprint", "gene")


def read_populations_file(path: Path) -> list[GeneObservation]:
    """Read a populations file, validating every line.

    Raises
    ------
    InputError
        Naming ``file:line`` for a malformed line, a missing key or a bad value.
    """
    return [parse_observation(row, where) for where, row in json_lines(path, "populations file")]


def parse_observation(row: Any, where: str) -> GeneObservation:
    """Validate one line of a populations file (a decoded JSON value) into an observation."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object")
    missing = [k for k in (*_KEYS, "alleles") if k not in row]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    if not all(isinstance(row[k], str) and row[k] for k in _KEYS):
        raise InputError(f"{where}: {', '.join(_KEYS)} must be non-empty strings")
    alleles = row["alleles"]
    if not isinstance(alleles, dict) or not _NUMBERS.issuperset(map(type, alleles.values())):
        raise InputError(f"{where}: alleles must map strings to numbers")
    _check_text(row, alleles, where)
    with contextlib.suppress(TypeError):  # one string per distinct allele (JSON gives plain str)
        alleles = dict(zip(map(sys.intern, alleles), alleles.values(), strict=True))
    mode = row.get("mode", "sampled")
    common: dict[str, Any] = {k: row[k] for k in _KEYS}
    if mode == "sampled":
        probes = row.get("probes", sum(alleles.values()))
        if not isinstance(probes, int) or isinstance(probes, bool):
            raise InputError(f"{where}: probes must be an integer")
        return GeneObservation(alleles=alleles, probes=probes, source=where, **common)
    if mode == "exact":
        tail = row.get("tail", 0.0)
        if not _is_number(tail) or not -1e300 < tail < 1e300:
            raise InputError(f"{where}: tail must be a finite number")
        draws = row.get("draws")
        return GeneObservation(
            alleles=alleles,
            probes=None,
            tail=float(tail),
            source=where,
            draws=None if draws is None else TailDraws.from_dict(draws, where),
            **common,
        )
    raise InputError(f"{where}: mode must be 'sampled' or 'exact', got {mode!r}")


_NUMBERS = frozenset({int, float})


def _check_text(row: dict[str, Any], alleles: dict[str, Any], where: str) -> None:
    """Refuse names no output file can hold; one encoding of the whole line in the usual case."""
    try:
        "".join([*(row[k] for k in _KEYS), *alleles]).encode("utf-8")
    except UnicodeEncodeError:
        for key in _KEYS:
            text(row[key], where, key)
        for allele in alleles:
            text(allele, where, "allele")


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBERS  # JSON numbers; never a bool


def format_populations_file(observations: Iterable[GeneObservation]) -> str:
    """Serialise observations, sorted by model, genome and gene, one JSON object per line."""
    return "".join(
        json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n"
        for row in observation_rows(observations)
    )


def observation_rows(observations: Iterable[GeneObservation]) -> list[dict[str, Any]]:
    """Observations as populations-file rows, sorted by model, genome and gene."""
    rows = []
    for obs in sorted(observations, key=lambda o: (o.model, o.genome, o.fingerprint, o.gene)):
        row: dict[str, Any] = {k: getattr(obs, k) for k in _KEYS}
        if obs.exact:
            row.update(mode="exact", tail=obs.tail)
            if obs.draws is not None:
                row["draws"] = obs.draws.to_dict()
        else:
            row.update(mode="sampled", probes=obs.probes)
        row["alleles"] = dict(sorted(obs.alleles.items()))
        rows.append(row)
    return rows
