"""What every method's stage shares, written once for every dataset and method: the resolved settings of a run,
the pools, the weak supervisor's adapter and answers, LoRA training, evaluation and the results files.

The stages themselves are the methods (common/methods/, one file each); common/runner.py runs one. Outputs land
under the run's output folder (the dataset folder by default, OUTPUT_DIR/<dataset> with --output_dir) with the
original names: `models/` (LoRA adapters), `results/` (.txt, .json, per-question predictions, loss curves), the
weak-answer CSVs, and `cache/` (the resumable weak-answer caches). docs/method.md states the method; the §
numbers below point there.
"""
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from . import distributed
from .config import DEFAULT_EFFECTIVE_BATCH, DEFAULT_MICRO_BATCH, GENERATION_BATCH, RunConfig
from .data import Example
from .errors import UserError
from .evaluation import score_predictions
from .generation import cached_generate, generate_sharded
from .methods.base import Method
from .methods.weak import WeakSupervisor
from .models import (
    inference_dtype,
    load_model_and_tokenizer,
    machine_facts,
    model_slug,
    resolve_model_path,
    resolve_precision,
    training_dtype,
    weak_slug,
)
from .results import plot_loss_curve, write_csv_atomic, write_results
from .seeding import seed_everything
from .tasks import Pools, SamplingRule, Task, output_root
from .training import TrainPlan, accumulation_plan, save_adapter, train_lora

# ------------------------------------------------------------------------------------------ resolved settings

@dataclass(frozen=True)
class Settings:
    """Every resolved setting of one run, once: what the flags left to the dataset or the machine, decided
    (§5-§6). The results .json stores it under `settings`."""
    method: str                     # the method key
    run_name: str                   # results / adapter stem
    adapter_name: str               # the adapter folder under models/
    train_fraction: float
    sampling: SamplingRule | None   # --do_sampling's rule (None: the method has no such flag)
    k: int | None                   # prompt variants, for methods that use them
    temperature: float | None       # reliability softmax temperature, for methods that use it
    plan: TrainPlan

    def record(self) -> dict:
        """The flat form the results .json stores (the training plan's fields at the top level)."""
        out = asdict(self)
        return {**{k: v for k, v in out.items() if k != "plan"}, **out["plan"]}


def variant_count(task: Task, cfg: RunConfig) -> int:
    k = (cfg.variants.k if cfg.variants else None) or task.facts.k
    if task.facts.max_k is not None and k > task.facts.max_k:
        raise UserError(f"{task.name} can make at most {task.facts.max_k} prompt variants, --k {k} asked for")
    return k


def reliability_temperature(task: Task, cfg: RunConfig) -> float:
    return (cfg.method.temperature if cfg.method else None) or task.facts.temperature


def run_name(task: Task, method: Method, cfg: RunConfig, pattern: str | None = None) -> str:
    """A method's output stem (its run_name pattern, or `pattern`) for this run's models and sampling flag."""
    pattern = pattern if pattern is not None else method.settings(task.facts).run_name
    return pattern.format(ds=task.name_stem, weak=weak_slug(cfg.weak_name, cfg.weak_sft_variants),
                          strong=model_slug(cfg.strong_name),
                          sampling=cfg.do_sampling)


def resolve_settings(task: Task, method: Method, cfg: RunConfig) -> Settings:
    """The run's settings: the flags, else the method's defaults with the dataset's overrides (§5-§6)."""
    defaults = method.settings(task.facts)
    name = run_name(task, method, cfg)
    return Settings(method=method.key, run_name=name,
                    adapter_name=run_name(task, method, cfg, defaults.adapter_name) if defaults.adapter_name else name,
                    train_fraction=cfg.train.train_fraction or getattr(task.facts, defaults.fraction),
                    sampling=getattr(task.facts, defaults.sampling) if defaults.sampling else None,
                    k=variant_count(task, cfg) if cfg.variants is not None else None,
                    temperature=reliability_temperature(task, cfg) if cfg.method is not None else None,
                    plan=train_plan(task, method, cfg))


def train_plan(task: Task, method: Method, cfg: RunConfig) -> TrainPlan:
    """The concrete training settings of a run (§6). --loss_normalisation original takes the original's
    per-device batch and loss for the method: SFT runs 1 x 24 with the per-micro-batch answer-token mean, RW 2 x 12
    (ETHICS 1 x 24) with the mean over all B·(L−1) positions, ETHICS ceiling 1 x 20; EOS is never trained."""
    t = cfg.train
    original = t.loss_normalisation == "original"
    defaults = method.settings(task.facts)
    batching = defaults.batching
    micro = t.micro_batch_size or (batching.micro if original else defaults.micro_batch or DEFAULT_MICRO_BATCH)
    effective = t.effective_batch_size or (batching.micro * batching.accumulation if original
                                           else DEFAULT_EFFECTIVE_BATCH)
    micro, accumulation = accumulation_plan(micro, effective, distributed.world_size())
    return TrainPlan(lr=t.lr, epochs=t.epochs, micro_batch_size=micro, accumulation_steps=accumulation,
                     max_length=t.max_length or task.facts.max_length,
                     normalisation=defaults.original_loss if original else "answer_tokens",
                     step_token_mean=not original, train_eos=not original,
                     precision=resolve_precision(cfg.run.precision), lora_r=t.lora_r, lora_alpha=t.lora_alpha,
                     lora_dropout=t.lora_dropout,
                     lora_target_modules=tuple(t.lora_target_modules) if t.lora_target_modules else None,
                     seed=cfg.run.seed, save_steps=t.save_steps, resume=t.resume, group_by_length=t.group_by_length,
                     logging_steps=t.logging_steps, loss=method.loss)


def batch_size(cfg: RunConfig, query: bool = False) -> int:
    """Prompts per generate() call: the flag, else the device's default (config.GENERATION_BATCH)."""
    import torch

    flag = cfg.query.query_batch_size if query and cfg.query else None
    return flag or cfg.eval.eval_batch_size or GENERATION_BATCH["cuda" if torch.cuda.is_available() else "cpu"]


# ---- small helpers shared by the stages ----

def begin_stage(task: Task, cfg: RunConfig) -> Pools:
    """Join the process group if launched so, seed everything, check the output folders are writable (before
    any hour of work), load the pools."""
    distributed.init()
    seed_everything(cfg.run.seed)
    if cfg.variants is not None:
        variant_count(task, cfg)  # an impossible --k fails now, not after the data is loaded
    root = output_root(task, cfg)
    if distributed.is_main():
        for folder in ("results", "cache", "models"):
            probe = root / folder / ".write-test"
            try:
                probe.parent.mkdir(parents=True, exist_ok=True)
                probe.write_text("")
                probe.unlink()
            except OSError as err:
                raise UserError(f"cannot write {folder} under {root}: {err.strerror}; choose another --output_dir")
    return load_pools(task, cfg)


def load_pools(task: Task, cfg: RunConfig) -> Pools:
    """The dataset's pools, each cut to its first --train_limit / --transfer_limit / --test_limit rows, or
    --limit (the pools are already in the dataset's order: shuffled where the recipe shuffles)."""
    pools = task.load_pools(cfg.run.seed)
    r = cfg.run

    def cut(frame, limit):
        limit = limit or r.limit
        return frame if limit is None else frame.head(limit).reset_index(drop=True)

    pools = Pools(cut(pools.train, r.train_limit), cut(pools.transfer, r.transfer_limit), cut(pools.test, r.test_limit),
                  pools.source)
    if distributed.is_main():
        print(f"data: {pools.source} | train {len(pools.train)}, transfer {len(pools.transfer)}, "
              f"test {len(pools.test)}")
    return pools


def head_fraction(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The first `fraction` of the rows (at least one), as the original's np.split at int(fraction * n) (§5)."""
    return frame.iloc[: max(1, int(fraction * len(frame)))]


def weak_adapter_dir(task: Task, cfg: RunConfig) -> Path:
    """The weak supervisor's adapter folder (its method's adapter name, for this run's weak model)."""
    weak = WeakSupervisor()
    return output_root(task, cfg) / "models" / run_name(task, weak, cfg, weak.settings(task.facts).adapter_name)


def weak_identity(task: Task, cfg: RunConfig, max_new_tokens: int) -> dict:
    """What makes a cached weak answer valid: the model, the adapter's exact weights and the decoding settings."""
    adapter = weak_adapter_dir(task, cfg)
    weights = adapter / "adapter_model.safetensors"
    if not weights.exists():
        raise UserError(f"weak supervisor adapter {adapter} not found: run {task.name}/"
                        f"{WeakSupervisor().script_in(task.folder)} --weak_model_name {cfg.weak_name}"
                        + (" --weak_sft_variants" if cfg.weak_sft_variants else "")
                        + " (with the same --output_dir) first")
    return {"dataset": task.name, "weak_model": cfg.weak_name,
            "weak_model_path": resolve_model_path(cfg.weak_name, cfg.weak.weak_model_path),
            "adapter_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "max_new_tokens": max_new_tokens,
            "do_sample": cfg.eval.do_sample, "seed": cfg.run.seed, "dtype": str(inference_dtype(cfg.run.precision)),
            "answer": "in-context, cut at markers"}


def query_weak(task: Task, cfg: RunConfig, prompts: list[str], max_new_tokens: int, cache_name: str) -> list[str]:
    """Weak-supervisor answers to `prompts`, resumable through `cache/{cache_name}.jsonl` (the model is loaded
    only if some answer is not cached)."""
    identity = weak_identity(task, cfg, max_new_tokens)

    def load():
        return load_model_and_tokenizer(identity["weak_model_path"], str(weak_adapter_dir(task, cfg)),
                                        inference_dtype(cfg.run.precision), cfg.run.device_map)

    cache = output_root(task, cfg) / "cache" / f"{cache_name}.jsonl"
    return cached_generate(load, prompts, cache, identity, max_new_tokens, batch_size(cfg, query=True),
                           cfg.eval.do_sample)


def evaluate_and_save(task: Task, cfg: RunConfig, model, tokenizer, test: pd.DataFrame, stem: str,
                      extra: dict) -> dict:
    """Test accuracy of `model`; writes results/{stem}.txt, .json and _predictions.csv, prints a summary."""
    rows = list(test.itertuples(index=False))
    prompts = [task.eval_prompt(row) for row in rows]
    labels = [task.eval_label(row) for row in rows]
    outputs = generate_sharded(model, tokenizer, prompts, task.facts.eval_tokens, batch_size(cfg),
                               cfg.eval.do_sample, "evaluating")
    predictions = [task.parse_eval(output, row) for output, row in zip(outputs, rows)]
    metrics = score_predictions(labels, predictions, task.facts.metrics == "accuracy_and_report")
    results_dir = output_root(task, cfg) / "results"
    if distributed.is_main():
        write_results(results_dir, stem, metrics, cfg.to_dict(), {"dataset": task.name, **extra})
        write_csv_atomic(pd.DataFrame({"label": labels, "prediction": predictions, "output": outputs}),
                         results_dir / f"{stem}_predictions.csv")
        print(f"{stem}: accuracy {metrics['accuracy']:.4f} on {metrics['n']} test questions "
              f"-> {results_dir / (stem + '.txt')}")
    return metrics


def train_save_evaluate(task: Task, cfg: RunConfig, method: Method, settings: Settings, examples: list[Example],
                        pools: Pools, extra: dict) -> dict:
    """LoRA-train the method's model on `examples`, save the adapter as models/{settings.adapter_name}, its loss
    curve as results/{run name}_loss.{csv,png}, and test it into results/{run name}. The results .json records
    the method's key and label, the sampling flag, the settings and the machine, and `extra`."""
    plan, stem = settings.plan, settings.run_name
    model, tokenizer = load_model_and_tokenizer(model_path(cfg, method.trains), dtype=training_dtype(plan.precision),
                                                device_map=cfg.run.device_map)
    adapter = output_root(task, cfg) / "models" / settings.adapter_name
    model, log, trained = train_lora(model, tokenizer, examples, plan, adapter.parent / "checkpoints" / adapter.name)
    save_adapter(model, adapter)
    results_dir = output_root(task, cfg) / "results"
    if distributed.is_main():
        print(f"saved LoRA adapter to {adapter}")
        write_csv_atomic(log, results_dir / f"{stem}_loss.csv")
        plot_loss_curve(log, f"{method.label}: {stem}", results_dir / f"{stem}_loss")
    if cfg.run.device_map is None:
        model = model.to(inference_dtype(plan.precision))
    record = {"method": method.label, "method_key": method.key, "do_sampling": cfg.do_sampling,
              "adapter": adapter.name, "trains": method.trains, "data_source": pools.source,
              "train_examples": len(examples), "trained_examples": trained, "settings": settings.record(),
              "machine": machine_facts(), **extra}
    return evaluate_and_save(task, cfg, model, tokenizer, pools.test, stem, record)


def model_path(cfg: RunConfig, role: str) -> str:
    if role == "weak":
        return resolve_model_path(cfg.weak.weak_model_name, cfg.weak.weak_model_path)
    return resolve_model_path(cfg.strong.strong_model_name, cfg.strong.strong_model_path)
