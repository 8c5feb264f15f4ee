"""The evaluation splits of a synth (or dedupe, or synth_update) artifact as an EleutherAI lm-evaluation-harness
task group, so that ``lm_eval --model hf --model_args pretrained=PATH --include_path OUT --tasks kgtools_<name>
--apply_chat_template`` scores any local checkpoint on them — the field's common yardstick beside kgtools'
own evaluation.

Per evaluation split, up to three tasks:
- ``…_mcq``: the multiple-choice questions, ``multiple_choice`` over the choices' texts;
- ``…_truefalse``: the true/false statements, ``multiple_choice`` between the true answer and the false one;
- ``…_open``: the open questions, ``generate_until`` (greedy) scored by kgtools' own open-answer scoring
  (``kgtools.evaluate.scoring.score_open``: any synonym of the answer concept, lists as sets).

How the scores compare with ``kgtools evaluate``: the prompts are the same chat turns (with
``--apply_chat_template``) and the choices the same texts, but lm-eval's ``acc`` sums a choice's
log-probabilities and ``acc_norm`` divides them by its length in bytes, where kgtools divides by its number of
tokens and counts the end-of-turn token too; a question whose choices differ in length may go the other way.
(lm-eval also scores the whitespace that ends the template's assistant header as part of each choice: the same
log-probability added to every choice of a question, which changes no ranking under ``acc``.)
Every task's documents, in ``data/<task>.jsonl``, are the examples kgtools asks (the same ids)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from kgtools.artifacts import Artifact
from kgtools.config import DEFAULT_EVAL_SPLITS, UPDATE_EVAL_SPLITS
from kgtools.errors import ConfigError
from kgtools.evaluate.stage import OPEN_TASKS, VALUE_TASKS

ASKED_OPEN = (*OPEN_TASKS, *VALUE_TASKS, "definition")  # the open questions kgtools asks, as it asks them

UTILS = '''"""Written by `kgtools export-tasks`: loads this folder's documents and scores open answers."""
import json
from pathlib import Path

import datasets

HERE = Path(__file__).resolve().parent


def load(file, **_metadata):
    rows = [json.loads(line) for line in (HERE / "data" / file).read_text("utf-8").splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_open(doc, results):
    """kgtools' own open-answer scoring when kgtools is installed, else a normalised exact match on any alias."""
    said = results[0]
    try:
        from kgtools.evaluate.scoring import score_open
    except ImportError:
        import re

        def norm(text):
            return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())

        aliases = [a for group in doc["answer_aliases"] for a in group] or [doc["answer"]]
        return {"exact_match": float(norm(said) in {norm(a) for a in aliases})}
    return {"exact_match": float(score_open(doc, said)[0])}
'''


def task_name(name: str) -> str:
    return "kgtools_" + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def export_tasks(data: Artifact, out: str | Path, *, name: str | None = None, max_new_tokens: int = 48) -> dict[str, Any]:
    """Write the task group of ``data``'s evaluation splits into ``out`` (a new or empty folder; written then
    renamed): one YAML per task, the group's YAML, ``utils.py`` and ``data/*.jsonl``. Returns what was written."""
    from datasets import load_from_disk

    if data.stage not in ("synth", "dedupe", "synth_update"):
        raise ConfigError(f"{data.path}: is a {data.stage!r} artifact; export-tasks takes a synth, dedupe or "
                          "synth_update artifact")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder; choose a new folder for the tasks")
    group = task_name(name or _default_name(data))
    dd = load_from_disk(str(data.path / "dataset"))
    splits = [s for s in (*DEFAULT_EVAL_SPLITS, *UPDATE_EVAL_SPLITS) if s in dd and len(dd[s])]
    if not splits:
        raise ConfigError(f"{data.path}: has no evaluation split ({', '.join(dd)}); nothing to export")
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    written: dict[str, int] = {}
    try:
        for split in splits:
            for kind, docs in _documents(dd[split].to_list()).items():
                if docs:
                    task = f"{group}_{split}_{kind}"
                    _write_jsonl(tmp / "data" / f"{task}.jsonl", docs)
                    _write_yaml(tmp / f"{task}.yaml", _task_config(task, group, kind, max_new_tokens))
                    written[task] = len(docs)
        _write_yaml(tmp / f"{group}.yaml", {"group": group, "task": sorted(written)})
        (tmp / "utils.py").write_text(UTILS, "utf-8")
        system = _system_prompt(dd[splits[0]].to_list())
        (tmp / "README.md").write_text(_readme(group, written, data, system), "utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"group": group, "tasks": written, "folder": str(out)}


def _readme(group: str, tasks: dict[str, int], data: Artifact, system: str | None) -> str:
    instruction = f" \\\n    --system_instruction {json.dumps(system)}" if system else ""
    rows = "\n".join(f"| {t} | {n:,} |" for t, n in sorted(tasks.items()))
    return f"""# {group}: lm-evaluation-harness tasks

Written by `kgtools export-tasks` from the `{data.stage}` artifact `{data.path}`.

```
lm_eval --model hf --model_args pretrained=PATH --include_path THIS_FOLDER --tasks {group} \\
    --apply_chat_template{instruction}
```

| task | documents |
|---|---:|
{rows}

Multiple choice and true/false: `acc` (summed log-probability of the choice) and `acc_norm` (divided by its length in
bytes). kgtools' own evaluation divides by the number of tokens and counts the end-of-turn token: a question whose
choices differ in length can be scored differently (lm-eval also counts the newline that ends the chat template's
assistant header in every choice: the same for all choices of a question). Open questions: greedy answers, scored with kgtools' open-answer
scoring when kgtools is installed.
"""


def _default_name(data: Artifact) -> str:
    files = []
    root = data.path.parents[len(data.stage.split("/"))]
    for _name, key in data.manifest.get("inputs", {}).items():
        kg = root / "kg" / str(key)
        if (kg / "manifest.json").is_file():
            files = [Path(f["path"]).stem for f in Artifact.open(kg).manifest.get("loaded_files", []) if f.get("via") == "input"]
    return files[0] if len(files) == 1 else data.key


def _documents(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The split's examples as lm-eval documents, by kind: what kgtools asks, how it asks it."""
    docs: dict[str, list[dict[str, Any]]] = {"mcq": [], "truefalse": [], "open": []}
    for ex in rows:
        question = _question(ex)
        base = {"id": ex["id"], "task": ex["task"], "template_id": ex["template_id"], "question": question}
        if ex["task"] == "mcq" and ex["choices"]:
            docs["mcq"].append({**base, "choices": list(ex["choices"]), "label": int(ex["answer_index"])})
        elif ex["task"] == "yes_no" and ex.get("rejected"):
            docs["truefalse"].append({**base, "choices": [ex["answer"], ex["rejected"]], "label": 0})
        elif ex["task"] in ASKED_OPEN:
            docs["open"].append({**base, "answer": ex["answer"], "answer_aliases": ex["answer_aliases"]})
    return docs


def _question(ex: dict[str, Any]) -> str:
    """The user turn kgtools asks (the data's system prompt, if any, is lm-eval's ``--system_instruction``)."""
    return next(t["content"] for t in reversed(ex["messages"][:-1]) if t["role"] == "user")


def _system_prompt(rows: list[dict[str, Any]]) -> str | None:
    return next((t["content"] for ex in rows[:1] for t in ex["messages"] if t["role"] == "system"), None)


def _task_config(task: str, group: str, kind: str, max_new_tokens: int) -> dict[str, Any]:
    common = {"task": task, "custom_dataset": "!function utils.load",
              "dataset_kwargs": {"file": f"{task}.jsonl"}, "test_split": "test", "doc_to_text": "{{question}}",
              "metadata": {"version": 1.0}}
    if kind == "open":
        return {**common, "output_type": "generate_until", "doc_to_target": "{{answer}}",
                "target_delimiter": "",
                "generation_kwargs": {"until": [], "max_gen_toks": max_new_tokens, "do_sample": False},
                "process_results": "!function utils.process_open",
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
    return {**common, "output_type": "multiple_choice", "doc_to_choice": "{{choices}}", "doc_to_target": "{{label}}",
            "target_delimiter": "",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


class _Function(str):
    """A YAML ``!function module.name`` tag (lm-eval resolves it relative to the YAML file)."""


def _function_tag(dumper: yaml.SafeDumper, value: _Function):
    return dumper.represent_scalar("!function", str(value))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, _function_tag)


def _write_yaml(path: Path, config: dict[str, Any]) -> None:
    tagged = {k: _Function(v.removeprefix("!function ")) if isinstance(v, str) and v.startswith("!function ") else v
              for k, v in config.items()}
    path.write_text(yaml.dump(tagged, Dumper=_Dumper, sort_keys=False, allow_unicode=True), "utf-8")
