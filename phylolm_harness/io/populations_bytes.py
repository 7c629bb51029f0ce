"""A populations file in its usual form, read from bytes in stretches on several threads.

The file is cut at line ends into one stretch per core (stretches of at least
:data:`MIN_STRETCH` bytes); each is read by compiled code without the GIL (:func:`scan_stretch`,
a block at a time by :func:`~phylolm_harness.io.populations_scan.scan_block`) with names numbered
within it, then the stretches are joined in file order and their names renumbered in order of
first appearance in the whole file: the table
:func:`~phylolm_harness.io.populations_file.read_each_line` builds from the same lines, to the bit.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Event

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.table import ObservationTable
from phylolm_harness.io.byte_keys import ByteKeys
from phylolm_harness.io.populations_scan import Keys, Part, scan_block

__all__ = ["BLOCK", "MIN_STRETCH", "scan_populations_file", "scan_stretch"]

MIN_STRETCH = 1 << 23
"""Fewest bytes a thread reads (8 MiB): smaller files are read on one thread."""

MAX_THREADS = 8
"""Most threads reading one file."""

BLOCK = 1 << 20
"""Bytes read at a time (then cut after the last whole line)."""


def scan_populations_file(path: Path, threads: int | None = None) -> ObservationTable | None:
    """Read a populations file in the usual form; ``None`` when the full reader must read it.

    ``threads`` defaults to the cores this process may run on (at most :data:`MAX_THREADS`).
    """
    try:
        if not path.is_file():
            return None
        size = path.stat().st_size
        count = max(1, min(threads or _cores(), size // MIN_STRETCH))
        bounds = _line_starts(path, size, count)
    except OSError:
        return None
    spans = list(zip(bounds, bounds[1:], strict=False))
    if len(spans) == 1:
        stretches = [scan_stretch(path, *spans[0])]
    else:
        failed = Event()
        with ThreadPoolExecutor(len(spans)) as pool:
            stretches = list(
                pool.map(lambda span: scan_stretch(path, span[0], span[1], failed), spans)
            )
    found = [s for s in stretches if s is not None]
    if len(found) < len(stretches) or not sum(s.rows for s in found):
        return None  # a line the full reader must see, or no row at all (it says why)
    return _joined(found, str(path))


@dataclass
class Stretch:
    """What :func:`scan_stretch` read of a stretch of a file.

    Its rows and names, and the line breaks it holds (to number the lines of the next stretch).
    """

    parts: list[Part]
    keys: Keys
    rows: int
    newlines: int


def scan_stretch(path: Path, start: int, stop: int, failed: Event | None = None) -> Stretch | None:
    """Read the whole lines in bytes ``start:stop`` of a file, a block at a time.

    Line numbers count from 1 at ``start``. ``None`` when a line is not in the usual form or the
    bytes are not UTF-8 (the full reader then reads the file), or when ``failed`` is set (another
    stretch gave up); this stretch sets ``failed`` when it gives up.
    """
    found = Stretch([], Keys(), 0, 0)
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            left, pending = stop - start, list[bytes]()
            while failed is None or not failed.is_set():
                chunk = handle.read(min(BLOCK, left))
                left -= len(chunk)
                cut = chunk.rfind(b"\n") + 1
                if chunk and not cut:  # inside a long line: kept until its end is read
                    pending.append(chunk)
                    continue
                block = b"".join([*pending, chunk[:cut]]) if chunk else b"".join(pending)
                pending = [chunk[cut:]]
                if block:
                    if not block.isascii():
                        block.decode("utf-8")  # UnicodeDecodeError: left to the full reader
                    buf = np.frombuffer(block, np.uint8)
                    part = scan_block(buf, found.newlines + 1, found.rows, found.keys)
                    if part is None:
                        break
                    found.parts.append(part)
                    found.rows += len(part[0])
                    found.newlines += block.count(b"\n")
                if not chunk:
                    return found
    except (OSError, UnicodeDecodeError):
        pass
    if failed is not None:
        failed.set()
    return None


def _cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_THREADS)


def _line_starts(path: Path, size: int, count: int) -> list[int]:
    """Return ``count + 1`` offsets where stretches of whole lines start, then ``size``.

    Stretch ``k`` starts after the line holding byte ``size * k / count - 1`` (equal offsets
    make empty stretches).
    """
    starts = [0]
    with path.open("rb") as handle:
        for k in range(1, count):
            at = max(size * k // count - 1, starts[-1])
            handle.seek(at)
            while chunk := handle.read(1 << 16):  # to the end of the line holding that byte
                end = chunk.find(b"\n")
                if end >= 0:
                    at += end + 1
                    break
                at += len(chunk)
            starts.append(at)
    return [*starts, size]


def _joined(stretches: list[Stretch], source: str) -> ObservationTable:
    """Join stretches in file order, names renumbered as they first appear in the file."""
    names: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    rows_i, rows_f, codes, values = [], [], [], []
    lines_before = 0
    for stretch in stretches:
        keys = (stretch.keys.models, stretch.keys.genes, stretch.keys.alleles)
        model, gene, allele = (_renumbered(k, seen) for k, seen in zip(keys, names, strict=True))
        for ints, floats, allele_codes, allele_values in stretch.parts:
            rows_i.append(np.column_stack([model[ints[:, 0]], gene[ints[:, 1]], ints[:, 2:]]))
            rows_i[-1][:, 3] += lines_before
            rows_f.append(floats)
            codes.append(allele[allele_codes])
            values.append(allele_values)
        lines_before += stretch.newlines
    ints, floats = np.concatenate(rows_i), np.concatenate(rows_f)
    models, genes, alleles = (tuple(seen) for seen in names)
    return ObservationTable(
        models=models,
        model=np.ascontiguousarray(ints[:, 0]),
        genes=tuple((genome, print_, gene) for genome, print_, gene in map(_split, genes)),
        gene=np.ascontiguousarray(ints[:, 1]),
        exact=floats[:, 0] == 1.0,
        probes=np.ascontiguousarray(floats[:, 1]),
        tail=np.ascontiguousarray(floats[:, 2]),
        draws=np.ascontiguousarray(floats[:, 3:6]),
        bounds=np.concatenate([[0], np.cumsum(ints[:, 2])]).astype(np.int64),
        allele=np.concatenate(codes),
        allele_names=alleles,
        values=np.concatenate(values),
        sources=(source,),
        source=np.zeros(len(ints), np.int64),
        line=np.ascontiguousarray(ints[:, 3]),
    )


def _renumbered(keys: ByteKeys, seen: dict[str, int]) -> NDArray[np.int64]:
    """Return the numbers in the whole file of a stretch's names (new ones after those seen)."""
    texts = keys.texts()
    return np.array([seen.setdefault(text, len(seen)) for text in texts], np.int64)


def _split(gene: str) -> list[str]:
    return gene.split("\x00")
