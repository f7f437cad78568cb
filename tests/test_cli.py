import subprocess
import sys


def test_unknown_command_is_one_line_of_usage_not_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "drone_ops.cli", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "invalid choice" in proc.stderr
