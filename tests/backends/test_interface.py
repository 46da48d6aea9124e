"""Every backend that starts here implements the whole primitive list."""

import pytest

from wisp import backends
from wisp.backends import interface


@pytest.mark.parametrize("device", backends.available())
def test_backend_implements_every_primitive(device):
    assert interface.missing(backends.get(device)) == []


def test_unknown_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="unknown device 'tpu'"):
        backends.get("tpu")


def test_unavailable_device_reports_why():
    reasons = backends.why_unavailable()
    assert "cpu" not in reasons
    for name, why in reasons.items():
        assert why, f"{name} failed without a reason"
