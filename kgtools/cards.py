"""Model and dataset cards in the Hugging Face format (``README.md``: a YAML header, then Markdown), where
Hub users look first: which ontology releases, under which licenses, how much data, made how, trained how,
with what measured result. Written by ``export`` (model card) and by the synth and dedupe stages (dataset
card) from what their artifacts and the artifacts upstream of them record."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kgtools.artifacts import Artifact

# What each negative kind is, for a reader of the dataset card (the kinds of kgtools.config.NEGATIVE_KINDS).
NEGATIVE_KIND_TEXT = {
    "disjoint": "the object replaced by a concept the ontology declares disjoint with the true one",
    "hierarchy": "the object replaced by a concept of the same parent that is not the answer (a sibling)",
    "functional": "a second value for a functional property: the ontology allows only one",
    "cardinality": "a count above the ontology's maximum cardinality",
    "stale": "what an older release stated and the newer one corrects",
    "unasserted": "a statement the ontology does not make (open world: not known to be false; used as a "
                  "distractor, never as a preference pair by default)",
}
SPLIT_TEXT = {
    "train": "training examples, each fact in several phrasings",
    "preference": "extra corrupted statements that only the reinforce (DPO) stage reads",
    "validation": "paraphrases of trained facts, for choosing checkpoints",
    "test_paraphrase": "trained facts asked in a phrasing never trained",
    "test_novel_template": "trained facts asked with a template held out from training",
    "test_heldout": "facts never trained (what the model can infer or guess)",
    "test_changed": "facts a new release changed, in unseen phrasings",
    "test_removed": "statements a new release withdrew",
    "test_portability": "facts entailed through a change, never trained",
    "test_locality_near": "unchanged facts near a change",
    "test_locality_far": "unchanged facts far from any change",
}

# License IRIs and texts → Hugging Face license identifiers (https://huggingface.co/docs/hub/repositories-licenses).
_CC = re.compile(r"creativecommons\.org/licenses/(by(?:-nc)?(?:-sa|-nd)?)/(\d\.\d)/?$", re.I)
_LICENSES = (
    (re.compile(r"creativecommons\.org/publicdomain/zero/1\.0", re.I), "cc0-1.0"),
    (re.compile(r"opendatacommons\.org/licenses/odbl", re.I), "odbl"),
    (re.compile(r"opendatacommons\.org/licenses/by", re.I), "odc-by"),
    (re.compile(r"opendatacommons\.org/licenses/pddl", re.I), "pddl"),
    (re.compile(r"apache\.org/licenses/LICENSE-2\.0|^Apache(?: License)?,? (?:Version )?2\.0$", re.I), "apache-2.0"),
    (re.compile(r"opensource\.org/licenses/MIT|^MIT(?: License)?$|Permission is hereby granted, free of charge", re.I), "mit"),
    (re.compile(r"gnu\.org/licenses/gpl-3\.0", re.I), "gpl-3.0"),
    (re.compile(r"gnu\.org/licenses/lgpl-3\.0", re.I), "lgpl-3.0"),
)
_HF_CC = {"by", "by-sa", "by-nc", "by-nd", "by-nc-sa", "by-nc-nd"}


def hf_license(text: str | None) -> str | None:
    """The Hugging Face identifier of a license IRI or text, or None when it is not one the Hub lists
    (a CC "IGO" port, a national open-government licence, free text)."""
    if not text:
        return None
    text = text.strip()
    if (m := _CC.search(text)) and m.group(1).lower() in _HF_CC:
        return f"cc-{m.group(1).lower()}-{m.group(2)}"
    return next((name for pattern, name in _LICENSES if pattern.search(text)), None)


def license_metadata(licenses: Iterable[str | None]) -> dict[str, str]:
    """The card header's license fields for data under ``licenses``: the Hub identifier when all sources
    agree on one it lists, else ``other`` with a name and a link (the Hub asks for both)."""
    stated = sorted({x for x in licenses if x})
    ids = {hf_license(x) for x in stated}
    if len(ids) == 1 and None not in ids:
        return {"license": ids.pop()}  # type: ignore[dict-item]
    if not stated:
        return {"license": "unknown"}
    link = next((x for x in stated if x.startswith(("http://", "https://"))), "")
    name = "ontology-license" if len(stated) == 1 else "several-ontology-licenses"
    return {"license": "other", "license_name": name, **({"license_link": link} if link else {})}


def upstream(artifact: Artifact, stage: str) -> Artifact | None:
    """The nearest artifact of ``stage`` that ``artifact`` was built from, following the manifests' inputs (where
    ``input_paths`` recorded them, else in the same artifact root), or None when it is gone."""
    root = artifact.path.parents[len(artifact.stage.split("/"))]
    todo, seen = [artifact], set()
    while todo:
        current = todo.pop(0)
        recorded = current.manifest.get("input_paths", {})
        for name, key in current.manifest.get("inputs", {}).items():
            kind = name.split(":", 1)[0]
            places = [(current.path / recorded[name]).resolve()] if name in recorded else []
            path = next((p for p in (*places, root / kind / str(key)) if (p / "manifest.json").is_file()), None)
            if path is None or path in seen:
                continue
            seen.add(path)
            found = Artifact.open(path)
            if found.stage == stage:
                return found
            todo.append(found)
    return None


def ontology_sources(kg: Artifact | None) -> list[dict[str, Any]]:
    """The input ontology files of a kg artifact with what their headers say (title, version, license)."""
    if kg is None:
        return []
    return [{"path": f["path"], "sha256": f["sha256"][:12], **f.get("header", {})}
            for f in kg.manifest.get("loaded_files", []) if f.get("via") == "input"]


def sources_table(sources: list[dict[str, Any]]) -> str:
    if not sources:
        return "The ontology sources are not recorded (the kg artifact is gone, or was built before kgtools recorded the ontologies' headers).\n"
    rows = ["| file | ontology | version | license |", "|---|---|---|---|"]
    for s in sources:
        version = s.get("version") or s.get("version_iri") or "not stated"
        rows.append(f"| `{s['path']}` (sha256 {s['sha256']}…) | {_cell(s.get('title') or s.get('iri') or '')} | "
                    f"{_cell(version)} | {_cell(s.get('license') or 'not stated in the file')} |")
    return "\n".join(rows) + "\n"


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def render(header: Mapping[str, Any], body: str) -> str:
    """A card: the YAML header between ``---`` lines, then the Markdown body."""
    return "---\n" + yaml.safe_dump(dict(header), sort_keys=False, allow_unicode=True) + "---\n\n" + body.strip() + "\n"


def dataset_card(*, title: str, kind: str, splits: Mapping[str, int], tasks: Mapping[str, Mapping[str, int]],
                 negative_kinds: Mapping[str, int], sources: list[dict[str, Any]], data_files: Mapping[str, str],
                 language: list[str], config: Mapping[str, Any], notes: list[str] = ()) -> str:
    """A dataset card for instruction data: splits and sizes, tasks, sources and their licenses, how the
    negatives and the splits were made. ``data_files`` maps each split to its files (relative to the card)."""
    total = sum(splits.values())
    header = {
        "pretty_name": title,
        **license_metadata(s.get("license") for s in sources),
        "language": language,
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [size_category(total)],
        "tags": ["kgtools", "knowledge-graph", "ontology", "synthetic"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": p} for s, p in data_files.items()]}],
    }
    split_rows = ["| split | examples | what it holds |", "|---|---:|---|"]
    split_rows += [f"| {s} | {n:,} | {SPLIT_TEXT.get(s, '')} |" for s, n in splits.items()]
    task_names = sorted({t for per in tasks.values() for t in per})
    task_rows = ["| task | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
    task_rows += [f"| {t} | " + " | ".join(f"{tasks[s].get(t, 0):,}" for s in tasks) + " |" for t in task_names]
    kind_rows = ["| kind | examples | what it is |", "|---|---:|---|"]
    kind_rows += [f"| {k} | {n:,} | {NEGATIVE_KIND_TEXT.get(k, '')} |" for k, n in negative_kinds.items() if k != "-"]
    split_cfg = config.get("splits", {})
    body = f"""
# {title}

Instruction data generated by kgtools (its `{kind}` stage) from an ontology: every
example names the triples it was made from (`triples`), its answer is checked against the graph, and its
evaluation splits are kept out of training (a leak check compares every evaluation prompt with the training prompts).

## Sources

{sources_table(sources)}
The data inherits the licenses of these sources; check them before publishing.

## Splits

{chr(10).join(split_rows)}

How the splits are made: a share {split_cfg.get('heldout', '?')} of the facts is never trained and is asked in one
phrasing (`test_heldout`){' — whole subjects are held out' if split_cfg.get('entity_disjoint') else ''}. Of the trained
fact groups (one subject, one relation), {split_cfg.get('paraphrase', '?')} keep one phrasing out of their training
and are asked in it (`test_paraphrase`; {split_cfg.get('validation', '?')} of these go to `validation`); where a relation
has three or more phrasings its last one is never trained, and {split_cfg.get('novel_template', '?')} of the groups are
asked in it (`test_novel_template`). An evaluation prompt that also appears in training is dropped. Seed {config.get('seed', '?')}.

## Tasks

{chr(10).join(task_rows)}

## Negatives

False statements and wrong choices are made by corrupting a true triple. The kinds and how many examples use them:

{chr(10).join(kind_rows)}

True/false questions draw on {', '.join(config.get('negatives', {}).get('yes_no', [])) or 'no kind'}; multiple-choice
distractors on {', '.join(config.get('negatives', {}).get('mcq', [])) or 'no kind'}; rejected answers of preference
pairs on {', '.join(config.get('negatives', {}).get('rejected', [])) or 'no kind'}.

## Columns

`prompt`, `answer` (and `answer_aliases`), `choices`/`answer_index` (multiple choice), `rejected`/`negative_kind`
(preference pairs), `messages` (chat layout), `context` (the supporting facts as text), `triples` and `path` (the
graph facts behind the example), `split_reason`, `template_id`.
"""
    if notes:
        body += "\n## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return render(header, body)


def evaluations_of(artifact: Artifact) -> list[tuple[str, Artifact]]:
    """The evaluations (``eval`` artifacts in the same root) that asked ``artifact``, newest first, with the
    label the model has in each."""
    root = artifact.path.parents[len(artifact.stage.split("/"))]
    found = []
    for manifest in sorted((root / "eval").glob("*/manifest.json")):
        evaluation = Artifact.open(manifest.parent)
        for name, key in evaluation.manifest.get("inputs", {}).items():
            label, _, stage = name.partition(":")
            if stage == artifact.stage and key == artifact.key:
                found.append((evaluation.manifest.get("created", ""), label, evaluation))
    return [(label, e) for _, label, e in sorted(found, key=lambda f: f[0], reverse=True)]


def evaluation_table(metrics: Mapping[str, Any], labels: list[str]) -> str:
    """Multiple choice, open exact match and true/false accuracy of ``labels`` on every split asked."""
    rows = ["| model | split | multiple choice | open exact match | true/false | examples |", "|---|---|---:|---:|---:|---:|"]
    stages = metrics.get("stages", {})
    for label in labels:
        for split, m in stages.get(label, {}).items():
            if not isinstance(m, dict) or "mcq" not in m:
                continue
            n = sum((m.get(k) or {}).get("n", 0) for k in ("mcq", "yes_no")) + sum(
                v.get("n", 0) for v in (m.get("open") or {}).values())
            rows.append(f"| {label} | {split} | {_num(m['mcq'].get('accuracy'))} | {_num(m.get('open_em'))} | "
                        f"{_num((m.get('yes_no') or {}).get('accuracy'))} | {n:,} |")
    return "\n".join(rows) + "\n"


def _num(x: Any) -> str:
    if isinstance(x, Mapping):  # reinforce's objective: preference accuracy (with margin and pairs)
        x = x.get("accuracy")
    return "–" if x is None else f"{x:.3f}"


def _data_of(last: Artifact) -> tuple[Artifact | None, Artifact | None]:
    """(training data, kg) upstream of a train artifact."""
    data = next((found for s in ("dedupe", "synth_update", "synth") if (found := upstream(last, s)) is not None), None)
    kg = upstream(data, "kg") if data is not None else None
    if data is not None and data.stage == "synth_update" and data.manifest.get("releases"):
        kg = Artifact.open(data.manifest["releases"]["new"]["path"])
    return data, kg


def model_card(*, chains: list[list[Artifact]], export_check: Mapping[str, Any], model_type: str) -> str:
    """A model card for a merged export of one train chain (first stage to last) or of several domains' chains
    on one base, composed: base model, ontology sources and licenses, data, each stage's settings and objective,
    the evaluations that asked it (one chain)."""
    found = [_data_of(chain[-1]) for chain in chains]
    sources = [s for _data, kg in found for s in ontology_sources(kg)]
    train_cfg = chains[0][-1].manifest.get("config", {})
    base = train_cfg.get("model", "?")
    header: dict[str, Any] = {
        **license_metadata(s.get("license") for s in sources),
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["kgtools", "knowledge-graph", "ontology", "mixture-of-experts", model_type],
        "language": sorted({x for _data, kg in found for x in languages(kg)}),
    }
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(base)) and not Path(str(base)).exists():
        header["base_model"] = base  # a Hub id; a local path or a kgtools preset is named in the text only
    several = len(chains) > 1
    stage_rows = [("| domain " if several else "") + "| stage | artifact | steps | learning rate | batch × accumulation | "
                  "objective | before | after |", ("|---" if several else "") + "|---|---|---:|---:|---:|---|---:|---:|"]
    data_lines = []
    for chain, (data, kg) in zip(chains, found, strict=True):
        domain = data_title(ontology_sources(kg), chain[-1].key)
        for a in chain:
            name = a.stage.split("/", 1)[1]
            opt = a.manifest.get("config", {}).get(name, {})
            m = a.manifest.get("metrics", {})
            stage_rows.append((f"| {_cell(domain, 40)} " if several else "") +
                              f"| {name} | {a.key} | {a.manifest.get('counts', {}).get('steps', '?')} | {opt.get('lr', '?')} | "
                              f"{opt.get('batch_size', '?')} × {opt.get('grad_accum', '?')} | {_cell(m.get('objective', ''))} | "
                              f"{_num(m.get('before'))} | {_num(m.get('after'))} |")
        counts = ", ".join(f"{k} {v:,}" for k, v in (data.manifest.get("counts", {}) if data else {}).items() if isinstance(v, int))
        data_lines.append(f"- Training data{f' ({domain})' if several else ''}: "
                          + (f"the `{data.stage}` artifact `{data.key}` ({counts})" if data is not None
                             else "not found beside the train artifact"))
    lora = train_cfg.get("lora", {})
    evaluations = evaluations_of(chains[0][-1]) if not several else []
    if evaluations:
        label, evaluation = evaluations[0]
        metrics = json.loads((evaluation.path / "metrics.json").read_text("utf-8"))
        labels = [x for x in ("base", label) if x in metrics.get("stages", {})]
        evaluated = (f"From the evaluation `{evaluation.path.name}` (the model is `{label}` there; `base` is the "
                     f"model before training):\n\n" + evaluation_table(metrics, labels))
    elif several:
        evaluated = "The composed model has not been evaluated as one model; each domain's chain is evaluated on its own.\n"
    else:
        evaluated = "No evaluation of this model was found beside its artifact (run `kgtools evaluate`).\n"
    title = data_title(sources, chains[0][-1].key)
    chain_text = "; ".join(" → ".join(a.stage.split("/", 1)[1] for a in chain) for chain in chains)
    body = f"""
# {model_type} with {title}

A {model_type} model taught the knowledge of {title} by kgtools, {'the adapter chains of ' + str(len(chains)) + ' domains on one base added up (composed) and ' if several else 'its stages '}merged into plain weights (load it with
`transformers`; no PEFT or kgtools needed).

- Base model: `{base}`{' (a kgtools preset: random weights built from a config, for tests and demos)' if isinstance(base, str) and not Path(base).exists() and '/' not in base else ''}
- Training chain{'s' if several else ''}: {chain_text} (LoRA r {lora.get('r', '?')}, alpha {lora.get('alpha', '?')},
  on {', '.join(lora.get('targets', [])) or '?'}{f", decoder layers {lora['layers'][0]} to {lora['layers'][1]}" if lora.get('layers') else ''}{'; ESFT: only the experts the domain routes to' if train_cfg.get('esft', {}).get('enabled') else ''})
{chr(10).join(data_lines)}

## Sources

{sources_table(sources)}
The license in this card's header is the ontologies'; the base model's own license applies too.

## Training

{chr(10).join(stage_rows)}

## Evaluation

{evaluated}
## Export check

The merged weights, reloaded from disk, against the adapter {'chains' if several else 'chain'} on a fixed batch of {export_check.get('tokens', '?')} tokens:
max |Δ logit| {export_check.get('max_abs_logit_delta')} ({export_check.get('dtype')}; tolerated {export_check.get('tolerance')}).

## Use

```python
from transformers import pipeline
ask = pipeline("text-generation", model="path/to/this/folder")
ask([{{"role": "user", "content": "Your question"}}], max_new_tokens=64)
```
"""
    return render(header, body)


def data_title(sources: list[dict[str, Any]], fallback: str) -> str:
    names = list(dict.fromkeys(s.get("title") or Path(s["path"]).stem for s in sources))
    return (", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")) if names else fallback


def languages(kg: Artifact | None) -> list[str]:
    """The kg's label languages as card language codes (``en`` when it kept untagged labels only)."""
    langs = (kg.manifest.get("config", {}).get("languages") if kg else None) or ["en"]
    return [x.split("-")[0].lower() for x in langs if x and x not in ("", "*")] or ["en"]


def write(folder: Path, text: str) -> Path:
    path = folder / "README.md"
    path.write_text(text, "utf-8")
    return path
