"""`make lab` starts a working JupyterLab on the student's copies of notebooks/ (work/), and refuses clearly
when its port is taken."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lab_browser import free_port  # tests/lab_browser.py

from mtml_utils import lab

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "course-test-token"
START_TIMEOUT_S = 90  # CI is a slow 2-core machine; JupyterLab answered in about 11 s on one
STOP_TIMEOUT_S = 30

posix_only = pytest.mark.skipif(
    os.name != "posix" or shutil.which("make") is None, reason="uses process groups, a pty and make"
)


def _jupyter_env(tmp_path: Path) -> dict[str, str]:
    """The user's environment with every Jupyter/IPython/matplotlib state folder moved into tmp_path."""
    env = dict(os.environ, JUPYTER_TOKEN=TOKEN)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    env["MPLCONFIGDIR"] = str(tmp_path / "mplconfigdir")
    env["MTML_WORK_DIR"] = str(tmp_path / "work")  # the student's copies (work/ in a real checkout)
    return env


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _stop_group(proc: subprocess.Popen) -> signal.Signals | None:
    """Ctrl-C the process group we started (make + the server); escalate only if it hangs.

    Returns the signal after which no process of the group was left.
    """
    pgid = proc.pid  # start_new_session=True made it the leader of its own group
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return sig
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            proc.poll()  # reap make, or the group never empties
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return sig
            time.sleep(0.2)
    return None


@posix_only
@pytest.mark.slow
def test_make_lab_serves_the_notebooks_and_stops_cleanly(tmp_path: Path) -> None:
    on_disk = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert on_disk, "notebooks/ has no .ipynb files: run `make release` to generate the student notebooks"
    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        pytest.skip(f"{venv} has no bin/python for the Makefile's VENV")
    port = free_port()
    log_path = tmp_path / "lab.log"
    # `-o <stamp>` tells make to treat the install stamp as up to date: this test uses the running
    # interpreter's environment as VENV and must never trigger a reinstall.
    cmd = ["make", "-o", f"{venv}/.installed", "lab", f"VENV={venv}", f"PORT={port}"]
    # A terminal as stdin, as when a student types `make lab`: the server then handles Ctrl-C itself.
    terminal, terminal_side = pty.openpty()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=_jupyter_env(tmp_path), stdin=terminal_side, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,  # its own process group, stopped as a whole
        )
    os.close(terminal_side)
    stopped_by = None
    try:
        started = time.monotonic()
        status = None
        while time.monotonic() - started < START_TIMEOUT_S:
            assert proc.poll() is None, f"make lab exited with {proc.returncode}:\n{log_path.read_text()}"
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/lab?token={TOKEN}")
            except OSError:
                status = None  # not listening yet
            if status == 200:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        assert status == 200, f"/lab did not answer 200 within {START_TIMEOUT_S} s:\n{log_path.read_text()}"
        print(f"/lab answered HTTP 200 after {elapsed:.1f} s")

        status, body = _get(f"http://127.0.0.1:{port}/api/contents/?token={TOKEN}")
        assert status == 200
        listed = sorted(item["name"] for item in json.loads(body)["content"] if item["type"] == "notebook")
        assert listed == on_disk, "the server does not serve the student's copy of every notebook"
        for name in on_disk:
            assert (tmp_path / "work" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()

        # nbgrader's instructor tools and Validate button are off: the notebooks end with "Check my work".
        _, page = _get(f"http://127.0.0.1:{port}/lab?token={TOKEN}")
        config_json = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page.decode(), re.S).group(1)
        config = json.loads(config_json)
        assert "@jupyter/nbgrader" in config["disabledExtensions"], config["disabledExtensions"]
        for endpoint in ("formgrader", "assignments", "formgraders", "assignments/validate"):
            status, _ = _get(f"http://127.0.0.1:{port}/{endpoint}?token={TOKEN}")
            assert status == 404, f"nbgrader's /{endpoint} is served in the student lab (HTTP {status})"

        output = log_path.read_text()
        assert f"http://127.0.0.1:{port}/lab?token={TOKEN}" in output, "the link to open was not printed"
        overrides = json.loads((lab.settings_dir() / "overrides.json").read_text())
        assert overrides["@jupyterlab/apputils-extension:notification"]["checkForUpdates"] is False
    finally:
        stopping = time.monotonic()
        stopped_by = _stop_group(proc)
        print(f"stopped by {stopped_by!r} after {time.monotonic() - stopping:.1f} s")
        os.close(terminal)
    assert stopped_by == signal.SIGINT, f"Ctrl-C did not stop the server:\n{log_path.read_text()}"
    assert not lab.port_in_use(port), f"port {port} is still taken after stopping make lab"


@pytest.mark.slow
def test_a_taken_port_is_refused_with_one_clear_message(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "mtml_utils.lab", "--port", str(port)],
            cwd=ROOT, env=_jupyter_env(tmp_path), capture_output=True, text=True, timeout=60,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Port {port} is already in use" in result.stderr
    assert "make lab PORT=" in result.stderr
    assert "Starting JupyterLab" not in result.stdout
    assert "Jupyter Server" not in result.stdout + result.stderr, "a server was started anyway"
    assert elapsed < 30, f"refusing took {elapsed:.1f} s"


def test_quiet_notifications_keeps_other_settings_and_the_users_choice(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    lab.quiet_notifications(tmp_path)
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"

    users_choice = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "true"}}
    path.write_text(json.dumps(users_choice))
    lab.quiet_notifications(tmp_path)
    assert json.loads(path.read_text()) == users_choice


def test_broken_overrides_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text("{not json")
    with pytest.raises(lab.LabError, match="not valid JSON"):
        lab.quiet_notifications(tmp_path)
    assert path.read_text() == "{not json"


def test_server_command_binds_localhost_without_port_drift() -> None:
    cmd = lab.server_command(8890, ROOT / "notebooks", as_root=False, headless=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=8890" in cmd
    assert "--ServerApp.port_retries=0" in cmd
    assert f"--ServerApp.root_dir={ROOT / 'notebooks'}" in cmd
    assert "--allow-root" not in cmd and "--no-browser" not in cmd
    as_root = lab.server_command(8890, ROOT / "notebooks", as_root=True, headless=True)
    assert "--allow-root" in as_root and "--no-browser" in as_root


@pytest.mark.parametrize("argv", [["--port", "0"], ["--port", "70000"], ["--notebook-dir", "/no/such/dir"]])
def test_bad_arguments_exit_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_an_unknown_profile_stops_make_lab_before_it_starts(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MTML_PROFILE", "bogus")
    assert lab.main(["--port", "8897"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MTML_PROFILE='bogus' is not a known profile") and "laptop" in err, err
    assert "JupyterLab was not started" in err and err.count("\n") == 1
