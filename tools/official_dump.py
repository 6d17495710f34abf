#!/usr/bin/env python3
"""Runs the OFFICIAL Amodal3R pipeline and writes the intermediate tensors under the names `amodal3r reconstruct
--dump` uses, so `amodal3r compare` lines the two runs up (docs/reproducibility.md).

    python3 tools/official_dump.py --model DIR --image a.png --mask a_mask.png [--image b.png --mask b_mask.png]
        --out DUMP [--seed 1] [--ss-steps 12 --ss-cfg 7.5 --slat-steps 12 --slat-cfg 3]
        [--noise-ss FILE[:noise]] [--noise-slat FILE[:noise_feats]] [--coords FILE[:coords]] [--dump-steps]
        [--device cuda|cpu]

What runs is the official `Amodal3RImageTo3DPipeline.run_multi_image(images, masks, seed, ..., mode='stochastic',
erode_kernel_size=3)` (views in the given order: compare with ours run with `--view-order given`), loaded with
`from_pretrained(DIR)` from .official (`bash tools/fixtures/official.sh`). Two of its methods are replaced by
versions that make the same calls in the same order and additionally record tensors or take injected ones:
* `sample_sparse_structure`: draws `torch.randn(1, C, R, R, R)` (always, so the stage-2 draw continues the same
  generator stream), or uses --noise-ss; samples, decodes, `argwhere(ss > 0)`. With --coords it returns the given
  coordinates after the draw (stage 1 skipped, as ours does).
* `sample_slat`: draws `torch.randn(N, C)` or uses --noise-slat (N must match the coordinates); samples;
  `slat * std + mean`.
The DINOv2 input is recorded by a forward pre-hook, the condition from `get_cond_w_masks(stage='ss')` (the official
code encodes the views twice, once per stage; both are identical). Gaussians and mesh are read from the returned
`Gaussian` (`_xyz`, `_features_dc`, `_scaling`, `_rotation`, `_opacity`) and `MeshExtractResult`.

Environment: the shims of tools/bench_pipeline_official.py (spconv / flash-attn stand-ins that compute the same
values, numpy safetensors reader, cv2 ellipse + dilate in numpy, DINOv2 built from the model directory instead of
torch.hub); on torch < 2 the fixture SDPA shim; TF32 off (fp32 references). On a CPU the official code's hard-coded
`cuda` devices are redirected and use_fp16 models run in fp32 (CPU torch has no half kernels); the dump's metadata
lists every shim.

The folder is written into a temporary sibling and renamed into place; an existing --out is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures"))
sys.path.insert(0, str(HERE))
import common  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--image", action="append", required=True)
    p.add_argument("--mask", action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ss-steps", type=int, default=None, help="default: pipeline.json")
    p.add_argument("--ss-cfg", type=float, default=None)
    p.add_argument("--slat-steps", type=int, default=None)
    p.add_argument("--slat-cfg", type=float, default=None)
    p.add_argument("--noise-ss", default=None)
    p.add_argument("--noise-slat", default=None)
    p.add_argument("--coords", default=None)
    p.add_argument("--dump-steps", action="store_true")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    a = p.parse_args()
    if len(a.image) != len(a.mask):
        p.error(f"{len(a.image)} --image but {len(a.mask)} --mask: one 3-level mask per image, same order")
    return a


def split_ref(ref: str, default: str) -> tuple[str, str]:
    i = ref.rfind(":")
    if i > 1 and "/" not in ref[i + 1:]:
        return ref[:i], ref[i + 1:] or default
    return ref, default


def read_ref(torch, ref: str, default: str, flag: str):
    from safetensors.torch import load_file

    path, name = split_ref(ref, default)
    if not Path(path).is_file():
        raise SystemExit(f"{flag} {path}: no such file")
    tensors = load_file(path)
    if name not in tensors:
        raise SystemExit(f"{flag} {path} has no tensor '{name}' (it holds: {', '.join(tensors)}); pass FILE:NAME")
    return tensors[name], f"{path}:{name}"


def injected(ref, like, flag: str, needs: str, hint: str = ""):
    """The tensor of `ref` (from read_ref) in place of `like`: the same shape, moved to like's device and dtype."""
    t, where = ref
    if tuple(t.shape) != tuple(like.shape):
        raise SystemExit(f"{flag} {where} has shape {list(t.shape)} but {needs} {list(like.shape)}{hint}")
    return t.to(like.device, like.dtype)


def step_name(i: int) -> str:
    return f"step_{i:02d}"


def main():
    args = parse_args()
    os.environ.setdefault("SPARSE_BACKEND", "spconv")
    os.environ.setdefault("SPARSE_ATTN_BACKEND", "flash_attn")
    os.environ.setdefault("SPCONV_ALGO", "native")
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"--out {out} exists; remove it or choose another folder")
    torch = common.setup_amodal3r()
    import bench_pipeline_official as runner

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device; pass --device cpu")
    runner.install_shims(torch)
    from PIL import Image

    import amodal3r.modules.sparse as sp

    images = [Image.open(p) for p in args.image]
    masks = [Image.open(p) for p in args.mask]
    pipe = runner.load_pipeline(torch, Path(args.model), args.device)
    dev = torch.device(args.device)

    inj_ss = read_ref(torch, args.noise_ss, "noise", "--noise-ss") if args.noise_ss else None
    inj_slat = read_ref(torch, args.noise_slat, "noise_feats", "--noise-slat") if args.noise_slat else None
    inj_coords = read_ref(torch, args.coords, "coords", "--coords") if args.coords else None
    if inj_coords is not None and inj_slat is not None and inj_coords[0].shape[0] != inj_slat[0].shape[0]:
        raise SystemExit(f"--noise-slat {inj_slat[1]} has {inj_slat[0].shape[0]} rows but --coords {inj_coords[1]} "
                         f"holds {inj_coords[0].shape[0]} voxels; give the noise and coordinates of the same run")

    dumps: dict[str, dict[str, np.ndarray]] = {}

    def rec(name: str, t):
        group, tensor = name.split("/", 1)
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        a = a.astype(np.int32) if a.dtype.kind in "iub" else a.astype(np.float32)
        dumps.setdefault(group, {})[tensor] = a

    # DINOv2 input (first call: stage-1 condition).
    seen = {"image": False}

    def pre(_m, inp):
        if not seen["image"]:
            seen["image"] = True
            rec("encode/image", inp[0])

    pipe.models["image_cond_model"].register_forward_pre_hook(pre)
    get_cond = pipe.get_cond_w_masks

    def get_cond_w_masks(*a, **k):
        r = get_cond(*a, **k)
        if k.get("stage") == "ss":
            rec("encode/cond", r["cond"])
            rec("encode/neg_cond", r["neg_cond"][:1])
        return r

    pipe.get_cond_w_masks = get_cond_w_masks

    def sample_sparse_structure(self, cond, num_samples=1, sampler_params={}):
        flow_model = self.models["sparse_structure_flow_model"]
        reso = flow_model.resolution
        noise = torch.randn(num_samples, flow_model.in_channels, reso, reso, reso).to(self.device)
        if inj_coords is not None:
            return inj_coords[0].to(self.device).int()
        if inj_ss is not None:
            noise = injected(inj_ss, noise, "--noise-ss", "the model's latent is")
        rec("stage1/noise", noise)
        sampler_params = {**self.sparse_structure_sampler_params, **sampler_params}
        ret = self.sparse_structure_sampler.sample(flow_model, noise, **cond, **sampler_params, verbose=True)
        z_s = ret.samples
        if args.dump_steps:
            for i, x in enumerate(ret.pred_x_t):
                rec(f"stage1/{step_name(i)}", x)
        rec("stage1/latent", z_s)
        ss = self.models["sparse_structure_decoder"](z_s)
        coords = torch.argwhere(ss > 0)[:, [0, 2, 3, 4]].int()
        rec("ss_decode/logits", ss)
        rec("ss_decode/coords", coords)
        return coords

    def sample_slat(self, cond, coords, sampler_params={}):
        flow_model = self.models["slat_flow_model"]
        feats = torch.randn(coords.shape[0], flow_model.in_channels).to(self.device)
        if inj_slat is not None:
            feats = injected(inj_slat, feats, "--noise-slat", "stage 2 needs", " (one row per voxel of the coordinates)")
        rec("stage2/coords", coords)
        rec("stage2/noise_feats", feats)
        noise = sp.SparseTensor(feats=feats, coords=coords)
        sampler_params = {**self.slat_sampler_params, **sampler_params}
        ret = self.slat_sampler.sample(flow_model, noise, **cond, **sampler_params, verbose=True)
        slat = ret.samples
        if args.dump_steps:
            for i, x in enumerate(ret.pred_x_t):
                rec(f"stage2/{step_name(i)}", x.feats)
        rec("stage2/samples", slat.feats)
        std = torch.tensor(self.slat_normalization["std"])[None].to(slat.device)
        mean = torch.tensor(self.slat_normalization["mean"])[None].to(slat.device)
        slat = slat * std + mean
        rec("stage2/slat", slat.feats)
        return slat

    pipe.sample_sparse_structure = types.MethodType(sample_sparse_structure, pipe)
    pipe.sample_slat = types.MethodType(sample_slat, pipe)

    ss_params = {k: v for k, v in (("steps", args.ss_steps), ("cfg_strength", args.ss_cfg)) if v is not None}
    slat_params = {k: v for k, v in (("steps", args.slat_steps), ("cfg_strength", args.slat_cfg)) if v is not None}
    with torch.no_grad():
        res = pipe.run_multi_image(images, masks, seed=args.seed, sparse_structure_sampler_params=ss_params,
                                   slat_sampler_params=slat_params, formats=["mesh", "gaussian"],
                                   mode="stochastic", erode_kernel_size=3)
    g = res["gaussian"][0]
    for name, t in (("xyz", g._xyz), ("features_dc", g._features_dc), ("scaling", g._scaling),
                    ("rotation", g._rotation), ("opacity", g._opacity)):
        rec(f"gaussians/{name}", t)
    m = res["mesh"][0]
    if m.success:
        rec("mesh/vertices", m.vertices)
        rec("mesh/faces", m.faces)
        if m.vertex_attrs is not None:
            rec("mesh/vertex_attrs", m.vertex_attrs)

    meta = {
        "producer": "tools/official_dump.py", "seed": args.seed, "device": args.device,
        "ss_params": json.dumps({**pipe.sparse_structure_sampler_params, **ss_params}),
        "slat_params": json.dumps({**pipe.slat_sampler_params, **slat_params}),
        "images": ",".join(args.image), "masks": ",".join(args.mask), "noise_ss": args.noise_ss or "",
        "noise_slat": args.noise_slat or "", "coords": args.coords or "", "torch": torch.__version__,
        "official": json.dumps(common.official_commits()), "shims": json.dumps(common.SHIMS + runner.SHIMS),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    tmp.mkdir()
    for group, tensors in dumps.items():
        common.write_safetensors(tmp / f"{group}.safetensors", tensors, meta)
    tmp.rename(out)
    n = sum(len(t) for t in dumps.values())
    print(f"wrote {out}: {n} tensors in {len(dumps)} files "
          f"({', '.join(f'{g}.safetensors' for g in dumps)}); voxels "
          f"{dumps['stage2']['coords'].shape[0]}, gaussians {g._xyz.shape[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
