"""INT8 chosen for a device's CPU (``target: DEVICE`` on a quantize stage, edgekit.quant.device_target): the
candidates it re-times there. The measurement on a device runs in test_remote.py over SSH (slow tier)."""

from __future__ import annotations


def test_device_target_tries_the_int8_variants_whose_speed_depends_on_the_cpu():
    """``target: DEVICE`` re-times the chosen INT8 with its per-channel and activation-type neighbours on the device
    (test_remote.py runs it over SSH); a dynamic attempt has none."""
    from edgekit.quant.device_target import neighbours
    from edgekit.quant.ort_static import Attempt

    chosen = Attempt()
    assert neighbours(chosen) == [chosen, chosen.but(per_channel=False), chosen.but(activation_type="int8")]
    assert neighbours(Attempt(mode="dynamic")) == [Attempt(mode="dynamic")]
