"""Sphinx hooks of the course book (loaded by _config.yml: ``sphinx: local_extensions``).

* Chapters are the executed solution notebooks, read through the symlink
  ``book/solutions -> ../solutions`` (no copies, no execution). A chapter that ``_toc.yml``
  lists but that is not written yet is left out of the table of contents, with a line in
  the build log, so the book builds while chapters are in progress. Every other missing
  file is an error as usual.
* Solutions are folded: a code cell holding a ``### BEGIN SOLUTION`` region is rendered as
  myst-nb's collapsed input ("Show solution"), decided when the notebook is read, so the
  notebooks carry no book-only tags or directives and read cleanly in JupyterLab. Cells
  tagged ``remove-cell`` (the hidden tests) are dropped by myst-nb itself. Check cells
  (``check.name(name)``) are tagged so their one-line verdicts wrap (``_static/course.css``).
* Every page loads each script once: with this Sphinx, sphinx-togglebutton and sphinx-thebe
  add their inline configuration twice, and the second ``const THEBE_JS_URL`` is a
  SyntaxError in the browser console.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx_external_toc.api import FileItem

logger = logging.getLogger(__name__)

CHAPTERS = "solutions"                       # the symlink's name inside book/
SOLUTION = re.compile(r"^\s*### BEGIN SOLUTION\s*$", re.M)
CHECK = re.compile(r"^check\.\w+\(\w+\)\s*$")          # a check cell: check.name(name)
SHOW, HIDE = "Show solution", "Hide solution"
CHECK_TAG = "course-check"                 # -> class tag_course-check (see _static/course.css)


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def prepare_for_book(notebook: dict) -> int:
    """Mark every code cell with a solution region as folded; return how many.

    Check cells get a tag too, so the book can wrap their one-line verdicts.
    """
    folded = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if CHECK.match(_cell_source(cell).strip()):
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if CHECK_TAG not in tags:
                tags.append(CHECK_TAG)
        if not SOLUTION.search(_cell_source(cell)):
            continue
        metadata = cell.setdefault("metadata", {})
        tags = metadata.setdefault("tags", [])
        if "hide-input" not in tags:
            tags.append("hide-input")
        prompts = metadata.setdefault("mystnb", {})
        prompts.setdefault("code_prompt_show", SHOW)
        prompts.setdefault("code_prompt_hide", HIDE)
        folded += 1
    return folded


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """Adjust a notebook as it is read (the file on disk is never changed)."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    prepare_for_book(notebook)
    source[0] = json.dumps(notebook)


def _exists(srcdir: Path, docname: str, suffixes) -> bool:
    return any((srcdir / (docname + suffix)).is_file() for suffix in ("", *suffixes))


def _leave_out_unwritten_chapters(app: Sphinx, config: Config) -> None:
    srcdir = Path(app.srcdir)
    link = srcdir / CHAPTERS
    if not link.is_dir():
        raise ExtensionError(
            f"[course] {link} must be a symlink to ../{CHAPTERS} (the chapters are read from "
            "there). On Windows, clone with symlinks enabled: git config core.symlinks true")
    site_map = config.external_site_map        # parsed from _toc.yml by sphinx_external_toc
    unwritten = set()
    for docname in list(site_map):
        for toctree in site_map[docname].subtrees:
            for item in list(toctree.items):
                name = str(item)
                if isinstance(item, FileItem) and name.startswith(CHAPTERS + "/") and \
                        not _exists(srcdir, name, config.source_suffix):
                    toctree.items.remove(item)
                    unwritten.add(name)
    for name in sorted(unwritten):
        if name in site_map:
            del site_map[name]
        logger.info("[course] %s is listed in _toc.yml but not written yet: left out", name)


def _load_each_script_once(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""),  # None and "" alike
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    # after sphinx_external_toc has parsed _toc.yml (it connects with priority 900)
    app.connect("config-inited", _leave_out_unwritten_chapters, priority=950)
    app.connect("source-read", _on_source_read)
    app.connect("html-page-context", _load_each_script_once, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
