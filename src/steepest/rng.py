"""Counter-based random numbers: draws are a pure function of (key, index).

Why not ``torch.Generator``: a population of K members would need K stateful generators
and a Python loop over members in every dropout layer of every step, and a generator's
stream depends on how many draws came before. A hash of (key, element index) is one
vectorized op, works inside ``vmap`` (the key is then a per-member scalar), and gives
member k exactly the draws it gets when trained alone — the population invariant. The
one exception is `permutation`, drawn once an epoch outside vmap: there a generator seeded
with the hashed key is fresh for every draw, so the loop over members is cheap and the
result is again a pure function of the key.

All arithmetic is on int64 tensors holding 32-bit values; multiplier constants are below
2**31 so no product overflows.
"""

from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import Tensor

_MASK32 = 0xFFFFFFFF
_Int = TypeVar("_Int", Tensor, int)  # int64 tensors, or Python ints (`derive_int_key`)


def mix32(x: _Int) -> _Int:
    """A 32-bit integer finaliser (lowbias32 shape, all mod 2³²):
    x ← (x ⊕ x≫16)·0x7feb352d;  x ← (x ⊕ x≫15)·0x1b873593;  x ← x ⊕ x≫16."""
    x = x & _MASK32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & _MASK32
    x = ((x ^ (x >> 15)) * 0x1B873593) & _MASK32
    return x ^ (x >> 16)


def derive_key(seed: Tensor | int, *counters: Tensor | int) -> Tensor:
    """Fold a seed and counters (epoch, step, layer, …) into one 32-bit key.

    k₀ = mix(seed);  kᵢ = mix(kᵢ₋₁ ⊕ mix(cᵢ + i)). Tensor arguments broadcast, so a
    [K] seed tensor gives K per-member keys in one call.
    """
    as_tensor = [torch.as_tensor(value, dtype=torch.int64) for value in (seed, *counters)]
    return _fold(as_tensor[0], as_tensor[1:])


def derive_int_key(seed: int, *counters: int) -> int:
    """`derive_key` of Python ints, as a Python int: the same key, from integer arithmetic
    alone, in a few µs where the tensor route's dozen tiny ops take over 100 (for a key a
    step, as the forward of a population of one draws)."""
    return _fold(seed, counters)


def _fold(seed: _Int, counters: Sequence[_Int]) -> _Int:
    """k₀ = mix(seed);  kᵢ = mix(kᵢ₋₁ ⊕ mix(cᵢ + i)), on int64 tensors or Python ints
    alike (`mix32` keeps every value below 2³², so neither overflows)."""
    key = mix32(seed)
    for i, counter in enumerate(counters, start=1):
        key = mix32(key ^ mix32(counter + i))
    return key


def random_bits(key: Tensor, shape: tuple[int, ...] | torch.Size) -> Tensor:
    """32-bit hashed integers of `shape` (int64), element i = mix(mix(i ⊕ key) + key)."""
    n = 1
    for d in shape:
        n *= d
    index = torch.arange(n, dtype=torch.int64, device=key.device).view(shape)
    return mix32(mix32(index ^ key) + key)


def uniform(key: Tensor, shape: tuple[int, ...] | torch.Size) -> Tensor:
    """U[0, 1) float32 draws of `shape` from a key (the top 24 bits of each hash)."""
    return (random_bits(key, shape) >> 8).to(torch.float32) * (1.0 / (1 << 24))


def permutation(key: Tensor, n: int) -> Tensor:
    """A permutation of range(n) (int64, on the CPU): torch.randperm from a generator
    seeded with the key, so again a pure function of the key.

    With a [K] key this gives K independent permutations as a [K, n] tensor. Drawn once
    an epoch, a loop over the members costs little here, and it is five times faster
    than an argsort of hashed draws (K=18 members, n=1257: 0.22 ms against 1.2 ms).
    """
    generator = torch.Generator()
    rows = [torch.randperm(n, generator=generator.manual_seed(k)) for k in key.reshape(-1).tolist()]
    return torch.stack(rows) if key.dim() else rows[0]
