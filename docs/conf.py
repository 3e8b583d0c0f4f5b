"""Sphinx configuration for the supportflow documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from importlib.metadata import version as _version

from docutils import nodes
from sphinx.application import Sphinx

project = "supportflow"
author = "supportflow developers"
copyright = "supportflow developers"
release = _version("supportflow")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- MyST --------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]

# -- autodoc / napoleon ----------------------------------------------------------------
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# -- cross-references ------------------------------------------------------------------
# intersphinx is loaded for :external: roles, but no mapping is configured: the
# build runs without network access, and a mapping would try to fetch objects.inv.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False

# -- HTML ------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"supportflow {release}"


# -- doctest blocks ----------------------------------------------------------------------
# The pages are doctested with ``pytest --doctest-glob="*.md"``. Doctest ends an
# example's expected output at a blank line, so every ```pycon block ends with one
# before its closing fence; drop it again so it does not show as an empty line.
def _trim_doctest_blocks(app: object, doctree: nodes.document) -> None:
    for block in doctree.findall(nodes.literal_block):
        if block.get("language") != "pycon" or block.rawsource != block.astext():
            continue
        text = block.astext().rstrip("\n")
        block.rawsource = text
        block.children = [nodes.Text(text)]


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("doctree-read", _trim_doctest_blocks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# Importing the SQL store for autodoc loads Alembic, whose INFO lines would
# otherwise clutter the build output (a furo dependency turns INFO logging on).
import logging  # noqa: E402

logging.getLogger("alembic").setLevel(logging.WARNING)
