#!/usr/bin/env python3
"""PyTorch baselines for the shapes of bench/matmul.ts, bench/attention.ts and bench/js-frameworks.ts.

Runs on the device machine (python3 there holds PyTorch with CUDA); prints one JSON object on stdout, a short
table on stderr.

  python3 tools/bench_torch.py [--small] [--iters 20] [--warmup-s 1.0]

Method (see /work/.library/device/METHOD.md and the device probe):
- validate first: each op at a small awkward shape against a float64 reference (relative L2 error);
- warm up >= 1 s of back-to-back launches (the H100 idles at 345 MHz and needs sustained work to clock up);
- time each launch with CUDA events, median of `iters`;
- random inputs (never zeros); TF32 is switched explicitly for the fp32 matmul cases.

FLOP counts: matmul 2*M*N*K; attention 4*B*H*Lq*Lk*D (QK^T and PV, softmax not counted), as PyTorch's
FlopCounterMode counts scaled_dot_product_attention.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

FULL = {
    "matmul": {"M": 4096, "N": 4096, "K": 4096},
    "self": {"B": 2, "H": 16, "Lq": 4096, "Lk": 4096, "D": 64},
    "cross": {"B": 2, "H": 16, "Lq": 4096, "Lk": 1374, "D": 64},
}
SMALL = {
    "matmul": {"M": 256, "N": 256, "K": 256},
    "self": {"B": 1, "H": 2, "Lq": 128, "Lk": 128, "D": 64},
    "cross": {"B": 1, "H": 2, "Lq": 128, "Lk": 70, "D": 64},
}
CHECK_MATMUL = {"M": 97, "N": 130, "K": 200}
CHECK_ATTN = {"B": 1, "H": 2, "Lq": 100, "Lk": 70, "D": 64}


def rel_l2(got: torch.Tensor, ref: torch.Tensor) -> float:
    got = got.double()
    if not torch.isfinite(got).all():
        return float("inf")
    return float((got - ref).norm() / ref.norm())


def time_cuda(fn, iters: int, warmup_s: float) -> dict:
    """Warm up for warmup_s of sustained launches, then time `iters` single launches with CUDA events."""
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < warmup_s or n < 3:
        fn()
        n += 1
        if n % 8 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return {"medianMs": statistics.median(samples), "minMs": min(samples), "iterations": iters}


def matmul_case(name: str, dtype: torch.dtype, tf32: bool, shape: dict, args) -> dict:
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    c = CHECK_MATMUL
    a0 = torch.rand(c["M"], c["K"], device=dev) * 2 - 1
    b0 = torch.rand(c["K"], c["N"], device=dev) * 2 - 1
    a0, b0 = a0.to(dtype), b0.to(dtype)
    rel = rel_l2(torch.matmul(a0, b0), a0.double() @ b0.double())
    M, N, K = shape["M"], shape["N"], shape["K"]
    a = (torch.rand(M, K, device=dev) * 2 - 1).to(dtype)
    b = (torch.rand(K, N, device=dev) * 2 - 1).to(dtype)
    out = torch.empty(M, N, device=dev, dtype=dtype)
    t = time_cuda(lambda: torch.matmul(a, b, out=out), args.iters, args.warmup_s)
    flop = 2 * M * N * K
    return {"id": name, "shape": shape, "relErr": rel, "tflops": flop / (t["medianMs"] * 1e-3) / 1e12, **t}


def sdpa_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    q, k, v = q.double(), k.double(), v.double()
    s = (q @ k.transpose(-1, -2)) / (q.shape[-1] ** 0.5)
    return torch.softmax(s, dim=-1) @ v


def attention_case(name: str, dtype: torch.dtype, shape: dict, args) -> dict:
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    c = CHECK_ATTN

    def rnd(s: dict, L: int) -> torch.Tensor:
        return (torch.rand(s["B"], s["H"], L, s["D"], device=dev) * 2 - 1).to(dtype)

    q0, k0, v0 = rnd(c, c["Lq"]), rnd(c, c["Lk"]), rnd(c, c["Lk"])
    rel = rel_l2(F.scaled_dot_product_attention(q0, k0, v0), sdpa_ref(q0, k0, v0))
    q, k, v = rnd(shape, shape["Lq"]), rnd(shape, shape["Lk"]), rnd(shape, shape["Lk"])
    t = time_cuda(lambda: F.scaled_dot_product_attention(q, k, v), args.iters, args.warmup_s)
    flop = 4 * shape["B"] * shape["H"] * shape["Lq"] * shape["Lk"] * shape["D"]
    backend = "unknown"
    try:  # which SDPA kernel PyTorch picks for this dtype/shape (flash needs fp16/bf16)
        from torch.nn.attention import SDPBackend, sdpa_kernel

        for b in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                  SDPBackend.MATH):
            try:
                with sdpa_kernel([b]):
                    F.scaled_dot_product_attention(q0, k0, v0)
                backend = b.name
                break
            except RuntimeError:
                continue
    except ImportError:
        pass
    return {
        "id": name,
        "shape": shape,
        "relErr": rel,
        "tflops": flop / (t["medianMs"] * 1e-3) / 1e12,
        "firstUsableBackend": backend,
        **t,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup-s", type=float, default=1.0)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"bench": "torch", "error": "CUDA not available"}))
        return 2
    torch.manual_seed(0)
    shapes = SMALL if args.small else FULL
    results = []
    m, a = shapes["matmul"], (shapes["self"], shapes["cross"])
    cases = [
        ("torch.matmul.f32.tf32off", lambda n: matmul_case(n, torch.float32, False, m, args)),
        ("torch.matmul.f32.tf32on", lambda n: matmul_case(n, torch.float32, True, m, args)),
        ("torch.matmul.f16", lambda n: matmul_case(n, torch.float16, False, m, args)),
        ("torch.sdpa.f16.self", lambda n: attention_case(n, torch.float16, a[0], args)),
        ("torch.sdpa.f16.cross", lambda n: attention_case(n, torch.float16, a[1], args)),
        ("torch.sdpa.f32.self", lambda n: attention_case(n, torch.float32, a[0], args)),
        ("torch.sdpa.f32.cross", lambda n: attention_case(n, torch.float32, a[1], args)),
    ]
    for name, case in cases:
        try:
            r = case(name)
        except Exception as e:  # record and go on: one failing case must not lose the others
            r = {"id": name, "error": f"{type(e).__name__}: {e}"}
        results.append(r)
        if "error" in r:
            print(f"{r['id']:28s} FAILED {r['error']}", file=sys.stderr)
        else:
            print(f"{r['id']:28s} {r['medianMs']:9.3f} ms {r['tflops']:8.1f} TFLOP/s relErr {r['relErr']:.1e}",
                  file=sys.stderr)
    torch.backends.cuda.matmul.allow_tf32 = False
    out = {
        "bench": "torch",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0),
        "timing": "CUDA events per launch, median, after >= warmup_s of sustained launches",
        "warmupS": args.warmup_s,
        "results": results,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
