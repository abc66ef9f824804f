"""``trialdesk serve --workers N``: several worker processes on PostgreSQL, refused on SQLite (one writer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from browser_helpers import free_port
from trialdesk.entrypoints.cli.main import app


def test_several_workers_are_refused_on_sqlite(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--db", f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert result.exit_code == 2
    assert "--workers" in result.output and "PostgreSQL" in result.output
    assert not (tmp_path / "x.sqlite").exists()  # refused before anything was opened


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return int(answer.status)


@pytest.mark.postgres
def test_two_workers_serve_the_same_postgresql_database(pg_url):
    port = free_port()
    command = [sys.executable, "-m", "trialdesk.entrypoints.cli.main", "serve", "--workers", "2"]
    command += ["--port", str(port), "--db", pg_url]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, status = time.time() + 90, 0
        while time.time() < deadline and status != 200:
            time.sleep(0.5)
            try:
                status = _get(f"http://127.0.0.1:{port}/health")
            except OSError:
                status = 0
        assert status == 200, "the server did not answer /health"
        # the master process and its two workers (spawned by multiprocessing; its resource tracker is no worker)
        cmdlines = {c: Path(f"/proc/{c}/cmdline").read_text() for c in _children(server.pid)}
        workers = [c for c, line in cmdlines.items() if "spawn_main" in line]
        assert len(workers) == 2, cmdlines
        for _ in range(10):  # requests spread over the workers all find the trial
            assert _get(f"http://127.0.0.1:{port}/trials/NCT07003074") == 200
            assert _get(f"http://127.0.0.1:{port}/login") == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
