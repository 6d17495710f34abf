#!/usr/bin/env python3
"""Baseline for `npm run bench -- pipeline`: the OFFICIAL `Amodal3RImageTo3DPipeline` (.official/amodal3r, see
tools/fixtures/official.sh) on a model directory written by `amodal3r make-test-model` (the Hugging Face layout
the official `from_pretrained` reads), one view, timed per stage with the peak GPU memory of each.

    python3 tools/bench_pipeline_official.py --model DIR --image assets/examples/mug.png \
        --mask assets/examples/mug_mask.png [--seed 1 --ss-steps 12 --slat-steps 12 --runs 2] \
        [--device cuda|cpu] [--ply OUT.ply] [--json OUT.json]

What runs is `run_multi_image([image], [mask], seed, ...)` exactly as the official inference script calls it,
followed by `outputs['gaussian'][0].save_ply(...)`. Stage boundaries come from forward hooks (synchronised):
  encode            preprocess_image_w_mask + get_cond_w_masks twice (stage 1 and stage 2 conditions: the official
                    code runs DINOv2 twice) up to the first stage-1 flow call
  stage1            the stage-1 sampler (flow calls) up to the SS decoder
  ss-decode         SparseStructureDecoder forward (argwhere goes to stage 2)
  stage2            sample_slat (flow calls + denormalisation)
  decode-mesh       SLatMeshDecoder forward incl. its FlexiCubes extraction (to_representation)
  decode-gaussians  SLatGaussianDecoder forward incl. to_representation
  write-ply         Gaussian.save_ply (the official exporter)
Peak memory per stage: torch.cuda.max_memory_allocated() between boundaries (reset at each), so it includes the
weights the official pipeline keeps resident (all networks are on the GPU from the start) and FlexiCubes' dense
257^3 grid the mesh decoder allocates at construction. `load` (from_pretrained + .cuda()) is timed on its own.
Run 1 is cold (CUDA context, cuDNN/cuBLAS heuristics); later runs are warm; the JSON holds every run.

Shims, each used only when the real package is missing (the list actually used is in the JSON `shims`):
* the fixture shims (tools/fixtures/common.py): bare `amodal3r` packages, SDPA on old torch, tqdm, easydict;
* DINOv2: `torch.hub.load('facebookresearch/dinov2', ...)` (network) -> the same `DinoVisionTransformer`
  constructed from .official/dinov2 with the args in `<model>/dinov2/dinov2_vitl14_reg.json` and the weights in
  `dinov2_vitl14_reg.safetensors` (`_init_image_cond_model` replaced; the official transform is kept);
* spconv: the fixture shim (tools/fixtures/shims/spconv: gather-GEMM-scatter per tap, centre tap first, as spconv's
  Native algorithm, which the official inference selects) with the neighbour rows computed once per coordinate set
  and kept in the tensor's `indice_dict`, as spconv caches its index pairs (the shim recomputes them for every tap:
  26 argsorts per convolution at 1.3 M voxels);
* flash_attn: on torch >= 2, `F.scaled_dot_product_attention` over the padded batch of sequences with a key mask
  (exact attention; PyTorch picks its fused kernels); on older torch the fixture shim (math, per sequence);
* safetensors: a numpy reader of the format; torchvision.transforms: Normalize/Compose; rembg: an unused stub;
  cv2: getStructuringElement(MORPH_ELLIPSE) + dilate ported to numpy; plyfile: a writer of the binary PLY that
  `save_ply` describes; utils3d: the commit TRELLIS pins, carried in .official/utils3d-9a4eb15e.
These stand-ins change which kernels run, not what is computed: the official spconv / flash-attn CUDA kernels are
faster than the shims, so the baseline's times are upper bounds of the real official pipeline's (stated in
docs/performance.md next to the figures).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import common  # noqa: E402

UTILS3D_DIR = common.OFFICIAL / "utils3d-9a4eb15e"
SHIMS: list[str] = []


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model directory (amodal3r make-test-model or the release)")
    p.add_argument("--image", default="assets/examples/mug.png")
    p.add_argument("--mask", default="assets/examples/mug_mask.png")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ss-steps", type=int, default=12)
    p.add_argument("--slat-steps", type=int, default=12)
    p.add_argument("--runs", type=int, default=2, help="pipeline runs in this process (1 = cold only)")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--ply", default=None, help="where save_ply writes (default: a temporary file, removed)")
    p.add_argument("--json", default=None, help="also write the JSON here (atomically)")
    return p.parse_args()


# --------------------------------------------------------------------------------------------------- shims
def missing(name: str) -> bool:
    try:
        __import__(name)
        return False
    except ImportError:
        return True


def shim_safetensors(torch):
    if not missing("safetensors"):
        return
    dt = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "BF16": None, "U8": np.uint8}

    def load_file(path, device="cpu"):
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
            base = 8 + n
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        out = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            if dt.get(v["dtype"]) is None:
                raise SystemExit(f"safetensors shim: dtype {v['dtype']} of {k} in {path} is not supported")
            a, b = v["data_offsets"]
            arr = np.frombuffer(mm[base + a:base + b], dtype=dt[v["dtype"]]).reshape(v["shape"])
            out[k] = torch.from_numpy(arr.copy()).to(device)
        return out

    pkg = types.ModuleType("safetensors")
    sub = types.ModuleType("safetensors.torch")
    sub.load_file = load_file
    sub.save_file = lambda *a, **k: (_ for _ in ()).throw(NotImplementedError("safetensors shim: read only"))
    pkg.torch = sub
    sys.modules["safetensors"], sys.modules["safetensors.torch"] = pkg, sub
    SHIMS.append("safetensors: numpy reader (package absent)")


def shim_torchvision(torch):
    if not missing("torchvision"):
        return

    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, x):
            m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
            s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
            return (x - m) / s

    class Compose:
        def __init__(self, ts):
            self.ts = ts

        def __call__(self, x):
            for t in self.ts:
                x = t(x)
            return x

    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    tr.Normalize, tr.Compose = Normalize, Compose
    tv.transforms = tr
    sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, tr
    SHIMS.append("torchvision.transforms: Normalize/Compose ((x - mean) / std) (package absent)")


def shim_cv2():
    if not missing("cv2"):
        return
    cv2 = types.ModuleType("cv2")
    cv2.MORPH_ELLIPSE = 2

    def get_structuring_element(shape, ksize):
        # OpenCV's MORPH_ELLIPSE construction (imgproc/morph.dispatch.cpp getStructuringElement).
        assert shape == cv2.MORPH_ELLIPSE
        w, h = ksize
        r, c = h // 2, w // 2
        inv_r2 = 1.0 / (r * r) if r else 0.0
        k = np.zeros((h, w), np.uint8)
        for i in range(h):
            dy = i - r
            if abs(dy) <= r:
                dx = int(round(c * math.sqrt((r * r - dy * dy) * inv_r2))) if r else c
                k[i, max(c - dx, 0):min(c + dx + 1, w)] = 1
        return k

    def dilate(src, kernel, iterations=1):
        out = src
        kh, kw = kernel.shape
        ay, ax = kh // 2, kw // 2
        for _ in range(iterations):
            pad = np.pad(out, ((ay, kh - 1 - ay), (ax, kw - 1 - ax)), constant_values=0)
            acc = np.zeros_like(out)
            for i in range(kh):
                for j in range(kw):
                    if kernel[i, j]:
                        acc = np.maximum(acc, pad[i:i + out.shape[0], j:j + out.shape[1]])
            out = acc
        return out

    cv2.getStructuringElement, cv2.dilate = get_structuring_element, dilate
    sys.modules["cv2"] = cv2
    SHIMS.append("cv2: getStructuringElement(MORPH_ELLIPSE) and dilate in numpy (package absent)")


def shim_plyfile():
    if not missing("plyfile"):
        return
    ply = types.ModuleType("plyfile")

    class PlyElement:
        def __init__(self, data, name):
            self.data, self.name = data, name

        @staticmethod
        def describe(arr, name):
            return PlyElement(arr, name)

    class PlyData:
        def __init__(self, els):
            self.els = els

        def write(self, path):
            types_ = {"f4": "float", "f8": "double", "u1": "uchar", "i4": "int", "u4": "uint"}
            with open(path, "wb") as f:
                head = ["ply", "format binary_little_endian 1.0"]
                for e in self.els:
                    head.append(f"element {e.name} {len(e.data)}")
                    for n in e.data.dtype.names:
                        head.append(f"property {types_[e.data.dtype[n].str[1:]]} {n}")
                head.append("end_header")
                f.write(("\n".join(head) + "\n").encode())
                for e in self.els:
                    f.write(e.data.astype(e.data.dtype.newbyteorder("<")).tobytes())

    ply.PlyElement, ply.PlyData = PlyElement, PlyData
    sys.modules["plyfile"] = ply
    SHIMS.append("plyfile: binary little-endian PLY writer of the described elements (package absent)")


def shim_utils3d():
    if not missing("utils3d"):
        return
    if not (UTILS3D_DIR / "utils3d").is_dir():
        raise SystemExit(f"utils3d missing and {UTILS3D_DIR} absent: run `bash tools/fixtures/official.sh`")
    sys.path.insert(0, str(UTILS3D_DIR))
    SHIMS.append(f"utils3d: {UTILS3D_DIR.name} (the commit TRELLIS pins)")


def shim_misc():
    if missing("rembg"):
        sys.modules["rembg"] = types.ModuleType("rembg")  # only used by preprocess_image, which is not called
        SHIMS.append("rembg: empty stub (background removal is not part of run_multi_image)")


def speed_up_spconv_shim(torch):
    """Caches the fixture shim's neighbour rows per coordinate set (same arithmetic, same order)."""
    import spconv.pytorch as spt

    if "tools/fixtures/shims" not in (getattr(spt, "__file__", "") or ""):
        return  # real spconv
    spt.cache_neighbour_rows(True)
    SHIMS.append("spconv: tools/fixtures/shims/spconv with neighbour rows cached per coordinate set "
                 "(indice_dict), gather-GEMM-scatter per tap as spconv Native")


def install_flash_attn(torch):
    import flash_attn

    if "tools/fixtures/shims" not in (getattr(flash_attn, "__file__", "") or ""):
        return  # real flash-attn
    if not common.NATIVE_SDPA:
        SHIMS.append("flash_attn: tools/fixtures/shims/flash_attn (math attention per sequence; torch < 2)")
        return
    import torch.nn.functional as F

    def varlen(q, k, v, cu_q, cu_k, max_q=None, max_k=None, dropout_p=0.0, softmax_scale=None, causal=False, **_):
        # q [Tq, H, D], k/v [Tk, H, D]; sequences delimited by cu_seqlens. Padded batch + key mask.
        lq = (cu_q[1:] - cu_q[:-1]).long()
        lk = (cu_k[1:] - cu_k[:-1]).long()
        b = lq.shape[0]
        if bool((lq == lq[0]).all()) and bool((lk == lk[0]).all()):
            qq = q.reshape(b, int(lq[0]), *q.shape[1:]).transpose(1, 2)
            kk = k.reshape(b, int(lk[0]), *k.shape[1:]).transpose(1, 2)
            vv = v.reshape(b, int(lk[0]), *v.shape[1:]).transpose(1, 2)
            o = F.scaled_dot_product_attention(qq, kk, vv, scale=softmax_scale)
            return o.transpose(1, 2).reshape(q.shape[0], q.shape[1], v.shape[2])
        mq, mk = int(lq.max()), int(lk.max())
        ar = torch.arange(b, device=q.device)
        bq = torch.repeat_interleave(ar, lq)
        pq = torch.arange(q.shape[0], device=q.device) - cu_q[:-1].long()[bq]
        bk = torch.repeat_interleave(ar, lk)
        pk = torch.arange(k.shape[0], device=q.device) - cu_k[:-1].long()[bk]
        qp = q.new_zeros(b, mq, *q.shape[1:])
        kp = k.new_zeros(b, mk, *k.shape[1:])
        vp = v.new_zeros(b, mk, *v.shape[1:])
        qp[bq, pq], kp[bk, pk], vp[bk, pk] = q, k, v
        mask = (torch.arange(mk, device=q.device)[None] < lk[:, None])[:, None, None, :]
        o = F.scaled_dot_product_attention(qp.transpose(1, 2), kp.transpose(1, 2), vp.transpose(1, 2),
                                           attn_mask=mask, scale=softmax_scale)
        return o.transpose(1, 2)[bq, pq]

    m = types.ModuleType("flash_attn")
    m.flash_attn_varlen_func = varlen
    m.flash_attn_varlen_kvpacked_func = lambda q, kv, cq, ck, mq=None, mk=None, **kw: varlen(
        q, kv[:, 0], kv[:, 1], cq, ck, mq, mk, **kw)
    m.flash_attn_varlen_qkvpacked_func = lambda qkv, cu, ms=None, **kw: varlen(
        qkv[:, 0], qkv[:, 1], qkv[:, 2], cu, cu, ms, ms, **kw)

    def dense(q, k, v, softmax_scale=None, **_):  # [B, N, H, D]
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                              scale=softmax_scale).transpose(1, 2)

    m.flash_attn_func = dense
    m.flash_attn_qkvpacked_func = lambda qkv, **kw: dense(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], **kw)
    sys.modules["flash_attn"] = m
    SHIMS.append("flash_attn: F.scaled_dot_product_attention over the padded sequences with a key mask (exact)")


def install_shims(torch):
    """Every stand-in above (each only where the real package is missing); what ran is listed in SHIMS."""
    shim_safetensors(torch)
    shim_torchvision(torch)
    shim_cv2()
    shim_plyfile()
    shim_utils3d()
    shim_misc()
    speed_up_spconv_shim(torch)
    install_flash_attn(torch)


# --------------------------------------------------------------------------------------------------- pipeline
def load_pipeline(torch, model_dir: Path, device: str):
    sys.path.insert(0, str(common.OFFICIAL))
    from dinov2.layers import MemEffAttention, NestedTensorBlock
    from dinov2.models.vision_transformer import DinoVisionTransformer
    from safetensors.torch import load_file

    from amodal3r.pipelines import image_to_3d

    dino_dir = model_dir / "dinov2"

    def init_image_cond_model(self, name):
        # Official: torch.hub.load('facebookresearch/dinov2', name, pretrained=True) (network). Same module class,
        # constructed as the hub's `vit_large` does, with the args and weights of the model directory.
        if name != "dinov2_vitl14_reg":
            raise SystemExit(f"pipeline.json image_cond_model {name!r}: only dinov2_vitl14_reg is supported here")
        cfg = json.loads((dino_dir / f"{name}.json").read_text())["args"]
        model = DinoVisionTransformer(block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
                                      block_chunks=0, interpolate_antialias=True, interpolate_offset=0.0, **cfg)
        model.load_state_dict(load_file(str(dino_dir / f"{name}.safetensors")), strict=True)
        model.eval()
        self.models["image_cond_model"] = model
        self.image_cond_model_transform = image_to_3d.transforms.Compose(
            [image_to_3d.transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

    image_to_3d.Amodal3RImageTo3DPipeline._init_image_cond_model = init_image_cond_model
    SHIMS.append("DINOv2: _init_image_cond_model builds DinoVisionTransformer (hub vit_large body) from "
                 "<model>/dinov2 instead of torch.hub (network)")
    if device == "cpu":
        # The official representations hard-code cuda; only for local CPU debugging.
        from amodal3r.representations.gaussian import gaussian_model
        from amodal3r.representations.mesh import cube2mesh

        torch.Tensor.cuda = lambda self, *a, **k: self
        d = list(gaussian_model.Gaussian.__init__.__defaults__)
        d[-1] = "cpu"
        gaussian_model.Gaussian.__init__.__defaults__ = tuple(d)
        d = list(cube2mesh.SparseFeatures2Mesh.__init__.__defaults__)
        d[0] = "cpu"
        cube2mesh.SparseFeatures2Mesh.__init__.__defaults__ = tuple(d)
        SHIMS.append("cpu debug run: Tensor.cuda identity, Gaussian/SparseFeatures2Mesh default device cpu")
        if int(torch.__version__.split(".")[0]) < 2:
            # torch < 2 refuses int32 index tensors (the official code relies on torch >= 2 accepting them).
            dense = cube2mesh.get_dense_attrs
            cube2mesh.get_dense_attrs = lambda c, f, res, sdf_init=True: dense(c.long(), f, res, sdf_init)
            SHIMS.append("cpu debug run on torch < 2: get_dense_attrs indices cast to int64")
    pipe = image_to_3d.Amodal3RImageTo3DPipeline.from_pretrained(str(model_dir))
    if device == "cpu":
        # CPU torch lacks half kernels (silu, conv3d): fp32 for a local check of the plumbing only.
        for model in pipe.models.values():
            if hasattr(model, "convert_to_fp32"):
                model.convert_to_fp32()
                model.use_fp16, model.dtype = False, torch.float32  # the flows' convert_to_fp32 leaves these
        SHIMS.append("cpu debug run: use_fp16 models converted to fp32 (CPU torch has no half kernels)")
    pipe.to(torch.device(device))
    return pipe


class StageClock:
    """Stage boundaries from forward hooks; each boundary synchronises and reads/resets the peak memory."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device == "cuda"
        self.stages: list[dict] = []
        self.t = 0.0
        self.armed = set()

    def start(self):
        self.stages = []
        self.armed = {"stage1"}
        self._reset()
        self.t = time.perf_counter()

    def _reset(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def mark(self, finished: str):
        if self.cuda:
            self.torch.cuda.synchronize()
        now = time.perf_counter()
        peak = self.torch.cuda.max_memory_allocated() if self.cuda else None
        self.stages.append({"stage": finished, "seconds": now - self.t, "peakGpuBytes": peak})
        self._reset()
        self.t = time.perf_counter()

    def hook(self, module, before: str | None, after: str | None, once_key: str | None = None):
        if before:
            def pre(_m, _i):
                if once_key is None or once_key in self.armed:
                    self.armed.discard(once_key)
                    self.mark(before)
            module.register_forward_pre_hook(pre)
        if after:
            module.register_forward_hook(lambda _m, _i, _o: self.mark(after))


def main():
    args = parse_args()
    os.environ.setdefault("SPARSE_BACKEND", "spconv")
    os.environ.setdefault("SPARSE_ATTN_BACKEND", "flash_attn")
    os.environ.setdefault("SPCONV_ALGO", "native")
    torch = common.setup_amodal3r()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device; pass --device cpu for a (slow) local check")
    if args.device == "cuda":
        # PyTorch's defaults, which the official inference script keeps (common.setup_torch turned TF32 off for
        # fixtures): fp32 matmuls in full fp32, cuDNN convolutions allowed TF32.
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True
    install_shims(torch)
    try:
        from PIL import Image  # the official preprocessing resizes with PIL's LANCZOS: no stand-in
    except ImportError:
        raise SystemExit("Pillow is missing: the official preprocessing (PIL LANCZOS resize) needs it; "
                         "install it into this Python (pip install pillow) and rerun") from None

    model_dir = Path(args.model)
    if not (model_dir / "pipeline.json").is_file():
        raise SystemExit(f"{model_dir}/pipeline.json missing: write one with `amodal3r make-test-model`")
    image = Image.open(args.image)
    mask = Image.open(args.mask)
    cuda = args.device == "cuda"

    t0 = time.perf_counter()
    pipe = load_pipeline(torch, model_dir, args.device)
    if cuda:
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    resident = torch.cuda.memory_allocated() if cuda else None

    clock = StageClock(torch, args.device)
    m = pipe.models
    clock.hook(m["sparse_structure_flow_model"], "encode", None, once_key="stage1")
    clock.hook(m["sparse_structure_decoder"], "stage1", "ss-decode")
    clock.hook(m["slat_decoder_mesh"], "stage2", "decode-mesh")
    clock.hook(m["slat_decoder_gs"], None, "decode-gaussians")
    voxels = {"n": None}
    m["sparse_structure_decoder"].register_forward_hook(
        lambda _m, _i, o: voxels.__setitem__("n", int((o > 0).sum())))
    # decode_slat runs the mesh decoder first, then the Gaussian one: nothing between them to time.

    ply = Path(args.ply) if args.ply else Path(f"/tmp/amodal3r-official-{os.getpid()}.ply")
    runs = []
    for r in range(args.runs):
        clock.start()
        t_run = time.perf_counter()
        with torch.no_grad():
            out = pipe.run_multi_image([image], [mask], seed=args.seed,
                                       sparse_structure_sampler_params={"steps": args.ss_steps},
                                       slat_sampler_params={"steps": args.slat_steps},
                                       formats=["mesh", "gaussian"], mode="stochastic", erode_kernel_size=3)
        g = out["gaussian"][0]
        clock._reset()
        clock.t = time.perf_counter()
        g.save_ply(str(ply))
        clock.mark("write-ply")
        mesh = out["mesh"][0]
        stages = clock.stages
        covered = sum(s["seconds"] for s in stages)
        runs.append({
            "run": r + 1,
            "stages": stages,
            "coveredSeconds": covered,
            "wallSeconds": time.perf_counter() - t_run,
            "peakGpuBytes": max((s["peakGpuBytes"] or 0) for s in stages) if cuda else None,
            "voxels": voxels["n"],
            "gaussians": int(g._xyz.shape[0]),
            "mesh": {"vertices": int(mesh.vertices.shape[0]), "triangles": int(mesh.faces.shape[0])},
            "plyBytes": ply.stat().st_size,
        })
        print(f"run {r + 1}: " + ", ".join(f"{s['stage']} {s['seconds']:.3f} s" for s in stages)
              + f"; covered {covered:.2f} s", file=sys.stderr)
        del out, g, mesh
    if not args.ply:
        ply.unlink(missing_ok=True)
    result = {
        "bench": "pipeline-official",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "model": str(model_dir),
        "seed": args.seed, "ssSteps": args.ss_steps, "slatSteps": args.slat_steps,
        "loadSeconds": load_s,
        "residentWeightBytes": resident,
        "maxMemoryReservedBytes": torch.cuda.max_memory_reserved() if cuda else None,
        "runs": runs,
        "shims": common.SHIMS + SHIMS,
        "official": common.official_commits(),
    }
    text = json.dumps(result, indent=1)
    if args.json:
        tmp = Path(f"{args.json}.tmp-{os.getpid()}")
        tmp.write_text(text + "\n")
        tmp.replace(args.json)
    print(text)


if __name__ == "__main__":
    main()
