"""Memory: how much a population may use, and keeping freed tensor memory in the process.

`memory_budget`: a share of the free GPU memory or RAM.

`keep_freed_memory`: keep freed tensor memory in the process instead of handing it back
to the OS.

PyTorch's CPU tensors come from glibc's malloc. By default glibc returns a freed block of
a few MB to the kernel (trim, or munmap), so a training step that frees and reallocates
the same temporaries every time page-faults all of them back in: measured here, a K=64
Adam update with per-member hyperparameters ran 3× slower than with the memory kept.
Training allocates the same sizes step after step, so keeping them costs no more than the
peak a step already needs. glibc only; elsewhere (musl, macOS) nothing changes.
"""

import ctypes
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `import steepest` runs this module and must not import torch
    import torch

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses larger values on 64-bit
_TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and trim it only past 1 GiB of free memory;
    whether glibc took the settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


def memory_budget(device: "torch.device", fraction: float = 0.5) -> int:
    """Bytes a population may use: `fraction` of free GPU memory or of available RAM."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * fraction)
    return int(_available_ram() * fraction)


def _available_ram() -> int:
    """Bytes of RAM a process can still get: Linux's MemAvailable (free pages plus the
    page cache the kernel would drop for us); elsewhere the free pages alone. Free pages
    alone undercount a machine whose cache holds most of its memory, as any machine
    that has read large files does."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
