"""Benchmark of the kg_sft stage on one model and one dataset, in one run:

- tokens/s of a bare forward/backward/AdamW loop over the same packed rows (the baseline);
- tokens/s of stage 1 (the transformers Trainer with our packing collator);
- tokens/s of stage 1 without packing (one example per row, padded to the batch's longest);
- the share of non-padding tokens in packed and unpacked batches; peak memory.

    python benchmarks/bench_train.py                      # tiny-deepseek-moe, CPU, one thread
    python benchmarks/bench_train.py --model small-deepseek-moe --steps 30
    python benchmarks/bench_train.py --model /path/to/checkpoint --threads 0   # GPU if there is one

    python benchmarks/bench_train.py --shape deepseek-v2-lite --layers 2 --batch-size 1 --max-length 128 --steps 3
    python benchmarks/bench_train.py --options gradient_checkpointing,compile

``--shape`` writes a random checkpoint with a real model's layer shapes (DeepSeek-V2-Lite: hidden 2048, 64 routed
experts top-6 + 2 shared, MLA with kv rank 512, vocabulary 102,400; or a ~1B DeepSeek-V3-shaped model), ``--layers``
cutting its depth to fit the machine, and trains stage 1 on it as a user's checkpoint folder. ``--options`` adds a
stage-1 run per training option (``train.<stage>.gradient_checkpointing`` / ``compile``), each with its tokens/s and
the peak memory of that run (GPU: allocated; CPU: resident set above the run's start, sampled every 10 ms).

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


# Layer shapes of real checkpoints (their config.json), for --shape; num_hidden_layers is cut by --layers.
SHAPES = {
    "deepseek-v2-lite": ("DeepseekV2Config", dict(  # 15.7 B parameters at 27 layers
        vocab_size=102400, hidden_size=2048, intermediate_size=10944, moe_intermediate_size=1408, num_hidden_layers=27,
        num_attention_heads=16, num_key_value_heads=16, n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2,
        first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128,
        v_head_dim=128, n_group=1, topk_group=1, topk_method="greedy", norm_topk_prob=False, routed_scaling_factor=1.0,
        max_position_embeddings=4096, tie_word_embeddings=False)),
    "deepseek-v3-1b": ("DeepseekV3Config", dict(  # ~1.0 B parameters (~0.3 B active) at 12 layers
        vocab_size=32000, hidden_size=1024, intermediate_size=4096, moe_intermediate_size=512, num_hidden_layers=12,
        num_attention_heads=16, num_key_value_heads=16, n_routed_experts=32, num_experts_per_tok=4, n_shared_experts=1,
        first_k_dense_replace=1, q_lora_rank=384, kv_lora_rank=256, qk_rope_head_dim=32, qk_nope_head_dim=64,
        v_head_dim=64, n_group=4, topk_group=2, norm_topk_prob=True, routed_scaling_factor=2.5,
        max_position_embeddings=4096, tie_word_embeddings=False)),
}


def write_shape(name: str, layers: int | None, folder: Path, tokenizer) -> Path:
    """A random checkpoint folder of a real model's shape (bf16 on GPU, fp32 on CPU) with ``tokenizer``."""
    import torch
    import transformers

    cls, shape = SHAPES[name]
    config = getattr(transformers, cls)(**{**shape, **({"num_hidden_layers": layers} if layers else {})},
                                        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                        eos_token_id=tokenizer.eos_token_id)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class PeakMemory:
    """Peak memory of a block: CUDA's allocator peak, or on CPU the resident set above the block's start,
    sampled every 10 ms by a thread (the process-wide maximum would hide every run after the largest)."""

    def __enter__(self):
        import threading

        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        self.start = self.peak = _rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        import torch

        if self.cuda:
            self.mib = (torch.cuda.max_memory_allocated() - self.start) / 2**20
        else:
            self.done.set()
            self.thread.join()
            self.mib = (self.peak - self.start) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-deepseek-moe")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0: leave torch's default)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="train a random checkpoint of a real model's shape")
    parser.add_argument("--layers", type=int, help="with --shape: this many decoder layers")
    parser.add_argument("--options", default="", help="comma-separated: gradient_checkpointing, compile")
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
        examples = load_examples(data)["train"]
        model_name = args.model
        if args.shape:  # a user's checkpoint folder of that shape, with a tokenizer trained on the data
            trained, _ = load_tokenizer(parse_config(TrainConfig, {}), None, examples, None)
            model_name = str(write_shape(args.shape, args.layers, Path(tmp) / args.shape, trained))
        settings = {"batch_size": args.batch_size, "max_length": args.max_length, "max_steps": args.steps,
                    "save_steps": 10**6, "context_share": 0.3, "lr": 1e-3}
        cfg = parse_config(TrainConfig, {"model": model_name, "kg_sft": settings})
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

        # 2. and 3. stage 1 through the Trainer, packed and not (and packed with each of --options)
        memory: dict[str, float] = {}

        def stage(rows, label: str, **options) -> float:
            model = fresh_model()
            opt = parse_config(TrainConfig, {"model": model_name, "kg_sft": {**settings, **options}}).kg_sft
            with tempfile.TemporaryDirectory() as work, PeakMemory() as peak:
                trainer = kg_sft.make_trainer(model, rows, tokenizer, opt, Path(work), seed=0, dtype=cfg.dtype)
                trainer.remove_callback(PrinterCallback)
                start = time.perf_counter()
                trainer.train()
                seconds = time.perf_counter() - start
            memory[label] = peak.mib
            per_row = real_tokens(rows) / len(rows)
            return per_row * args.steps * args.batch_size / seconds

        stage_packed = stage(packed, "packed")
        stage_unpacked = stage(unpacked, "unpacked")
        with_options = {o: stage(packed, o, **{o: True}) for o in filter(None, args.options.split(","))}
        if cuda:
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB GPU"
        else:
            peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS"

        n_params = sum(p.numel() for p in model.parameters())
        print(f"model {args.shape or args.model} ({n_params / 1e6:.1f} M parameters, {active_parameters(model) / 1e6:.1f} M active), "
              f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size} × {args.max_length}, "
              f"{args.steps} steps; {len(examples):,} examples → {len(packed):,} packed rows / {len(unpacked):,} unpacked")
        print(f"{'run':<40}{'tokens/s':>12}{'ratio':>10}")
        print(f"{'bare loop (baseline)':<40}{bare:>12,.0f}{1.0:>10.2f}")
        print(f"{'stage 1, packed':<40}{stage_packed:>12,.0f}{stage_packed / bare:>10.2f}   goal ≥ 0.9")
        print(f"{'stage 1, unpacked':<40}{stage_unpacked:>12,.0f}{stage_unpacked / bare:>10.2f}")
        for option, speed in with_options.items():
            print(f"{'stage 1, packed, ' + option:<40}{speed:>12,.0f}{speed / bare:>10.2f}   "
                  f"{speed / stage_packed:.2f}× packed's tokens/s, memory {memory[option]:,.0f} MiB against "
                  f"{memory['packed']:,.0f}")
        print(f"packed over unpacked (non-padding tokens/s): {stage_packed / stage_unpacked:.2f}×   goal ≥ 1.5")
        print(f"non-padding share of batch tokens: packed {padded_share(packed):.1%}, unpacked {padded_share(unpacked):.1%}")
        print(f"peak memory: {peak}; during stage 1 (above its start): packed {memory['packed']:,.0f} MiB, "
              f"unpacked {memory['unpacked']:,.0f} MiB")
        if cuda:
            flops = 6 * active_parameters(model) * stage_packed
            print(f"model FLOPs utilisation (stage 1, packed): {flops / (args.peak_tflops * 1e12):.1%}")


if __name__ == "__main__":
    sys.exit(main())
