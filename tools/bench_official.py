#!/usr/bin/env python3
"""PyTorch baselines for the model benchmarks, with the OFFICIAL modules (imported from .official, see
tools/fixtures/official.sh) and random weights, on CUDA:

* ss-flow: `SparseStructureFlowModelMaskAsCondWeighted` at the released size (width 1024, 24 blocks, 16 heads,
  16^3 tokens), use_fp16=True as TRELLIS ships it, one CFG step = the conditional and the unconditional forward
  (two batch-1 calls, as the official sampler does) and the same as one batch-2 call; attention backend sdpa.
  Also the whole stage: 12 sampler steps + the SS VAE decoder (fp16).
* dinov2: ViT-L/14-reg at 518x518, one image, fp32 (as the pipeline runs it) and fp16.

Warm-up >= 1 s of back-to-back calls before timing; CUDA events; median of N. Prints one JSON object.
    python3 tools/bench_official.py [--iters 20]
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import common  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--iters", type=int, default=20)
args = ap.parse_args()
os.environ.setdefault("ATTN_BACKEND", "sdpa")
torch = common.setup_amodal3r()
torch.backends.cuda.matmul.allow_tf32 = True  # what users get by default for the fp32 parts
dev = "cuda"


def timed(fn, iters):
    return common.timed(fn, iters, dev)


out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
from amodal3r.models.sparse_structure_flow_doubleattn_weighted import SparseStructureFlowModelMaskAsCondWeighted  # noqa: E402
from amodal3r.models.sparse_structure_vae import SparseStructureDecoder  # noqa: E402
from amodal3r.pipelines.samplers import FlowEulerGuidanceIntervalSampler  # noqa: E402

FLOW = dict(resolution=16, in_channels=8, model_channels=1024, cond_channels=1024, out_channels=8, num_blocks=24,
            num_heads=16, mlp_ratio=4, patch_size=1, pe_mode="ape", qk_rms_norm=True)
DEC = dict(out_channels=1, latent_channels=8, num_res_blocks=2, channels=[512, 128, 32], num_res_blocks_middle=2)
with torch.no_grad():
    flow = SparseStructureFlowModelMaskAsCondWeighted(**FLOW, use_fp16=True).to(dev).eval()
    for p in flow.parameters():
        p.normal_(0, 0.02)
    x = torch.randn(1, 8, 16, 16, 16, device=dev)
    cond = torch.randn(1, 4112, 1024, device=dev)
    neg = torch.zeros_like(cond)
    t = torch.tensor([750.0], device=dev)
    out["ss_flow_cfg_step_2x_batch1"] = timed(lambda: (flow(x, t, cond), flow(x, t, neg)), args.iters)
    x2, t2, c2 = torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, neg])
    out["ss_flow_cfg_step_batch2"] = timed(lambda: flow(x2, t2, c2), args.iters)
    torch.cuda.reset_peak_memory_stats()
    dec = SparseStructureDecoder(**DEC, use_fp16=True).to(dev).eval()
    for p in dec.parameters():
        p.normal_(0, 0.02)
    sampler = FlowEulerGuidanceIntervalSampler(sigma_min=1e-5)

    def stage():
        z = sampler.sample(flow, x, cond, neg, steps=12, cfg_strength=7.5, cfg_interval=[0.5, 1.0], rescale_t=3.0, verbose=False).samples
        return torch.argwhere(dec(z) > 0)

    out["ss_stage_12steps_decode"] = timed(stage, max(3, args.iters // 4))
    out["ss_stage_peak_bytes"] = torch.cuda.max_memory_allocated()
    del flow, dec
    torch.cuda.empty_cache()

    torch.cuda.reset_peak_memory_stats()
    sys.path.insert(0, str(common.OFFICIAL))
    from dinov2.models.vision_transformer import vit_large  # noqa: E402

    dino = vit_large(img_size=518, patch_size=14, init_values=1.0, block_chunks=0, num_register_tokens=4,
                     interpolate_antialias=True, interpolate_offset=0.0).to(dev).eval()
    img = torch.randn(1, 3, 518, 518, device=dev)
    torch.backends.cuda.matmul.allow_tf32 = False
    out["dinov2_fp32"] = timed(lambda: dino.forward_features(img)["x_prenorm"], args.iters)
    torch.backends.cuda.matmul.allow_tf32 = True
    out["dinov2_fp32_tf32"] = timed(lambda: dino.forward_features(img)["x_prenorm"], args.iters)
    dino16 = dino.half()
    img16 = img.half()
    out["dinov2_fp16"] = timed(lambda: dino16.forward_features(img16)["x_prenorm"], args.iters)
    out["dinov2_peak_bytes"] = torch.cuda.max_memory_allocated()

print(json.dumps(out, indent=1))
