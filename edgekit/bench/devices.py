"""Where ``edgekit bench --on NAME`` runs: a device reached over SSH, named on the command line or in an inventory.

``--on pi@raspberrypi.local`` is an SSH destination as ``ssh`` takes it (a ``Host`` alias from ~/.ssh/config
works too). An inventory, ``devices.yaml`` (``--devices FILE``, else ./devices.yaml, else
~/.config/edgekit/devices.yaml), names devices and their settings::

    pi4:
      host: pi@192.168.1.40          # ssh destination (user@host or a Host alias)
      ssh_config: ~/.ssh/config      # optional: ssh -F FILE
      python: ~/venvs/edgekit/bin/python   # optional: a python with edgekit's base install
      dir: ~/edgekit-bench           # optional: working folder on the device
      cooldown_s: 60                 # optional: wait this long before measuring (a Pi heats up while copying)

Credentials are never in here: ssh takes keys from the user's agent and ssh config."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edgekit.errors import InputError
from edgekit.recipe.yamlerrors import map_lines, validate

DEFAULT_DIR = "~/.cache/edgekit/bench"
# the venv `--setup-device` creates (and later runs use) when the device has no python of its own configured
DEFAULT_VENV = "~/.cache/edgekit/venv"


class Device(BaseModel):
    """One device and how to reach it; frozen and strict like a recipe's stage configs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="name in reports and result files")
    host: str = Field(
        min_length=1,
        pattern=r"^[^\s;&|`$<>'\"-][^\s;&|`$<>'\"]*$",
        description="ssh destination: user@host or a Host alias (never an ssh option)",
    )
    ssh_config: str | None = Field(None, description="ssh -F FILE (default: ssh's own ~/.ssh/config)")
    python: str | None = Field(
        None, description=f"python with edgekit's base install on the device (default: {DEFAULT_VENV})"
    )
    dir: str = Field(DEFAULT_DIR, description="working folder on the device")
    cooldown_s: float = Field(
        0, ge=0, le=3600, description="seconds to wait on the device before measuring (cooling down)"
    )
    connect_timeout_s: int = Field(15, ge=1, le=600, description="give up connecting after this many seconds")


def _inventory_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise InputError(f"{explicit}: no such devices file")
        return explicit
    for p in (Path("devices.yaml"), Path(os.path.expanduser("~/.config/edgekit/devices.yaml"))):
        if p.is_file():
            return p
    return None


def load_inventory(path: Path) -> dict[str, Device]:
    """Devices by name from a YAML inventory; errors name file, line and key."""
    try:
        text = path.read_text()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as e:
        raise InputError(f"{path}: cannot read devices file ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML: {getattr(e, 'problem', None) or e}"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(f"{path}: a devices file maps names to settings (pi4: {{host: pi@192.168.1.40}})")
    lines: dict = {}
    map_lines(node, (), lines, path)
    base = path.parent
    devices = {}
    for name, raw in data.items():
        dev = validate(Device, {"name": str(name), **raw}, path, lines, (name,))
        if dev.ssh_config and not os.path.isabs(os.path.expanduser(dev.ssh_config)):
            dev = dev.model_copy(update={"ssh_config": str(base / dev.ssh_config)})  # relative to the inventory
        devices[str(name)] = dev
    return devices


def resolve_device(on: str, devices_file: Path | None = None) -> Device:
    """``--on`` value -> Device: an inventory name first, else an ssh destination with default settings."""
    path = _inventory_path(devices_file)
    inventory = load_inventory(path) if path else {}
    if on in inventory:
        return inventory[on]
    if devices_file is not None:
        raise InputError(f"--on {on!r}: not a device in {path} (it names: {', '.join(inventory) or 'none'})")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", on.rpartition("@")[2]) or "device"
    try:
        return Device(name=name, host=on)
    except ValueError:
        raise InputError(
            f"--on {on!r}: give an ssh destination (user@host or a Host alias) or a name from devices.yaml"
        ) from None
