from __future__ import annotations


def test_recipe_strips_licence_headers_only() -> None:
    from tools.genome_recipe import _C_LIKE, _HASH, is_clean, strip_header

    c_file = "/*\n * Copyright (c) 2020 Someone.\n * MIT License\n */\n\n#include <stdio.h>\n"
    assert strip_header(c_file, _C_LIKE) == "#include <stdio.h>\n"
    documented = "// Package diff computes edit scripts.\npackage diff\n"
    assert strip_header(documented, _C_LIKE) == documented
    script = "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n# Licensed under BSD\n\nimport os\n"
    assert strip_header(script, _HASH) == "import os\n"
    assert is_clean("int main(void) { return 0; }")
    assert not is_clean("Contact me at someone@example.org for details on this")
    assert not is_clean("See https://example.org for the full documentation")
    assert not is_clean("   \n\n  x  ")
