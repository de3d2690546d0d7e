#!/usr/bin/env python3
"""Cross-check of specstream's GRPO train step against PyTorch + transformers.

Reads the directory written by `node dist/cli/main.js train-check --out DIR`:
  DIR/model/{model.safetensors,config.json}   weights (Hugging Face names) + config
  DIR/batch.json                              token ids, masks, positions, per-token inputs,
                                              loss options, temperature
  DIR/result.json                             specstream's loss and diagnostics
  DIR/grads_*.safetensors                     specstream's gradients (float64 graph on CPU,
                                              float32 graph on the chosen device)
loads the weights into transformers' LlamaForCausalLM (float64, eager attention), writes the
GRPO loss of shared/REFERENCE.md out in PyTorch (same conventions: per-token arrays aligned with
input_ids, position t scored by the logits at t-1; log-probs at the sampling temperature),
back-propagates, and prints the max relative error of the loss, every diagnostic and every
gradient tensor (max |a - b| / max |b| per tensor). Exit status 1 when any exceeds --tol.

Needs: python3 with torch and transformers. No numpy, no safetensors package.
"""
import argparse
import json
import struct
import sys

import torch
from transformers import LlamaForCausalLM


def read_safetensors(path):
    """Minimal F32 safetensors reader (8-byte LE header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {e['dtype']}, expected F32")
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + b : base + end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]).to(torch.float64)
    return out


def grpo_loss(logits, batch, dev):
    """The clipped surrogate + KL + truncated importance sampling, per REFERENCE.md / NeMo-RL."""
    opt = batch["loss"]
    temp = float(batch["temperature"])
    ids = torch.tensor(batch["inputIds"], dtype=torch.long, device=dev)
    f = lambda k: torch.tensor(batch[k], dtype=torch.float64, device=dev)[:, 1:]
    mask, adv, old, gen = f("lossMask"), f("advantages"), f("oldLogprobs"), f("genLogprobs")
    logp_all = torch.log_softmax(logits[:, :-1, :].to(torch.float64) / temp, dim=-1)  # [B, T-1, V]
    logp = logp_all.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # [B, T-1]

    def masked_mean(x, how):
        if how == "token":
            return (x * mask).sum() / mask.sum().clamp(min=1)
        count = mask.sum(1)
        seq = (x * mask).sum(1) / count.clamp(min=1)
        has = count.clamp(max=1)
        return (seq * has).sum() / has.sum().clamp(min=1)

    norm = opt["normalization"]
    ratio = torch.exp(logp - old)
    clipped = ratio.clamp(1 - opt["epsLow"], 1 + opt["epsHigh"])
    pg = torch.maximum(-adv * ratio, -adv * clipped)
    if opt.get("dualClip") is not None:
        pg = torch.where(adv < 0, torch.minimum(pg, -adv * opt["dualClip"]), pg)
    w = torch.nan_to_num(torch.exp(old - gen), nan=0.0, posinf=0.0, neginf=0.0)
    if opt.get("importanceSampling") is not None:
        w = w.clamp(max=opt["importanceSampling"]["cap"])
        pg = w * pg
    pg_loss = masked_mean(pg, norm)
    loss = pg_loss
    diags = {}
    kl_opt = opt.get("kl")
    if kl_opt is not None and kl_opt["coef"] != 0:
        ref = f("refLogprobs")
        logr = (ref - logp).clamp(-20, 20)
        kind = kl_opt["type"]
        kl = -logr if kind == "k1" else logr * logr / 2 if kind == "k2" else torch.exp(logr) - 1 - logr
        diags["kl"] = masked_mean(kl, norm)
        loss = pg_loss + kl_opt["coef"] * diags["kl"]
    with torch.no_grad():
        valid = mask > 0
        diags["pg_loss"] = pg_loss
        diags["entropy"] = masked_mean(-(logp_all.exp() * logp_all).sum(-1), "token")
        diags["mean_ratio"] = masked_mean(ratio, "token")
        diags["clip_fraction"] = masked_mean((ratio != clipped).to(torch.float64), "token")
        diags["is_weight_mean"] = masked_mean(w, "token")
        diags["is_weight_min"] = w[valid].min()
        diags["is_weight_max"] = w[valid].max()
        diags["token_mult_prob_error"] = masked_mean(torch.exp((old - gen).abs()), "token")
        diags["num_valid_tokens"] = mask.sum()
    return loss, diags


def rel(a, b):
    """max |a - b| / max |b| (b is PyTorch's value)."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="directory written by `specstream train-check --out DIR`")
    ap.add_argument("--tol", type=float, default=1e-4, help="max relative error (default 1e-4)")
    ap.add_argument("--torch-device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args()
    d, dev = args.dir, torch.device(args.torch_device)
    batch = json.load(open(f"{d}/batch.json"))
    result = json.load(open(f"{d}/result.json"))

    model = LlamaForCausalLM.from_pretrained(f"{d}/model", attn_implementation="eager").to(torch.float64).to(dev)
    model.eval()  # no dropout; gradients stay on
    ids = torch.tensor(batch["inputIds"], dtype=torch.long, device=dev)
    am = torch.tensor(batch["attentionMask"], dtype=torch.long, device=dev)
    pos = torch.tensor(batch["positionIds"], dtype=torch.long, device=dev)
    logits = model(input_ids=ids, attention_mask=am, position_ids=pos, use_cache=False).logits
    loss, diags = grpo_loss(logits, batch, dev)
    loss.backward()
    torch_grads = {n: p.grad.detach().cpu() for n, p in model.named_parameters() if p.grad is not None}

    print(f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, "
          f"torch device {dev}; PyTorch loss {loss.item():.12g}")
    worst = 0.0
    for key, r in result.items():
        if key == "typescript_reference":
            continue
        print(f"\n== specstream {key} (vs PyTorch float64) ==")
        e = rel(r["loss"], loss.item())
        worst = max(worst, e)
        print(f"loss                       {r['loss']:.12g}  rel err {e:.3e}")
        for k, v in diags.items():
            if k in r["diagnostics"]:
                e = abs(r["diagnostics"][k] - v.item()) / max(abs(v.item()), 1e-12)
                print(f"diag {k:22s} {r['diagnostics'][k]:.9g} vs {v.item():.9g}  rel err {e:.3e}")
        grads = read_safetensors(f"{d}/{r['grads']}")
        missing = sorted(set(torch_grads) ^ set(grads))
        if missing:
            print(f"gradient names differ: {missing}")
            worst = float("inf")
        errs = sorted(((rel(grads[n], torch_grads[n]), n) for n in torch_grads if n in grads), reverse=True)
        for e, n in errs[:5]:
            print(f"grad {n:45s} rel err {e:.3e}")
        max_grad = errs[0][0] if errs else float("inf")
        print(f"max gradient rel err over {len(errs)} tensors: {max_grad:.3e}")
        worst = max(worst, max_grad)
    ok = worst <= args.tol
    print(f"\nworst relative error {worst:.3e} (tolerance {args.tol:g}): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
