#!/usr/bin/env python3
"""PyTorch reference for `npm run bench -- slat`: the OFFICIAL stage-2 modules (imported from .official, see
tools/fixtures/official.sh) at the released sizes with their constructors' random init, timed with CUDA events.

* flow: `SLatFlowModelMaskAsCondWeighted` (width 1024, 24 blocks, io [128], patch 2, qk_rms_norm), one CFG step =
  the conditional and the unconditional forward, batch 1 each (as the official sampler calls it), on the spherical
  shell of tools/fixtures/slat_flow.py --size full (20,256 voxels at 64^3).
* gs / rf: `SLatGaussianDecoder` / `SLatRadianceFieldDecoder` (768 wide, 12 swin blocks) on the same voxels,
  forward including `to_representation`.
* mesh: `SLatMeshDecoder` forward including `to_representation` = the official `SparseFeatures2Mesh` + FlexiCubes
  at 256^3 (dense grids, as the official code). The constructor zeroes `out_layer`, so every voxel's sdf is
  -1/256 and the surface is the boundary of the occupied 256^3 set: bench/slat.ts zeroes ours the same way.
  The network alone (to_representation -> identity) is timed too (`mesh_decoder_network`).
* conv: the flow's three submanifold-conv shapes alone (official `SparseConv3d` wrapper over the spconv shim).
* `--precision fp16` (default) builds the models with use_fp16=True (the released configs); `fp32` with TF32 off.

What is NOT the official stack (the device image has no spconv, flash-attn or xformers):
* spconv -> tools/fixtures/shims/spconv (submanifold conv = 27 neighbour gathers + GEMMs + index_add, the native
  algorithm's arithmetic), with its neighbour lookups cached per coordinate set (the shim's
  `cache_neighbour_rows`, turned on here; spconv caches its indice pairs per `indice_key` too). Real spconv's implicit-GEMM kernels are faster, so the reference's conv
  times are an upper bound of the official stack's.
* flash_attn -> SDPA stand-ins defined here when torch has `F.scaled_dot_product_attention` (torch >= 2): full
  attention per sequence, windowed attention as one batched SDPA over windows padded to the longest with a key
  mask (memory-efficient kernel); else tools/fixtures/shims/flash_attn (exact math per sequence).
  If the real packages are importable they are used. The output's `shims` lists what ran.

Warm-up >= 1 s of back-to-back calls, then the median of --iters CUDA-event timings. `--profile` adds a
torch.profiler CUDA-kernel breakdown per op family for the flow step and each decoder. Prints one JSON object.
    python3 tools/bench_slat_official.py [--precision fp16|fp32] [--iters 5] [--only flow,conv,gs,mesh,rf] [--profile]
CPU smoke test (reduced sizes, wall clock; fp16 GEMMs need CUDA):
    /usr/bin/python3 tools/bench_slat_official.py --device cpu --small --precision fp32
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures"))
import common  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--only", default="flow,conv,gs,mesh,rf")
ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
ap.add_argument("--small", action="store_true", help="reduced widths and voxels (CPU smoke test)")
ap.add_argument("--profile", action="store_true")
args = ap.parse_args()

os.environ.setdefault("SPARSE_BACKEND", "spconv")
os.environ.setdefault("SPARSE_ATTN_BACKEND", "flash_attn")
os.environ.setdefault("SPCONV_ALGO", "native")
torch = common.setup_amodal3r()
import slat_dec  # noqa: E402  (fixture helpers: plyfile/utils3d shims, light mesh-extractor init for --small)

dev = args.device
fp16 = args.precision == "fp16"
only = set(args.only.split(","))
shims: list[str] = []

FLOW = dict(resolution=64, in_channels=8, model_channels=1024, cond_channels=1024, out_channels=8, num_blocks=24,
            num_heads=16, mlp_ratio=4, patch_size=2, num_io_res_blocks=2, io_block_channels=[128], pe_mode="ape",
            qk_rms_norm=True, qk_rms_norm_cross=False, use_skip_connection=True, share_mod=False)
DEC = dict(slat_dec.FULL)
SHELL = (18, 22)
if args.small:
    FLOW.update(model_channels=128, num_heads=2, num_blocks=2, io_block_channels=[32])
    DEC.update(model_channels=256, num_heads=4, num_blocks=2)
    SHELL = (8, 10)


# --- sparse conv: the shim, with neighbour rows cached per coordinate tensor (as spconv's indice_key cache) ----
import spconv.pytorch as spconv_pt  # noqa: E402

if "tools/fixtures/shims" in (getattr(spconv_pt, "__file__", "") or ""):
    spconv_pt.cache_neighbour_rows(True)
    shims.append("spconv: tools/fixtures/shims/spconv (27 gathers + GEMMs + index_add per conv), neighbour rows "
                 "cached per coordinate set (indice_dict)")
else:
    shims.append(f"spconv: real package {getattr(spconv_pt, '__version__', '?')}")

# --- attention: real flash_attn if present, else SDPA stand-ins (torch >= 2), else the exact-math shim -------
import flash_attn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if "tools/fixtures/shims" in (getattr(flash_attn, "__file__", "") or "") and common.NATIVE_SDPA:

    def _varlen(q, k, v, cu_q, cu_k, max_q=None, max_k=None, dropout_p=0.0, softmax_scale=None, causal=False,
                **_):
        cq = [int(c) for c in cu_q]
        ck = [int(c) for c in cu_k]
        nseq = len(cq) - 1
        if nseq <= 4:  # one or a few long sequences (full attention): one SDPA call each, flash where eligible
            out = torch.empty(q.shape[0], q.shape[1], v.shape[2], dtype=q.dtype, device=q.device)
            for s in range(nseq):
                qs, ks, vs = (t.transpose(0, 1)[None] for t in (q[cq[s]:cq[s + 1]], k[ck[s]:ck[s + 1]],
                                                                  v[ck[s]:ck[s + 1]]))
                o = F.scaled_dot_product_attention(qs, ks, vs, scale=softmax_scale)
                out[cq[s]:cq[s + 1]] = o[0].transpose(0, 1)
            return out
        # Many short sequences (windows): pad to the longest, mask padded keys, one batched SDPA.
        lq = torch.tensor([cq[i + 1] - cq[i] for i in range(nseq)], device=q.device)
        lk = torch.tensor([ck[i + 1] - ck[i] for i in range(nseq)], device=q.device)
        mq, mk = int(lq.max()), int(lk.max())
        sq = torch.repeat_interleave(torch.arange(nseq, device=q.device), lq)
        pq = torch.arange(q.shape[0], device=q.device) - torch.tensor(cq[:-1], device=q.device)[sq]
        sk = torch.repeat_interleave(torch.arange(nseq, device=q.device), lk)
        pk = torch.arange(k.shape[0], device=q.device) - torch.tensor(ck[:-1], device=q.device)[sk]
        H, D, Dv = q.shape[1], q.shape[2], v.shape[2]
        Q = q.new_zeros(nseq, mq, H, D)
        K = k.new_zeros(nseq, mk, H, D)
        V = v.new_zeros(nseq, mk, H, Dv)
        Q[sq, pq], K[sk, pk], V[sk, pk] = q, k, v
        mask = (torch.arange(mk, device=q.device)[None] < lk[:, None])[:, None, None, :]
        o = F.scaled_dot_product_attention(Q.transpose(1, 2), K.transpose(1, 2), V.transpose(1, 2),
                                           attn_mask=mask, scale=softmax_scale)
        return o.transpose(1, 2)[sq, pq]

    def _kvpacked(q, kv, cu_q, cu_k, max_q=None, max_k=None, **kw):
        k, v = kv.unbind(dim=1)
        return _varlen(q, k, v, cu_q, cu_k, **kw)

    def _qkvpacked(qkv, cu, max_s=None, **kw):
        q, k, v = qkv.unbind(dim=1)
        return _varlen(q, k, v, cu, cu, **kw)

    def _dense_qkv(qkv, dropout_p=0.0, softmax_scale=None, causal=False, **_):
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(dim=2))  # [B, H, N, D]
        return F.scaled_dot_product_attention(q, k, v, scale=softmax_scale).transpose(1, 2)

    flash_attn.flash_attn_varlen_func = _varlen
    flash_attn.flash_attn_varlen_kvpacked_func = _kvpacked
    flash_attn.flash_attn_varlen_qkvpacked_func = _qkvpacked
    flash_attn.flash_attn_qkvpacked_func = _dense_qkv
    shims.append("flash_attn: SDPA stand-ins (tools/bench_slat_official.py): full attention one SDPA per sequence; "
                 "windows padded to the longest + key mask, one batched SDPA")
elif "tools/fixtures/shims" in (getattr(flash_attn, "__file__", "") or ""):
    shims.append("flash_attn: tools/fixtures/shims/flash_attn (exact math per sequence; torch lacks SDPA)")
else:
    shims.append(f"flash_attn: real package {getattr(flash_attn, '__version__', '?')}")

shims += slat_dec.install_shims(torch, dev)[0]  # plyfile capture, utils3d; .cuda() identity on the CPU only
if dev == "cpu":
    from amodal3r.representations.gaussian import gaussian_model  # noqa: E402
    from amodal3r.representations.mesh import cube2mesh  # noqa: E402

    d = list(gaussian_model.Gaussian.__init__.__defaults__)
    d[-1] = "cpu"
    gaussian_model.Gaussian.__init__.__defaults__ = tuple(d)

    def _light_init(self, device="cuda", res=64, use_color=True):  # no dense 257^3 grids on the CPU smoke run
        self.device, self.res, self.use_color = device, res, use_color
        self.sdf_bias = -1.0 / res
        self._calc_layout()

    cube2mesh.SparseFeatures2Mesh.__init__ = _light_init
    shims.append("CPU smoke run: Gaussian device cpu; SparseFeatures2Mesh without its dense grids (mesh network only)")
if not fp16:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

from amodal3r.models.structured_latent_flow_doubleattn_weighted import SLatFlowModelMaskAsCondWeighted  # noqa: E402
from amodal3r.models.structured_latent_vae.decoder_gs import SLatGaussianDecoder  # noqa: E402
from amodal3r.models.structured_latent_vae.decoder_mesh import SLatMeshDecoder  # noqa: E402
from amodal3r.models.structured_latent_vae.decoder_rf import SLatRadianceFieldDecoder  # noqa: E402
from amodal3r.modules import sparse as sp  # noqa: E402

def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def timed(fn, iters):
    return common.timed(fn, iters, dev)


FAMILIES = [
    ("attention", r"flash|fmha|attention|softmax|cutlassF|mem_eff"),
    ("matmul", r"gemm|cutlass|cublas|sm80_|sm90_|ampere|hopper|xmma|nvjet|s884|h884|s1688|h1688|dot_kernel|wgmma"),
    ("gather / scatter / index (spconv shim, windows)", r"index|gather|scatter|sort|searchsorted|nonzero|unique|cub"),
    ("norms", r"norm"),
]


def profile(fn):
    """CUDA kernel time of one call, grouped by op family (by kernel name)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    with tprofile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        sync()
    fam: dict = {}
    total = 0.0
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0.0)
        if not us:
            continue
        name = e.key
        f = next((k for k, rx in FAMILIES if re.search(rx, name, re.I)), "elementwise / other")
        b = fam.setdefault(f, {"ms": 0.0, "kernels": 0})
        b["ms"] += us / 1e3
        b["kernels"] += e.count
        total += us / 1e3
    return {"totalMs": total, "byFamily": fam}


def shell():
    r = torch.arange(64)
    x, y, z = torch.meshgrid(r, r, r, indexing="ij")
    d = ((x - 31.5) ** 2 + (y - 31.5) ** 2 + (z - 31.5) ** 2).sqrt()
    xyz = torch.nonzero((d >= SHELL[0]) & (d < SHELL[1])).int()
    return torch.cat([torch.zeros(xyz.shape[0], 1, dtype=torch.int32), xyz], 1)


coords = shell().to(dev)
n = coords.shape[0]
feats = torch.sin(torch.arange(n * 8, dtype=torch.float32) * 0.37).reshape(n, 8).to(dev)
out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
       "precision": args.precision, "voxels": n, "small": args.small, "flow_config": FLOW, "decoder_config": DEC}
print(f"slat official bench: {n} voxels, {args.precision}", file=sys.stderr)


def case(name, fn):
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        r = timed(fn, args.iters)
        if args.profile and dev == "cuda":
            r["profile"] = profile(fn)
        if dev == "cuda":
            r["peakBytes"] = torch.cuda.max_memory_allocated()
        out[name] = r
    except Exception as e:  # noqa: BLE001  (one failing case must not lose the others)
        out[name] = {"error": repr(e)}
    print(name, json.dumps(out[name]), file=sys.stderr)
    print(json.dumps({**out, "progress": name}), flush=True)  # one line: survives a step cut off by its limit


with torch.no_grad():
    x = sp.SparseTensor(feats, coords)
    if "flow" in only:
        torch.manual_seed(0)
        flow = SLatFlowModelMaskAsCondWeighted(**FLOW, use_fp16=fp16).to(dev).eval()
        cond = torch.randn(1, 4112, 1024, device=dev)
        neg = torch.zeros_like(cond)
        t = torch.tensor([750.0], device=dev)
        case("flow_cfg_step", lambda: (flow(x, t, cond), flow(x, t, neg)))
        del flow
    if "conv" in only:
        # The flow's three conv shapes (bench/slat.ts `conv`), through the official SparseConv3d wrapper -> shim.
        parents = torch.unique(torch.cat([coords[:, :1], coords[:, 1:] // 2], 1), dim=0)
        shapes = [("io", 32, 32), ("out0.conv1", 256, 32), ("down.conv2", 128, 128)] if args.small else \
            [("io", 128, 128), ("out0.conv1", 2048, 128), ("down.conv2", 1024, 1024)]
        for cname, cin, cout in shapes:
            at = parents if cname == "down.conv2" else coords
            torch.manual_seed(0)
            conv = sp.SparseConv3d(cin, cout, 3).to(dev).eval()
            if fp16:
                conv = conv.half()
            xf = torch.cos(torch.arange(at.shape[0] * cin, device=dev, dtype=torch.float32) * 0.11).reshape(-1, cin)
            xc = sp.SparseTensor(xf.half() if fp16 else xf, at.int())
            conv(xc)  # neighbour rows cached outside the timing, as spconv's indice pairs
            case(f"conv.{cname}", lambda: conv(xc))
            out[f"conv.{cname}"].update(cin=cin, cout=cout, rows=int(at.shape[0]))
    for name, cls, rep in [("gs", SLatGaussianDecoder, slat_dec.GS_REP), ("mesh", SLatMeshDecoder, slat_dec.MESH_REP),
                           ("rf", SLatRadianceFieldDecoder, slat_dec.RF_REP)]:
        if name not in only:
            continue
        torch.manual_seed(0)
        dec = cls(**DEC, use_fp16=fp16, representation_config=rep).to(dev).eval()
        if name != "mesh" or dev == "cuda":
            case(f"{name}_decoder", lambda: dec(x))
        if name == "mesh":
            if dev == "cuda":
                m = dec(x)[0]
                out["mesh_surface"] = {"vertices": int(m.vertices.shape[0]), "faces": int(m.faces.shape[0])}
            dec.to_representation = lambda h: h
            case("mesh_decoder_network", lambda: dec(x))
            try:
                out["mesh_voxels256"] = int(dec(x).coords.shape[0])
            except Exception as e:  # noqa: BLE001
                out["mesh_voxels256"] = repr(e)
        del dec
        if dev == "cuda":
            torch.cuda.empty_cache()
out["shims"] = common.SHIMS + shims
out["notes"] = ("official modules, constructor init (random), batch 1; CFG step = cond + uncond forward; "
                "decoders include to_representation (mesh: SparseFeatures2Mesh + FlexiCubes at 256^3)")
print(json.dumps(out, indent=1))
