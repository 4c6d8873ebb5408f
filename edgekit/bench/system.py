"""What machine a result came from, and what state it was in.

``fingerprint()`` says whether two results are comparable: its ``id`` hashes only what decides speed (CPU model,
board, ISA features, usable cores, onnxruntime version; threads are compared per result), while Python, numpy,
the kernel release and the memory size are kept as context, so a runner image update does not silently switch
latency regression checks off;
``snapshot()`` records frequency, governor, temperature and throttling before and after a run, from Linux
sysfs and the Raspberry Pi's ``vcgencmd`` where they exist. Everything degrades to "unknown", never fails."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

# ISA features that change which kernels ONNX Runtime picks (x86 /proc/cpuinfo "flags", ARM "Features")
ISA_FLAGS = {
    "avx2": "avx2",
    "avx512f": "avx512f",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "amx_int8": "amx_int8",
    "neon": "asimd",
    "dotprod": "asimddp",
    "i8mm": "i8mm",
    "sve": "sve",
    "bf16": "bf16",
}
# vcgencmd get_throttled bits 0-3 are "now" (under-voltage, frequency capped, throttled, soft temperature limit);
# bits 16-19 the same "since boot"
THROTTLED_NOW = 0xF
THROTTLED_SINCE_BOOT = 0xF0000


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    return info


def _memory_bytes() -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


SPEED_KEYS = ("cpu", "board", "arch", "isa", "cores_usable", "onnxruntime")


def speed_id(fp: dict | None = None) -> str:
    """16 hex digits over the facts that decide speed; equal ids mean comparable latencies."""
    fp = fp if fp is not None else fingerprint()
    facts = {k: fp.get(k) for k in SPEED_KEYS}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _arch_family(name: str) -> str:
    name = name.lower()
    for family, prefixes in (
        ("x86", ("x86", "amd64", "i386", "i686")),
        ("arm", ("aarch64", "arm")),
        ("riscv", ("riscv",)),
        ("ppc", ("ppc", "powerpc")),
        ("s390", ("s390",)),
    ):
        if name.startswith(prefixes):
            return family
    return name


def emulation(machine: str | None = None, cpuinfo: dict[str, str] | None = None) -> str | None:
    """How this process is emulated, e.g. "qemu-user: aarch64 code on an x86 CPU (AMD EPYC ...)", or None if native.

    Under qemu-user the kernel's /proc/cpuinfo still describes the host's CPU (x86 keys vendor_id/flags under an
    aarch64 python), so a CPU whose family differs from the interpreter's architecture means emulation."""
    machine = machine or platform.machine()
    info = _cpuinfo() if cpuinfo is None else cpuinfo
    if "vendor_id" in info or ("flags" in info and "Features" not in info):
        cpu_family = "x86"
    elif "CPU implementer" in info or "Features" in info:
        cpu_family = "arm"
    else:
        return None  # cpuinfo says nothing we recognise: assume native
    if cpu_family == _arch_family(machine):
        return None
    return f"qemu-user: {machine} code on an {cpu_family} CPU ({info.get('model name') or 'unknown model'})"


def fingerprint() -> dict:
    """Static facts about this machine and software stack: ``id`` (speed_id) plus context."""
    info = _cpuinfo()
    emulated = emulation(platform.machine(), info)
    # under emulation cpuinfo lists the host CPU's flags, which the emulated code cannot use
    flags = set() if emulated else set((info.get("flags") or info.get("Features") or "").split())
    if platform.machine().lower() in ("aarch64", "arm64"):
        flags.add("asimd")  # NEON is mandatory on AArch64 even where the kernel does not list it
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    cpu = info.get("model name") or info.get("Model") or info.get("Hardware") or platform.processor() or "unknown"
    fp = {
        # an emulated run must not pass for the host's CPU: its timings say nothing about either machine
        "cpu": f"emulated {platform.machine()} (on {cpu})" if emulated else cpu,
        "board": (_read("/proc/device-tree/model") or "").rstrip("\x00") or None,
        "arch": platform.machine(),
        "isa": sorted(name for name, flag in ISA_FLAGS.items() if flag in flags),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "virtualized": "hypervisor" in flags,
        # only when emulated: a native machine's fingerprint (and its id in reports) stays what it was
        **({"emulated": emulated} if emulated else {}),
    }
    return {"id": speed_id(fp), **fp}


def _vcgencmd(*args: str) -> str | None:
    exe = shutil.which("vcgencmd")
    if not exe:
        return None
    try:
        res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip().partition("=")[2] or None  # "throttled=0x50000" -> "0x50000"


def _int(text: str | None) -> int | None:
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def snapshot() -> dict:
    """Frequency (kHz per core), governor, temperatures (°C), throttle counters, now."""
    cpus = sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*"), key=lambda p: int(p.name[3:]))
    freqs = [_int(_read(c / "cpufreq/scaling_cur_freq")) for c in cpus]
    temps = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        t = _int(_read(zone / "temp"))
        if t is not None:
            temps[_read(zone / "type") or zone.name] = t / 1000
    # Intel exposes per-core thermal throttle event counters; an increase during a run means it was throttled
    counts = [_int(_read(c / "thermal_throttle/core_throttle_count")) for c in cpus]
    return {
        "freq_khz": [f for f in freqs if f is not None] or None,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "temperature_c": temps or None,
        "throttle_events": sum(c for c in counts if c is not None) if any(c is not None for c in counts) else None,
        "vcgencmd_throttled": _int(_vcgencmd("get_throttled")),
        "vcgencmd_temp": _vcgencmd("measure_temp"),
    }


def throttling(before: dict, after: dict) -> list[str]:
    """Why the run between two snapshots was throttled (and so is invalid); empty if it was not (or unknown)."""
    reasons = []
    vb, va = before.get("vcgencmd_throttled"), after.get("vcgencmd_throttled")
    if va is not None:
        if va & THROTTLED_NOW:
            reasons.append(f"vcgencmd get_throttled=0x{va:x}: under-voltage or throttling during the run")
        elif vb is not None and (va & ~vb) & THROTTLED_SINCE_BOOT:
            reasons.append(f"vcgencmd get_throttled went 0x{vb:x} -> 0x{va:x}: throttled during the run")
    eb, ea = before.get("throttle_events"), after.get("throttle_events")
    if eb is not None and ea is not None and ea > eb:
        reasons.append(f"{ea - eb} CPU thermal throttle events during the run")
    return reasons


# /proc/stat "cpu" line fields, in order (jiffies summed over all cores)
_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_times() -> dict[str, int] | None:
    """Cumulative CPU time of all cores by kind (/proc/stat), or None where there is no /proc/stat."""
    first = (_read("/proc/stat") or "").partition("\n")[0].split()
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1 : 1 + len(_STAT_FIELDS)]]
    return dict(zip(_STAT_FIELDS, values + [0] * (len(_STAT_FIELDS) - len(values))))


def cpu_load(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, float] | None:
    """Between two cpu_times(): steal (the hypervisor ran someone else on our vCPUs) and busy, in % of all cores'
    time. Steal during a measurement means its queries waited for a physical core: it slows rounds unevenly."""
    if before is None or after is None:
        return None
    delta = {k: after[k] - before[k] for k in _STAT_FIELDS}
    total = sum(delta.values())
    if total <= 0:
        return None
    busy = total - delta["idle"] - delta["iowait"] - delta["steal"]
    return {"steal_percent": round(100 * delta["steal"] / total, 2), "busy_percent": round(100 * busy / total, 2)}
