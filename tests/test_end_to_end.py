"""The README, the examples and the command line, run exactly as a user would."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(sys.executable).parent


def run(*command, cwd=ROOT):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert blocks, "the README should show Python code"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_quick_start_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^(make \w+)", quick_start, re.MULTILINE)
    assert commands == ["make demo", "make test"]
    for command in commands:
        dry = run("make", "-n", command.split()[1])
        assert dry.returncode == 0, dry.stderr


def test_supportflow_demo_prints_every_ticket_path(tmp_path):
    result = run(str(SCRIPTS / "supportflow"), "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "on sqlite:///supportflow-demo.db" in out
    assert (tmp_path / "supportflow-demo.db").exists()
    again = run(str(SCRIPTS / "supportflow"), "demo", cwd=tmp_path)  # starts afresh
    assert again.stdout == out
    assert "new > acknowledged > triaged > in_progress > waiting_on_customer > in_progress" in out
    assert "new > resolved > closed" in out  # first-contact resolution
    assert "new > merged" in out
    assert "new > cancelled" in out
    assert "1 cancelled, 3 closed, 1 in_progress, 1 merged, 1 resolved, 1 triaged" in out
    printer = next(line for line in out.splitlines() if "Printer on floor 3" in line)
    assert printer.split()[-2:] == ["breached", "running"]  # acknowledged, never answered


def test_lifecycle_show_and_check_on_the_command_line(tmp_path):
    shown = run(str(SCRIPTS / "supportflow"), "lifecycle", "show", "simple")
    assert shown.returncode == 0
    path = tmp_path / "simple.toml"
    path.write_text(shown.stdout)
    checked = run(str(SCRIPTS / "supportflow"), "lifecycle", "check", str(path))
    assert checked.returncode == 0
    assert "lifecycle 'simple' is valid: 4 states, 5 transitions" in checked.stdout

    path.write_text(shown.stdout.replace('dest = "closed"', 'dest = "gone"'))
    broken = run(str(SCRIPTS / "supportflow"), "lifecycle", "check", str(path))
    assert broken.returncode == 1
    assert "unknown destination state 'gone'" in broken.stderr

    diagram = run(str(SCRIPTS / "supportflow"), "lifecycle", "show", "--format", "mermaid")
    assert "stateDiagram-v2" in diagram.stdout


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "quickstart.py",
            [
                "is resolved after 7 events",
                "refused: cannot 'close'",
                "agent:ann: Sorry about that",
            ],
        ),
        (
            "custom_lifecycle.py",
            [
                "guard 'in_change_window' refused 'implement'",
                "Upgrade the core switch: done (version 6)",
            ],
        ),
    ],
)
def test_examples_run(script, expected):
    result = run(sys.executable, str(ROOT / "examples" / script))
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout


def test_db_upgrade_creates_the_tables_once_and_again_safely(tmp_path):
    import sqlite3

    url = f"sqlite:///{tmp_path / 'app.db'}"
    for _ in range(2):
        result = run(
            str(SCRIPTS / "supportflow"), "db", "upgrade", "--store", url, "--prefix", "help_"
        )
        assert result.returncode == 0, result.stderr
        assert "are up to date" in result.stdout
    with sqlite3.connect(tmp_path / "app.db") as connection:
        names = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"help_tickets", "help_events", "help_outbox", "help_alembic_version"} <= names
    bad = run(str(SCRIPTS / "supportflow"), "db", "upgrade", "--store", url, "--prefix", "X;")
    assert bad.returncode == 1
    assert "invalid table prefix" in bad.stderr
