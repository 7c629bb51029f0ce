"""Exact allele distributions against sampling: cost and error, on one real model.

Two modes:

``compare`` (the default)
    Runs a causal LM (SmolLM2-135M in the recorded results) on the first ``--genes`` genes of the
    shipped ``code`` genome and measures, side by side in one process, sampling with N = 8, 16, 32
    (``generate``, temperature 0.7, ``top_k=0``, ``top_p=1``, at most 5 new tokens, batched) and
    exact expansion at two or three settings: wall time, model token positions, and the error of
    each method, the Nei distance (``D = -ln S``, unbiased homozygosity) between its population
    and a reference population of the same model sampled with ``--reference-n`` continuations per
    gene. The reference is drawn as two independent halves; the distance between the halves is
    reported as the noise floor. Writes ``benchmarks/results/exact_vs_sampling.md``.

``timing``
    Exact expansion (the code ``phylolm-hf`` runs) against sampling with N = 32, on every gene
    of the genome, for a GPU: wall time and token positions. Writes
    ``benchmarks/results/exact_gpu.md``.

Usage::

    python benchmarks/bench_exact_vs_sampling.py --model-dir DIR [--threads 2]
    python benchmarks/bench_exact_vs_sampling.py --mode timing --gguf FILE --device cuda

``DIR`` is a Hugging Face folder; ``--gguf`` loads a GGUF file instead (needs the ``gguf``
package). lm-eval is not needed: when it is missing, the exact path is imported without the
lm-eval model class around it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import shlex
import sys
import time
import types
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import AutoModelForCausalLM, AutoTokenizer

from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.core.alleles import AlleleDistribution, allele_of
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import homozygosity
from phylolm_harness.genomes.genome import load_genome

TEMPERATURE = 0.7
MAX_TOKENS = 5
SAMPLED_N = (8, 16, 32)
DEFAULT_EXACT = ExpansionSettings()
TIGHTER_EXACT = ExpansionSettings(top_p=0.95, min_mass=3e-3, top_k=20, tail_samples=32)
LOOSER_EXACT = ExpansionSettings(top_p=0.8, min_mass=2e-2, top_k=10, tail_samples=16)
OLD_DEFAULT = ExpansionSettings(top_p=0.95, min_mass=3e-3, top_k=20, tail_samples=0)
"""The settings exact mode had before its pruned branches were sampled."""
GENOME = "code"

Row = dict[str, Any]


def exact_backend() -> tuple[
    Callable[..., tuple[list[AlleleDistribution], int]], Callable[..., Any]
]:
    """``exact_alleles_hf`` and ``eos_token_ids`` from the ``phylolm-hf`` module.

    That module defines the lm-eval model class too; where lm-eval is not installed (a bare GPU
    machine) a stand-in base class is registered first, which leaves the expansion code as is.
    """
    try:
        importlib.import_module("lm_eval.models.huggingface")
    except ModuleNotFoundError:
        for name in ("lm_eval", "lm_eval.models", "lm_eval.models.huggingface"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["lm_eval.models.huggingface"].HFLM = object  # type: ignore[attr-defined]
    hf = importlib.import_module("phylolm_harness.collect.models.hf")
    return hf.exact_alleles_hf, hf.eos_token_ids


def load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """Tokenizer and fp32 model from a folder or a GGUF file, on ``args.device``."""
    if args.gguf:
        from transformers import GgufConfig

        folder, name = os.path.split(os.path.abspath(args.gguf))
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    else:
        tok = AutoTokenizer.from_pretrained(args.model_dir)
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, model.to(args.device).eval()


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sample_alleles(
    model: Any, tok: Any, genes: Sequence[str], n: int, seed: int, rows: int
) -> tuple[list[Counter[str]], int]:
    """Sample ``n`` continuations per gene with ``generate``.

    Returns the allele counts per gene and the token positions the model computed: for every
    sequence its prompt, then one position per generated token fed back (the last token written
    is never fed back), padding not counted.
    """
    counts: list[Counter[str]] = []
    positions = 0
    device = next(model.parameters()).device
    per_batch = max(1, rows // n)
    eos = eos_token_ids(model, tok)
    generator_seed = seed
    for start in range(0, len(genes), per_batch):
        chunk = genes[start : start + per_batch]
        enc = tok(list(chunk), return_tensors="pt", padding=True).to(device)
        torch.manual_seed(generator_seed)
        generator_seed += 1
        with torch.inference_mode():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=0,
                top_p=1.0,
                max_new_tokens=MAX_TOKENS,
                num_return_sequences=n,
                eos_token_id=eos,
                pad_token_id=tok.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        lengths = enc["attention_mask"].sum(-1).tolist()
        for g in range(len(chunk)):
            found: Counter[str] = Counter()
            for row in new[g * n : (g + 1) * n]:
                cut = next((i for i, t in enumerate(row) if t in eos), len(row))
                found[allele_of(tok.decode(row[:cut], skip_special_tokens=True))] += 1
                positions += int(lengths[g]) + min(cut, MAX_TOKENS - 1)
            counts.append(found)
    return counts, positions


def sample_shared_prefix(
    model: Any, tok: Any, genes: Sequence[str], n: int, seed: int, rows: int
) -> tuple[list[Counter[str]], int]:
    """Sample ``n`` continuations per gene computing each prompt once.

    The same distribution as :func:`sample_alleles` (full vocabulary at the temperature, at most
    ``MAX_TOKENS`` tokens, stop at end of text), but every gene's prompt is run once and its
    key/value cache copied to its ``n`` sequences, so a sequence costs one position per token
    fed back. Positions are counted as in :func:`sample_alleles`.
    """
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    eos_list = eos_token_ids(model, tok)
    eos = torch.tensor(eos_list, dtype=torch.long, device=device)
    per_batch = max(1, rows // n)
    counts: list[Counter[str]] = []
    positions = 0
    for start in range(0, len(genes), per_batch):
        chunk = genes[start : start + per_batch]
        enc = tok(list(chunk), return_tensors="pt", padding=True).to(device)
        mask = enc["attention_mask"]
        with torch.inference_mode():
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True,
                logits_to_keep=1,
            )
            positions += int(mask.sum())
            cache = out.past_key_values
            cache.batch_repeat_interleave(n)
            logits = out.logits[:, -1, :].repeat_interleave(n, dim=0)
            mask = mask.repeat_interleave(n, dim=0)
            lengths = mask.sum(-1)
            finished = torch.zeros(mask.shape[0], dtype=torch.bool, device=device)
            written = []
            for step in range(MAX_TOKENS):
                probs = torch.softmax(logits.float() / TEMPERATURE, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
                written.append(token)
                finished = finished | torch.isin(token, eos)
                if step + 1 == MAX_TOKENS or bool(finished.all()):
                    break
                positions += int((~finished).sum())
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                out = model(
                    input_ids=token.unsqueeze(-1),
                    attention_mask=mask,
                    position_ids=(lengths + step).unsqueeze(-1),
                    past_key_values=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
                logits = out.logits[:, -1, :]
        new = torch.stack(written, dim=1).tolist()
        for g in range(len(chunk)):
            found: Counter[str] = Counter()
            for row in new[g * n : (g + 1) * n]:
                cut = next((i for i, t in enumerate(row) if t in eos_list), len(row))
                found[allele_of(tok.decode(row[:cut], skip_special_tokens=True))] += 1
            counts.append(found)
    return counts, positions


def observations(label: str, per_gene: Sequence[Any]) -> list[GeneObservation]:
    """Observations of sampled counts or exact distributions, one per gene."""
    out = []
    for g, found in enumerate(per_gene):
        if isinstance(found, AlleleDistribution):
            out.append(
                GeneObservation(
                    label,
                    GENOME,
                    "sha256:0",
                    f"g{g}",
                    found.alleles,
                    None,
                    found.tail,
                    draws=found.draws,
                )
            )
        else:
            total = sum(found.values())
            out.append(GeneObservation(label, GENOME, "sha256:0", f"g{g}", dict(found), total))
    return out


def distance(a: list[GeneObservation], b: list[GeneObservation], estimator: str) -> float:
    """Nei distance ``-ln S`` between two populations, S not clipped at 1.

    With the unbiased estimator, two samples of the same distribution give ``S`` scattered
    around 1; :func:`nei_similarity` clips it at 1 (``D = 0``), which
    would hide that noise here, so ``S`` is recomputed from the same terms without clipping and
    ``D`` can be slightly negative.
    """
    pops = Populations.from_observations([*a, *b])
    j = homozygosity(pops, estimator=estimator)  # type: ignore[arg-type]
    cross = float((pops.frequencies[[0]] @ pops.frequencies[[1]].T).toarray()[0, 0])
    s = cross / np.sqrt(j[0].sum() * j[1].sum())
    return float(-np.log(s))


def simulated_distances(
    reference: Sequence[Counter[str]],
    n: int | None,
    repeats: int,
    seed: int,
    m: int | None = None,
    draws: Sequence[tuple[float, float]] | None = None,
) -> NDArray[np.float64]:
    """Distances that sampling noise alone produces, taking the reference as the truth.

    Each repeat draws, per gene, a fresh reference of the same size from the reference's
    frequencies and either a sample of ``n`` (``n`` given) or the frequencies themselves (``n``
    is ``None``: an error-free exact population), and returns their Nei distance (unbiased, not
    clipped). A method whose observed distance lies inside this spread shows no error beyond
    sampling noise. ``m`` overrides the size of the simulated reference. ``draws`` gives, per
    gene, the mass an exact population sampled and the weight of its draws: that share of the
    truth is redrawn as Poisson counts of that weight, the expanded rest taken proportional to the
    truth (an approximation of where the draws fall).
    """
    rng = np.random.default_rng(seed)
    probs = [np.array(list(c.values()), dtype=np.float64) / sum(c.values()) for c in reference]
    m = m or int(sum(reference[0].values()))
    cross = np.zeros(repeats)
    j_method = np.zeros(repeats)
    j_ref = np.zeros(repeats)
    for g, p in enumerate(probs):
        ref = rng.multinomial(m, p, size=repeats) / m
        j_ref += (m * (ref**2).sum(1) - 1) / (m - 1)
        if n is None and draws is not None and draws[g][0] > 0:
            mass, weight = draws[g]
            counts = rng.poisson(mass * p / weight, size=(repeats, len(p)))
            method = (1 - mass) * p + weight * counts
            j_method += (method**2).sum(1) - weight * weight * counts.sum(1)
        elif n is None:
            method = np.broadcast_to(p, ref.shape)
            j_method += (p**2).sum()
        else:
            method = rng.multinomial(n, p, size=repeats) / n
            j_method += (n * (method**2).sum(1) - 1) / (n - 1)
        cross += (method * ref).sum(1)
    out: NDArray[np.float64] = -np.log(cross / np.sqrt(j_method * j_ref))
    return out


def run_exact(
    model: Any,
    tok: Any,
    genes: Sequence[str],
    settings: ExpansionSettings,
    device: str,
    prompt_batch: int | None = None,
    backend: Callable[..., tuple[list[AlleleDistribution], int]] | None = None,
    repeats: int = 1,
) -> tuple[list[AlleleDistribution], int, float]:
    """Exact distributions as ``phylolm-hf`` computes them; returns them, positions, seconds.

    ``backend`` replaces ``exact_alleles_hf`` (the earlier expansion, see :func:`old_backend`);
    with ``repeats`` the time is the median of that many runs (the results are the same).
    """
    prompts = [tok.encode(g) for g in genes]

    def decode(ids: Sequence[int]) -> str:
        return str(tok.decode(list(ids), skip_special_tokens=True))

    times = []
    for _ in range(repeats):
        synchronise(device)
        t0 = time.perf_counter()
        found, positions = (backend or exact_alleles_hf)(
            model,
            prompts,
            decode,
            settings,
            eos_token_ids(model, tok),
            pad_id=tok.pad_token_id,
            prompt_batch=prompt_batch or (32 if backend else None),
        )
        synchronise(device)
        times.append(time.perf_counter() - t0)
    return found, positions, float(np.median(times))


def old_backend(revision: str) -> Callable[..., tuple[list[AlleleDistribution], int]]:
    """``exact_alleles_hf`` as the file ``phylolm_harness/collect/models/hf.py`` was at a commit.

    The file is read with ``git show`` and run as a module of its own; it uses today's expansion
    algorithm without draws (the earlier call signature), so the comparison isolates what the
    model side of the expansion costs.
    """
    import subprocess

    source = subprocess.run(
        ["git", "show", f"{revision}:phylolm_harness/collect/models/hf.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    module = types.ModuleType(f"hf_at_{revision}")
    sys.modules[module.__name__] = module
    exec(compile(source, module.__name__, "exec"), module.__dict__)  # noqa: S102
    backend: Callable[..., tuple[list[AlleleDistribution], int]] = module.exact_alleles_hf
    return backend


def run_sampling(
    model: Any,
    tok: Any,
    genes: Sequence[str],
    n: int,
    seed: int,
    rows: int,
    device: str,
    shared_prefix: bool = False,
) -> tuple[list[Counter[str]], int, float]:
    sampler = sample_shared_prefix if shared_prefix else sample_alleles
    synchronise(device)
    t0 = time.perf_counter()
    counts, positions = sampler(model, tok, genes, n, seed, rows)
    synchronise(device)
    return counts, positions, time.perf_counter() - t0


def settings_label(s: ExpansionSettings) -> str:
    draws = f"draws 1/{s.tail_samples:g}" if s.tail_samples else "no draws"
    return f"top-p {s.top_p} / min_mass {s.min_mass:g} / top-k {s.top_k} / {draws}"


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores (torch {torch.__version__})"


def load_average() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def header(args: argparse.Namespace, n_genes: int, title: str) -> list[str]:
    model = args.gguf or args.model_dir
    return [
        f"# {title}",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"- machine: {machine(args.device)}, device `{args.device}`, {args.threads} torch threads",
        f"- load average (1/5/15 min) at start: {args.load_at_start}",
        f"- command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`",
        f"- model: `{Path(model).name}` (fp32), genes: the first {n_genes} of the shipped "
        f"`{GENOME}` genome, temperature {TEMPERATURE}, at most {MAX_TOKENS} new tokens",
        "",
    ]


def compare(args: argparse.Namespace, tok: Any, model: Any, genes: list[str]) -> list[str]:
    half = args.reference_n // 2
    rows: list[Row] = []
    half_a, pos_a, time_a = run_sampling(
        model, tok, genes, half, 10_000, args.rows[0], args.device, shared_prefix=True
    )
    half_b, pos_b, time_b = run_sampling(
        model, tok, genes, half, 20_000, args.rows[0], args.device, shared_prefix=True
    )
    ref_time, ref_positions = time_a + time_b, pos_a + pos_b
    reference = observations("reference", [a + b for a, b in zip(half_a, half_b, strict=True)])
    obs_a, obs_b = observations("half-a", half_a), observations("half-b", half_b)
    floor = distance(obs_a, obs_b, "unbiased")
    floor_plugin = distance(obs_a, obs_b, "plugin")
    print(f"reference N={2 * half}: {ref_time:.1f} s, {ref_positions} positions", flush=True)

    reference_counts = [a + b for a, b in zip(half_a, half_b, strict=True)]
    dumped: dict[str, Any] = {"reference half A": half_a, "reference half B": half_b}

    def spread(
        n: int | None, m: int | None = None, draws: Sequence[tuple[float, float]] | None = None
    ) -> tuple[float, float]:
        null = simulated_distances(
            reference_counts, n, args.simulations, seed=n or 0, m=m, draws=draws
        )
        return float(np.quantile(null, 0.05)), float(np.quantile(null, 0.95))

    def add(
        label: str, per_gene: Sequence[Any], elapsed: float, positions: int, n: int | None
    ) -> None:
        obs = observations(label, per_gene)
        dumped[label] = [
            json.loads(f.to_json()) if isinstance(f, AlleleDistribution) else f for f in per_gene
        ]
        exact = [f for f in per_gene if isinstance(f, AlleleDistribution)]
        tails = [f.tail + (f.draws.mass if f.draws else 0.0) for f in exact]
        draws = [(f.draws.mass, f.draws.weight) if f.draws else (0.0, 1.0) for f in exact]
        row = {
            "label": label,
            "time": elapsed,
            "positions": positions,
            "d": distance(obs, reference, "unbiased"),
            "d_halves": (distance(obs, obs_a, "unbiased"), distance(obs, obs_b, "unbiased")),
            "d_plugin": distance(obs, reference, "plugin"),
            "tail": float(np.mean(tails)) if tails else 0.0,
            "sampled": any(f.draws for f in exact),
            "null": spread(n, draws=draws if exact else None),
        }
        rows.append(row)
        print(row, flush=True)

    for n in SAMPLED_N:
        counts, positions, elapsed = run_sampling(
            model, tok, genes, n, n, args.rows[0], args.device
        )
        add(f"sampled N={n}", counts, elapsed, positions, n)
    counts, positions, elapsed = run_sampling(
        model, tok, genes, 32, 32_000, args.rows[0], args.device, shared_prefix=True
    )
    add("sampled N=32, prompt run once (shared cache)", counts, elapsed, positions, 32)
    run_exact(model, tok, genes[:8], DEFAULT_EXACT, args.device)  # warm-up, not timed
    if args.old:
        found, positions, elapsed = run_exact(
            model, tok, genes, OLD_DEFAULT, args.device,
            backend=old_backend(args.old), repeats=args.exact_repeats,
        )  # fmt: skip
        label = f"exact, earlier expansion (at {args.old}), its default"
        add(f"{label} ({settings_label(OLD_DEFAULT)})", found, elapsed, positions, None)
    exact_settings = [
        ("exact, this expansion, earlier default", OLD_DEFAULT),
        ("exact, default", DEFAULT_EXACT),
        ("exact, denser", TIGHTER_EXACT),
    ]
    if args.looser:
        exact_settings.append(("exact, looser", LOOSER_EXACT))
    for name, settings in exact_settings:
        found, positions, elapsed = run_exact(
            model, tok, genes, settings, args.device, args.prompt_batch[0],
            repeats=args.exact_repeats,
        )  # fmt: skip
        add(f"{name} ({settings_label(settings)})", found, elapsed, positions, None)

    if args.dump:
        Path(args.dump).write_text(json.dumps(dumped, ensure_ascii=False), encoding="utf-8")
    base = next(r for r in rows if r["label"] == "sampled N=32")
    floor_null = spread(half, half)
    lines = header(args, len(genes), "Exact allele distributions vs sampling")
    lines += [
        f"Reference: N={2 * half} sampled continuations per gene, drawn as two independent halves "
        f"of {half} ({ref_time:.0f} s, {ref_positions:,} positions; prompt run once per gene and "
        "its cache shared by the gene's sequences, the same distribution as `generate`). "
        "'sampled N=...' rows use `generate` as lm-eval's `hf` model does (prompt recomputed "
        "for every sequence). Error of a method = Nei distance D = -ln S between its population "
        "and the reference population, with Nei's unbiased homozygosity for sampled populations "
        "(exact ones need none) and S not clipped at 1, so D scatters around 0 when there is no "
        "error. Token positions: prompt plus every token fed back, padding not counted; exact "
        "mode computes each prompt once and one position per expanded branch (key/value cache).",
        "",
        f"'D if no error' is the 5-95% range of D over {args.simulations} simulations that take "
        "the reference frequencies as the truth and redraw both the method's sample (or, for "
        "exact rows, use the frequencies themselves, redrawing the share an exact row sampled as "
        "Poisson draws of its weight) and a reference of the same size: the spread that sampling "
        "noise alone produces. A D outside it is error of the method. Exact rows are timed as "
        f"the median of {args.exact_repeats} runs after a warm-up; sampling rows run once.",
        "",
        "| method | wall time (s) | token positions | positions vs N=32 | time vs N=32 "
        "| D to reference | D if no error (5-95%) | D to half A / half B "
        "| D plug-in (paper) | mean pruned mass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    shared = next(r for r in rows if "shared cache" in r["label"])
    for r in rows:
        pruned = f"{r['tail']:.3f} ({'sampled' if r['sampled'] else 'left out'})"
        lines.append(
            f"| {r['label']} | {r['time']:.1f} | {r['positions']:,} "
            f"| {base['positions'] / r['positions']:.1f}x fewer "
            f"| {base['time'] / r['time']:.1f}x faster | {r['d']:+.4f} "
            f"| {r['null'][0]:+.4f} to {r['null'][1]:+.4f} "
            f"| {r['d_halves'][0]:+.4f} / {r['d_halves'][1]:+.4f} | {r['d_plugin']:.4f} "
            f"| {pruned if 'exact' in r['label'] else ''} |"
        )
    lines += [
        f"| noise floor: half A vs half B (N={half} each) | | | | | {floor:+.4f} "
        f"| {floor_null[0]:+.4f} to {floor_null[1]:+.4f} | | {floor_plugin:.4f} | |",
        "",
        "The plug-in column squares raw frequencies, as the paper does: it charges every sampled "
        "population (the reference too) a bias of about (1 - sum p^2) / N per gene, so it is "
        "large for small N and not zero even for the exact rows (the reference's own bias).",
        "",
    ]
    lines += [
        "Exact rows against shared-cache N=32: "
        + "; ".join(
            f"{r['label'].split(' (')[0]} {shared['time'] / r['time']:.1f}x faster"
            for r in rows
            if "exact" in r["label"]
        )
        + ".",
        "",
    ]
    return lines


def timing(args: argparse.Namespace, tok: Any, model: Any, genes: list[str]) -> list[str]:
    # Warm-up (kernels, allocator) on a few genes, not timed.
    run_exact(model, tok, genes[:8], DEFAULT_EXACT, args.device)
    run_sampling(model, tok, genes[:8], 32, 1, args.rows[0], args.device)
    rows: list[Row] = []
    sampled_obs: list[GeneObservation] = []
    seed = 100
    for batch in args.rows:
        for _ in range(args.repeats):
            seed += 1
            counts, positions, elapsed = run_sampling(
                model, tok, genes, 32, seed, batch, args.device
            )
            label = f"sampled N=32, `generate`, {batch} sequences per batch"
            rows.append({"label": label, "time": elapsed, "positions": positions, "tail": 0.0})
            sampled_obs = observations("sampled", counts)
        for _ in range(args.repeats):
            seed += 1
            counts, positions, elapsed = run_sampling(
                model, tok, genes, 32, seed, batch, args.device, shared_prefix=True
            )
            rows.append(
                {
                    "label": f"sampled N=32, prompt run once (shared cache), {batch} per batch",
                    "time": elapsed,
                    "positions": positions,
                    "tail": 0.0,
                    "d": distance(observations("shared", counts), sampled_obs, "unbiased"),
                }
            )
    for prompt_batch in args.prompt_batch:
        for name, settings in (
            ("exact, default", DEFAULT_EXACT),
            ("exact, tighter", TIGHTER_EXACT),
        ):
            for _ in range(args.repeats):
                found, positions, elapsed = run_exact(
                    model, tok, genes, settings, args.device, prompt_batch
                )
                rows.append(
                    {
                        "label": f"{name} ({settings_label(settings)}), "
                        f"{prompt_batch or 'memory-chosen'} prompts per batch",
                        "time": elapsed,
                        "positions": positions,
                        "tail": float(np.mean([f.tail for f in found])),
                        "d": distance(observations("exact", found), sampled_obs, "unbiased"),
                    }
                )
                print(rows[-1], flush=True)
    lines = header(args, len(genes), "Exact allele distributions vs sampling on a GPU")
    base_rows = [r for r in rows if "`generate`" in r["label"]]
    base = min(r["time"] for r in base_rows)
    base_positions = base_rows[0]["positions"]
    lines += [
        f"Each configuration run {args.repeats} times after a warm-up; every run listed. "
        "Sampling: `generate` (prompt recomputed for every sequence, as lm-eval's `hf` model "
        "does), or prompt run once per gene with its cache shared by the gene's 32 sequences. "
        "Exact: `exact_alleles_hf`, the code `phylolm-hf` runs (its prompt batch is "
        "`--batch_size`, 32 when unset). D: Nei distance (unbiased, not clipped) between a "
        "population and the last `generate` N=32 sample (a sanity check, dominated by that "
        "sample's noise).",
        "",
        "| method | wall time (s) | token positions | time vs fastest `generate` N=32 "
        "| positions vs N=32 | mean tail | D to N=32 sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = f"{r['d']:.4f}" if "d" in r else ""
        lines.append(
            f"| {r['label']} | {r['time']:.2f} | {r['positions']:,} | {base / r['time']:.1f}x "
            f"| {base_positions / r['positions']:.1f}x fewer | {r['tail']:.3f} | {d} |"
        )
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", help="Hugging Face model folder")
    source.add_argument("--gguf", help="GGUF file (dequantised to fp32)")
    parser.add_argument("--mode", choices=("compare", "timing"), default="compare")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--genes", type=int, default=32)
    parser.add_argument("--reference-n", type=int, default=128)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[128], help="sequences per sampling batch"
    )
    parser.add_argument(
        "--prompt-batch",
        type=int,
        nargs="+",
        default=[None],
        help="exact: prompts per batch (default: from the free memory)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timing mode: runs per method")
    parser.add_argument("--simulations", type=int, default=400, help="noise simulations")
    parser.add_argument("--looser", action="store_true", help="also run a looser expansion")
    parser.add_argument(
        "--old", default=None, help="commit whose phylolm-hf expansion to run side by side"
    )
    parser.add_argument("--exact-repeats", type=int, default=3, help="timed runs per exact row")
    parser.add_argument("--out", default=None)
    parser.add_argument("--dump", default=None, help="compare mode: write populations as JSON")
    args = parser.parse_args()
    args.load_at_start = load_average()
    torch.set_num_threads(args.threads)
    global exact_alleles_hf, eos_token_ids
    exact_alleles_hf, eos_token_ids = exact_backend()
    tok, model = load_model(args)
    genes = [g.text for g in load_genome(GENOME).genes[: args.genes]]
    t0 = time.perf_counter()
    if args.mode == "compare":
        lines = compare(args, tok, model, genes)
        default_out = "benchmarks/results/exact_vs_sampling.md"
    else:
        lines = timing(args, tok, model, genes)
        default_out = "benchmarks/results/exact_gpu.md"
    lines.append(
        f"Total benchmark time (model loading excluded): {time.perf_counter() - t0:.0f} s."
    )
    lines.append("")
    out = Path(args.out or default_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


exact_alleles_hf: Callable[..., tuple[list[AlleleDistribution], int]]
eos_token_ids: Callable[..., Any]

if __name__ == "__main__":
    main()
