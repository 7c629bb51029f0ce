"""Byte strings numbered in order of first appearance, in a table that grows between blocks."""

from __future__ import annotations

import numpy as np

from phylolm_harness.io.byte_keys import ByteKeys, key_code


def test_names_are_numbered_as_they_first_appear_across_growth():
    names = [f"name-{i % 700}-é".encode() for i in range(0, 5000, 3)] + [b"", b"a", b""]
    keys = ByteKeys.empty()
    codes = []
    for start in range(0, len(names), 50):  # room reserved block by block, as a reader does
        block = names[start : start + 50]
        buf = np.frombuffer(b"".join(block), np.uint8)
        keys.reserve(len(block), len(buf))
        at = 0
        for name in block:
            codes.append(key_code(keys.arrays, keys.state, buf, at, at + len(name)))
            at += len(name)
    first = list(dict.fromkeys(names))
    assert codes == [first.index(name) for name in names]
    assert keys.texts() == [name.decode() for name in first] and len(keys) == len(first)
