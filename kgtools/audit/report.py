"""The audit's report: accuracy per relation and kind (a table and a heat map), the concepts most often wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kgtools.artifacts import Artifact

TOP_RELATIONS = 30


def _columns(df) -> list[tuple[str, str]]:
    return [(asked, kind) for asked in ("open", "mcq", "yes_no") for kind in ("stated", "inferred")
            if ((df.asked == asked) & (df.kind == kind)).any()]


def write_report(folder: Path, df, model: str, kg: Artifact) -> dict[str, Any]:
    df = df.assign(relation_name=df.relation_label.where(df.relation_label != "", df.task))
    by_asked = {a: round(float(g.ok.mean()), 4) for a, g in df.groupby("asked")}
    cols = _columns(df)
    top = df.relation_name.value_counts().index[:TOP_RELATIONS].tolist()
    grid = np.full((len(top), len(cols)), np.nan)
    counts = np.zeros((len(top), len(cols)), dtype=int)
    for i, rel in enumerate(top):
        for j, (asked, kind) in enumerate(cols):
            cell = df[(df.relation_name == rel) & (df.asked == asked) & (df.kind == kind)]
            if len(cell):
                grid[i, j], counts[i, j] = cell.ok.mean(), len(cell)
    if len(top) and cols:
        _heatmap(folder / "heatmap.png", grid, counts, top, [f"{a}\n{k}" for a, k in cols])
    from kgtools.graph.stage import release_name

    lines = [f"# What `{model}` knows of {release_name(kg)}", "",
             f"{len(df):,} questions about {_n(df.subject.nunique(), 'concept')} and {_n(df.relation.nunique(), 'relation')}, "
             "closed-book (nothing in the prompt but the question). Open: greedy answer, exact match against the "
             "answer and its synonyms; mcq and yes_no: the likelier answer. Right: "
             + ", ".join(f"{a} {v:.3f}" for a, v in sorted(by_asked.items())) + ".", "",
             "![accuracy by relation](heatmap.png)" if len(top) and cols else "", "",
             "## By relation", "", "| relation | " + " | ".join(f"{a} {k}" for a, k in cols) + " |",
             "|---" + "|---:" * len(cols) + "|"]
    for i, rel in enumerate(top):
        cells = ["–" if counts[i, j] == 0 else f"{grid[i, j]:.2f} ({counts[i, j]})" for j in range(len(cols))]
        lines.append(f"| {rel} | " + " | ".join(cells) + " |")
    wrong = (df.assign(wrong=~df.ok).groupby(["subject", "subject_label"]).agg(n=("ok", "size"), wrong=("wrong", "sum"))
             .reset_index().sort_values(["wrong", "n", "subject"], ascending=[False, False, True]))
    wrong = wrong[wrong.wrong > 0].head(20)
    lines += ["", "## Concepts most often wrong", "", "| concept | id | questions | wrong |", "|---|---|---:|---:|"]
    lines += [f"| {r.subject_label} | {r.subject} | {r.n} | {r.wrong} |" for r in wrong.itertuples()]
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"by_asked": by_asked}


def _n(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _heatmap(path: Path, grid, counts, rows: list[str], cols: list[str]) -> None:
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    fig = Figure(figsize=(2.2 + 1.1 * len(cols), 1.2 + 0.32 * len(rows)))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, fontsize=8)
    ax.set_yticks(range(len(rows)), [r[:40] for r in rows], fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="right")
    ax.set_title("accuracy by relation and how asked")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
