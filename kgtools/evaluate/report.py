"""``report.md`` and the plots of an evaluation: accuracy by stage and task, expert routing before the
fine-tune and after its last stage, and the loss curve of every stage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kgtools.artifacts import Artifact

TASK_COLUMNS = ("fact_qa", "inverse_qa", "multi_hop", "list", "synonym", "literal", "cardinality", "property_schema", "diagnosis", "definition")


def _update_section(u: dict[str, Any]) -> list[str]:
    """The knowledge update: goals (after vs before), every model's update figures, locality and cost."""
    lines = ["## Knowledge update", "",
             f"Before: `{u['before']}` (the model of the old release); after: `{u['after']}`. `test_changed`: changed and "
             "added facts in phrasings never trained; stale: the corrected fact's old object said (greedy) or found "
             "likelier than the new; removal: withdrawn statements called false; locality: unchanged facts answered "
             "right before the update and still right after.", ""]
    if u["goals"]:
        base = list(u.get("baselines") or {})
        lines += ["| goal | n | before | after | " + "".join(f"{b} | " for b in base) + "target | met |",
                  "|---|---:|---:|---:|" + "---:|" * len(base) + "---:|:-:|"]
        for g in u["goals"]:
            met = "–" if g["met"] is None else ("yes" if g["met"] else "no")
            others = "".join(f"{_fmt(g['baselines'].get(b))} | " for b in base)
            lines.append(f"| {g['goal']} | {_fmt(g.get('n'))} | {_fmt(g.get('before'))} | {_fmt(g['value'])} | {others}"
                         f"{_fmt(g['target'])} | {met} |")
        if base:
            lines.append("")
            lines.append("Baselines: " + "; ".join(f"`{b}` = `{u['baselines'][b]}`" for b in base) + " (`no_replay`: the "
                         "changed facts without replay, from the same old model; `retrain`: the whole chain trained "
                         "from the base model on the new release).")
        lines.append("")
    cols = ("efficacy_mcq", "efficacy_open_em", "stale_said", "stale_preferred", "removal", "acceptance_of_true",
            "portability", "locality_near_accuracy", "locality_far_accuracy", "perplexity")
    lines += ["| model | " + " | ".join(c.replace("_", " ") for c in cols) + " |", "|---" + "|---:" * len(cols) + "|"]
    for label, m in u["models"].items():
        lines.append(f"| {label} | " + " | ".join(_fmt(m[c]) for c in cols) + " |")
    lines.append("")
    if "locality" in u:
        for where, loc in u["locality"].items():
            lines.append(f"- locality {where}: {loc['kept']} of the {loc['right_before']} answered right before are still "
                         f"right ({_fmt(loc['share'])})")
        if u.get("routing_drift"):
            d = u["routing_drift"]
            lines.append(f"- expert-routing drift (Jensen–Shannon divergence of the expert load, mean over MoE layers): "
                         f"changed facts {_fmt(d.get('changed'))}, unchanged {_fmt(d.get('unchanged'))}")
        c = u["cost"]
        what = {"old_chain": "the old release's chain", "retrain": "retraining the chain on the new release"}
        lines.append(f"- cost: the update trained {c['update']['seconds']} s ({', '.join(c['update']['stages'])}; "
                     f"{c['update']['sft_trained_tokens']:,} SFT tokens) against {c[c['against']]['seconds']} s for "
                     f"{what[c['against']]} ({', '.join(c[c['against']]['stages'])}; "
                     f"{c[c['against']]['sft_trained_tokens']:,} SFT tokens): {_fmt(c['ratio_seconds'])}×")
        lines.append("")
    return lines


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def write_report(folder: Path, metrics: dict[str, Any], stages: Sequence[Artifact]) -> None:
    plots = [_accuracy_plot(folder, metrics), _routing_plot(folder, stages), _loss_plot(folder, stages)]
    results = metrics["stages"]
    lines = ["# What the fine-tune injected", ""]
    lines += ["Closed-book unless marked `+context`. `test_paraphrase`: trained facts asked with a template never "
              "used for that fact in training; `test_novel_template`: a template never used in training at all; "
              "`test_heldout`: facts never trained.", ""]
    if "update" in metrics:
        lines += _update_section(metrics["update"])
    elif metrics["goals"]:
        lines += ["## Goals (test_paraphrase)", "", "| goal | value | target | met |", "|---|---:|---:|:-:|"]
        for g in metrics["goals"]:
            lines.append(f"| {g['goal']} | {_fmt(g['value'])} | {_fmt(g['target'])} | {'yes' if g['met'] else 'no'} |")
        lines.append("")
    for split in metrics["splits"]:
        lines += [f"## {split} ({metrics['splits'][split]} examples)", "",
                  "| model | multiple choice | diagnosis choice | open EM | open contains | entity EM | true/false | corrupted accepted | "
                  "true accepted | "
                  "confident wrong entity | " + " | ".join(f"{t} EM" for t in TASK_COLUMNS) + " |",
                  "|---" + "|---:" * (9 + len(TASK_COLUMNS)) + "|"]
        for label, per in results.items():
            s = per[split]
            tasks = [_fmt(s["open"].get(t, {}).get("em")) for t in TASK_COLUMNS]
            diagnosis = s["mcq"].get("diagnosis") or {}
            lines.append(f"| {label} | {_fmt(s['mcq']['accuracy'])} | {_fmt(diagnosis.get('accuracy'))} | {_fmt(s['open_em'])} | "
                         f"{_fmt(s['open_contains'])} | {_fmt(s['open_entity_em'])} | {_fmt(s['yes_no']['accuracy'])} | "
                         f"{_fmt(s['yes_no']['acceptance_of_corrupted'])} | {_fmt(s['yes_no'].get('acceptance_of_true'))} | "
                         f"{_fmt(s['wrong_entities']['confident_wrong_entity_rate'])} | " + " | ".join(tasks) + " |")
        lines.append("")
    if any((per[split].get("inferred") or {}).get("open", {}).get("n") or
           (per[split].get("inferred") or {}).get("mcq", {}).get("n") for per in results.values() for split in metrics["splits"]):
        lines += ["## Inferred facts", "",
                  "Facts the ontology entails but does not state (kg `inferred.parquet`: inherited restrictions, transitive "
                  "relations, inverses, property chains, sub-properties, domains and ranges). *Probes*: inferred facts never "
                  "trained whose every premise is trained — whether the model infers what it was not told.", "",
                  "| split | model | inferred open EM | inferred choice | probe open EM | probe choice |",
                  "|---|---|---:|---:|---:|---:|"]
        for split in metrics["splits"]:
            for label, per in results.items():
                inf = per[split].get("inferred") or {}
                cells = [f"{_fmt(inf.get(k, {}).get('accuracy'))} (n={inf.get(k, {}).get('n', 0)})"
                         for k in ("open", "mcq", "probe_open", "probe_mcq")]
                lines.append(f"| {split} | {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Retention", "", "Perplexity on a text that is not about the domain "
              f"(`{next(iter(results.values()))['retention']['text']}`), lower is better:", "",
              "| model | perplexity |", "|---|---:|"]
    lines += [f"| {label} | {per['retention']['perplexity']:.2f} |" for label, per in results.items()]
    lines.append("")
    last = list(results)[-1]
    first_split = next(iter(metrics["splits"]))
    samples = results[last][first_split]["samples"]
    if samples:
        lines += [f"## Sample answers ({last}, {first_split})", "", "| task | question | gold | model said | EM |",
                  "|---|---|---|---|:-:|"]
        for s in samples:
            q = s["prompt"].replace("\n", " ").replace("|", "/")
            lines.append(f"| {s['task']} | {q} | {s['gold']} | {s['said'].replace('|', '/')} | {'✓' if s['em'] else '✗'} |")
        lines.append("")
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots if p]
    (folder / "report.md").write_text("\n".join(lines) + "\n", "utf-8")


def _accuracy_plot(folder: Path, metrics: dict[str, Any]) -> str:
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    split = next(iter(metrics["splits"]))
    results = metrics["stages"]
    cols = ["multiple choice", "open EM", "true/false", *TASK_COLUMNS]
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    width = 0.8 / max(len(results), 1)
    for i, (label, per) in enumerate(results.items()):
        s = per[split]
        vals = [s["mcq"]["accuracy"], s["open_em"], s["yes_no"]["accuracy"],
                *[s["open"].get(t, {}).get("em") for t in TASK_COLUMNS]]
        ax.bar(np.arange(len(cols)) + i * width, [v or 0 for v in vals], width, label=label)
    ax.set_xticks(np.arange(len(cols)) + width * (len(results) - 1) / 2, cols, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy / exact match")
    ax.set_title(f"{split}: by stage and task")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "accuracy_by_stage.png", dpi=110)
    return "accuracy_by_stage.png"


def _routing_plot(folder: Path, stages: Sequence[Artifact]) -> str | None:
    import pyarrow.parquet as pq
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    first, last = stages[0].path / "routing.parquet", stages[-1].path / "routing.parquet"
    if not (first.is_file() and last.is_file()):
        return None
    before = [r for r in pq.read_table(first).to_pylist() if r["when"] == "before"]
    after = [r for r in pq.read_table(last).to_pylist() if r["when"] == "after"]
    layers = sorted({r["layer"] for r in before})
    experts = max(r["expert"] for r in before) + 1

    def grid(rows):
        g = np.zeros((len(layers), experts))
        for r in rows:
            g[layers.index(r["layer"]), r["expert"]] = r["share"]
        return g

    b, a = grid(before), grid(after)
    fig = Figure(figsize=(14, 3))
    axes = fig.subplots(1, 3)
    vmax = max(b.max(), a.max())
    for ax, g, title, cmap, vmin in ((axes[0], b, "before fine-tuning", "viridis", 0),
                                     (axes[1], a, f"after {stages[-1].stage.split('/')[-1]}", "viridis", 0),
                                     (axes[2], a - b, "change", "coolwarm", None)):
        lim = np.abs(a - b).max() or 1e-9
        im = ax.imshow(g, aspect="auto", cmap=cmap, vmin=vmin if vmin is not None else -lim,
                       vmax=vmax if vmin is not None else lim)
        ax.set_yticks(range(len(layers)), [str(x) for x in layers])
        ax.set_xlabel("expert")
        ax.set_ylabel("layer")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label="token share")
    fig.tight_layout()
    fig.savefig(folder / "routing_before_after.png", dpi=110)
    return "routing_before_after.png"


def _loss_plot(folder: Path, stages: Sequence[Artifact]) -> str | None:
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    fig = Figure(figsize=(4.5 * len(stages), 3))
    axes = fig.subplots(1, len(stages), squeeze=False)
    drawn = False
    for ax, art in zip(axes[0], stages, strict=True):
        path = art.path / "log_history.json"
        if not path.is_file():
            continue
        hist = [h for h in json.loads(path.read_text("utf-8")) if "loss" in h]
        ax.plot([h["step"] for h in hist], [h["loss"] for h in hist], label="loss")
        if any("kl" in h for h in hist):
            ax.plot([h["step"] for h in hist], [h.get("kl") for h in hist], label="KL")
        ax.set_title(art.stage.split("/")[-1])
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        drawn = True
    fig.tight_layout()
    fig.savefig(folder / "loss_curves.png", dpi=110)
    return "loss_curves.png" if drawn else None
