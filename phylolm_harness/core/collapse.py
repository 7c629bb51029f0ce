"""Sampled models whose probes all agree: a backend that returned one sample many times."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, as_whole

__all__ = ["COLLAPSE_MIN_GENES", "COLLAPSE_SHARE", "collapsed_probes"]

COLLAPSE_SHARE = 0.9
"""Share of a sampled model's genes whose probes all gave one allele that counts as collapsed."""

COLLAPSE_MIN_GENES = 5
"""Fewest sampled genes (of at least 2 probes) a model needs before collapse is judged."""


def collapsed_probes(observations: Sequence[GeneObservation]) -> list[str]:
    """Write a note on each sampled model whose probes look like copies of one sample.

    A backend that honours a fixed seed answers N identical requests with N identical samples:
    every allele frequency is then 1 and the model's distances mean nothing. Real models at the
    tasks' temperature give several alleles on most genes, so a model whose probes all agree on
    at least :data:`COLLAPSE_SHARE` of its genes gets a note.

    Examples
    --------
    >>> obs = [GeneObservation("m", "g", "f", str(i), {"ab": 32}, 32) for i in range(6)]
    >>> collapsed_probes(obs)[0].split(":")[0]
    'm'
    """
    table = ObservationTable.of(observations)
    with np.errstate(invalid="ignore"):
        judged = ~table.exact & (table.probes >= 2)
    model = table.model[judged]
    genes = np.bincount(model, minlength=len(table.models))
    single = np.bincount(model, weights=table.sizes[judged] == 1, minlength=len(table.models))
    probes = np.zeros(len(table.models))
    np.maximum.at(probes, model, table.probes[judged])
    notes = []
    for code in sorted(np.flatnonzero(genes).tolist(), key=table.models.__getitem__):
        count, share = int(genes[code]), single[code] / genes[code]
        if count >= COLLAPSE_MIN_GENES and share >= COLLAPSE_SHARE:
            notes.append(
                f"{table.models[code]}: all probes gave one allele on {share:.0%} of its {count} "
                f"sampled genes (up to {as_whole(float(probes[code]))} probes each): the backend "
                "probably returned one sample many times (a fixed seed, or a cache), so its "
                "distances are not meaningful; collect it again with this plugin's sampled tasks, "
                "which send a seed per probe"
            )
    return notes
