"""A real JupyterLab driven by a real browser (Debian's Chromium through Playwright), for the UI tests.

The server is started the way ``make lab`` starts it (:func:`mtml_utils.lab.server_command` and
:func:`mtml_utils.lab.student_environment`), on 127.0.0.1 and a free port, with its own settings,
workspaces and runtime folders, and ``expose_app_in_browser`` so that the test can run JupyterLab
commands (``notebook:run-all-cells``, ``docmanager:save``) as the menus do. Playwright drives the
Chromium that Debian packages (``/usr/bin/chromium``); Playwright's own browser download is never used.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtml_utils import lab

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
APT_TIMEOUT_S = 900
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: The line autograder/unlocks.py shows in place of an experiment's traceback in a blank notebook.
UNLOCK_LINE = re.compile(r"This cell needs Exercise \d+ \(`\w+`\)")
START_TIMEOUT_S = 90


def find_or_install_chromium() -> tuple[str | None, str]:
    """``(path, "")`` of a Chromium to drive, installing Debian's package when missing and allowed.

    Returns ``(None, reason)`` when there is none and it cannot be installed here (not root, no
    ``apt-get``, or the install failed): the browser tests are then skipped with that reason.
    """
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found, ""
    if not shutil.which("apt-get"):
        return None, "Chromium is not installed and this system has no apt-get to install Debian's package"
    if os.geteuid() != 0:
        return None, "Chromium is not installed; installing it needs root: `sudo apt-get install -y chromium`"
    print("Installing Debian's chromium for the browser tests (apt-get, about half a minute) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None, f"`{' '.join(cmd)}` did not finish within {APT_TIMEOUT_S} s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd)}` failed ({done.returncode}): {' | '.join(tail)}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "apt-get installed chromium but no `chromium` command is on PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A JupyterLab server on ``root_dir``; :meth:`start` it, :meth:`stop` exactly this one."""

    root_dir: Path
    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = ""
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LabServer:
        self.port, self.token = free_port(), secrets.token_hex(16)
        settings = self.state_dir / "settings"
        quiet = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        quiet.parent.mkdir(parents=True, exist_ok=True)
        quiet.write_text(json.dumps(lab.QUIET_NOTIFICATIONS["@jupyterlab/apputils-extension:notification"]))
        env = lab.student_environment({
            **os.environ,
            "JUPYTER_TOKEN": self.token,
            "JUPYTER_CONFIG_DIR": str(self.state_dir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.state_dir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.state_dir / "workspaces"),
            "IPYTHONDIR": str(self.state_dir / "ipython"),
            "MPLCONFIGDIR": str(self.state_dir / "matplotlib"),
            **self.extra_env,
        })
        cmd = lab.server_command(self.port, self.root_dir, as_root=os.geteuid() == 0, headless=True)
        cmd.append("--LabApp.expose_app_in_browser=True")  # window.jupyterapp: run the menu commands
        log = open(self.state_dir / "lab.log", "wb")  # noqa: SIM115 (kept open for the server's lifetime)
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/status?token={self.token}", timeout=5):
                    return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        path = self.state_dir / "lab.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def url(self, notebook: str) -> str:
        # ?reset: start from an empty workspace, so no tab of an earlier notebook is restored.
        return f"{self.base_url}/lab/tree/{notebook}?token={self.token}&reset"

    def shut_down_kernel_of(self, notebook: str) -> None:
        """Stop the kernel of ``notebook`` (a path relative to ``root_dir``) as Kernel ▸ Shut Down would,
        leaving the other notebooks' kernels running."""
        listing = f"{self.base_url}/api/sessions?token={self.token}"
        with urllib.request.urlopen(listing, timeout=10) as response:
            sessions = json.loads(response.read())
        for session in sessions:
            if session.get("path") == notebook:
                request = urllib.request.Request(
                    f"{self.base_url}/api/sessions/{session['id']}?token={self.token}", method="DELETE")
                urllib.request.urlopen(request, timeout=30).close()

    def stop(self) -> None:
        """SIGTERM to our server (it shuts its kernels down), then SIGKILL to its process group if needed."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# JavaScript run in the page. `jupyterapp` is JupyterLab's application object (expose_app_in_browser).
JS_KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  const kernel = session && session.kernel;
  return !!(kernel && kernel.status === 'idle' && panel.content && panel.content.widgets.length);
}"""
JS_WATCH_PROGRESS = """() => {
  window.__mtmlProgressBars = 0;
  new MutationObserver(records => {
    for (const record of records) for (const node of record.addedNodes)
      if (node.nodeType === 1
          && (node.matches('.widget-hprogress') || node.querySelector('.widget-hprogress')))
        window.__mtmlProgressBars++;
  }).observe(document.body, {childList: true, subtree: true});
}"""
JS_ALL_RAN = """() => {
  const panel = jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const kernel = panel.sessionContext.session.kernel;
  return kernel.status === 'idle' && cells.every(cell => cell.model.executionCount !== null);
}"""
JS_CODE_CELLS_NOT_RUN = """() => jupyterapp.shell.currentWidget.content.widgets
  .map((cell, i) => [i, cell.model.type, cell.model.executionCount])
  .filter(([i, type, count]) => type === 'code' && count === null).map(([i]) => i)"""
JS_SAVED = "() => !jupyterapp.shell.currentWidget.context.model.dirty"
JS_DOM_COUNTS = """() => {
  const outputs = '.jp-Notebook .jp-OutputArea-output';
  const count = selector => document.querySelectorAll(selector).length;
  return {
    images: count(`${outputs} img`),
    // Figures inside an output widget (an interactive explorer) live in the widget, not in the saved cell.
    widget_images: count(`${outputs} .widget-output img`),
    sliders: count(`${outputs} .widget-slider`),
    // Controls of the notebook itself: the "Check my work" button at the end is counted apart.
    buttons: [...document.querySelectorAll(`${outputs} button.jupyter-button`)].filter(
      el => !el.closest('.mtml-check-my-work')).length,
    check_buttons: count(`${outputs} .mtml-check-my-work button`),
    widget_errors: [...document.querySelectorAll(outputs)].filter(
      el => /Error displaying widget|model not found/i.test(el.textContent)).length,
    progress_bars_seen: window.__mtmlProgressBars || 0,
  };
}"""


@dataclass
class SavedRun:
    """What the saved notebook holds after a run: its code, errors per cell, figures."""

    sources: list[str]
    errors: list[tuple[int, str, str]]
    """(cell index, ename, evalue) of every error output."""
    images: int
    tracebacks: dict[int, list[str]] = field(default_factory=dict)
    """cell index -> the traceback lines of its (last) error output."""
    roles: list[str] = field(default_factory=list)
    """per cell: "answer", "test" (nbgrader) or "other" (text, set-up, experiments)."""

    def unlock_lines(self) -> dict[int, str]:
        """Cells whose error shows as the one line naming the exercise(s) it needs (autograder/unlocks.py)."""
        return {i: tb[0] for i, tb in self.tracebacks.items() if len(tb) == 1 and UNLOCK_LINE.match(tb[0])}

    def unexplained_errors(self) -> list[tuple[int, str, str]]:
        """Errors not caused by an exercise not done yet.

        Expected are the ``NotImplementedError`` of an unanswered exercise (raised where it is called) and
        a ``NameError`` for a name that an earlier cell would have set had it not failed: everything else
        (a typo, a missing import, a crash) is a bug students would trip over.
        """
        failed = {index for index, _, _ in self.errors}
        unexplained = []
        for index, ename, evalue in self.errors:
            if ename == "NotImplementedError" or index in self.unlock_lines():
                continue
            missing = re.fullmatch(r"name '(\w+)' is not defined", evalue)
            set_by_failed_cell = missing is not None and any(
                missing.group(1) in names_bound(self.sources[cell]) for cell in failed if cell < index)
            if ename == "NameError" and set_by_failed_cell:
                continue
            unexplained.append((index, ename, evalue))
        return unexplained


def names_bound(source: str) -> set[str]:
    """Names a cell's code binds in the notebook's namespace (assignments, loops, defs, classes, imports).

    Example:
        >>> sorted(names_bound("a, (b, c) = f()\\nfor i in x: pass\\ndef g(y): z = 1\\nimport numpy as np"))
        ['a', 'b', 'c', 'g', 'i', 'np']
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)  # its body binds names of its own scope, not the notebook's
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif not isinstance(node, ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return names


def saved_run(path: Path) -> SavedRun:
    nb = json.loads(path.read_text(encoding="utf-8"))
    sources, errors, images, tracebacks, roles = [], [], 0, {}, []
    for index, cell in enumerate(nb["cells"]):
        source = cell.get("source", "")
        sources.append(source if isinstance(source, str) else "".join(source))
        meta = cell.get("metadata", {}).get("nbgrader", {})
        roles.append("test" if meta.get("grade") else "answer" if meta.get("solution") else "other")
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                errors.append((index, output["ename"], output.get("evalue", "")))
                tracebacks[index] = [ANSI.sub("", line) for line in output.get("traceback", [])]
            images += "image/png" in output.get("data", {})
    return SavedRun(sources, errors, images, tracebacks, roles)


def open_and_run_all(page: Any, server: LabServer, notebook: str, timeout_s: float = 300) -> None:
    """Open ``notebook``, wait for its kernel, Run All Cells as a student would, wait until every code
    cell has run, then save it (File ▸ Save)."""
    page.goto(server.url(notebook))
    page.wait_for_function(JS_KERNEL_IDLE, timeout=120_000, polling=100)
    page.evaluate(JS_WATCH_PROGRESS)
    page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        page.wait_for_function(JS_ALL_RAN, timeout=timeout_s * 1000, polling=500)
    except Exception as exc:
        not_run = page.evaluate(JS_CODE_CELLS_NOT_RUN)
        raise AssertionError(f"{notebook}: Run All did not run every code cell within {timeout_s} s; "
                             f"cells never run: {not_run}\n{server.log()}") from exc
    page.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(JS_SAVED, timeout=30_000, polling=100)


def press_check_my_work(page: Any, timeout_s: float = 120) -> dict[str, str]:
    """Click the notebook's "Check my work" button; its table as ``{grade_id: "PASS" | "FAIL"}``."""
    button = page.locator(".mtml-check-my-work button").first
    button.scroll_into_view_if_needed()
    button.click()
    rows = page.locator(".mtml-check-my-work tr[data-grade-id]")
    rows.first.wait_for(timeout=timeout_s * 1000)
    page.locator(".mtml-check-my-work button:not([disabled])").first.wait_for(timeout=timeout_s * 1000)
    page.locator(".mtml-check-report").first.scroll_into_view_if_needed()
    return dict(rows.evaluate_all("rows => rows.map(r => [r.dataset.gradeId, r.dataset.result])"))


JS_INTERACTIVE_OUTPUT = """container => {
  const output = container.querySelector('.widget-output');
  const image = output && output.querySelector('img');
  return (image ? image.src : '') + '|' + (output ? output.textContent : '');
}"""


def move_sliders_and_redraw(page: Any, timeout_s: float = 180) -> int:
    """In every interactive widget (``interact``/``interact_manual``) of the open notebook: move each slider
    one step with the keyboard, as a student would, press its run button if it has one, and wait until its
    output (figure and printed text) changes. Returns how many were exercised; AssertionError if an
    output never changed."""
    containers = page.locator(".jp-OutputArea-output .widget-interact")
    for index in range(containers.count()):
        container = containers.nth(index)
        container.scroll_into_view_if_needed()
        before = container.evaluate(JS_INTERACTIVE_OUTPUT)
        readouts = container.locator(".widget-readout")
        values = [readouts.nth(i).text_content() for i in range(readouts.count())]
        handles = container.locator(".noUi-handle")
        for h in range(handles.count()):
            handles.nth(h).focus()
            handles.nth(h).press("ArrowRight")
        moved = [readouts.nth(i).text_content() for i in range(readouts.count())]
        assert moved != values, f"interactive widget {index}: the sliders did not move ({values})"
        run = container.locator("button.jupyter-button")
        if run.count():
            run.first.click()
        page.wait_for_function(f"""() => {{
            const container = document.querySelectorAll('.jp-OutputArea-output .widget-interact')[{index}];
            return ({JS_INTERACTIVE_OUTPUT})(container) !== {json.dumps(before)};
        }}""", timeout=timeout_s * 1000, polling=500)
    return containers.count()


VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def pages_side_by_side(chromium: str, calls: dict[Any, Callable[[Any], Any]],
                       lanes: int) -> Iterator[dict[Any, Future]]:
    """Run ``calls`` (each given a fresh page, closed after it) in ``lanes`` browsers side by side, in the
    order given; yield ``key -> Future`` of what each call returned or raised.

    A notebook run keeps one core busy only part of the time (the page renders, the server and the kernel
    wait on each other), so two lanes get more done on two cores. Each lane is a thread with a Playwright
    and a Chromium of its own (Playwright's sync API is bound to the thread that started it). On leaving,
    the calls not started are cancelled and the lanes waited for. (Not conftest's ``side_by_side``: a thread
    pool has no hook to close each thread's browser in that thread.)

    Example:
        >>> with pages_side_by_side(chromium, {"title": lambda page: page.title()}, lanes=2) as runs:
        ...     runs["title"].result()  # doctest: +SKIP
        ''
    """
    futures = {key: Future() for key in calls}
    work: queue.SimpleQueue = queue.SimpleQueue()
    for key, call in calls.items():
        work.put((futures[key], call))

    def next_call() -> tuple[Future, Callable[[Any], Any]] | None:
        while True:
            try:
                future, call = work.get_nowait()
            except queue.Empty:
                return None
            if future.set_running_or_notify_cancel():
                return future, call

    def on_new_page(chrome: Any, future: Future, call: Callable[[Any], Any]) -> None:
        try:
            page = chrome.new_page(viewport=VIEWPORT)
            try:
                future.set_result(call(page))
            finally:
                page.close()
        except BaseException as exc:  # the test that reads it fails with it
            if not future.done():
                future.set_exception(exc)

    def lane() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                chrome = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    while (todo := next_call()) is not None:
                        on_new_page(chrome, *todo)
                finally:
                    chrome.close()
        except BaseException as exc:  # no browser in this lane: the calls it would take fail with why
            while (todo := next_call()) is not None:
                todo[0].set_exception(exc)

    threads = [threading.Thread(target=lane, daemon=True) for _ in range(min(lanes, len(calls)))]
    for thread in threads:
        thread.start()
    try:
        yield futures
    finally:
        for future in futures.values():
            future.cancel()  # only those not started
        for thread in threads:
            thread.join()
