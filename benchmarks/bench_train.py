"""Benchmark of the kg_sft stage on one model and one dataset, in one run:

- tokens/s of a bare forward/backward/AdamW loop over the same packed rows (the baseline);
- tokens/s of stage 1 (the transformers Trainer with our packing collator);
- tokens/s of stage 1 without packing (one example per row, padded to the batch's longest);
- the share of non-padding tokens in packed and unpacked batches; peak memory.

    python benchmarks/bench_train.py                      # tiny-deepseek-moe, CPU, one thread
    python benchmarks/bench_train.py --model small-deepseek-moe --steps 30
    python benchmarks/bench_train.py --model /path/to/checkpoint --threads 0   # GPU if there is one

Tokens are counted without padding everywhere, so "tokens/s" is useful work. Goals (issue 6): stage 1 ≥ 0.9×
the bare loop; packed ≥ 1.5× the non-padding tokens/s of unpacked batches. On a GPU, model FLOPs utilisation
is 6 · active parameters · tokens/s over the device's dense bf16 peak (--peak-tflops).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def real_tokens(rows) -> int:
    return sum(len(r["input_ids"]) for r in rows)


def active_parameters(model) -> int:
    """Parameters one token passes through: everything but the routed experts it does not select."""
    cfg = model.config
    total = sum(p.numel() for p in model.parameters())
    experts = sum(p.numel() for n, p in model.named_parameters() if ".mlp.experts." in n and "lora" not in n)
    e = getattr(cfg, "n_routed_experts", None) or getattr(cfg, "num_experts", 1)
    k = getattr(cfg, "num_experts_per_tok", e)
    return int(total - experts + experts * k / e)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-deepseek-moe")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0: leave torch's default)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    args = parser.parse_args()

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.trainer_callback import PrinterCallback

    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig, SynthConfig, TrainConfig, parse_config
    from kgtools.graph.stage import build_kg
    from kgtools.models import ModelSpec
    from kgtools.synth.stage import synthesize
    from kgtools.train import kg_sft
    from kgtools.train.adapters import add_lora
    from kgtools.train.data import RowCollator
    from kgtools.train.loop import to_device
    from kgtools.train.stage import load_examples, load_model, load_tokenizer

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp) / "artifacts")
        kg = build_kg(KgConfig(ontologies=[ROOT / "ontologies" / "medical.ttl"]), store).artifact
        data = synthesize(SynthConfig(), kg, store).artifact
        cfg = parse_config(TrainConfig, {"model": args.model, "kg_sft": {
            "batch_size": args.batch_size, "max_length": args.max_length, "max_steps": args.steps, "save_steps": 10**6,
            "context_share": 0.3, "lr": 1e-3}})
        examples = load_examples(data)["train"]
        tokenizer, _ = load_tokenizer(cfg, None, examples, None)
        packed, _ = kg_sft.build_rows(examples, tokenizer, cfg.kg_sft, seed=0, packing=True)
        unpacked, _ = kg_sft.build_rows(examples, tokenizer, cfg.kg_sft, seed=0, packing=False)
        collate = RowCollator(tokenizer.pad_token_id)
        random_base = ModelSpec.parse(cfg.model).preset is not None

        def fresh_model():
            model, _ = load_model(cfg, None, tokenizer, None)
            torch.manual_seed(0)
            return add_lora(model.to(device), cfg, random_base=random_base)

        def padded_share(rows) -> float:
            real = padded = 0
            for i in range(0, len(rows), args.batch_size):
                chunk = rows[i:i + args.batch_size]
                real += real_tokens(chunk)
                padded += max(len(r["input_ids"]) for r in chunk) * len(chunk)
            return real / padded

        # 1. the bare loop: same rows, same collator, no Trainer
        model = fresh_model()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
        batches = [packed[i:i + args.batch_size] for i in range(0, len(packed), args.batch_size)]
        tokens = 0
        for step in range(args.steps + 2):
            chunk = batches[step % len(batches)]
            batch = to_device(collate(chunk), device)
            if step == 2:  # two warm-up steps
                if cuda:
                    torch.cuda.synchronize()
                start, tokens = time.perf_counter(), 0
            with autocast:
                loss, _ = kg_sft.objective(model, batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += real_tokens(chunk)
        if cuda:
            torch.cuda.synchronize()
        bare = tokens / (time.perf_counter() - start)

        # 2. and 3. stage 1 through the Trainer, packed and not
        def stage(rows) -> float:
            model = fresh_model()
            with tempfile.TemporaryDirectory() as work:
                trainer = kg_sft.make_trainer(model, rows, tokenizer, cfg.kg_sft, Path(work), seed=0, dtype=cfg.dtype)
                trainer.remove_callback(PrinterCallback)
                start = time.perf_counter()
                trainer.train()
                seconds = time.perf_counter() - start
            per_row = real_tokens(rows) / len(rows)
            return per_row * args.steps * args.batch_size / seconds

        stage_packed = stage(packed)
        stage_unpacked = stage(unpacked)
        if cuda:
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB GPU"
        else:
            peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS"

        n_params = sum(p.numel() for p in model.parameters())
        print(f"model {args.model} ({n_params / 1e6:.1f} M parameters, {active_parameters(model) / 1e6:.1f} M active), "
              f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size} × {args.max_length}, "
              f"{args.steps} steps; {len(examples):,} examples → {len(packed):,} packed rows / {len(unpacked):,} unpacked")
        print(f"{'run':<28}{'tokens/s':>12}{'ratio':>10}")
        print(f"{'bare loop (baseline)':<28}{bare:>12,.0f}{1.0:>10.2f}")
        print(f"{'stage 1, packed':<28}{stage_packed:>12,.0f}{stage_packed / bare:>10.2f}   goal ≥ 0.9")
        print(f"{'stage 1, unpacked':<28}{stage_unpacked:>12,.0f}{stage_unpacked / bare:>10.2f}")
        print(f"packed over unpacked (non-padding tokens/s): {stage_packed / stage_unpacked:.2f}×   goal ≥ 1.5")
        print(f"non-padding share of batch tokens: packed {padded_share(packed):.1%}, unpacked {padded_share(unpacked):.1%}")
        print(f"peak memory: {peak}")
        if cuda:
            flops = 6 * active_parameters(model) * stage_packed
            print(f"model FLOPs utilisation (stage 1, packed): {flops / (args.peak_tflops * 1e12):.1%}")


if __name__ == "__main__":
    sys.exit(main())
