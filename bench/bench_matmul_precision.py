"""One 1024 x 1024 matmul in fp32 and in bf16 on this CPU: GFLOP/s of each and their ratio, beside the kernels torch
uses and what --precision auto picks here.

    python bench/bench_matmul_precision.py                                              # this CPU as it is
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python bench/bench_matmul_precision.py   # as an AVX2-only CPU

Writes nothing; bench/results/bench_matmul_precision.txt holds the two runs the README quotes.
"""
import time

import torch

from common.models import machine_facts, resolve_precision


def gflops(dtype, size: int = 1024, repeats: int = 5) -> float:
    """Billions of floating-point operations per second of a size x size matmul in `dtype` (2·n³ per product)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    facts = machine_facts()
    fp32, bf16 = gflops(torch.float32), gflops(torch.bfloat16)
    print(f"CPU kernels {facts['cpu_capability']}, native bf16 {facts['cpu_native_bf16']} "
          f"({facts['cpu_bf16_extension']}), --precision auto here: {resolve_precision('auto')} | fp32 {fp32:.1f} "
          f"GFLOP/s, bf16 {bf16:.1f} GFLOP/s: bf16 is {bf16 / fp32:.2f}x fp32 ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
