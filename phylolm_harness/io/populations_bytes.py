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

from phylolm_harness.core.table import ObservationTable, offsets
from phylolm_harness.io.byte_keys import ByteKeys
from phylolm_harness.io.populations_scan import Keys, Rows, scan_block

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
    if len(found) < len(stretches) or not sum(s.read.rows for s in found):
        return None  # a line the full reader must see, or no row at all (it says why)
    return _joined(found, str(path))


@dataclass
class Stretch:
    """What :func:`scan_stretch` read of a stretch of a file.

    Its names and rows, and the line breaks it holds (to number the lines of the next stretch).
    """

    keys: Keys
    read: Rows
    newlines: int


def scan_stretch(path: Path, start: int, stop: int, failed: Event | None = None) -> Stretch | None:
    """Read the whole lines in bytes ``start:stop`` of a file, a block at a time.

    Line numbers count from 1 at ``start``. ``None`` when a line is not in the usual form or the
    bytes are not UTF-8 (the full reader then reads the file), or when ``failed`` is set (another
    stretch gave up); this stretch sets ``failed`` when it gives up.
    """
    found = Stretch(Keys(), Rows(), 0)
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
                    if not scan_block(buf, found.newlines + 1, found.keys, found.read):
                        break
                    found.newlines += block.count(b"\n")
                if not chunk:
                    found.read.trim()
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
    if len(stretches) == 1:  # numbered in file order already
        keys, read = stretches[0].keys, stretches[0].read
        names = tuple(k.texts() for k in (keys.models, keys.genes, keys.alleles))
        ints, floats, codes, values = read.ints, read.floats, read.codes, read.values
    else:
        seen: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
        ints = np.empty((sum(s.read.rows for s in stretches), 4), np.int64)
        floats = np.empty((len(ints), 6), np.float64)
        codes = np.empty(sum(s.read.entries for s in stretches), np.int64)
        values = np.empty(len(codes), np.float64)
        row = entry = lines_before = 0
        for stretch in stretches:
            keys, read = stretch.keys, stretch.read
            tables = (keys.models, keys.genes, keys.alleles)
            model, gene, allele = (
                _renumbered(k, kept) for k, kept in zip(tables, seen, strict=True)
            )
            rows, entries = slice(row, row + read.rows), slice(entry, entry + read.entries)
            ints[rows, 0], ints[rows, 1] = model[read.ints[:, 0]], gene[read.ints[:, 1]]
            ints[rows, 2], ints[rows, 3] = read.ints[:, 2], read.ints[:, 3] + lines_before
            floats[rows] = read.floats
            np.take(allele, read.codes, out=codes[entries])
            values[entries] = read.values
            row, entry = rows.stop, entries.stop
            lines_before += stretch.newlines
            stretch.read = Rows()  # its memory goes back now
        names = tuple(list(kept) for kept in seen)
    models, genes, alleles = names
    return ObservationTable(
        models=tuple(models),
        model=np.ascontiguousarray(ints[:, 0]),
        genes=tuple((genome, print_, gene) for genome, print_, gene in map(_split, genes)),
        gene=np.ascontiguousarray(ints[:, 1]),
        exact=floats[:, 0] == 1.0,
        probes=np.ascontiguousarray(floats[:, 1]),
        tail=np.ascontiguousarray(floats[:, 2]),
        draws=np.ascontiguousarray(floats[:, 3:6]),
        bounds=offsets(ints[:, 2]),
        allele=codes,
        allele_names=tuple(alleles),
        values=values,
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
