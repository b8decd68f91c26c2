"""The rendered book (COURSE.md §7, issue 4).

The book is built once per test session with warnings as errors (``-W -n``) into a temporary
folder, then every page that matters is opened from ``file://`` in headless Chromium (Debian's
``chromium``, driven over the Chrome DevTools Protocol) to check what a reader sees: math
typeset, images loaded, solutions folded, no console errors, nothing fetched from the network.
A screenshot of each page is saved in the test's temporary folder. The browser is the first of
``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable`` on PATH, or the
name or path in ``COURSE_BROWSER`` (GitHub's Ubuntu images ship Google Chrome).

Chapters are found generically: every ``solutions/NN_*.ipynb`` must be listed in
``book/_toc.yml`` and get its own page.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))      # every one is a chapter
CHAPTERS = [f"solutions/{p.stem}" for p in SOLUTIONS]         # docnames in the book
SOLUTION = re.compile(r"^\s*### BEGIN SOLUTION\s*$", re.M)

# Chromium or Chrome, launched exactly so: no sandbox (CI runs as root), no GPU, and no
# traffic of its own (updates, sync, field trials), with a fresh profile per session.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
BUILD_TIMEOUT = 300


def toc_files(node=None) -> list[str]:
    """Every ``file:`` entry of book/_toc.yml, root first, in order."""
    if node is None:
        node = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
        return [node["root"], *toc_files(node)]
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(node["file"])
        for key, value in node.items():
            if key != "file":
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


# Opened in the browser: every page book/_toc.yml lists, chapters as they are written (a listed
# chapter with no notebook yet is left out of the build).
PAGES = [entry for entry in toc_files()
         if (BOOK / f"{entry}.md").is_file() or (ROOT / f"{entry}.ipynb").is_file()]


def solution_cells(notebook: Path) -> list:
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and SOLUTION.search(c.source)]


def removed_cells(notebook: Path) -> list:
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]


def page_text(page: Path) -> str:
    """The text of an HTML page, tags stripped (code highlighting splits tokens into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- sources


def test_toc_lists_every_solution_notebook():
    listed = toc_files()
    missing = [c for c in CHAPTERS if c not in listed]
    assert not missing, f"add these chapters to book/_toc.yml: {missing}"
    assert listed[0] == "intro"
    for name in ("glossary", "references"):
        assert name in listed


def test_toc_entries_are_pages_or_chapters():
    for entry in toc_files():
        if entry.startswith("solutions/"):
            # a chapter: NN_name, read from ../solutions (it may not be written yet)
            assert re.fullmatch(r"solutions/\d\d_[a-z0-9_]+", entry), entry
        else:
            assert (BOOK / f"{entry}.md").is_file(), f"_toc.yml lists a missing page: {entry}"


def test_chapters_are_read_from_solutions_not_copied():
    link = BOOK / "solutions"
    assert link.is_symlink() and link.resolve() == (ROOT / "solutions").resolve(), (
        "book/solutions must be a symlink to ../solutions")
    copies = [p for p in BOOK.rglob("*.ipynb")
              if "solutions" not in p.relative_to(BOOK).parts[:1]
              and "_build" not in p.parts]
    assert not copies, f"notebooks copied into book/: {copies}"


def test_config_is_offline_and_credited():
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    assert config["author"].strip() and config["copyright"].strip()
    assert config["execute"]["execute_notebooks"] == "off"
    extensions = config["sphinx"]["extra_extensions"]
    assert "sphinx-mathjax-offline" in extensions and "sphinx_exercise" in extensions
    assert config["sphinx"]["config"]["nb_ipywidgets_js"] == {}


GLOSSARY_ROW = re.compile(r"^\|\s*([^|]*[A-Za-z][^|]*?)\s*\|\s*([^|]*[\u4e00-\u9fff][^|]*?)\s*\|",
                          re.M)


def test_glossary_pairs_at_least_40_terms_with_chinese():
    rows = GLOSSARY_ROW.findall((BOOK / "glossary.md").read_text(encoding="utf-8"))
    pairs = [(e, c) for e, c in rows if e != "English"]        # not the header rows
    english = [e.lower() for e, _ in pairs]
    assert len(pairs) >= 40, len(pairs)
    assert len(set(english)) == len(english), "a term is defined twice"
    chinese = " ".join(c for _, c in pairs)
    for term in ("卷积神经网络", "自注意力机制", "反向传播", "梯度下降", "损失函数", "优化器",
                 "交叉验证", "超参数搜索", "模型融合", "剪枝", "量化", "蒸馏", "迁移学习"):
        assert term in chinese, term


def test_references_cite_the_papers_the_chapters_rely_on():
    text = (BOOK / "references.md").read_text(encoding="utf-8")
    entries = [" ".join(e.split()) for e in re.split(r"^- ", text, flags=re.M)[1:]]
    for author, year in [("Vaswani", 2017), ("Brown", 2020), ("Kingma", 2015),
                         ("Glorot", 2010), ("He, K.", 2015), ("Kaplan", 2020),
                         ("Hoffmann", 2022), ("Rumelhart", 1986), ("Hochreiter", 1997),
                         ("LeCun", 1998), ("Rajbhandari", 2020), ("Loshchilov", 2017)]:
        assert any(entry.startswith(author) and f"({year})" in entry for entry in entries), (
            f"references.md lacks {author} ({year})")


# --------------------------------------------------------------------------- the build


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Build the book once into a temporary folder, warnings as errors; yield the HTML folder."""
    out = tmp_path_factory.mktemp("book")
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
               "build", str(BOOK), "--path-output", str(out), "-W", "-n", "--keep-going"]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - start
    log = done.stdout + done.stderr
    (out / "build.log").write_text(log, encoding="utf-8")
    if done.returncode != 0 or "build succeeded" not in log:
        pytest.fail(f"jupyter-book build -W -n failed ({seconds:.0f} s):\n{log[-6000:]}")
    print(f"book built in {seconds:.1f} s into {out}")
    return out / "_build" / "html"


def test_book_builds_with_warnings_as_errors(book):
    log = (book.parent.parent / "build.log").read_text(encoding="utf-8")
    assert "WARNING" not in log and "ERROR" not in log


def test_every_chapter_has_a_page(book):
    intro = (book / "intro.html").read_text(encoding="utf-8")
    for chapter, notebook in zip(CHAPTERS, SOLUTIONS):
        page = book / f"{chapter}.html"
        assert page.is_file(), f"no HTML page for {notebook.name}"
        assert f'href="{chapter}.html"' in intro, f"{chapter} is not in the navigation"
    for name in ("index", "intro", "glossary", "references"):
        assert (book / f"{name}.html").is_file(), name


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_are_folded_and_hidden_tests_removed(book, chapter):
    notebook = ROOT / f"{chapter}.ipynb"
    source = (book / f"{chapter}.html").read_text(encoding="utf-8")
    # every solution cell is a closed "Show solution" dropdown, and no solution is outside one
    folds = re.findall(r'<details class="[^"]*\bhide above-input\b[^"]*">\s*<summary[^>]*>\s*'
                       r'<p class="collapsed[^"]*">Show solution</p>(.*?)</details>', source, re.S)
    expected = len(solution_cells(notebook))
    assert len(folds) == expected, (len(folds), expected)
    assert " open" not in "".join(re.findall(r"<details[^>]*>", source))
    markers = len(re.findall(r"### BEGIN SOLUTION", source))
    assert markers == sum(len(re.findall("### BEGIN SOLUTION", f)) for f in folds), (
        "a solution region is shown outside a folded cell")
    # cells tagged remove-cell (hidden tests) do not appear at all
    text = page_text(book / f"{chapter}.html")
    for cell in removed_cells(notebook):
        for line in cell.source.strip().splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in text, f"hidden cell shown: {line.strip()}"


class _Loads(HTMLParser):
    """Collect every URL an HTML page loads to display itself (not plain links)."""

    LOADING_RELS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut",
                    "apple-touch-icon", "manifest", "prefetch", "preconnect", "dns-prefetch"}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link":
            if self.LOADING_RELS & set((attrs.get("rel") or "").lower().split()):
                self.urls.append(attrs.get("href") or "")
        elif tag in ("script", "img", "iframe", "source", "audio", "video", "embed", "track"):
            self.urls.append(attrs.get("src") or "")
            self.urls += [s.split()[0] for s in (attrs.get("srcset") or "").split(",") if s.strip()]
        elif tag == "object":
            self.urls.append(attrs.get("data") or "")
        self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", attrs.get("style") or "")


def _external(url: str) -> bool:
    return urlparse(url.strip()).scheme in ("http", "https", "ws", "wss") or \
        url.strip().startswith("//")


def test_no_page_needs_the_internet(book):
    offenders = []
    for page in book.rglob("*.html"):
        parser = _Loads()
        text = page.read_text(encoding="utf-8")
        parser.feed(text)
        parser.urls += re.findall(r"@import\s+(?:url\()?['\"]?([^'\");]+)", text)
        offenders += [f"{page.relative_to(book)}: {u}" for u in parser.urls if _external(u)]
    for sheet in (book / "_static").rglob("*.css"):
        for url in re.findall(r"(?:url\(|@import)\s*['\"]?([^'\")\s;]+)",
                              sheet.read_text(encoding="utf-8", errors="replace")):
            if _external(url):
                offenders.append(f"{sheet.relative_to(book)}: {url}")
    assert not offenders, "loaded from the internet:\n" + "\n".join(sorted(set(offenders)))
    assert (book / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not local"


# --------------------------------------------------------------------------- the browser


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """Chromium or Chrome: ``COURSE_BROWSER`` (a name on PATH or a path), else the first of
    BROWSERS on PATH. Debian names it chromium, Ubuntu chromium-browser, and GitHub's Ubuntu
    images ship Google Chrome (their chromium-browser is a snap stub that does not run)."""
    chosen = os.environ.get("COURSE_BROWSER", "").strip()
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            pytest.fail(f"COURSE_BROWSER={chosen!r} is neither on PATH nor an executable file")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def start_browser(executable: str, profile: Path) -> tuple[subprocess.Popen, int]:
    """Start headless ``executable`` with a fresh ``profile``; (process, DevTools port)."""
    log = open(profile.parent / f"{profile.name}.log", "wb")
    process = subprocess.Popen(
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    port_file = profile / "DevToolsActivePort"      # the browser writes its port here
    deadline = time.monotonic() + 30
    while not (port_file.is_file() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_browser(process)
            pytest.fail(f"{executable} did not start: "
                        + (profile.parent / f"{profile.name}.log").read_text(errors="replace"))
        time.sleep(0.1)
    return process, int(port_file.read_text().split()[0])


def stop_browser(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)          # the browser and the helpers it started
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def devtools_targets(port: int) -> list[dict]:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        return json.load(answer)


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page, over a websocket."""

    def __init__(self, websocket_url: str):
        import websocket                                # websocket-client

        self._websocket = websocket
        self.ws = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def _receive(self, timeout: float) -> dict | None:
        self.ws.settimeout(max(timeout, 0.01))
        try:
            return json.loads(self.ws.recv())
        except self._websocket.WebSocketTimeoutException:
            return None

    def send(self, method: str, timeout: float = 30, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                continue
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"no answer to {method} within {timeout} s")

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events:
                if message["method"] == event:
                    return message["params"]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            message = self._receive(deadline - time.monotonic())
            if message is not None and "method" in message:
                self.events.append(message)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is not None and "method" in message:
                self.events.append(message)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium or Chrome with a fresh profile, and a DevTools client on its page."""
    executable = find_browser()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("no browser on CI: .ci/run installs Debian's chromium; elsewhere set "
                        "COURSE_BROWSER")
        pytest.skip(f"no browser found (any of {', '.join(BROWSERS)}, or COURSE_BROWSER); "
                    "the browser test runs on CI")
    process, port = start_browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    client = None
    try:
        page = next(t for t in devtools_targets(port) if t["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            client.send(f"{domain}.enable")
        client.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                    deviceScaleFactor=1, mobile=False)
        yield client
    finally:
        if client is not None:
            client.close()
        stop_browser(process)


def _shim(folder: Path, name: str, target: str) -> Path:
    shim = folder / name
    shim.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
    shim.chmod(0o755)
    return shim


@pytest.mark.parametrize("name", BROWSERS)
def test_browser_is_found_by_any_of_its_names(name, tmp_path, monkeypatch):
    """Issue 17: whichever name the machine uses, and COURSE_BROWSER over all of them."""
    _shim(tmp_path, name, "/bin/true")
    monkeypatch.delenv("COURSE_BROWSER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser() == str(tmp_path / name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = _shim(elsewhere, "my-chrome", "/bin/true")
    monkeypatch.setenv("COURSE_BROWSER", str(other))
    assert find_browser() == str(other)
    monkeypatch.setenv("PATH", f"{elsewhere}{os.pathsep}{tmp_path}")
    monkeypatch.setenv("COURSE_BROWSER", "my-chrome")            # a name on PATH will do
    assert find_browser() == str(other)


def test_browser_runs_through_a_shim_named_like_chrome(tmp_path, monkeypatch):
    """A real start, over DevTools, through ``google-chrome`` on a PATH that has nothing else."""
    real = find_browser()
    if real is None:
        pytest.skip("no browser installed to put behind the shim")
    _shim(tmp_path, "google-chrome", real)
    path = os.environ["PATH"]
    monkeypatch.delenv("COURSE_BROWSER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    executable = find_browser()
    assert executable == str(tmp_path / "google-chrome")
    monkeypatch.setenv("PATH", path)                  # the browser's own wrapper needs the usual PATH
    (tmp_path / "profile").mkdir()
    process, port = start_browser(executable, tmp_path / "profile")
    try:
        assert any(t["type"] == "page" for t in devtools_targets(port))
    finally:
        stop_browser(process)


# What a reader sees, measured in the page once MathJax and every image have finished.
PROBE = r"""
(async () => {
  const mathjax = window.MathJax;
  if (mathjax && mathjax.startup && mathjax.startup.promise) await mathjax.startup.promise;
  const images = [...document.images];
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done);
  })));
  await document.fonts.ready;
  const shown = el => el.checkVisibility({visibilityProperty: true});
  // prose only: code, scripts and typeset math may contain dollars legitimately
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let prose = "";
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest("pre, code, script, style, textarea, mjx-container"))
      prose += node.textContent + "\n";
  }
  const solutionCode = [...document.querySelectorAll("pre")]
    .filter(pre => /^\s*### BEGIN SOLUTION\s*$/m.test(pre.textContent));
  const solutionFolds = [...document.querySelectorAll("details")]
    .filter(d => /Show solution/.test((d.querySelector("summary") || {}).textContent || ""));
  // sphinx-exercise solutions with :class: dropdown (the book's own pages)
  const exerciseSolutions = [...document.querySelectorAll(".solution.dropdown")];
  return {
    mathjaxVersion: mathjax && mathjax.version,
    typeset: document.querySelectorAll("mjx-container").length,
    mathSources: document.querySelectorAll(".math").length,
    untypeset: [...document.querySelectorAll(".math")]
      .filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 60)),
    rawDollars: prose.includes("$$"),
    images: images.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth})),
    solutionCode: solutionCode.length,
    solutionCodeShown: solutionCode.filter(shown).length,
    solutionFolds: solutionFolds.length,
    solutionFoldsOpen: solutionFolds.filter(d => d.open).length,
    exerciseSolutions: exerciseSolutions.length,
    exerciseSolutionsShown: exerciseSolutions.filter(s =>
      [...s.children].some(c => !c.matches(".admonition-title, button, .toggle-button")
                                && shown(c) && c.textContent.trim())).length,
    title: document.title,
  };
})()
"""


def _problems(events: list[dict]) -> tuple[list[str], list[str]]:
    """Console errors, and requests that left the machine, from the page's DevTools events."""
    errors, remote = [], []
    for event in events:
        method, params = event["method"], event["params"]
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append("exception: " + details.get("exception", {}).get(
                "description", details.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            errors.append(f"log: {entry['text']} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if _external(url):
                remote.append(url)
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            errors.append(f"network: {params.get('errorText')} ({params.get('type')})")
    return errors, remote


@pytest.mark.parametrize("page", PAGES)
def test_page_reads_right_in_chromium(book, browser, page, tmp_path_factory):
    url = (book / f"{page}.html").as_uri()
    browser.events.clear()
    navigation = browser.send("Page.navigate", url=url)
    assert not navigation.get("errorText"), navigation
    browser.wait_for("Page.loadEventFired")
    seen = browser.send("Runtime.evaluate", expression=PROBE, awaitPromise=True,
                        returnByValue=True, timeout=60)
    assert "exceptionDetails" not in seen, seen["exceptionDetails"]
    seen = seen["result"]["value"]
    browser.drain(0.3)

    shots = tmp_path_factory.getbasetemp() / "book-screenshots"
    shots.mkdir(exist_ok=True)
    shot = shots / f"{page.replace('/', '__')}.png"
    shot.write_bytes(base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"]))
    print(f"screenshot of {page}: {shot}")
    if seen["solutionFolds"] or seen["exerciseSolutions"]:         # and one of a folded solution
        browser.send("Runtime.evaluate", expression="document.querySelector("
                     "'details.hide, .solution.dropdown').scrollIntoView({block: 'center'})")
        browser.drain(0.3)
        folded = shots / f"{page.replace('/', '__')}-solution.png"
        folded.write_bytes(base64.b64decode(
            browser.send("Page.captureScreenshot", format="png")["data"]))
    print(json.dumps({k: v for k, v in seen.items() if k != "images"}), len(seen["images"]), "images")

    errors, remote = _problems(browser.events)
    assert not remote, f"{page} loaded from the internet: {remote}"
    assert not errors, f"{page} has console errors:\n" + "\n".join(errors)

    assert seen["mathjaxVersion"], "MathJax did not load"
    if page == "intro" or page in CHAPTERS:
        assert seen["typeset"] > 0, "no math was typeset (no mjx-container)"
    assert seen["typeset"] >= seen["mathSources"], (seen["typeset"], seen["mathSources"])
    assert not seen["untypeset"], f"math left untypeset: {seen['untypeset']}"
    assert not seen["rawDollars"], "raw $$ left in the page"
    broken = [img["src"] for img in seen["images"] if img["width"] == 0]
    assert not broken, f"images that did not load: {broken}"

    if page in CHAPTERS:
        expected = len(solution_cells(ROOT / f"{page}.ipynb"))
        assert seen["solutionFolds"] == expected, (seen["solutionFolds"], expected)
        assert seen["solutionCode"] == expected, (seen["solutionCode"], expected)
    assert seen["solutionFoldsOpen"] == 0, "a solution is unfolded"
    assert seen["solutionCodeShown"] == 0, "solution code is visible before unfolding"
    assert seen["exerciseSolutionsShown"] == 0, "an exercise solution is visible before unfolding"
    if page == "intro":
        assert seen["exerciseSolutions"] >= 1
