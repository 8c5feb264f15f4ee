"""The export of a train artifact: its adapter chain merged into a standalone checkpoint folder that serving
engines load unchanged (vLLM and SGLang drop or reject PEFT ``target_parameters`` adapters on fused experts, so
merged weights are the default), checked against the adapter chain before it is renamed into place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from kgtools import cards
from kgtools.artifacts import Artifact, write_json_atomic
from kgtools.errors import ArtifactError, ConfigError
from kgtools.models import lineage_of, load_domains, load_stage_model, use_domains

# A fixed batch for the check: chat prompts and plain text, of different lengths (padding is exercised).
CHECK_TEXTS = ("What is a symptom of influenza?", "Which drug treats asthma, and which organ does asthma affect?",
               "The knowledge graph says that", "True or false: every disease has a cause.")
# The largest |Δ logit| accepted between the merged export and the adapter chain: float32 weights merge
# exactly up to rounding; 16-bit weights round each merged weight to 8 (bf16) or 11 (fp16) bits.
TOLERANCE = {"float32": 1e-3, "float16": 0.25, "bfloat16": 0.5}


def export(artifact: Artifact | list[Artifact], out: str | Path, *, trust_remote_code: bool = False) -> Path:
    """Merge the stage chain of ``artifact`` — or the chains of several domains trained on one base, composed
    (their deltas added: :func:`kgtools.models.load_domains`) — into a standalone checkpoint folder (written
    then renamed): the weights, the tokenizer with its chat template, a ``generation_config.json`` whose
    end-of-turn token is the chat template's, a model card (``README.md``) and ``kgtools_export.json`` with the
    lineage and the check's max |Δ logit| between the saved checkpoint (reloaded from disk) and the adapters.
    ``trust_remote_code`` is the user's to give; an artifact that needs it is refused without it."""
    artifacts = artifact if isinstance(artifact, list) else [artifact]
    out = Path(out)
    for a in artifacts:
        if not a.stage.startswith("train/"):
            raise ConfigError(f"{a.path}: is a {a.stage!r} artifact; export takes a train artifact "
                              "(artifacts/train/<stage>/<key>)")
    if len({a.path.resolve() for a in artifacts}) < len(artifacts):
        raise ConfigError(f"{artifacts[0].path}: named twice; compose different domains' train artifacts")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is a file; choose a new folder for the exported model")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not empty; choose a new folder for the exported model")
    if len(artifacts) == 1:
        chained, tokenizer = load_stage_model(artifacts[0], merge=False, trust_remote_code=trust_remote_code)
        adapters = None
    else:
        chained, tokenizer = load_domains({f"domain{i}": a for i, a in enumerate(artifacts)},
                                          trust_remote_code=trust_remote_code)
        adapters = use_domains(chained, [f"domain{i}" for i in range(len(artifacts))])
    batch = _check_batch(tokenizer)
    reference = _logits(chained, batch)
    model = chained.merge_and_unload(adapter_names=adapters)
    _set_generation_config(model, tokenizer)
    tmp = out.with_name(f".tmp-{out.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        check = _check(tmp, batch, reference, trust_remote_code)
        chains = [lineage_of(a) for a in artifacts]
        cards.write(tmp, cards.model_card(chains=chains, export_check=check, model_type=model.config.model_type))
        write_json_atomic(tmp / "kgtools_export.json", {
            "from": [str(a.path) for a in artifacts] if len(artifacts) > 1 else str(artifacts[0].path),
            "stage": artifacts[0].stage if len(artifacts) == 1 else [a.stage for a in artifacts],
            "lineage": [[a.stage + ":" + a.key for a in chain] for chain in chains] if len(chains) > 1
            else [a.stage + ":" + a.key for a in chains[0]], "check": check})
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_batch(tokenizer) -> dict[str, Any]:
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True,
                                             tokenize=False) for t in CHECK_TEXTS[:2]]
    texts = prompts + list(CHECK_TEXTS[2:])
    before = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        return dict(tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt"))
    finally:
        tokenizer.padding_side = before


def _logits(model, batch: dict[str, Any]):
    import torch

    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu()
    return logits.masked_fill(~batch["attention_mask"].bool()[..., None], 0.0)  # pad positions do not count


def _check(folder: Path, batch: dict[str, Any], reference, trust_remote_code: bool) -> dict[str, Any]:
    """The saved checkpoint, loaded as a serving engine would (no kgtools, no PEFT), against the chain."""
    from kgtools.models import load_checkpoint

    model = load_checkpoint(folder, trust_remote_code=trust_remote_code)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    delta = float((_logits(model, batch) - reference).abs().max())
    tolerance = TOLERANCE.get(dtype, 0.5)
    if not delta <= tolerance:
        raise ArtifactError(f"{folder}: the merged checkpoint's logits differ from the adapter chain's by up to "
                            f"{delta:.3g} ({dtype} weights; tolerated: {tolerance}); the export is not written")
    return {"max_abs_logit_delta": round(delta, 8), "tolerance": tolerance, "dtype": dtype,
            "tokens": int(batch["attention_mask"].sum())}


def _set_generation_config(model, tokenizer) -> None:
    """End generation at the chat template's end-of-turn token (and the checkpoint's own), pad with the
    tokenizer's pad token: ``pipeline("text-generation")`` and vLLM read these from ``generation_config.json``."""
    gen = model.generation_config
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    stops = [tokenizer.eos_token_id] + [e for e in eos if e is not None and e != tokenizer.eos_token_id]
    gen.eos_token_id = stops[0] if len(stops) == 1 else stops
    if tokenizer.pad_token_id is not None:
        gen.pad_token_id = tokenizer.pad_token_id
    if tokenizer.bos_token_id is not None:
        gen.bos_token_id = tokenizer.bos_token_id
