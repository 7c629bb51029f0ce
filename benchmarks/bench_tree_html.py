"""Size and speed of ``tree.html`` on 100 to 10,000 models, and its first draw in Chromium.

Trees are built (as ``tree --method auto`` would: Neighbour-Joining up to 2,000 models, balanced
minimum evolution beyond) on distances between random points in families, named like real
models (``famNNN/bN/model-NNNNN``), with random branch supports on every split (the page's size
with supports, which ``tree`` counts by default up to 1,500 models). For each size: the time to
render the page, its size, and, with ``--browser``, the time from navigation to the first drawn
frame, and a search with its redraw, in headless Chromium (``/usr/bin/chromium``).

Run (about a minute; the 10,000-model tree takes most of it)::

    python benchmarks/bench_tree_html.py --sizes 100 1000 10000 --browser
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import pdist, squareform

from phylolm_harness.core.support import Supports, split_matrix
from phylolm_harness.core.tree import build_tree, method_for
from phylolm_harness.report.tree_html import render_tree_html

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "report"))

_SEARCH = """async () => {
  const box = document.getElementById("search");
  const start = performance.now();
  box.value = "model-00042";
  box.dispatchEvent(new Event("input"));
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - start;
}"""


def family_distances(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Distances between points in nested families, and names that say which."""
    rng = np.random.default_rng(seed)
    families = max(2, round(np.sqrt(n)))
    centre = rng.normal(0.0, 1.0, (families, 16))
    branch = centre[:, None, :] + rng.normal(0.0, 0.3, (families, 3, 16))
    family, sub = rng.integers(families, size=n), rng.integers(3, size=n)
    points = branch[family, sub] + rng.normal(0.0, 0.1, (n, 16))
    names = [
        f"fam{f:03d}/b{b}/model-{i:05d}" for i, (f, b) in enumerate(zip(family, sub, strict=True))
    ]
    return squareform(pdist(points)) / 10, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    pages = {}
    folder = Path(tempfile.mkdtemp(prefix="tree-html-"))
    for n in args.sizes:
        distances, names = family_distances(n)
        start = time.perf_counter()
        tree = build_tree(distances, names, method_for("auto", n))
        built = time.perf_counter() - start
        splits = split_matrix(tree, names)
        support = rng.uniform(0.3, 1.0, len(splits))
        supports = Supports(tuple(names), splits, support, np.sqrt(support), 100)
        start = time.perf_counter()
        page = render_tree_html(tree, f"{n} models", supports, distances, names)
        rendered = time.perf_counter() - start
        pages[n] = folder / f"tree_{n}.html"
        pages[n].write_bytes(page)
        print(
            f"{n:>6} models: tree {built:6.1f} s, page rendered in {rendered:5.2f} s, "
            f"{len(page) / 1e6:6.2f} MB"
        )
    if args.browser:
        from conftest import CHROMIUM, CHROMIUM_ARGS
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for n, path in pages.items():
                view = browser.new_page(viewport={"width": 1200, "height": 800})
                view.goto(path.as_uri())
                view.wait_for_function("window.phyloTree !== undefined")
                first = view.evaluate("phyloTree.firstDrawMs")
                searched = view.evaluate(_SEARCH)
                print(
                    f"{n:>6} models: first draw {first:6.0f} ms after navigation, "
                    f"search and redraw {searched:5.0f} ms (two frames)"
                )
                view.close()
            browser.close()


if __name__ == "__main__":
    main()
