"""Several domains on one base (issue 15): the bundled medical and finance ontologies, one shared base (the tiny
preset saved as a checkpoint with a tokenizer trained on both domains' data), one kg_sft adapter per domain, then

1. composition: the composed model's multiple-choice and open exact-match accuracy on each domain's
   ``test_paraphrase`` over that domain's own model (goal ≥ 0.9×);
2. interference: each domain's model on the other domain minus the base, with LoRA on the routed experts of
   every expert (shared) against ESFT with disjoint expert sets (each layer's experts given to the domain that
   routes to them most) — goal ≤ 0.02 with disjoint sets;
3. transfer: finance trained from the medical model (``train.from``) against from the base, same steps and data.

    python benchmarks/bench_domains.py                       # tiny preset, CPU, 300 kg_sft steps per domain
    python benchmarks/bench_domains.py --steps 100 --per-task 20

Every figure is measured in the same run; the JSON of all of them goes to ``--out``/bench_domains.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="kg_sft steps per domain")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--per-task", type=int, default=40, help="evaluation examples per task and split")
    ap.add_argument("--top-p", type=float, default=0.5, help="ESFT: each domain's cumulative routing share")
    ap.add_argument("--targets", default="routed_experts", help="LoRA target groups, comma-separated")
    ap.add_argument("--embedding-r", type=int, default=None, help="rank of the 'embeddings' group (default: --r)")
    ap.add_argument("--r", type=int, default=8, help="LoRA rank")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(2)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_domains-"))
    started = time.perf_counter()
    results = run(args, out)
    results["seconds"] = round(time.perf_counter() - started, 1)
    (out / "bench_domains.json").write_text(json.dumps(results, indent=2), "utf-8")
    report(results)
    print(f"\nall figures: {out / 'bench_domains.json'} ({results['seconds']:.0f} s)")


def run(args, out: Path) -> dict:
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from kgtools.artifacts import ArtifactStore
    from kgtools.chat import encode_prompt, prompt_messages
    from kgtools.config import EvalConfig, KgConfig, SynthConfig, TrainConfig, parse_config
    from kgtools.evaluate.domains import evaluate_domains
    from kgtools.graph.stage import build_kg
    from kgtools.models import ModelSpec, build_preset, load_checkpoint
    from kgtools.routing import record_routing
    from kgtools.synth.stage import synthesize
    from kgtools.train.routing import disjoint_experts
    from kgtools.train.stage import train
    from kgtools.train.tokenizer import train_tokenizer

    store = ArtifactStore(out / "artifacts")
    names = ("medical", "finance")
    data = {n: synthesize(SynthConfig(splits={"paraphrase": 0.5}),
                          build_kg(KgConfig(ontologies=[ROOT / "ontologies" / f"{n}.ttl"]), store).artifact, store).artifact
            for n in names}
    train_rows = {n: load_from_disk(str(data[n].path / "dataset"))["train"].to_list() for n in names}
    base = out / "base"
    if not (base / "config.json").is_file():
        tok = train_tokenizer([t for n in names for ex in train_rows[n] for t in (ex["prompt"], ex["answer"])], 4096)
        model = build_preset(ModelSpec.parse("tiny-deepseek-moe"), len(tok), {
            "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}, seed=0)
        model.save_pretrained(base)
        tok.save_pretrained(base)
    common = {"model": str(base), "stages": ["kg_sft"], "report_to": ["none"], "routing_sample": 64,
              "lora": {"targets": args.targets.split(","), "r": args.r, "embedding_r": args.embedding_r},
              "kg_sft": {"max_steps": args.steps, "lr": args.lr, "context_share": 0.0}}

    def chain(name: str, **extra) -> object:
        cfg = parse_config(TrainConfig, {**common, **extra}, prefix="train")
        return train(cfg, data[name], store)[-1].artifact

    # routing of each domain's training prompts on the base → disjoint expert sets
    tokenizer = AutoTokenizer.from_pretrained(base)
    base_model = load_checkpoint(base)
    stats = {n: record_routing(base_model, [encode_prompt(tokenizer, prompt_messages(ex, with_context=False))
                                            for ex in train_rows[n][:256]], pad_id=tokenizer.pad_token_id)
             for n in names}
    sets = disjoint_experts(stats, top_p=args.top_p)
    variants = {
        "shared": {n: chain(n) for n in names},
        "disjoint": {n: chain(n, esft={"enabled": True, "experts": sets[n]}) for n in names},
    }
    cfg = EvalConfig(max_per_task=args.per_task, splits=["test_paraphrase"])
    results: dict = {"steps": args.steps, "lr": args.lr, "top_p": args.top_p, "targets": args.targets,
                     "r": args.r, "embedding_r": args.embedding_r, "expert_sets": sets, "variants": {}}
    for variant, chains in variants.items():
        done = evaluate_domains(cfg, chains, data, store)
        results["variants"][variant] = json.loads((done.path / "metrics.json").read_text("utf-8"))
        results["variants"][variant]["artifact"] = str(done.path)
    # transfer: finance from the medical model vs from the base (the shared variant's finance), same steps and data
    moved = chain("finance", **{"from": str(variants["shared"]["medical"].path)})
    results["transfer"] = _transfer(cfg, {"from base": variants["shared"]["finance"], "from medical": moved}, data["finance"])
    return results


def _transfer(cfg, chains: dict, data) -> dict:
    from datasets import load_from_disk

    from kgtools.evaluate.stage import _entity_names, _sample, evaluate_split
    from kgtools.models import load_stage_model

    dd = load_from_disk(str(data.path / "dataset"))
    rows = _sample(dd["test_paraphrase"].to_list(), cfg)
    out = {}
    for label, artifact in chains.items():
        model, tokenizer = load_stage_model(artifact)
        r = evaluate_split(model, tokenizer, rows, _entity_names(dd), cfg, with_context=False)
        out[label] = {"mcq": r["mcq"]["accuracy"], "open_em": r["open_em"], "accuracy": r["accuracy"], "n": len(rows),
                      "heldout_loss_after": artifact.manifest["metrics"]["after"]}
    return out


def report(r: dict) -> None:
    print(f"kg_sft {r['steps']} steps per domain, lr {r['lr']}, LoRA r {r.get('r')} on {r.get('targets')} "
          f"(embeddings r {r.get('embedding_r')}); test_paraphrase")
    for variant, m in r["variants"].items():
        print(f"\n[{variant} experts]  rows: the model asked; columns: whose questions (multiple choice / open EM)")
        for label in ("base", *m["domains"], "composed"):
            row = m["matrix"][label]
            print(f"  {label:<9}" + "".join(f"  {d}: {row[d]['mcq']:.3f} / {row[d]['open_em']:.3f}" for d in m["domains"]))
        for d, keep in m["composition"].items():
            print(f"  composed ÷ own on {d}: multiple choice {_x(keep['mcq'])}, open EM {_x(keep['open_em'])}  (goal ≥ 0.9)")
        for a, other in m["interference"].items():
            for d, v in other.items():
                print(f"  {a} adapter on {d}: multiple choice {_s(v['mcq'])}, open EM {_s(v['open_em'])}  (goal |Δ| ≤ 0.02 disjoint)")
        for label, pairs in m["routing_overlap"].items():
            for pair, layers in pairs.items():
                print(f"  routing overlap {label} {pair}: " + ", ".join(f"layer {k} {v:.3f}" for k, v in layers.items()))
    print("\n[transfer] finance test_paraphrase, same steps and data")
    for label, v in r["transfer"].items():
        print(f"  {label:<13} multiple choice {v['mcq']:.3f}, open EM {v['open_em']:.3f}, accuracy {v['accuracy']:.3f}, "
              f"held-out answer loss {v['heldout_loss_after']:.3f}")


def _x(v):
    return "–" if v is None else f"{v:.3f}×"


def _s(v):
    return "–" if v is None else f"{v:+.3f}"


if __name__ == "__main__":
    main()
