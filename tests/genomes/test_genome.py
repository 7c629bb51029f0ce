from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from support.paths import REPO

from phylolm_harness.errors import InputError
from phylolm_harness.genomes.build import build_genome
from phylolm_harness.genomes.genome import (
    DEFAULT_GENOMES,
    Gene,
    Genome,
    fingerprint_of,
    load_genome,
    write_genome,
)
from phylolm_harness.io.documents import read_documents

CODE_SUFFIXES = {
    ".py": "Python",
    ".c": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".hpp": "C++",
    ".java": "Java",
    ".js": "JavaScript",
    ".ts": "TypeScript",
    ".go": "Go",
    ".rs": "Rust",
    ".f": "Fortran",
    ".f90": "Fortran",
    ".lua": "Lua",
    ".rb": "Ruby",
}


def _documents(n: int) -> list[tuple[str, str]]:
    """Distinct synthetic documents: no two share a start or many 5-grams."""
    docs = []
    for i in range(n):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        docs.append((f"doc{i}", f"{digest[:8]} = f({digest[8:40]}) + g({digest[40:]})"))
    return docs


@pytest.mark.parametrize("name", DEFAULT_GENOMES)
def test_shipped_genome_is_well_formed(name: str) -> None:
    genome = load_genome(name)
    assert genome.name == name
    assert len(genome.genes) == 128
    ids = [gene.id for gene in genome.genes]
    assert ids == [f"{name}-{i:03d}" for i in range(128)]
    assert len({gene.text for gene in genome.genes}) == 128
    assert all(20 <= len(gene.text) <= 99 for gene in genome.genes)
    assert all(gene.text.strip() for gene in genome.genes)
    assert all(re.fullmatch(r"[^:]+==[^:]+:.+", gene.source) for gene in genome.genes)
    assert genome.fingerprint == fingerprint_of(genome.genes)


@pytest.mark.parametrize("name", DEFAULT_GENOMES)
def test_shipped_file_fingerprint_matches_content(name: str) -> None:
    path = REPO / "phylolm_harness" / "genomes" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert list(data) == ["name", "fingerprint", "genes"]
    pairs = [[gene["id"], gene["text"]] for gene in data["genes"]]
    genes = [Gene(i, t) for i, t in pairs]
    assert data["fingerprint"] == fingerprint_of(genes)
    assert data["fingerprint"].startswith("sha256:")


def test_shipped_genomes_rewrite_byte_identically(tmp_path: Path) -> None:
    for name in DEFAULT_GENOMES:
        shipped = REPO / "phylolm_harness" / "genomes" / f"{name}.json"
        write_genome(load_genome(name), tmp_path / f"{name}.json")
        assert (tmp_path / f"{name}.json").read_bytes() == shipped.read_bytes()


def test_code_genome_spans_many_languages() -> None:
    genome = load_genome("code")
    languages = Counter(
        CODE_SUFFIXES.get(Path(gene.source.rsplit(":", 1)[-1]).suffix) for gene in genome.genes
    )
    languages.pop(None, None)
    assert len(languages) >= 8
    assert max(languages.values()) <= 128 // 4


def test_fingerprint_depends_on_ids_and_texts_only() -> None:
    base = [Gene("a", "x = 1"), Gene("b", "y = 2")]
    assert fingerprint_of(base) == fingerprint_of([Gene("a", "x = 1", "s"), Gene("b", "y = 2")])
    assert fingerprint_of(base) != fingerprint_of([Gene("a", "x = 1"), Gene("b", "y = 3")])
    assert fingerprint_of(base) != fingerprint_of([Gene("b", "y = 2"), Gene("a", "x = 1")])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", fingerprint_of(base))


def test_genome_rejects_duplicate_ids() -> None:
    with pytest.raises(InputError, match="more than once"):
        Genome("g", (Gene("a", "text one"), Gene("a", "text two")))


def test_build_genome_is_deterministic_and_seeded() -> None:
    docs = _documents(300)
    first = build_genome(docs, "demo", n_genes=50, seed=3)
    again = build_genome(docs, "demo", n_genes=50, seed=3)
    other = build_genome(docs, "demo", n_genes=50, seed=4)
    assert first == again
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint
    assert [gene.id for gene in first.genes] == [f"demo-{i:03d}" for i in range(50)]
    assert all(20 <= len(gene.text) < 100 for gene in first.genes)
    texts = dict(docs)
    assert all(texts[gene.source].startswith(gene.text) for gene in first.genes)
    assert len({gene.source for gene in first.genes}) == 50


def test_build_genome_length_range_is_respected() -> None:
    genome = build_genome(_documents(200), "demo", n_genes=100, seed=0, min_chars=30, max_chars=40)
    lengths = {len(gene.text) for gene in genome.genes}
    assert min(lengths) >= 30
    assert max(lengths) <= 39
    assert len(lengths) > 3


def test_build_genome_rejects_near_duplicates_and_blank_documents() -> None:
    text = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n" * 2
    docs = [(f"copy{i}", text) for i in range(20)]
    docs += [("case", text.upper()), ("spaced", text.replace(" ", "  "))]
    docs += [("blank", " " * 200), ("short", "tiny"), ("sparse", "x" + " " * 150)]
    docs += _documents(5)
    genome = build_genome(docs, "dups", n_genes=6, seed=0)
    sources = [gene.source for gene in genome.genes]
    assert sum(not s.startswith("doc") for s in sources) == 1
    assert not {"blank", "short", "sparse"} & set(sources)
    with pytest.raises(InputError, match="only 6 usable documents"):
        build_genome(docs, "dups", n_genes=7, seed=0)


def test_build_genome_wide_ids() -> None:
    genome = build_genome(_documents(1100), "big", n_genes=1001, seed=0, min_chars=60)
    assert genome.genes[0].id == "big-0000"
    assert genome.genes[-1].id == "big-1000"


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    genome = build_genome(_documents(40), "trip", n_genes=10, seed=1)
    path = tmp_path / "trip.json"
    write_genome(genome, path)
    raw = path.read_bytes()
    assert raw.endswith(b"]}\n")
    assert load_genome(path) == genome
    write_genome(genome, path)
    assert path.read_bytes() == raw
    assert [p.name for p in tmp_path.iterdir()] == ["trip.json"]


def test_write_genome_creates_its_folder_and_refuses_a_folder_as_target(tmp_path: Path) -> None:
    genome = build_genome(_documents(10), "trip", n_genes=2)
    write_genome(genome, tmp_path / "new" / "g.json")
    assert load_genome(tmp_path / "new" / "g.json") == genome
    with pytest.raises(InputError, match="new: a folder, not a regular file"):
        write_genome(genome, tmp_path / "new")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["g.json"]


def test_edited_genome_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "edited.json"
    write_genome(build_genome(_documents(20), "ed", n_genes=5), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["genes"][2]["text"] += "!"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"edited\.json: fingerprint does not match"):
        load_genome(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"name": "x", "genes": []}', "'fingerprint'"),
        ('{"name": "x", "fingerprint": "sha256:0", "genes": [{"id": "a"}]}', "gene #0"),
        (
            '{"name": "x", "fingerprint": "sha256:0", "genes": '
            '[{"id": "a", "text": "t"}, {"id": "a", "text": "u"}]}',
            "more than once",
        ),
        ('{"name": "x", "fingerprint": "sha256:0", "genes": [{"id": "a", "text": ""}]}', "empty"),
    ],
)
def test_invalid_genome_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as caught:
        load_genome(path)
    assert "bad.json" in str(caught.value)


def test_unknown_genome_name() -> None:
    with pytest.raises(InputError, match="no-such-genome.*math, code"):
        load_genome("no-such-genome")


def test_provenance_records_shipped_fingerprints() -> None:
    provenance = REPO / "phylolm_harness" / "genomes" / "PROVENANCE.md"
    text = provenance.read_text(encoding="utf-8")
    for name in DEFAULT_GENOMES:
        assert load_genome(name).fingerprint in text


def test_build_from_read_documents(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for source, text in _documents(30):
            handle.write(json.dumps({"source": source, "text": text}) + "\n")
    genome = build_genome(read_documents(path), "pool", n_genes=10, seed=0)
    assert genome == build_genome(_documents(30), "pool", n_genes=10, seed=0)
