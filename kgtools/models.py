"""Models for the fine-tune: a local Hugging Face checkpoint (``AutoModelForCausalLM``, never remote code
unless asked) or a built-in tiny preset (a scaled-down DeepSeek-V3, random-initialised with a seed), and
the names of each MoE family's parts (routers, routed experts, shared experts, attention projections)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgtools.artifacts import Artifact, file_digest
from kgtools.errors import ArtifactError, ConfigError

log = logging.getLogger(__name__)

# A DeepSeek-V3 in miniature: MLA attention (low-rank q and kv), a dense first layer, routed experts with
# top-k and a shared expert. ~1 M parameters besides the embeddings.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny-deepseek-moe": dict(
        hidden_size=128, intermediate_size=256, moe_intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2,
        n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=32, qk_rope_head_dim=16,
        qk_nope_head_dim=16, v_head_dim=32, n_group=1, topk_group=1, max_position_embeddings=1024,
        tie_word_embeddings=False, routed_scaling_factor=1.0,
    ),
    # 4 MoE layers, 16 experts top-4: still CPU-sized, but with enough experts for ESFT to choose from.
    "small-deepseek-moe": dict(
        hidden_size=256, intermediate_size=512, moe_intermediate_size=128, num_hidden_layers=5,
        num_attention_heads=8, num_key_value_heads=8, n_routed_experts=16, num_experts_per_tok=4,
        n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=64, kv_lora_rank=64, qk_rope_head_dim=16,
        qk_nope_head_dim=32, v_head_dim=32, n_group=1, topk_group=1, max_position_embeddings=2048,
        tie_word_embeddings=False, routed_scaling_factor=1.0,
    ),
}

# Target groups → what LoRA wraps. `modules` are nn.Linear names (PEFT target_modules), `parameters` are
# fused expert tensors (PEFT target_parameters).
ATTENTION_MODULES = ["q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "k_proj", "v_proj", "o_proj"]
# LoRA target groups (train.lora.targets). "embeddings": a low-rank update of the token embeddings and the LM head —
# unlike training them in full (lora.train_embeddings, PEFT's modules_to_save) it adds a ΔW like every other LoRA
# weight, so adapters with it can be active together (several domains composed).
TARGET_GROUPS = ("attention", "shared_experts", "routed_experts", "dense_mlp", "router", "embeddings")


@dataclass(frozen=True)
class ModelSpec:
    """Where a base model comes from: a preset name or a local checkpoint folder."""

    name: str
    preset: dict[str, Any] | None
    path: Path | None
    trust_remote_code: bool = False

    @classmethod
    def parse(cls, model: str, trust_remote_code: bool = False) -> ModelSpec:
        if model in PRESETS:
            return cls(model, PRESETS[model], None, trust_remote_code)
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(f"train.model: {model!r} is neither a preset ({', '.join(PRESETS)}) nor a local checkpoint folder")
        if not (path / "config.json").is_file():
            raise ConfigError(f"train.model: {path} has no config.json; point it at a Hugging Face checkpoint folder")
        check_checkpoint(path, trust_remote_code)
        return cls(model, None, path.resolve(), trust_remote_code)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the base weights in an artifact key (file sizes and times: hashing GBs is too slow)."""
        if self.preset is not None:
            return {"preset": self.name, "config": self.preset}
        files = sorted(p for p in self.path.iterdir() if p.is_file())
        return {"path": str(self.path), "files": {p.name: [p.stat().st_size, int(p.stat().st_mtime)] for p in files}}


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


def check_checkpoint(path: Path, trust_remote_code: bool) -> None:
    """What a checkpoint folder must hold before anything loads it, each gap named for what it is: a config
    that is JSON, weights, tokenizer files, and trust_remote_code when the model's code lives in the folder."""
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"train.model: {config_file}: not valid JSON at line {exc.lineno} ({exc.msg}); "
                          "the checkpoint is damaged or incompletely copied") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"train.model: {config_file}: cannot read ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"train.model: {config_file}: a model config is a JSON object")
    if not any((path / f).is_file() for f in WEIGHT_FILES) and not any(path.glob("*.safetensors")):
        raise ConfigError(f"train.model: {path}: no weights (none of {', '.join(WEIGHT_FILES)}); "
                          "copy the checkpoint's weight files into the folder")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ConfigError(f"train.model: {path}: no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                          "copy the checkpoint's tokenizer files into the folder")
    if "auto_map" in config and not trust_remote_code:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        if config.get("model_type") not in CONFIG_MAPPING_NAMES:
            raise ConfigError(f"train.model: {path}: its model type {config.get('model_type')!r} is code inside the "
                              "folder (config.json auto_map); set train.trust_remote_code: true (or "
                              "--trust-remote-code) only if you trust that code")


def build_preset(spec: ModelSpec, vocab_size: int, special: dict[str, int], seed: int):
    """A randomly initialised model of a preset; the same seed gives the same weights."""
    import torch
    from transformers import AutoModelForCausalLM, DeepseekV3Config

    cfg = DeepseekV3Config(vocab_size=vocab_size, **spec.preset, **special)
    cfg._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    return model


def load_checkpoint(path: Path, *, trust_remote_code: bool = False, dtype=None):
    """A local checkpoint, offline. Errors name the folder and what is wrong."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True)
    except ValueError as exc:
        raise ConfigError(f"train.model: {path}: cannot read its config ({exc}); set trust_remote_code: true "
                          "only if you trust the code in that folder") from None
    return AutoModelForCausalLM.from_pretrained(path, config=config, dtype=dtype or "auto",
                                                trust_remote_code=trust_remote_code, local_files_only=True)


@dataclass(frozen=True)
class MoeLayout:
    """Where an MoE family keeps its parts (module paths inside a decoder layer) and which config fields say
    how many. In transformers 5 every family's routed experts are fused 3-D tensors under ``mlp.experts``
    (``gate_up_proj`` [E, 2·I, H], ``down_proj`` [E, H, I]) and the router is ``mlp.gate``."""

    n_experts: str  # config field: routed experts per MoE layer
    shared: str | None = None  # module of the shared expert(s), if the family has them
    dense_first: str | None = None  # config field: how many leading layers are dense MLPs
    attention: str = "GQA"  # "MLA": low-rank q/kv projections (q_a/q_b, kv_a_proj_with_mqa, kv_b)
    router: str = "mlp.gate"
    experts: str = "mlp.experts"


# The architecture facts that differ between the supported families, in one place (tests/integration/
# test_architectures.py takes a scaled-down checkpoint of each through the whole CLI).
ARCHITECTURES: dict[str, MoeLayout] = {
    "deepseek_v2": MoeLayout("n_routed_experts", "mlp.shared_experts", "first_k_dense_replace", "MLA"),
    "deepseek_v3": MoeLayout("n_routed_experts", "mlp.shared_experts", "first_k_dense_replace", "MLA"),
    "qwen2_moe": MoeLayout("num_experts", "mlp.shared_expert"),  # its output scaled by a sigmoid mlp.shared_expert_gate
    "qwen3_moe": MoeLayout("num_experts"),
    "olmoe": MoeLayout("num_experts"),
    "mixtral": MoeLayout("num_local_experts"),
}
# A model type not in the table (a checkpoint's own code, an older transformers layout): the names the
# families above use, tried in turn; ``block_sparse_moe`` is Mixtral's module name before transformers 5.
FALLBACK_ROUTERS = ("mlp.gate", "block_sparse_moe.gate")
FALLBACK_EXPERT_COUNTS = ("n_routed_experts", "num_experts", "num_local_experts")
FALLBACK_SHARED = ("mlp.shared_experts", "mlp.shared_expert")


def layout_of(model) -> MoeLayout | None:
    """The family's layout from the table, or None for a model type kgtools has no entry for."""
    return ARCHITECTURES.get(getattr(model.config, "model_type", None))


def routers(model) -> dict[int, Any]:
    """Layer index → router module (``mlp.gate``; ``block_sparse_moe.gate`` in older layouts) of an MoE model."""
    layout = layout_of(model)
    suffixes = (layout.router,) if layout is not None else FALLBACK_ROUTERS
    found: dict[int, Any] = {}
    for name, module in model.named_modules():
        parts = name.split(".")
        if "layers" not in parts or "lora_" in name or name.endswith("base_layer"):
            continue
        at = parts.index("layers") + 1
        if at < len(parts) and ".".join(parts[at + 1:]) in suffixes:
            found.setdefault(int(parts[at]), module)
    return found


def n_experts(model) -> int:
    cfg = model.config
    layout = layout_of(model)
    for attr in (layout.n_experts,) if layout is not None else FALLBACK_EXPERT_COUNTS:
        if getattr(cfg, attr, None):
            return int(getattr(cfg, attr))
    raise ConfigError(f"{type(model).__name__}: not a Mixture-of-Experts model (no routed experts in its config)")


def group_targets(model, groups: list[str]) -> tuple[list[str], list[str], list[str]]:
    """PEFT ``target_modules``, ``target_parameters`` and the router parameter names for ``groups``.
    A group the model lacks is a :class:`ConfigError` naming the group.

    The MLP projections (shared experts, dense layers) are reached through ``target_parameters`` on their
    ``.weight``, not ``target_modules``: PEFT 0.21's transformers-v4 shim rewrites any ``gate_proj``/``up_proj``/
    ``down_proj`` module target of a DeepSeek/Mixtral/Qwen-MoE model into the fused routed experts, so the
    shared experts would silently never get LoRA."""
    layout = layout_of(model)
    if layout is None:
        shared, router, experts = FALLBACK_SHARED, FALLBACK_ROUTERS, "mlp.experts"
    else:
        shared, router, experts = (layout.shared,) if layout.shared else (), (layout.router,), layout.experts
    module_names = [n for n, _ in model.named_modules()]
    params = [n for n, _ in model.named_parameters()]
    modules: set[str] = set()
    parameters: list[str] = []
    router_params: list[str] = []
    for group in groups:
        if group == "attention":
            hits = sorted({n.rsplit(".", 1)[-1] for n in module_names
                           if ".self_attn." in n and n.rsplit(".", 1)[-1] in ATTENTION_MODULES})
            modules.update(hits)
        elif group == "shared_experts":
            hits = sorted({".".join(p.split(".")[-3:]) for p in params
                           if any(p.endswith(f".{s}.{proj}_proj.weight") for s in shared for proj in ("gate", "up", "down"))})
            parameters += hits
        elif group == "dense_mlp":
            hits = sorted({".".join(p.split(".")[-3:]) for p in params
                           if re.search(r"\.mlp\.(gate|up|down)_proj\.weight$", p)})
            parameters += hits
        elif group == "routed_experts":
            hits = sorted({".".join(p.split(".")[-3:]) for p in params
                           if p.endswith((f"{experts}.gate_up_proj", f"{experts}.down_proj"))})
            parameters += hits
        elif group == "router":
            hits = [p for p in params if p.endswith(tuple(f"{r}.weight" for r in router))]
            router_params += hits
        elif group == "embeddings":
            hits = embedding_modules(model)
            modules.update(hits)
        else:
            raise ConfigError(f"train.lora.targets: unknown group {group!r}; allowed: {', '.join(TARGET_GROUPS)}")
        if not hits:
            raise ConfigError(f"train.lora.targets: {type(model).__name__} has no {group!r} "
                              f"({_group_hint(group)}); remove it from the list")
    return sorted(modules), parameters, router_params


def _group_hint(group: str) -> str:
    return {
        "attention": "self_attn projections",
        "shared_experts": "mlp.shared_experts / mlp.shared_expert .{gate,up,down}_proj",
        "routed_experts": "fused mlp.experts.gate_up_proj / down_proj",
        "dense_mlp": "dense mlp.{gate,up,down}_proj layers",
        "router": "mlp.gate",
        "embeddings": "input embeddings / LM head",
    }[group]


def embedding_modules(model) -> list[str]:
    """The last name of the token-embedding and output-head modules (``embed_tokens``, ``lm_head`` in every
    supported family); one name when the two are tied."""
    wanted = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if any(m is w for w in wanted)})


# --------------------------------------------------------------------------------------- train artifacts

TRAIN_PREFIX = "train"


def merge_adapter(model, adapter_dir: Path):
    """``model`` with the adapter in ``adapter_dir`` merged into its weights (a plain transformers model)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()


def _load_base(first: Artifact, trust_remote_code: bool):
    """The base model of a chain. An artifact is data someone may have handed over: what its manifest says
    never turns remote code on. Only the caller's ``trust_remote_code`` (the user's config or command line)
    may, and an artifact that needs it without that is refused."""
    import torch

    if not first.stage.startswith(TRAIN_PREFIX + "/"):
        raise ArtifactError(f"{first.path}: a {first.stage!r} artifact, not a train stage")
    cfg = first.manifest["config"]
    if cfg.get("trust_remote_code") is True and not trust_remote_code:
        raise ArtifactError(
            f"{first.path}: this model was trained with trust_remote_code, so loading it runs the Python code in "
            f"{cfg['model']}; if you trust that code, allow it yourself (`--trust-remote-code`, or "
            "`trust_remote_code: true` in your evaluate/train config)")
    spec = ModelSpec.parse(cfg["model"], trust_remote_code)
    base = first.path / "base" if spec.preset is not None else spec.path
    return load_checkpoint(base, trust_remote_code=trust_remote_code and cfg.get("trust_remote_code") is True,
                           dtype=torch.float32 if not torch.cuda.is_available() else None)


def load_base_model(artifact: Artifact, *, trust_remote_code: bool = False):
    """(model, tokenizer): the base model a train artifact's chain started from, before any adapter.
    ``trust_remote_code`` must come from the user, never from an artifact."""
    from transformers import AutoTokenizer

    return (_load_base(lineage_of(artifact)[0], trust_remote_code),
            AutoTokenizer.from_pretrained(str(artifact.path / "tokenizer")))


def lineage_of(artifact: Artifact) -> list[Artifact]:
    """The train artifacts from the first stage to ``artifact``, following each manifest's ``parent``."""
    chain = [artifact]
    while (rel := chain[-1].manifest.get("parent")) is not None:
        path = (chain[-1].path / rel).resolve()
        if not (path / "manifest.json").is_file():
            raise ArtifactError(f"{chain[-1].path}: its parent stage {path} is gone; rebuild it")
        chain.append(Artifact.open(path))
    return chain[::-1]


def load_stage_model(artifact: Artifact, *, merge: bool = True, trust_remote_code: bool = False):
    """(model, tokenizer) of a train artifact: base → every stage's adapter merged (or the last one kept as
    a PEFT adapter when ``merge`` is False). ``trust_remote_code`` must come from the user, never from an
    artifact."""
    from transformers import AutoTokenizer

    chain = lineage_of(artifact)
    model = _load_base(chain[0], trust_remote_code)
    for a in chain[:-1]:
        model = merge_adapter(model, a.path)
    if merge:
        model = merge_adapter(model, chain[-1].path)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(chain[-1].path))
    return model, AutoTokenizer.from_pretrained(str(artifact.path / "tokenizer"))


# --------------------------------------------------------------------------------------- several domains

def base_identity(artifact: Artifact) -> dict[str, Any]:
    """What the chain of ``artifact`` was trained on: the base weights and the tokenizer. Two chains whose
    identities are equal can be composed (their adapters add up on the same weights)."""
    first = lineage_of(artifact)[0]
    files = first.manifest.get("files", {})
    spec = ModelSpec.parse(first.manifest["config"]["model"], False)
    if spec.preset is not None:  # a preset's random base is saved in the first stage's artifact
        weights: Any = {k: v["sha256"] for k, v in files.items() if k.startswith("base/") and k.endswith(".safetensors")}
    else:
        folder = Path(spec.path).resolve()
        weights = {"path": str(folder), "config": file_digest(folder / "config.json"),
                   "files": {f.name: f.stat().st_size for f in sorted(folder.glob("*.safetensors"))}}
    return {"weights": weights, "tokenizer": (files.get("tokenizer/tokenizer.json") or {}).get("sha256")}


def load_domains(domains: dict[str, Artifact], *, trust_remote_code: bool = False):
    """(PEFT model, tokenizer): one base with every domain's adapter chain loaded beside the others, adapters
    named ``<domain>__<stage>``; :func:`use_domains` switches between domains or composes them. Composition is
    PEFT's several active LoRA adapters: each adds its own ΔW·x, which equals merging every adapter into the
    weights (a test checks the logits) — the exact sum of the domains' deltas, as PEFT's ``cat`` combination
    would give, without building a new adapter of rank Σr; a weighted ``linear`` combination mixes the A and B
    factors separately and is not a sum of deltas. Refused: chains of different bases or tokenizers, and
    chains that train modules in full (the preset's embeddings, a trained router): one copy of a module
    cannot be two domains' at once."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    if not domains:
        raise ConfigError("no domains to load")
    chains = {name: lineage_of(a) for name, a in domains.items()}
    names = list(chains)
    identity = {name: base_identity(domains[name]) for name in names}
    for name in names[1:]:
        if identity[name] != identity[names[0]]:
            what = "base weights" if identity[name]["weights"] != identity[names[0]]["weights"] else "tokenizer"
            raise ConfigError(f"{domains[name].path}: domain {name!r} was trained on other {what} than domain "
                              f"{names[0]!r} ({domains[names[0]].path}); only adapters of one base compose — train "
                              "every domain from the same `model:` checkpoint")
    for name, chain in chains.items():
        for a in chain:
            saved = json.loads((a.path / "adapter_config.json").read_text("utf-8")).get("modules_to_save")
            if saved:
                raise ConfigError(f"{a.path}: domain {name!r} trains {', '.join(saved)} in full, which cannot be "
                                  "active for two domains at once; compose domains trained with "
                                  "train.lora.train_embeddings: false and without 'router' in train.lora.targets")
    model = None
    loaded: dict[str, str] = {}  # artifact key → adapter name: a chain transferred from another domain shares its adapters
    uses: dict[str, list[str]] = {}
    for name, chain in chains.items():
        uses[name] = []
        for a in chain:
            if a.key not in loaded:
                adapter = f"{name}__{a.stage.split('/', 1)[1]}"
                while adapter in loaded.values():  # a transferred chain's own kg_sft beside the one it started from
                    adapter += "_"
                if model is None:
                    model = PeftModel.from_pretrained(_load_base(chain[0], trust_remote_code), str(a.path), adapter_name=adapter)
                else:
                    model.load_adapter(str(a.path), adapter_name=adapter)
                loaded[a.key] = adapter
            uses[name].append(loaded[a.key])
    model.eval()
    model.kgtools_domains = uses
    return model, AutoTokenizer.from_pretrained(str(domains[names[0]].path / "tokenizer"))


def use_domains(model, names: list[str] | tuple[str, ...]) -> list[str]:
    """Make the adapters of the domains ``names`` (all their stages) the active ones, composed; returns the
    adapter names. For the base model alone, use ``with model.disable_adapter():``."""
    uses = _domain_adapters(model)
    unknown = sorted(set(names) - set(uses))
    if unknown or not names:
        raise ConfigError(f"no domain {unknown[0] if unknown else '(none given)'!r}; loaded: {', '.join(uses)}")
    adapters = list(dict.fromkeys(a for name in names for a in uses[name]))  # a shared (transferred-from) one once
    model.base_model.set_adapter(adapters)
    return adapters


def domain_names(model) -> list[str]:
    return list(_domain_adapters(model))


def _domain_adapters(model) -> dict[str, list[str]]:
    """Domain → the names of its chain's adapters (a model from :func:`load_domains`; else read from the names)."""
    uses = getattr(model, "kgtools_domains", None)
    if uses is None:
        uses = {}
        for a in model.peft_config:
            uses.setdefault(a.split("__", 1)[0], []).append(a)
    return uses
