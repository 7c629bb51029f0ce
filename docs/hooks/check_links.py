"""MkDocs hook: every relative link in a page must point to a file that exists.

The pages link to files outside ``docs/`` (``../benchmarks/results/*.md``, ``../.ci/run``), which
resolve in the repository's web view but are not part of the site, so ``mkdocs.yml`` lets MkDocs
report links it cannot find as information only. This hook checks every relative link of every page
against the files in the repository and logs a warning for a missing one, which fails
``mkdocs build --strict``. Anchors of links between pages are still checked by MkDocs itself.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("mkdocs.hooks.check_links")

_FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_targets(markdown: str) -> list[str]:
    """Return the paths of the relative links in ``markdown``, outside code, without anchors."""
    text = _INLINE_CODE.sub("", _FENCED.sub("", markdown))
    targets = []
    for url in _LINK.findall(text):
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        targets.append(unquote(parts.path))
    return targets


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Warn about every relative link of ``page`` whose target file does not exist."""
    del kwargs
    folder = Path(page.file.abs_src_path).parent
    for target in relative_targets(markdown):
        if not (folder / target).exists():
            log.warning(
                "Doc file '%s' links to '%s', which does not exist.", page.file.src_uri, target
            )
    return markdown
