"""tree.html: the data it embeds, and the page as a user sees it in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skbio import TreeNode
from support.synthetic_populations import write

from phylolm_harness import pipeline
from phylolm_harness.io.files import write_outputs
from phylolm_harness.report.tree_html import NEI_MATRIX_MAX, render_tree_html, tree_data

MODELS = 60
RESAMPLES = 30
DATA = re.compile(r'<script type="application/json" id="tree-data">(.*?)</script>', re.S)
HIGHLIGHT = (255, 225, 77)  # the page's background of a matching model's name


def page_data(text: str) -> dict:
    return json.loads(DATA.search(text).group(1))


def tip_sets(data: dict) -> list[frozenset[str]]:
    """The models below every node of the page's tree (nodes in preorder, tips named in order)."""
    parent = data["parent"]
    is_tip = [True] * len(parent)
    for p in parent[1:]:
        is_tip[p] = False
    names = iter(data["names"])
    below: list[set[str]] = [({next(names)} if tip else set()) for tip in is_tip]
    for i in range(len(parent) - 1, 0, -1):
        below[parent[i]] |= below[i]
    return [frozenset(s) for s in below]


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> pipeline.TreeResult:
    """``tree`` on 60 synthetic models in 8 families, with branch supports."""
    root = tmp_path_factory.mktemp("tree-html")
    populations = write(root / "populations.jsonl", MODELS, n_genes=64)
    return pipeline.tree(None, [populations], resamples=RESAMPLES)


@pytest.fixture(scope="module")
def out(found: pipeline.TreeResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tree-html-out") / "out"
    write_outputs(folder, found.files())
    return folder


@pytest.fixture(scope="module")
def distances(out: Path) -> dict[str, dict[str, float]]:
    lines = (out / "distances.csv").read_text().splitlines()
    labels = lines[0].split(",")[1:]
    return {
        row.split(",")[0]: dict(zip(labels, map(float, row.split(",")[1:]), strict=True))
        for row in lines[1:]
    }


def test_the_page_embeds_the_tree_its_supports_and_nei_distances(found, out):
    phylogeny = found.phylogeny
    text = (out / "tree.html").read_text(encoding="utf-8")
    data = page_data(text)
    assert sorted(data["names"]) == sorted(phylogeny.labels) and len(data["names"]) == MODELS
    assert data["parent"][0] == -1 and all(p < i for i, p in enumerate(data["parent"]) if i)
    assert f"{MODELS} models" in data["title"] and "Neighbour-Joining" in data["title"]
    # every branch carries the supports of its split, and every split is on a branch
    supports = phylogeny.supports
    lookup = supports.lookup()
    assert data["resamples"] == RESAMPLES
    seen = set()
    for i, below in enumerate(tip_sets(data)):
        side = supports.side_of(below)
        if i == 0 or side not in lookup:
            assert data["bootstrap"][i] == -1
            continue
        boot, transfer = lookup[side]
        assert (data["bootstrap"][i], data["transfer"][i]) == (
            round(100 * boot),
            round(100 * transfer),
        )
        seen.add(side)
    assert seen == set(lookup) and len(seen) > MODELS // 2
    # the Nei distances, float32, upper triangle in tip order
    upper = np.frombuffer(base64.b64decode(data["nei"]), dtype="<f4")
    index = [phylogeny.labels.index(name) for name in data["names"]]
    expected = phylogeny.distances[np.ix_(index, index)][np.triu_indices(MODELS, k=1)]
    np.testing.assert_allclose(upper, expected, rtol=1e-6, atol=1e-7)


def test_the_page_loads_nothing_from_elsewhere(out):
    text = (out / "tree.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    assert not re.search(r"\b(src|href)\s*=\s*[\"'](?!data:)", text)
    assert "url(" not in text and "@import" not in text and "fetch(" not in text


def random_tree(n: int, seed: int = 0) -> TreeNode:
    """A random binary tree on models ``m0`` to ``m{n-1}``, branch lengths from 0.01 to 1."""
    rng = np.random.default_rng(seed)
    nodes = [TreeNode(name=f"m{i}", length=float(rng.uniform(0.01, 1))) for i in range(n)]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), 2, replace=False))[::-1]
        pair = [nodes.pop(i), nodes.pop(j)]
        nodes.append(TreeNode(children=pair, length=float(rng.uniform(0.01, 1))))
    return nodes[0]


def test_names_cannot_break_out_of_the_page():
    names = ["</script><script>alert(1)</script>", "a<!--b", "q\"'&"]
    tree = random_tree(3)
    for tip, name in zip(tree.tips(), names, strict=True):
        tip.name = name
    text = render_tree_html(tree, "<b>title</b>").decode()
    assert sorted(page_data(text)["names"]) == sorted(names)
    assert text.count("</script>") == 2 and "<b>title</b>" not in text


def test_past_the_limit_the_nei_matrix_is_left_out():
    n = NEI_MATRIX_MAX + 1
    tree = random_tree(n)
    data = tree_data(tree, "t", None, np.zeros((n, n)), [f"m{i}" for i in range(n)])
    assert "nei" not in data and "bootstrap" not in data and len(data["names"]) == n


# ---- in the browser ----


def open_page(browser, path: Path):
    """The page at ``path``, with the errors it reports and any request off this machine."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url),
    )
    page.goto(path.as_uri())
    page.wait_for_function("window.phyloTree !== undefined")
    return page, problems


def canvas_pixels(page) -> np.ndarray:
    box = page.locator("#canvas").bounding_box()
    shot = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))


def test_the_page_opens_offline_and_draws_the_tree(browser, out):
    page, problems = open_page(browser, out / "tree.html")
    assert page.title().startswith("PhyloLM tree (Neighbour-Joining, 60 models)")
    assert page.locator("#shown").text_content() == f"{MODELS} of {MODELS} models shown"
    assert "bootstrap support (%)" in page.locator("#legend").text_content()
    assert "Nei distances" in page.locator("#distance-note").text_content()
    pixels = canvas_pixels(page)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    dark = (pixels.sum(axis=2) < 300).mean()
    assert len(colours) > 50 and 0.005 < dark < 0.5  # lines and names, not a blank canvas
    page.close()
    assert problems == []


def test_search_highlights_the_model_scrolls_to_it_and_counts(browser, out, found):
    page, problems = open_page(browser, out / "tree.html")
    last = page_data((out / "tree.html").read_text())["names"][-1]  # out of view until searched
    page.fill("#search", last)
    assert page.locator("#match-count").text_content() == "1 match"
    assert page.locator("#match-count").get_attribute("data-count") == "1"
    assert page.evaluate("phyloTree.matches()") == [last]
    assert page.evaluate("phyloTree.selected()") == last
    spot = page.evaluate(f"phyloTree.position(phyloTree.nodeOf({json.dumps(last)}))")
    box = page.locator("#canvas").bounding_box()
    assert box["y"] < spot["y"] < box["y"] + box["height"]  # scrolled into view
    row = canvas_pixels(page)[int(spot["y"] - box["y"]), int(spot["x"] - box["x"]) :]
    assert (np.abs(row.astype(int) - HIGHLIGHT).sum(axis=1) < 30).sum() > 50  # highlighted
    family = last.split("/")[0] + "/"
    page.fill("#search", family)
    expected = sum(label.startswith(family) for label in found.phylogeny.labels)
    assert page.locator("#match-count").get_attribute("data-count") == str(expected)
    assert page.locator("#match-count").text_content() == f"{expected} matches (1 of {expected})"
    page.fill("#search", "no such model")
    assert page.locator("#match-count").text_content() == "no match"
    page.close()
    assert problems == []


def test_clicking_a_node_collapses_its_clade_and_clicking_again_expands_it(browser, out):
    data = page_data((out / "tree.html").read_text())
    below = tip_sets(data)
    clade = next(i for i, tips in enumerate(below) if i and 5 <= len(tips) <= 20)
    page, problems = open_page(browser, out / "tree.html")
    page.evaluate(f"phyloTree.reveal({clade})")
    spot = page.evaluate(f"phyloTree.position({clade})")
    page.mouse.click(spot["x"], spot["y"])
    shown = page.locator("#shown")
    assert shown.get_attribute("data-shown") == str(MODELS - len(below[clade]))
    assert shown.text_content().endswith("(1 clade collapsed)")
    tooltip = page.locator("#tooltip")
    assert f"clade of {len(below[clade])} models" in tooltip.text_content()
    assert "click: expand" in tooltip.text_content()
    spot = page.evaluate(f"phyloTree.position({clade})")  # the collapsed clade's triangle
    page.mouse.click(spot["x"], spot["y"])
    assert shown.get_attribute("data-shown") == str(MODELS)
    assert shown.text_content() == f"{MODELS} of {MODELS} models shown"
    page.close()
    assert problems == []


def shown_number(text: str, after: str) -> float:
    return float(re.search(re.escape(after) + r"\s*([0-9.eE+-]+)", text).group(1))


def test_hovering_a_model_shows_its_name_and_distances(browser, out, distances):
    names = page_data((out / "tree.html").read_text())["names"]
    here, there = names[3], names[40]
    page, problems = open_page(browser, out / "tree.html")
    page.fill("#search", there)  # the model distances are measured from
    node = page.evaluate(f"phyloTree.nodeOf({json.dumps(here)})")
    page.evaluate(f"phyloTree.reveal({node})")
    spot = page.evaluate(f"phyloTree.position({node})")
    page.mouse.move(spot["x"] + 30, spot["y"])  # on its name
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible()
    text = tooltip.text_content()
    assert text.startswith(here)
    shown = shown_number(text, f"Nei distance to {there}:")
    assert shown == pytest.approx(distances[here][there], rel=5e-4)  # 4 significant digits
    others = {name: d for name, d in distances[here].items() if name != here}
    closest = min(others, key=others.__getitem__)
    assert shown_number(text, f"nearest model: {closest} (Nei distance") == pytest.approx(
        others[closest], rel=5e-4
    )
    page.close()
    assert problems == []


def test_past_the_matrix_limit_the_page_measures_along_the_tree(browser, tmp_path):
    tree = random_tree(1200, seed=5)
    path = tmp_path / "tree.html"
    path.write_bytes(
        render_tree_html(tree, "PhyloLM tree (balanced minimum evolution, 1200 models)")
    )
    page, problems = open_page(browser, path)
    assert page.evaluate("phyloTree.distances") == "tree"
    assert "tree distances" in page.locator("#distance-note").text_content()
    page.fill("#search", "m17")
    assert page.locator("#match-count").get_attribute("data-count") == "11"  # m17, m170-m179
    page.keyboard.press("Escape")
    assert page.locator("#match-count").get_attribute("data-count") == "0"
    page.fill("#search", "m777")
    node = page.evaluate("phyloTree.nodeOf('m12')")
    page.evaluate(f"phyloTree.reveal({node})")
    spot = page.evaluate(f"phyloTree.position({node})")
    page.mouse.move(spot["x"] + 30, spot["y"])
    text = page.locator("#tooltip").text_content()
    patristic = tree.find("m12").distance(tree.find("m777"))
    assert shown_number(text, "tree distance to m777:") == pytest.approx(patristic, rel=5e-4)
    tips = {tip.name: tip for tip in tree.tips()}
    closest = min((n for n in tips if n != "m12"), key=lambda n: tips["m12"].distance(tips[n]))
    assert f"nearest model: {closest} (tree distance" in text
    page.close()
    assert problems == []
