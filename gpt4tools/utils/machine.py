"""What this machine is: its CPU kind, and the training precision that runs fast on it."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

import torch

from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX or AVX512-BF16); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # older torch without the probes
        return False


@cache
def cpu_precision() -> str:
    """The Lightning precision a CPU trains in: ``bf16-mixed`` where it multiplies bf16 natively (AMX /
    AVX512-BF16), else ``32-true`` (emulated bf16 matrix products are ~150x slower than fp32 ones and a
    train step ~14x, ``experiments/bench/precision.py``). Logged once; the config resolver
    ``${cpu_precision:}`` gives it to ``trainer.precision``."""
    precision = "bf16-mixed" if cpu_has_fast_bf16() else "32-true"
    log.info("trainer.precision: %s (%s)", precision, "native bf16 on this CPU" if precision == "bf16-mixed"
             else "this CPU has no native bf16 (AMX / AVX512-BF16)")
    return precision


@cache
def cpu_description() -> str:
    """The CPU's model name, core count and bf16 units, e.g. ``Intel(R) Xeon(R) Processor, 2 cores, AMX``."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    flags: set[str] = set()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="ignore").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    units = [label for flag, label in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16")) if flag in flags]
    if not units and "avx2" in flags:
        units = ["AVX2, no native bf16"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join([name, f"{cores} cores", *units])
