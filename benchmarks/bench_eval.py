"""Benchmark of the evaluation: examples/s of one model on one split, asked one example at a time (batch size
1: every prompt and every answer alone in its forward pass — the reference, no padding at all) against the
batched evaluation (open questions generated ``--batch-size`` at a time, left-padded; the answers of
multiple-choice and true/false questions of many examples scored together), in the same run, on the same
model and rows. The metrics of both must be identical; the script says whether they are.

    python benchmarks/bench_eval.py                                   # small-deepseek-moe, CPU, 1 and 2 threads
    python benchmarks/bench_eval.py --model tiny-deepseek-moe --per-task 40
    python benchmarks/bench_eval.py --model /path/to/checkpoint --threads 0   # GPU if there is one

The model is the preset (or checkpoint) after ``--steps`` kg_sft steps on instruction data from the bundled
medical ontology, so that it answers briefly and stops as a tuned model does. Goal (issue 16): batched ≥ 5×
the per-example examples/s on the small preset on CPU. Asked one at a time, a tiny model cannot use a second
core (its matrices are too small); batched, it can — so the ratio is printed per thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small-deepseek-moe")
    parser.add_argument("--steps", type=int, default=40, help="kg_sft steps before the evaluation")
    parser.add_argument("--split", default="test_paraphrase")
    parser.add_argument("--per-task", type=int, default=30, help="examples per task (sampled as the evaluation does)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", default="1,2", help="torch threads on CPU, one pair of runs each (0: torch's default)")
    parser.add_argument("--shape", help="a random checkpoint of a real model's shape (see bench_train.py --shape)")
    parser.add_argument("--layers", type=int, help="with --shape: this many decoder layers")
    args = parser.parse_args()

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import load_from_disk

    from kgtools.artifacts import ArtifactStore
    from kgtools.config import EvalConfig, KgConfig, SynthConfig, TrainConfig, parse_config
    from kgtools.evaluate.stage import _entity_names, _sample, evaluate_split, inference_device
    from kgtools.graph.stage import build_kg
    from kgtools.models import load_stage_model
    from kgtools.synth.stage import synthesize
    from kgtools.train.stage import train_stage

    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp) / "artifacts")
        kg = build_kg(KgConfig(ontologies=[ROOT / "ontologies" / "medical.ttl"]), store).artifact
        data = synthesize(parse_config(SynthConfig, {"splits": {"paraphrase": 0.5}, "tasks": {"yes_no": {"weight": 2}}}),
                          kg, store).artifact
        model_name = args.model
        if args.shape:
            sys.path.insert(0, str(Path(__file__).parent))
            from bench_train import write_shape

            from kgtools.train.stage import load_examples, load_tokenizer

            trained, _ = load_tokenizer(parse_config(TrainConfig, {}), None, load_examples(data)["train"], None)
            model_name = str(write_shape(args.shape, args.layers, Path(tmp) / args.shape, trained))
        cfg = parse_config(TrainConfig, {"model": model_name, "kg_sft": {"max_steps": args.steps, "lr": 3e-3}})
        sft = train_stage(cfg, "kg_sft", data, store).artifact
        model, tokenizer = load_stage_model(sft)
        model.to(inference_device())
        dd = load_from_disk(str(data.path / "dataset"))
        rows = _sample(dd[args.split].to_list(), EvalConfig(max_per_task=args.per_task))
        entities = _entity_names(dd)

        def run(batch_size: int) -> tuple[float, dict]:
            cfg = EvalConfig(batch_size=batch_size, max_per_task=args.per_task)
            start = time.perf_counter()
            metrics = evaluate_split(model, tokenizer, rows, entities, cfg, with_context=False)
            return time.perf_counter() - start, metrics

        timings = []
        for threads in (int(t) for t in args.threads.split(",")):
            if threads:
                torch.set_num_threads(threads)
            run(args.batch_size)  # warm-up: first calls allocate
            one, m_one = run(1)
            batched, m_batched = run(args.batch_size)
            timings.append((torch.get_num_threads(), one, batched, m_one, m_batched))

    n_params = sum(p.numel() for p in model.parameters())
    kinds = {"open": sum(v["n"] for v in m_one["open"].values()), "mcq": m_one["mcq"]["n"], "yes_no": m_one["yes_no"]["n"]}
    print(f"model {args.shape or args.model} ({n_params / 1e6:.1f} M parameters) after {args.steps} kg_sft steps, device "
          f"{inference_device()}; {len(rows)} examples of {args.split} ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    print(f"{'run':<40}{'threads':>8}{'seconds':>10}{'examples/s':>12}{'ratio':>8}")
    same = True
    for threads, one, batched, m_one, m_batched in timings:
        print(f"{'one example at a time (baseline)':<40}{threads:>8}{one:>10.1f}{len(rows) / one:>12.2f}{1.0:>8.2f}")
        print(f"{f'batched, batch size {args.batch_size}':<40}{threads:>8}{batched:>10.1f}{len(rows) / batched:>12.2f}"
              f"{one / batched:>8.2f}   goal ≥ 5")
        if json.dumps(m_one, sort_keys=True) != json.dumps(m_batched, sort_keys=True):
            same = False
            print(f"  differs: accuracy {m_one['accuracy']} vs {m_batched['accuracy']}, open EM {m_one['open_em']} vs "
                  f"{m_batched['open_em']}, mcq {m_one['mcq']['accuracy']} vs {m_batched['mcq']['accuracy']}")
    print(f"metrics identical (every run): {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
