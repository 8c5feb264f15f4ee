"""The `kgtools` command: a thin shell over the stage functions. Logging, progress and errors are set up
here, never on import of the library. A user error prints one red line and exits with status 2."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from kgtools import __version__
from kgtools.errors import KgtoolsError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="kgtools",
    help="Turn a domain ontology into a knowledge graph, a corpus, instruction data and an MoE model that knows the domain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kg_app = typer.Typer(help="Ontologies → knowledge graph (the `kg` artifact).", no_args_is_help=True)
app.add_typer(kg_app, name="kg")
corpus_app = typer.Typer(help="Knowledge graph (+ raw text) → domain corpus (the `corpus` artifact).", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
synth_app = typer.Typer(help="Knowledge graph → instruction data from graph paths (the `synth` artifact).", no_args_is_help=True)
app.add_typer(synth_app, name="synth")

F = TypeVar("F", bound=Callable[..., Any])


# failures of the machine a user can fix (space, permissions, file size limits): one line, not a traceback
_ENVIRONMENT_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                       errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                       errno.EROFS: "read-only file system", errno.EFBIG: "file too large for this system's limit",
                       errno.ENOTDIR: "a part of this path is a file, not a folder",
                       errno.EISDIR: "is a folder where a file was expected"}


def user_errors(fn: F) -> F:
    """Turn a KgtoolsError, a full disk or an unwritable folder into one red line on stderr and exit status 2;
    Ctrl-C into one line and exit status 130. Artifacts are written to a temporary folder and renamed into
    place when complete, so none of these leaves a partial artifact."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KgtoolsError as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            what = _ENVIRONMENT_ERRNOS.get(exc.errno or 0)
            if what is None:
                raise
            where = exc.filename or "kgtools"
            _fail(f"{where}: {what}; nothing was written there (free space, or choose a writable --out/store)", 2)
        except KeyboardInterrupt:
            _fail("interrupted; finished artifacts are kept and the next run resumes from them", 130)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def _version(value: bool) -> None:
    if value:
        console.print(f"kgtools {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v for info, -vv for debug")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only errors")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")] = False,
) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_time=False, show_path=False, markup=False)],
        force=True,
    )
    # rdflib logs a full traceback for every malformed typed literal it meets (FIBO has some).
    logging.getLogger("rdflib.term").setLevel(logging.CRITICAL)
    # Nothing is fetched at run time (DESIGN.md principle 4); Hugging Face libraries are told so.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar
    os.environ.setdefault("TQDM_DISABLE", "1")


ArtifactsOpt = Annotated[Path, typer.Option("--artifacts", "--out", "-a", help="artifact store root")]


@kg_app.command("build")
@user_errors
def kg_build(
    ontologies: Annotated[list[Path], typer.Argument(help="ontology files or folders (OWL, RDF/XML, Turtle, N-Triples, JSON-LD, OBO)")],
    artifacts: ArtifactsOpt = Path("artifacts"),
    lang: Annotated[list[str], typer.Option("--lang", "-l", help="preferred label language; repeat for fallbacks")] = ["en"],  # noqa: B006
    catalog: Annotated[list[Path], typer.Option("--catalog", help="OASIS catalog for owl:imports (catalog-v001.xml beside the inputs is found by itself)")] = [],  # noqa: B006
    strict: Annotated[bool, typer.Option("--strict", help="an owl:imports that cannot be resolved locally is an error")] = False,
    no_imports: Annotated[bool, typer.Option("--no-imports", help="do not follow owl:imports")] = False,
    allow_imports_outside: Annotated[bool, typer.Option("--allow-imports-outside", help="let owl:imports and catalogs name files outside the folders given (only for ontologies you trust)")] = False,
    include_deprecated: Annotated[bool, typer.Option("--include-deprecated", help="keep owl:deprecated / obsolete concepts")] = False,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """Load ontologies (with their local owl:imports) and write the knowledge-graph artifact."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig, parse_config
    from kgtools.graph.stage import build_kg

    cfg = parse_config(
        KgConfig,
        {
            "ontologies": ontologies,
            "catalogs": catalog,
            "languages": lang,
            "include_deprecated": include_deprecated,
            "follow_imports": not no_imports,
            "strict_imports": strict,
            "allow_imports_outside": allow_imports_outside,
        },
        prefix="kg",
    )
    with _progress("building the knowledge graph…") as status:
        result = build_kg(cfg, ArtifactStore(artifacts), force=force, progress=status)
    manifest = _announce("kg", result)
    unresolved = manifest.get("unresolved_imports", {})
    if unresolved:
        console.print(f"[yellow]{len(unresolved)} owl:imports not resolved locally[/] (listed in manifest.json):")
        for iri in list(unresolved)[:10]:
            console.print(f"  {iri}", highlight=False)
        if len(unresolved) > 10:
            console.print(f"  … and {len(unresolved) - 10} more")
    _print_stats(manifest)


def _progress(title: str):
    """What a command shows while a stage works: a progress bar in a terminal, log lines otherwise."""
    from kgtools.progress import Reporter

    return Reporter(console, title=title)


def _quiet_models() -> None:
    """No progress bars or deprecation chatter from transformers/TRL in command output (the stages report
    their own progress). Called by the commands that load models, so `kg build` never imports torch."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(trl|peft)(\.|$)")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _announce(stage: str, result: Any) -> dict[str, Any]:
    """Say where the artifact is and whether it was built or reused; return its manifest."""
    verb = "built" if result.built else "reused (unchanged inputs)"
    console.print(f"[green]{stage} {verb}[/]: {result.path}")
    return result.artifact.manifest


def _section(config: Path | None, name: str) -> Any:
    """A stage's settings from ``--config``: the ``name:`` section of a pipeline file, or the bare section."""
    from kgtools.config import read_yaml

    if config is None:
        return {}
    loaded = read_yaml(config) or {}
    return loaded.get(name, loaded) if isinstance(loaded, dict) else loaded


def _open_kg(ref: Path):
    """A kg artifact folder, or the latest kg artifact under an artifact root."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.graph.io import NODES_FILE

    if (ref / NODES_FILE).is_file() or (ref / "manifest.json").is_file():
        return Artifact.open(ref, "kg")
    return ArtifactStore(ref).latest("kg")


@kg_app.command("diff")
@user_errors
def kg_diff(
    old: Annotated[Path, typer.Argument(help="the old release: a kg artifact, an artifact root, or ontology files")],
    new: Annotated[Path, typer.Argument(help="the new release: a kg artifact, an artifact root, or ontology files")],
    artifacts: ArtifactsOpt = Path("artifacts"),
    top: Annotated[int, typer.Option(help="examples of each kind of change in summary.md")] = 15,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """What changed between two releases: typed changes keyed by concept id (changes.parquet, summary.md)."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.graph.stage import kg_of
    from kgtools.update.stage import build_diff

    store = ArtifactStore(artifacts)
    with _progress("reading the two releases…") as status:
        old_kg, new_kg = kg_of(old, store, status), kg_of(new, store, status)
        status("comparing")
        result = build_diff(old_kg, new_kg, store, force=force, top=top)
    manifest = _announce("kg_diff", result)
    st = manifest["stats"]
    console.print(f"concepts {st['old_concepts']:,} → {st['new_concepts']:,}; stated facts +{st['facts_added']:,} / "
                  f"−{st['facts_removed']:,} (is_a +{st['is_a_added']:,} / −{st['is_a_removed']:,})", highlight=False)
    table = Table(title="changes", title_justify="left")
    table.add_column("change")
    table.add_column("count", justify="right")
    for change, n in manifest["counts"].items():
        if n:
            table.add_row(change.replace("_", " "), f"{n:,}")
    console.print(table)
    console.print(f"summary: {result.path / 'summary.md'}", highlight=False)


@kg_app.command("stats")
@user_errors
def kg_stats(
    kg: Annotated[Path, typer.Argument(help="kg artifact folder, or an artifact root (its latest kg)")] = Path("artifacts"),
    as_json: Annotated[bool, typer.Option("--json", help="print the statistics as JSON")] = False,
) -> None:
    """Statistics of a knowledge graph: concepts, relations, hierarchy depth, roots, orphans, components."""
    artifact = _open_kg(kg)
    if as_json:
        console.print_json(json.dumps({"path": str(artifact.path), **artifact.manifest["stats"]}))
        return
    console.print(f"kg: {artifact.path}")
    _print_stats(artifact.manifest)


def _print_stats(manifest: dict[str, Any]) -> None:
    stats = manifest["stats"]
    counts = manifest.get("counts", {})
    summary = Table(title="knowledge graph", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    rows = [
        ("files", counts.get("files")), ("triples", counts.get("triples")),
        ("concepts", stats["concepts"]), ("nodes (all kinds)", stats["nodes"]), ("edges", stats["edges"]),
        ("hierarchy depth", stats["hierarchy_depth"]), ("roots", stats["roots"]), ("orphans", stats["orphans"]),
        ("components", stats["components"]), ("largest component", stats["largest_component"]),
        ("with label", f"{stats['with_label']:.1%}"), ("with definition", f"{stats['with_definition']:.1%}"),
        ("with synonyms", f"{stats['with_synonyms']:.1%}"),
    ]
    for name, value in rows:
        if value is not None:
            summary.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    for kind, n in stats["kinds"].items():
        summary.add_row(f"  {kind} nodes", f"{n:,}")
    console.print(summary)
    rels = Table(title="relations", title_justify="left")
    rels.add_column("relation")
    rels.add_column("label")
    rels.add_column("edges", justify="right")
    items = stats["relations"]
    for info in items[:25]:
        rels.add_row(info["rel"], info["label"], f"{info['edges']:,}")
    if len(items) > 25:
        rels.add_row("…", f"{len(items) - 25} more", "")
    console.print(rels)
    skipped = manifest.get("skipped") or {}
    if skipped:
        console.print("skipped: " + ", ".join(f"{k} {v:,}" for k, v in skipped.items()), highlight=False)


def _show_property(graph, pid: str, e: dict) -> None:
    console.print(f"[bold]{e['label']}[/]  [dim]{pid}  <{e['iri']}>[/]", highlight=False)
    console.print(f"kind: property ({e['kind']})", highlight=False)
    if e.get("definition"):
        console.print(f"definition: {e['definition']}", highlight=False)
    schema = graph.meta.get("schema") or {}
    for key, title in (("domain", "domain"), ("range", "range")):
        if e[key]:
            joiner = " or " if e.get(f"{key}_union") else ", "
            said = joiner.join(f"{t['label']} [dim]({t['id']})[/]" for t in e[key])
            console.print(f"{title}{' (includes)' if e[f'{key}_includes'] else ''}: {said}", highlight=False)
    for key, title in (("super_properties", "super-properties"), ("inverse_of", "inverse of")):
        if e[key]:
            said = ", ".join(f"{(schema.get(p) or {}).get('label', p)} [dim]({p})[/]" for p in e[key])
            console.print(f"{title}: {said}", highlight=False)


@kg_app.command("show")
@user_errors
def kg_show(
    concept: Annotated[str, typer.Argument(help="concept id (DOID:0050012), IRI, label or synonym")],
    kg: Annotated[Path, typer.Option("--kg", help="kg artifact folder, or an artifact root")] = Path("artifacts"),
    limit: Annotated[int, typer.Option(help="relations shown per direction")] = 40,
) -> None:
    """One concept: label, synonyms, definition, parents, and its outgoing and incoming relations."""
    from kgtools.graph.io import load_graph
    from kgtools.graph.model import ConceptNotFound

    graph = load_graph(_open_kg(kg).path)
    try:
        node_id = graph.resolve(concept)
    except ConceptNotFound:
        if (prop := graph.find_property(concept)) is None:
            raise
        _show_property(graph, *prop)
        return
    node = graph.node(node_id)
    console.print(f"[bold]{node.get('label') or node_id}[/]  [dim]{node_id}  <{node['iri']}>[/]", highlight=False)
    console.print(f"kind: {node['kind']}" + (" (deprecated)" if node["deprecated"] else "")
                  + (f"   source: {node['source']}" if node.get("source") else ""), highlight=False)
    if node.get("synonyms"):
        syns = ", ".join(f"{s} [dim]({sc})[/]" for s, sc in zip(node["synonyms"], node["synonym_scopes"], strict=True))
        console.print(f"synonyms: {syns}", highlight=False)
    if node.get("definition"):
        console.print(f"definition: {node['definition']}", highlight=False)
    if node.get("xrefs"):
        console.print(f"xrefs: {', '.join(node['xrefs'][:12])}" + (" …" if len(node["xrefs"]) > 12 else ""), highlight=False)
    if node.get("literal_values"):
        props = graph.meta.get("properties") or {}
        pairs = [f"{(props.get(p) or {}).get('label') or p} = {v}"
                 for p, v in zip(node["literal_properties"], node["literal_values"], strict=True)]
        console.print("values: " + "; ".join(pairs[:12]) + (" …" if len(pairs) > 12 else ""), highlight=False)
    parents = graph.parents(node_id)
    console.print("parents: " + (", ".join(f"{graph.label(p)} [dim]({p})[/]" for p in parents) or "none (a root)"),
                  highlight=False)
    children = graph.children(node_id)
    if children:
        shown = ", ".join(graph.label(c) for c in children[:15])
        console.print(f"children ({len(children)}): {shown}" + (" …" if len(children) > 15 else ""), highlight=False)
    for direction, title in (("out", "outgoing"), ("in", "incoming")):
        rows = [r for r in graph.relations(node_id, direction) if r["rel"] != "is_a"]
        if not rows:
            continue
        table = Table(title=f"{title} relations ({len(rows)})", title_justify="left")
        table.add_column("relation")
        table.add_column("concept")
        table.add_column("provenance", style="dim")
        for r in rows[:limit]:
            other = r["dst"] if direction == "out" else r["src"]
            rel = r["rel_label"] + (f" ({r['qualifier']})" if r["qualifier"] else "")
            name = graph.g.nodes[other].get("label")
            table.add_row(rel, f"{name} [dim]{other}[/]" if name else other, r["provenance"])
        console.print(table)
        if len(rows) > limit:
            console.print(f"… {len(rows) - limit} more")
    inferred = [r for r in graph.meta.get("inferred") or () if node_id in (r["src"], r["dst"])]
    if inferred:
        table = Table(title=f"entailed, not stated ({len(inferred)})", title_justify="left")
        for col in ("subject", "relation", "object", "rule"):
            table.add_column(col)
        table.add_column("follows from", style="dim")
        for r in inferred[:limit]:
            table.add_row(graph.label(r["src"]), r["rel_label"], graph.label(r["dst"]), r["rule"] + f" ({r['depth']})",
                          "; ".join(r["premises"]) + (f" [{r['axiom']}]" if r["axiom"] else ""))
        console.print(table)
        if len(inferred) > limit:
            console.print(f"… {len(inferred) - limit} more")


@corpus_app.command("build")
@user_errors
def corpus_build(
    texts: Annotated[list[Path], typer.Option("--texts", "-t", help="raw text files or folders (.txt, .jsonl, .parquet); repeat")] = [],  # noqa: B006
    kg: Annotated[Path, typer.Option("--kg", help="kg artifact folder, or an artifact root (its latest kg)")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    text_field: Annotated[str, typer.Option(help="field/column holding the text in .jsonl/.parquet")] = "text",
    paraphrases: Annotated[int, typer.Option(help="verbalised passages per concept, phrased differently")] = 1,
    min_mentions: Annotated[int, typer.Option(help="drop linked passages with fewer resolved mentions")] = 1,
    no_verbalise: Annotated[bool, typer.Option("--no-verbalise", help="only link the raw texts")] = False,
    templates: Annotated[Path | None, typer.Option(help="YAML file of relation templates (relation → statements/questions)")] = None,
    n_process: Annotated[int, typer.Option(help="spaCy worker processes")] = 1,
    seed: Annotated[int, typer.Option(help="seed for phrasing choices")] = 0,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """Verbalise the graph and link raw domain text to its concepts."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import CorpusConfig, parse_config, read_yaml
    from kgtools.corpus.stage import build_corpus

    data: dict[str, Any] = {
        "texts": texts, "text_field": text_field, "paraphrases": paraphrases, "min_mentions": min_mentions,
        "verbalise": not no_verbalise, "n_process": n_process, "seed": seed,
    }
    if templates is not None:
        data["templates"] = read_yaml(templates) or {}
    cfg = parse_config(CorpusConfig, data, prefix="corpus", source=str(templates) if templates else None)
    with _progress("building the corpus…") as status:
        result = build_corpus(cfg, _open_kg(kg), ArtifactStore(artifacts), force=force, progress=status)
    m = _announce("corpus", result)
    c, cov = m["counts"], m["coverage"]
    table = Table(title="corpus", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in [
        ("verbalised passages", c["verbalised"]), ("raw passages read", c["linked_passages_read"]),
        ("linked passages kept", c["linked_kept"]), ("dropped (< min mentions)", c["linked_dropped_few_mentions"]),
        ("linked mentions", c["linked_mentions"]), ("ambiguous, resolved by context", c["ambiguous_resolved"]),
        ("ambiguous, left open", c["ambiguous_unresolved"]),
        ("concepts mentioned in texts", f"{cov['mentioned_in_texts']:,} / {cov['concepts']:,} ({cov['share']:.1%})"),
    ]:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else value)
    console.print(table)
    if m["unlinked_capitalised"]:
        top = ", ".join(f"{u['phrase']} ({u['count']})" for u in m["unlinked_capitalised"][:12])
        console.print(f"frequent unlinked capitalised phrases (synonym candidates): {top}", highlight=False)


@synth_app.command("build")
@user_errors
def synth_build(
    kg: Annotated[Path, typer.Option("--kg", help="kg artifact folder, or an artifact root (its latest kg)")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the synth settings (the `synth:` section of a pipeline, or the bare section)")] = None,
    seed: Annotated[int | None, typer.Option(help="override the seed")] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """Generate questions and answers from the graph's facts and paths, split for honest evaluation."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import SynthConfig, parse_config
    from kgtools.synth.stage import synthesize

    data: Any = _section(config, "synth")
    if seed is not None:
        data = {**data, "seed": seed}
    cfg = parse_config(SynthConfig, data, prefix="synth", source=str(config) if config else None)
    with _progress("synthesising instructions…") as status:
        result = synthesize(cfg, _open_kg(kg), ArtifactStore(artifacts), force=force, progress=status)
    m = _announce("synth", result)
    table = Table(title="examples per split and task", title_justify="left")
    table.add_column("split")
    tasks = sorted({t for per in m["tasks"].values() for t in per})
    for t in tasks:
        table.add_column(t, justify="right")
    table.add_column("total", justify="right")
    for split, per in m["tasks"].items():
        table.add_row(split, *[f"{per.get(t, 0):,}" for t in tasks], f"{m['counts'][split]:,}")
    console.print(table)
    cov, leak = m["coverage"], m["leakage"]
    console.print(f"concepts in at least one example: {cov['concepts_in_examples']:,}/{cov['concepts']:,} "
                  f"({cov['concept_share']:.1%}); test prompts found in train: {leak['test_prompts_in_train']}; "
                  f"negative kinds: " + ", ".join(f"{k} {v:,}" for k, v in m["negative_kinds"].items()), highlight=False)
    quality = m.get("quality", {})
    if quality.get("mcq_baselines", {}).get("n"):
        b = quality["mcq_baselines"]
        console.print(f"multiple choice without knowledge ({b['n']:,} questions, chance {b['chance']:.2f}): word overlap "
                      f"{b['word_overlap']:.2f}, longest choice {b['longest_choice']:.2f}, most frequent answer "
                      f"{b['most_frequent_answer']:.2f}", highlight=False)
    _print_coverage(m)
    dropped = {k: v for k, v in m.get("generator", {}).items() if "/" not in k and v}
    if dropped:
        console.print("generator counters (left out, and why): " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(dropped.items())),
                      highlight=False)


@synth_app.command("update")
@user_errors
def synth_update(
    diff: Annotated[Path, typer.Option("--diff", help="kg_diff artifact folder, or an artifact root (its latest kg_diff)")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the synth settings (`synth.update` among them)")] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """Update data from a kg diff: changed facts in several phrasings, the old answers to reject, replay of
    unchanged facts, and the update's evaluation splits (changed, removed, portability, locality near / far)."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import SynthConfig, parse_config
    from kgtools.synth.stage import synthesize_update

    data: Any = _section(config, "synth")
    cfg = parse_config(SynthConfig, data, prefix="synth", source=str(config) if config else None)
    art = Artifact.open(diff, "kg_diff") if (diff / "manifest.json").is_file() else ArtifactStore(diff).latest("kg_diff")
    with _progress("synthesising the update…") as status:
        result = synthesize_update(cfg, art, ArtifactStore(artifacts), force=force, progress=status)
    m = _announce("synth_update", result)
    table = Table(title="examples per split and task", title_justify="left")
    table.add_column("split", no_wrap=True)
    tasks = sorted({t for per in m["tasks"].values() for t in per})
    for t in tasks:
        table.add_column(t, justify="right")
    table.add_column("total", justify="right")
    for split, per in m["tasks"].items():
        table.add_row(split, *[f"{per.get(t, 0):,}" for t in tasks], f"{m['counts'][split]:,}")
    console.print(table)
    console.print("update: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in m["update"].items()), highlight=False)


@synth_app.command("stats")
@user_errors
def synth_stats(
    data: Annotated[Path, typer.Argument(help="synth artifact folder, or an artifact root (its latest synth)")] = Path("artifacts"),
    as_json: Annotated[bool, typer.Option("--json", help="print the coverage as JSON")] = False,
) -> None:
    """Coverage of instruction data: per kind of knowledge, how much the graph has and how much reaches
    train and an evaluation split."""
    from kgtools.artifacts import Artifact, ArtifactStore

    artifact = Artifact.open(data, "synth") if (data / "manifest.json").is_file() else ArtifactStore(data).latest("synth")
    m = artifact.manifest
    if as_json:
        console.print_json(json.dumps({"path": str(artifact.path), "counts": m["counts"], "coverage": m["coverage"]}))
        return
    console.print(f"synth: {artifact.path}")
    _print_coverage(m)


def _print_coverage(m: dict[str, Any]) -> None:
    kinds = m["coverage"].get("kinds")
    if not kinds:  # an artifact of kgtools < 0.4
        return
    table = Table(title="coverage per kind of knowledge", title_justify="left")
    for name, justify in (("kind", "left"), ("in graph", "right"), ("in train", "right"), ("share", "right"),
                          ("in evaluation", "right"), ("share", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for kind, row in kinds.items():
        pct = lambda v: "–" if v is None else f"{v:.1%}"  # noqa: E731
        table.add_row(f"{kind} ({row['name']})" if row.get("name") else kind, f"{row['facts']:,}", f"{row['train']:,}", pct(row["train_share"]),
                      f"{row['evaluation']:,}", pct(row["evaluation_share"]))
    console.print(table)


@app.command("dedupe")
@user_errors
def dedupe_cmd(
    source: Annotated[Path, typer.Option("--synth", "--source", help="synth or corpus artifact folder, or an artifact root (its latest synth)")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    field: Annotated[str | None, typer.Option(help="text to compare: prompt, answer, prompt+answer, text [default: prompt]")] = None,
    threshold: Annotated[float | None, typer.Option(help="cosine similarity above which records are near-duplicates [default: 0.95, the config's]")] = None,
    model: Annotated[str | None, typer.Option(help="local sentence-transformers model folder (default all-MiniLM-L6-v2)")] = None,
    no_decontaminate: Annotated[bool, typer.Option("--no-decontaminate", help="keep train as is")] = False,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if an identical artifact exists")] = False,
) -> None:
    """Remove exact and near-duplicate examples (same facts only) and decontaminate train against the tests."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import DedupeConfig, parse_config
    from kgtools.dedupe.stage import dedupe

    given = {"field": field, "threshold": threshold, "model": model}  # unset: the config's defaults
    cfg = parse_config(DedupeConfig, {**{k: v for k, v in given.items() if v is not None},
                                      "decontaminate": not no_decontaminate}, prefix="dedupe")
    src = Artifact.open(source) if (source / "manifest.json").is_file() else ArtifactStore(source).latest("synth")
    with _progress("deduplicating…") as status:
        result = dedupe(cfg, src, ArtifactStore(artifacts), force=force, progress=status)
    m = _announce("dedupe", result)
    c = m["counts"]
    console.print(f"records {c['records']:,}: kept {c['kept']:,}, removed {c['removed']:,} "
                  f"({', '.join(f'{k} {v:,}' for k, v in m['removed_by_reason'].items()) or 'none'}); "
                  f"embedded now {c['embedded_now']:,}, from cache {c['embedded_from_cache']:,}", highlight=False)
    for split, s in m["splits"].items():
        console.print(f"  {split}: {s['records']:,} records, {s['removed_exact']:,} exact and {s['removed_semantic']:,} "
                      f"near duplicates removed, {s['different_facts_above_threshold']:,} near pairs about different "
                      f"facts kept ({s['index']})", highlight=False)
    if m["decontamination"]:
        console.print(f"  decontamination: {m['decontamination']}", highlight=False)
    console.print(f"histogram of nearest-neighbour similarities: {result.path / 'nn_similarity.png'}")


def _open_data(ref: Path):
    """A synth/dedupe artifact folder, or the latest dedupe (else synth) artifact under an artifact root."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.errors import ArtifactError

    if (ref / "manifest.json").is_file():
        artifact = Artifact.open(ref)
        if artifact.stage not in ("synth", "synth_update", "dedupe"):
            raise ArtifactError(f"{ref}: is a {artifact.stage!r} artifact; --data takes a synth, synth_update or dedupe "
                                "artifact (or an artifact root)")
        return artifact
    store = ArtifactStore(ref)
    try:
        return store.latest("dedupe")
    except ArtifactError:
        return store.latest("synth")


@app.command("train")
@user_errors
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="synth or dedupe artifact folder, or an artifact root (its latest dedupe, else synth)")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the train settings (the `train:` section of a pipeline, or the bare section)")] = None,
    model: Annotated[str | None, typer.Option(help="preset (tiny-deepseek-moe, small-deepseek-moe) or local checkpoint folder")] = None,
    stages: Annotated[str | None, typer.Option(help="comma-separated stages to run, e.g. kg_sft,distill")] = None,
    start: Annotated[Path | None, typer.Option("--from", help="train artifact whose adapter the first stage builds on")] = None,
    corpus: Annotated[Path | None, typer.Option(help="corpus artifact whose text also trains a preset's tokenizer")] = None,
    force: Annotated[bool, typer.Option("--force", help="retrain even if an identical artifact exists")] = False,
) -> None:
    """Fine-tune an MoE model in three stages: kg_sft → distill (context distillation) → reinforce (DPO)."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import TrainConfig, parse_config
    from kgtools.train.stage import train

    _quiet_models()
    values: Any = _section(config, "train")
    if model is not None:
        values = {**values, "model": model}
    if stages is not None:
        values = {**values, "stages": [s.strip() for s in stages.split(",") if s.strip()]}
    cfg = parse_config(TrainConfig, values, prefix="train", source=str(config) if config else None)
    parent = Artifact.open(start) if start is not None else None
    corpus_artifact = Artifact.open(corpus, "corpus") if corpus is not None else None
    with _progress("training…") as status:
        results = train(cfg, _open_data(data), ArtifactStore(artifacts), parent=parent, corpus=corpus_artifact,
                        force=force, progress=status)
    table = Table(title="fine-tuning stages", title_justify="left")
    for col in ("stage", "artifact", "steps", "objective", "before", "after"):
        table.add_column(col)
    for r in results:
        m = r.artifact.manifest
        before, after = m["metrics"]["before"], m["metrics"]["after"]
        if isinstance(before, dict):
            before, after = before["accuracy"], after["accuracy"]
        table.add_row(r.name, ("built " if r.built else "reused ") + str(r.path), str(m["counts"]["steps"]),
                      m["metrics"]["objective"], _fmt(before), _fmt(after))
    console.print(table)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("export")
@user_errors
def export_cmd(
    paths: Annotated[list[Path], typer.Argument(help="train artifact folder(s) (e.g. artifacts/train/reinforce/<key>), then the new folder for the merged checkpoint; several train artifacts (domains trained on one base) are composed", metavar="STAGE... OUT")],
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="allow the base checkpoint's own Python code to run (only if you trust it)")] = False,
) -> None:
    """Merge a stage's adapter chain (or several domains' chains on one base) into a standalone Hugging Face checkpoint."""
    from kgtools.artifacts import Artifact
    from kgtools.errors import ConfigError
    from kgtools.train.export import export

    if len(paths) < 2:
        raise ConfigError("export: give a train artifact (or several) and then the new folder: kgtools export STAGE... OUT")
    *stages, out = paths
    _quiet_models()
    with _progress("merging adapters…"):
        path = export([Artifact.open(s) for s in stages], out, trust_remote_code=trust_remote_code)
    console.print(f"[green]exported[/]: {path}")


@app.command("export-tasks")
@user_errors
def export_tasks_cmd(
    data: Annotated[Path, typer.Argument(help="synth, dedupe or synth_update artifact folder, or an artifact root (its latest dedupe, else synth)")],
    out: Annotated[Path, typer.Argument(help="new folder for the lm-evaluation-harness tasks")],
    name: Annotated[str | None, typer.Option("--name", help="the task group is kgtools_<name> (default: the ontology file's name)")] = None,
) -> None:
    """Write the data's evaluation splits as an lm-evaluation-harness task group (lm_eval --include_path OUT)."""
    from kgtools.evaluate.harness import export_tasks

    result = export_tasks(_open_data(data), out, name=name)
    for task, n in sorted(result["tasks"].items()):
        console.print(f"  {task:<48} {n:>6,} documents", highlight=False)
    console.print(f"[green]wrote[/] {result['folder']}: lm_eval --model hf --model_args pretrained=PATH "
                  f"--include_path {result['folder']} --tasks {result['group']} --apply_chat_template", highlight=False)


@app.command("verify")
@user_errors
def verify_cmd(
    paths: Annotated[list[Path], typer.Argument(help="artifact folders (artifacts/<stage>/<key>)")],
) -> None:
    """Check artifacts against the size and sha256 of every file their manifest recorded (exit 2 if damaged)."""
    from kgtools.artifacts import Artifact
    from kgtools.errors import ArtifactError

    damaged = 0
    for path in paths:
        artifact = Artifact.open(path)
        problems = artifact.damage(hashes=True)
        if "files" not in artifact.manifest:
            console.print(f"[yellow]unchecked[/] {path}: written before kgtools recorded its files")
        elif problems:
            damaged += 1
            err_console.print(f"[bold red]damaged[/] {path}: {'; '.join(problems)}", highlight=False)
        else:
            console.print(f"[green]ok[/] {path} ({len(artifact.manifest['files'])} files)", highlight=False)
    if damaged:
        raise ArtifactError(f"{damaged} of {len(paths)} artifacts damaged; delete them and rebuild")


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="synth or dedupe artifact folder, or an artifact root (its latest dedupe, else synth)")] = Path("artifacts"),
    stage: Annotated[list[Path], typer.Option("--stage", help="train artifact to evaluate; repeat in pipeline order (default: the latest of each stage in --artifacts)")] = [],  # noqa: B006
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the evaluate settings (the `evaluate:` section of a pipeline, or the bare section)")] = None,
    force: Annotated[bool, typer.Option("--force", help="re-evaluate even if an identical artifact exists")] = False,
) -> None:
    """Closed-book QA, multiple choice, negatives and retention for the base model and every stage."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import TRAIN_STAGES, EvalConfig, parse_config
    from kgtools.errors import ArtifactError
    from kgtools.evaluate.stage import evaluate

    _quiet_models()
    values: Any = _section(config, "evaluate")
    cfg = parse_config(EvalConfig, values, prefix="evaluate", source=str(config) if config else None)
    store = ArtifactStore(artifacts)
    stages = [Artifact.open(p) for p in stage]
    if not stages:
        for name in TRAIN_STAGES:
            try:
                stages.append(store.latest(f"train/{name}"))
            except ArtifactError:
                pass
    with _progress("evaluating…") as status:
        result = evaluate(cfg, _open_data(data), stages, store, force=force, progress=status)
    m = _announce("evaluate", result)
    _print_headline(m["headline"], m["goals"], m.get("headline_split", "test_paraphrase"))
    console.print(f"report: {result.path / 'report.md'}")


@app.command("evaluate-domains")
@user_errors
def evaluate_domains_cmd(
    domain: Annotated[list[str], typer.Option("--domain", help="NAME=TRAIN_ARTIFACT,DATA_ARTIFACT: a domain's last train artifact and its synth or dedupe artifact; repeat for each domain (all trained on one base)")],
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the evaluate settings (its first split is asked)")] = None,
    force: Annotated[bool, typer.Option("--force", help="re-evaluate even if an identical artifact exists")] = False,
) -> None:
    """Several domains on one base: the interference matrix, what composition keeps, retention, routing overlap."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import EvalConfig, parse_config
    from kgtools.errors import ConfigError
    from kgtools.evaluate.domains import evaluate_domains

    chains, data = {}, {}
    for item in domain:
        name, _, paths = item.partition("=")
        train_path, _, data_path = paths.partition(",")
        if not name or not train_path or not data_path:
            raise ConfigError(f"--domain {item!r}: write NAME=TRAIN_ARTIFACT,DATA_ARTIFACT")
        if name in chains:
            raise ConfigError(f"--domain: two domains named {name!r}; give each domain its own name")
        chains[name], data[name] = Artifact.open(Path(train_path)), Artifact.open(Path(data_path))
    _quiet_models()
    values: Any = _section(config, "evaluate")
    cfg = parse_config(EvalConfig, values, prefix="evaluate", source=str(config) if config else None)
    with _progress("evaluating domains…") as status:
        result = evaluate_domains(cfg, chains, data, ArtifactStore(artifacts), force=force, progress=status)
    _announce("eval_domains", result)
    console.print((result.path / "report.md").read_text("utf-8"), markup=False, highlight=False)


def _print_headline(headline: dict[str, Any], goals: list[dict[str, Any]], split: str = "test_paraphrase") -> None:
    what = {"test_paraphrase": "trained facts, unseen phrasings", "test_changed": "changed facts, unseen phrasings"}
    table = Table(title=f"{split} ({what.get(split, 'held out')})", title_justify="left")
    for col in ("model", "multiple choice", "open EM", "accuracy", "corrupted accepted", "true accepted",
                "retention ppl"):
        table.add_column(col, justify="left" if col == "model" else "right")
    from kgtools.evaluate.stage import STAGE_ORDER

    for label, h in sorted(headline.items(), key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else 99):
        table.add_row(label, *[_fmt(h.get(k)) for k in ("mcq", "open_em", "accuracy", "acceptance_of_corrupted",
                                                       "acceptance_of_true", "perplexity")])
    console.print(table)
    for g in goals:
        mark = "not measured" if g["met"] is None else "[green]met[/]" if g["met"] else "[red]not met[/]"
        console.print(f"  {mark}  {g['goal']}: {_fmt(g['value'])} (target {_fmt(g['target'])})")


@app.command("audit")
@user_errors
def audit_cmd(
    model: Annotated[Path, typer.Argument(help="a train artifact folder or a local Hugging Face checkpoint folder")],
    kg: Annotated[Path, typer.Option("--kg", help="a kg artifact, an artifact root (its latest kg), or ontology files")] = Path("artifacts"),
    artifacts: ArtifactsOpt = Path("artifacts"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the audit settings (an `audit:` section or the bare section)")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="allow the checkpoint's own Python code to run (only if you trust it)")] = False,
    force: Annotated[bool, typer.Option("--force", help="audit again even if an identical artifact exists")] = False,
) -> None:
    """What a model knows of a graph: its facts asked closed-book and as multiple choice, per concept and relation."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.audit.stage import audit
    from kgtools.config import AuditConfig, parse_config
    from kgtools.graph.stage import kg_of

    _quiet_models()
    values: Any = _section(config, "audit")
    if trust_remote_code:
        values = {**values, "trust_remote_code": True}
    cfg = parse_config(AuditConfig, values, prefix="audit", source=str(config) if config else None)
    store = ArtifactStore(artifacts)
    with _progress("auditing…") as status:
        result = audit(cfg, model, kg_of(kg, store, status), store, force=force, progress=status)
    m = _announce("audit", result)
    console.print(f"{m['counts']['questions']:,} questions on {m['counts']['concepts']:,} concepts: right "
                  + ", ".join(f"{a} {_fmt(v)}" for a, v in m["by_asked"].items()), highlight=False)
    console.print(f"report: {result.path / 'report.md'}; per question: {result.path / 'audit.parquet'}", highlight=False)


@app.command("run")
@user_errors
def run_cmd(
    pipeline: Annotated[Path, typer.Argument(help="pipeline YAML file (see pipelines/)")],
    start: Annotated[str | None, typer.Option("--from", help="rebuild this stage and every stage after it")] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild every stage")] = False,
) -> None:
    """Run a whole pipeline: graph → corpus → instructions → dedupe → kg_sft → distill → reinforce → evaluate."""
    import time

    from kgtools.pipeline import load_pipeline, run_pipeline
    from kgtools.progress import tag

    _quiet_models()
    cfg = load_pipeline(pipeline)
    then = f" → {len(cfg.update.releases)} update(s)" if cfg.update is not None else ""
    console.print(f"[bold]{cfg.name}[/]: {' → '.join(cfg.active_stages())}{then}  (artifacts in {cfg.artifacts})")
    started = time.perf_counter()

    def done(record) -> None:
        verb = "[green]built[/]" if record.built else "[dim]reused[/]"
        console.print(f"  {verb} {record.stage:<18} {record.seconds:7.1f} s  {record.artifact.path}", highlight=False)

    with _progress("starting…") as status:
        records = run_pipeline(cfg, from_stage=start, force=force,
                               progress=lambda stage, report: status(tag(stage, report)), on_stage=done)
    table = Table(title=f"{cfg.name}: {time.perf_counter() - started:.0f} s", title_justify="left")
    for col in ("stage", "artifact", "", "seconds", "summary"):
        table.add_column(col)
    for r in records:
        summary = ", ".join(f"{k} {_fmt(v)}" for k, v in r.summary.items())
        table.add_row(r.stage, r.artifact.key[:12], "built" if r.built else "reused", f"{r.seconds:.1f}", summary)
    console.print(table)
    last = records[-1]
    if last.stage == "eval_domains":
        console.print((last.artifact.path / "report.md").read_text("utf-8"), markup=False, highlight=False)
        console.print(f"report: {last.artifact.path / 'report.md'}")
    elif last.stage.startswith("evaluate"):
        _print_headline(last.artifact.manifest["headline"], last.artifact.manifest["goals"],
                        last.artifact.manifest.get("headline_split", "test_paraphrase"))
        console.print(f"report: {last.artifact.path / 'report.md'}")


if __name__ == "__main__":  # pragma: no cover
    app()
