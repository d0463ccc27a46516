"""Start JupyterLab on the student's own copy of the notebooks (``work/``): what ``make lab`` runs.

    python -m mtml_utils.lab --port 8888

The first start copies the released notebooks (``notebooks/``) into ``work/``, which git ignores, so a
``git pull`` of a course update never collides with a student's answers; a later start says once which
notebooks the course updated and how to take the update with the answers carried over
(:mod:`mtml_utils.workcopy`). ``--notebook-dir`` opens another folder as it is.

It binds to 127.0.0.1 only, refuses to start when the port is taken (instead of silently moving to
another port, which leaves students looking at the wrong server), turns off JupyterLab's news pop-up and
nbgrader's extensions (instructor tools and a Validate button students do not need: every notebook ends
with its own "Check my work" button), prints the link to open, then replaces itself with the server so
that Ctrl-C stops it.
Environment variables such as ``JUPYTER_TOKEN`` reach the server unchanged.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mtml_utils.profiles import ProfileError, get_profile
from mtml_utils.workcopy import NOTEBOOKS_DIR, WORK_DIR, prepare

HOST = "127.0.0.1"
DEFAULT_PORT = 8888
#: A Jupyter config folder of the course: ``labconfig/page_config.json`` disables nbgrader's front-end
#: extension (formgrader, create/validate assignment, assignment and course lists).
STUDENT_CONFIG_DIR = Path(__file__).resolve().parent / "lab_config"
#: nbgrader's server extensions, off in the student lab (the course does not use nbgrader's exchange).
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)

# Keeps JupyterLab from asking students whether it may fetch news and check for updates.
QUIET_NOTIFICATIONS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


class LabError(Exception):
    """A problem the user must fix before the server can start; its message is one paragraph."""


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port`` (or the port cannot be bound).

    Example:
        >>> with socket.socket() as s:
        ...     s.bind((HOST, 0)); s.listen(); port_in_use(s.getsockname()[1])
        True
    """
    # A connect finds a listener even where a bind would succeed (e.g. a server on 0.0.0.0 on macOS).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as the server uses it: a port in TIME_WAIT after a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise LabError(
                    f"Not allowed to use port {port}: ports below 1024 need administrator rights. "
                    f"Pick a port above 1024, e.g. `make lab PORT=8890`."
                ) from exc
            return True
    return False


def settings_dir() -> Path:
    """JupyterLab's application settings folder for this interpreter (where ``overrides.json`` lives).

    Example:
        >>> settings_dir().parts[-3:]
        ('jupyter', 'lab', 'settings')
    """
    app_dir = os.environ.get("JUPYTERLAB_DIR")
    base = Path(app_dir) if app_dir else Path(sys.prefix) / "share" / "jupyter" / "lab"
    return base / "settings"


def quiet_notifications(directory: Path | None = None) -> Path:
    """Add the "no news, no update check" setting to ``overrides.json``, keeping whatever else is there.

    A setting the user already chose for the notification plugin is left alone. Returns the file's path.

    Example:
        >>> import tempfile
        >>> path = quiet_notifications(Path(tempfile.mkdtemp()))
        >>> json.loads(path.read_text())["@jupyterlab/apputils-extension:notification"]["checkForUpdates"]
        False
    """
    path = (directory or settings_dir()) / "overrides.json"
    overrides: dict = {}
    if path.exists():
        try:
            overrides = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LabError(
                f"{path} is not valid JSON ({exc}), so the JupyterLab settings were left untouched. "
                f"Fix or delete that file and run `make lab` again."
            ) from exc
        if not isinstance(overrides, dict):
            raise LabError(f"{path} should hold a JSON object; fix or delete it and run `make lab` again.")
    if all(key in overrides for key in QUIET_NOTIFICATIONS):
        return path
    for key, value in QUIET_NOTIFICATIONS.items():
        overrides.setdefault(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(overrides, indent=2) + "\n", encoding="utf-8")
    return path


def server_command(port: int, root_dir: Path, *, as_root: bool, headless: bool) -> list[str]:
    """The ``jupyter lab`` command line, run by this same interpreter so the course's packages are found.

    Example:
        >>> cmd = server_command(8888, Path("notebooks"), as_root=False, headless=True)
        >>> cmd[1:3], "--ServerApp.port=8888" in cmd, "--no-browser" in cmd
        (['-m', 'jupyterlab'], True, True)
    """
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        # Fail rather than drift to port+1: the link we print must be the one that works.
        "--ServerApp.port_retries=0",
        # One Ctrl-C stops the server instead of asking "Shut down this Jupyter server (y/[n])?".
        "--ServerApp.answer_yes=True",
    ]
    for extension in NBGRADER_SERVER_EXTENSIONS:  # the command line outranks every config file
        cmd += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
    if headless:
        cmd.append("--no-browser")
    if as_root:
        cmd.append("--allow-root")  # Jupyter refuses to run as root without it (containers, Colab-like VMs)
    return cmd


def student_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the course's Jupyter config folder first on ``JUPYTER_CONFIG_PATH``.

    That folder's ``labconfig/page_config.json`` turns nbgrader's front-end extension off; a user's own
    config stays in effect for everything else.

    Example:
        >>> env = student_environment({"JUPYTER_CONFIG_PATH": "/etc/mine"})
        >>> env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(STUDENT_CONFIG_DIR), "/etc/mine"]
        True
    """
    theirs = [p for p in environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    paths = [str(STUDENT_CONFIG_DIR), *theirs]
    return {**environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(dict.fromkeys(paths))}


def has_display() -> bool:
    """Whether a browser can be opened here: always on macOS/Windows, on Linux only with X11 or Wayland."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mtml_utils.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default 8888)")
    parser.add_argument("--notebook-dir", type=Path, default=None,
                        help="folder to open as it is (default: your copies in work/, made from notebooks/)")
    return parser.parse_args(argv)


def _prepare(args: argparse.Namespace) -> tuple[list[str], Path]:
    """Check everything, write the settings; return the server command and folder. LabError on bad input."""
    try:  # every notebook reads it in its first cells: a typo must stop here, not in the first cell
        get_profile()
    except ProfileError as exc:
        raise LabError(str(exc).replace("Nothing was run.", "JupyterLab was not started.")) from None
    if not 1 <= args.port <= 65535:
        raise LabError(f"Port {args.port} is not a valid TCP port; use a number from 1024 to 65535.")
    if args.notebook_dir is not None and not args.notebook_dir.is_dir():
        raise LabError(f"The notebook folder {args.notebook_dir.resolve()} does not exist.")
    if args.notebook_dir is None and not NOTEBOOKS_DIR.is_dir():
        raise LabError(
            f"The notebook folder {NOTEBOOKS_DIR} does not exist. Run this from a full checkout of the "
            f"course (it has a notebooks/ folder), or pass --notebook-dir."
        )
    if port_in_use(args.port):
        raise LabError(
            f"Port {args.port} is already in use — probably another JupyterLab (maybe from an earlier "
            f"`make lab`). Open that one in your browser, stop it (Ctrl-C in its terminal), or start this "
            f"one on another port: `make lab PORT=8890`."
        )
    if args.notebook_dir is None:
        prepare(NOTEBOOKS_DIR, WORK_DIR)  # the student's own copies: made once, never overwritten here
    root_dir = (args.notebook_dir or WORK_DIR).resolve()
    try:
        quiet_notifications()
    except OSError as exc:
        # Not fatal: only the news pop-up stays (e.g. a read-only system Python).
        print(f"note: could not write JupyterLab settings ({exc}); JupyterLab may ask about news.")
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return server_command(args.port, root_dir, as_root=as_root, headless=not has_display()), root_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Check the port and folder, print the link, then become the JupyterLab server.

    Returns 2 (without starting anything) when the port is taken or the input is bad; otherwise it does
    not return on POSIX (the process is replaced by the server).

    Example (from a terminal):
        $ python -m mtml_utils.lab --port 8890
    """
    args = _parse_args(argv)
    try:
        cmd, root_dir = _prepare(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # With a token we know, the printed link logs straight in; a user's own JUPYTER_TOKEN is kept as is.
    token = os.environ.setdefault("JUPYTER_TOKEN", secrets.token_hex(24))
    os.environ.update(student_environment(os.environ))
    url = f"http://{HOST}:{args.port}/lab"
    print(
        f"\nStarting JupyterLab on {root_dir}\n"
        f"Open this link in your browser (it works once the server says it is running):\n\n"
        f"    {url}?token={token}\n\n"
        f"Stop the server with Ctrl-C.\n",
        flush=True,
    )
    if os.name == "posix":
        # Replace this process: signals (Ctrl-C) and the exit status go straight to and from the server.
        os.execv(sys.executable, cmd)
    try:  # Windows has no real exec; wait for the server and let Ctrl-C reach it.
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
