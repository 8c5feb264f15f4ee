"""What a knowledge update did (issue 14), from the evaluation of the model tuned on the old release ("before")
and the update's models on the splits of ``synth update`` data:

- **efficacy** — changed and added facts asked in phrasings never trained (``test_changed``): multiple choice
  and open exact match;
- **stale answers** — questions whose object the new release corrected: how often the model still says the old
  object (greedy answer) and how often it finds the old object likelier than the new one;
- **removal** — corrected statements the new release withdrew, which the model must now call false
  (``test_removed``), beside how many true statements it still accepts (a model that says "false" to everything
  removes everything);
- **locality** — of the unchanged facts (near a change and far from one) the model answered right before the
  update, the share it still answers right after, per example;
- **portability** — one hop from a change (newly entailed facts, chains through a changed fact), never trained;
- **routing drift** — how far the expert load moved (Jensen–Shannon divergence per MoE layer) on the changed
  facts' examples and on the unchanged ones;
- **retention** perplexity on text outside the domain, and the **cost** of the update's training against the
  old release's whole chain, in seconds and trained tokens, from the train artifacts' own records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgtools.artifacts import Artifact

GOALS = {"efficacy_mcq": 0.9, "efficacy_open_em": 0.7, "stale_said": 0.1, "stale_preferred": 0.1, "removal": 0.8,
         "locality_near": 0.95, "locality_far": 0.95, "cost_ratio": 0.3}


def _div(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _get(results: dict[str, Any], label: str, split: str, *path: str) -> Any:
    value: Any = results.get(label, {}).get(split)
    for p in path:
        if value is None:
            return None
        value = value.get(p)
    return value


def per_model(results: dict[str, Any], outcomes: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """The update figures of one model."""
    mine = [o for o in outcomes if o["model"] == label]
    said = [o["says_old"] for o in mine if o["split"] == "test_changed" and o["says_old"] is not None]
    preferred = [o["prefers_old"] for o in mine if o["split"] == "test_changed" and o["prefers_old"] is not None]
    removed = [o["ok"] for o in mine if o["split"] == "test_removed" and o["asked"] == "yes_no"]
    true_yn = [_get(results, label, s, "yes_no") for s in ("test_changed", "test_locality_near", "test_locality_far")]
    true_n = sum(y["true"] for y in true_yn if y)
    true_ok = sum(round(y["acceptance_of_true"] * y["true"]) for y in true_yn if y and y["true"])
    return {
        "efficacy_mcq": _get(results, label, "test_changed", "mcq", "accuracy"),
        "efficacy_open_em": _get(results, label, "test_changed", "open_em"),
        "efficacy_n": sum(1 for o in mine if o["split"] == "test_changed"),
        "efficacy_mcq_n": sum(1 for o in mine if o["split"] == "test_changed" and o["asked"] == "mcq"),
        "efficacy_open_n": sum(1 for o in mine if o["split"] == "test_changed" and o["asked"] == "open"),
        "stale_said": _div(sum(said), len(said)), "stale_preferred": _div(sum(preferred), len(preferred)),
        "stale_n": len(preferred),
        "removal": _div(sum(removed), len(removed)), "removal_n": len(removed),
        "acceptance_of_true": _div(true_ok, true_n), "true_n": true_n,
        "portability": _get(results, label, "test_portability", "accuracy"),
        "locality_near_accuracy": _get(results, label, "test_locality_near", "accuracy"),
        "locality_far_accuracy": _get(results, label, "test_locality_far", "accuracy"),
        "perplexity": round(results[label]["retention"]["perplexity"], 2),
    }


def locality(outcomes: list[dict[str, Any]], before: str, after: str, split: str) -> dict[str, Any]:
    """Of the examples of ``split`` that ``before`` answered right, the share ``after`` still answers right."""
    right = {o["id"] for o in outcomes if o["model"] == before and o["split"] == split and o["ok"]}
    kept = sum(1 for o in outcomes if o["model"] == after and o["split"] == split and o["ok"] and o["id"] in right)
    return {"right_before": len(right), "kept": kept, "share": _div(kept, len(right))}


def _cost(arts: Sequence[Artifact]) -> dict[str, Any]:
    """Training time (the fit, else the whole build) and the tokens the SFT stages trained on (a preference stage
    counts pairs, not tokens)."""
    seconds = sum(a.manifest.get("fit_seconds") or a.manifest.get("build_seconds") or 0 for a in arts)
    return {"stages": [a.stage.split("/", 1)[1] for a in arts], "seconds": round(seconds, 1),
            "sft_trained_tokens": sum(a.manifest.get("trained_tokens") or 0 for a in arts)}


def routing_drift(before: dict[str, dict[int, list[float]]] | None,
                  after: dict[str, dict[int, list[float]]] | None) -> dict[str, float | None] | None:
    """Per group (changed, unchanged concepts' examples): the Jensen–Shannon divergence (base 2, 0 = the same
    expert load, 1 = disjoint experts) between the expert shares before and after, averaged over layers. An
    update that moves routing on what changed and leaves it where nothing did is the localised edit wanted."""
    from scipy.spatial.distance import jensenshannon

    if not before or not after:
        return None
    out: dict[str, float | None] = {}
    for group in ("changed", "unchanged"):
        b, a = before.get(group) or {}, after.get(group) or {}
        layers = sorted(set(b) & set(a))
        out[group] = round(float(sum(jensenshannon(b[layer], a[layer], base=2) ** 2 for layer in layers) / len(layers)), 6) \
            if layers else None
    return out


def _trained_on(art: Artifact, data_key: str) -> bool:
    return f"synth_update:{data_key}" in (art.manifest.get("inputs") or {})


def update_metrics(results: dict[str, Any], outcomes: list[dict[str, Any]], labels: list[str],
                   stages: dict[str, Artifact], data_key: str, routing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every model's update figures; and where a model of the old release ("before": the last stage whose name
    has no ``/``, else the base model) and an update model ("after": the last ``update/…`` stage) were both
    evaluated, locality, routing drift, cost and the goals — with the same figures for each baseline (the last
    stage of each other ``<name>/…`` group: ``no_replay``, ``retrain``) beside them."""
    from kgtools.models import lineage_of

    models = {label: per_model(results, outcomes, label) for label in labels if label != "kg_sft+context"}
    groups: dict[str, str] = {}  # group → its last stage
    for label in stages:
        groups[label.split("/", 1)[0] if "/" in label else ""] = label
    before = groups.pop("", None) or ("base" if "base" in models else None)
    after = groups.pop("update", None)
    out: dict[str, Any] = {"models": models, "before": before, "after": after, "baselines": groups, "goals": []}
    if before is None or after is None:
        return out
    compared = {"update": after, **groups}
    out["routing_drift"] = routing_drift((routing or {}).get(before), (routing or {}).get(after))
    out["locality"] = {where: locality(outcomes, before, after, f"test_locality_{where}") for where in ("near", "far")}
    out["baseline_locality"] = {g: {where: locality(outcomes, before, last, f"test_locality_{where}")
                                    for where in ("near", "far")} for g, last in groups.items()}
    chain = lineage_of(stages[after])  # this update's stages (trained on this data) and all before them
    cost = {"update": _cost([a for a in chain if _trained_on(a, data_key)]),
            "old_chain": _cost([a for a in chain if not _trained_on(a, data_key)])}
    if "retrain" in groups:  # the whole chain trained again from the base model on the new release
        cost["retrain"] = _cost(lineage_of(stages[groups["retrain"]]))
    against = "retrain" if "retrain" in cost else "old_chain"
    cost["against"] = against
    cost["ratio_seconds"] = _div(cost["update"]["seconds"], cost[against]["seconds"])
    out["cost"] = cost
    out["goals"] = _goals(models, before, compared, out, cost["ratio_seconds"], against)
    return out


def _goals(models: dict[str, Any], before: str, compared: dict[str, str], out: dict[str, Any],
           cost_ratio: float | None, against: str) -> list[dict[str, Any]]:
    """The issue's goals on the update's last stage, each with the model before and every baseline beside it."""
    goals = []
    loc = {"update": out["locality"], **out["baseline_locality"]}
    after = compared["update"]

    def goal(text: str, key: str | None, target: float, higher: bool, value_of=None, n: int | None = None) -> None:
        value_of = value_of or (lambda name, label: models[label][key])
        value = value_of("update", after)
        met = None if value is None else (value >= target if higher else value <= target)
        goals.append({"goal": text, "value": value, "target": target, "met": met, "n": n,
                      "before": models[before][key] if key else None,
                      "baselines": {g: value_of(g, label) for g, label in compared.items() if g != "update"}})

    m = models[after]
    goal(f"changed facts, multiple choice ≥ {GOALS['efficacy_mcq']}", "efficacy_mcq", GOALS["efficacy_mcq"], True,
         n=m["efficacy_mcq_n"])
    goal(f"changed facts, open exact match ≥ {GOALS['efficacy_open_em']}", "efficacy_open_em", GOALS["efficacy_open_em"],
         True, n=m["efficacy_open_n"])
    goal(f"old object still said ≤ {GOALS['stale_said']}", "stale_said", GOALS["stale_said"], False, n=m["stale_n"])
    goal(f"old object still preferred ≤ {GOALS['stale_preferred']}", "stale_preferred", GOALS["stale_preferred"], False,
         n=m["stale_n"])
    goal(f"withdrawn statements rejected ≥ {GOALS['removal']}", "removal", GOALS["removal"], True, n=m["removal_n"])
    if m["acceptance_of_true"] is not None and models[before]["acceptance_of_true"] is not None:
        # rejecting withdrawn statements counts only if true ones are not rejected with them
        goal("true statements still accepted (not a 'false' bias) ≥ before", "acceptance_of_true",
             models[before]["acceptance_of_true"], True, n=m["true_n"])
    for where in ("near", "far"):
        goal(f"locality {where}: unchanged facts right before, still right ≥ {GOALS[f'locality_{where}']}", None,
             GOALS[f"locality_{where}"], True, lambda g, _label, where=where: loc[g][where]["share"],
             n=loc["update"][where]["right_before"])
    what = "retraining the whole chain on the new release" if against == "retrain" else "the old release's chain"
    goal(f"update training time ≤ {GOALS['cost_ratio']} × {what}", None, GOALS["cost_ratio"], False,
         lambda g, _label: cost_ratio if g == "update" else None)
    return goals
