"""What a fresh clone relies on: the system packages script, the licence, `python -m auditor`, the throwaway
servers' command lines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import __version__
from auditor.throwaway import free_port, system_bin_dir

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_DEPS = ROOT / "scripts" / "system-deps"


@pytest.fixture
def bin_dir_without_chromium() -> Iterator[Path]:
    """A PATH with just what the script runs, so chromium (and apt-get, sudo) look absent; readable by all
    (pytest's tmp_path is not), as one test runs the script as ``nobody``."""
    bin_dir = Path(tempfile.mkdtemp(prefix="dbaudit-bin-"))
    bin_dir.chmod(0o755)
    for tool in ("bash", "python3", "id", "env", "make"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(os.path.realpath(found))
    yield bin_dir
    shutil.rmtree(bin_dir)


def test_system_deps_is_quiet_and_quick_when_everything_is_there() -> None:
    if shutil.which("chromium") is None or system_bin_dir() is None:
        pytest.skip("this machine lacks the packages; .ci/run installs them")
    done = subprocess.run([str(SYSTEM_DEPS)], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    check = subprocess.run([str(SYSTEM_DEPS), "--check"], capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 0


def test_system_deps_names_what_is_missing(bin_dir_without_chromium: Path) -> None:
    env = {"PATH": str(bin_dir_without_chromium)}
    check = subprocess.run([str(SYSTEM_DEPS), "--check"], capture_output=True, text=True, env=env, timeout=30,
                           check=False)
    assert check.returncode == 1
    assert re.search(r"missing: .*\bchromium\b", check.stdout)


def test_system_deps_without_root_says_so_in_one_line(bin_dir_without_chromium: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as another user")
    env = {"PATH": str(bin_dir_without_chromium), "HOME": "/"}
    with SYSTEM_DEPS.open() as script:  # fed on stdin: the checkout may not be readable by nobody
        done = subprocess.run(["/bin/bash", "-s"], stdin=script, capture_output=True, text=True, env=env,
                              user="nobody", cwd="/", timeout=30, check=False)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "chromium" in lines[0] and "root" in lines[0]


def test_system_deps_without_apt_get_says_so_in_one_line(bin_dir_without_chromium: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("as a user without sudo the root message comes first")
    env = {"PATH": str(bin_dir_without_chromium)}
    done = subprocess.run([str(SYSTEM_DEPS)], capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "apt-get" in done.stderr


def test_system_deps_can_be_skipped(bin_dir_without_chromium: Path) -> None:
    env = {"PATH": str(bin_dir_without_chromium), "DBAUDIT_SKIP_SYSTEM_DEPS": "1"}
    done = subprocess.run([str(SYSTEM_DEPS)], capture_output=True, text=True, env=env, timeout=30, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_ci_and_make_test_use_the_same_script() -> None:
    assert "scripts/system-deps" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: system-deps install$", makefile, re.M)
    assert "scripts/system-deps" in makefile
    assert os.access(SYSTEM_DEPS, os.X_OK)


def test_licence_file_matches_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "MIT"
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_python_dash_m_auditor_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"dbaudit, version {__version__}"
    checks = subprocess.run([sys.executable, "-m", "auditor", "checks", "--format", "json"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert checks.returncode == 0 and '"IX01"' in checks.stdout


def test_throwaway_takes_a_port() -> None:
    # another process may take the free port before the server binds it (other test runs share the machine):
    # the server then fails in one line, exit 2, and the test tries another port
    for _attempt in range(3):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "auditor.throwaway", "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            if not line and proc.wait(timeout=60) == 2:
                err = proc.stderr.read()
                assert len(err.splitlines()) == 1 and "Traceback" not in err, err
                continue
            assert f"@127.0.0.1:{port}/" in line, line
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=60)
        assert proc.returncode == 0
        return
    pytest.fail("the throwaway server did not start on three free ports")


def test_throwaway_rejects_a_bad_port() -> None:
    done = subprocess.run([sys.executable, "-m", "auditor.throwaway", "--port", "70000"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "65535" in done.stderr and "Traceback" not in done.stderr
