"""The five stages of the method, written once for every dataset: each entry script calls one of these.

weak supervisor -> naive W2S / ceiling -> uncertainty filtering (UF) -> reliability re-weighting (RW).
Outputs land under the run's output folder (the dataset folder by default) with the original names:
`models/` (LoRA adapters), `results/` (.txt, .json, per-question predictions), the weak-label CSVs, and
`cache/` (the resumable weak-answer caches).
"""
import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd

from .config import RunConfig
from .data import read_csv_checked
from .errors import UserError
from .evaluation import score_predictions
from .generation import cached_generate, generate
from .models import load_model_and_tokenizer, model_slug, resolve_model_path
from .reliability import (add_question_statistics, filter_by_entropy, median_threshold, sample_rows)
from .results import write_csv_atomic, write_results
from .seeding import seed_everything
from .task import Pools, Task
from .training import TrainConfig, save_adapter, train_lora


# ---- small helpers shared by the stages ----

def output_root(task: Task, cfg: RunConfig) -> Path:
    """Where the run writes: --output_dir, or the dataset folder as the original."""
    return Path(cfg.output_dir) if cfg.output_dir else task.folder


def begin_stage(task: Task, cfg: RunConfig) -> tuple[dict[str, str], Pools]:
    """Seed everything, check the output folder is writable (before any hour of work), load the pools."""
    seed_everything(cfg.seed)
    root = output_root(task, cfg)
    probe = root / "results" / ".write-test"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write results under {root}: {err.strerror}; choose another --output_dir")
    return run_names(task, cfg), load_pools(task, cfg)


def run_names(task: Task, cfg: RunConfig) -> dict[str, str]:
    return task.names(model_slug(cfg.weak_model_name), model_slug(cfg.strong_model_name), cfg.do_sampling)


def load_pools(task: Task, cfg: RunConfig) -> Pools:
    """The dataset's pools, each cut to the first `cfg.limit` rows (the pools are already shuffled)."""
    pools = task.load_pools(cfg.seed)
    if cfg.limit is not None:
        pools = Pools(*(p.head(cfg.limit).reset_index(drop=True) for p in (pools.train, pools.transfer, pools.test)),
                      source=pools.source)
    print(f"data: {pools.source} | train {len(pools.train)}, transfer {len(pools.transfer)}, test {len(pools.test)}")
    return pools


def head_fraction(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The first `fraction` of the rows (at least one), as the original's np.split at int(fraction * n)."""
    return frame.iloc[: max(1, int(fraction * len(frame)))]


def train_config(task: Task, cfg: RunConfig) -> TrainConfig:
    """The run's TrainConfig with the run seed and, unless set, the dataset's max length filled in."""
    return replace(cfg.train, seed=cfg.seed, max_length=cfg.train.max_length or task.max_length)


def weak_adapter_dir(task: Task, cfg: RunConfig) -> Path:
    return output_root(task, cfg) / "models" / run_names(task, cfg)["weak_adapter"]


def weak_identity(task: Task, cfg: RunConfig, max_new_tokens: int) -> dict:
    """What makes a cached weak answer valid: the model, the adapter's exact weights and the decoding settings."""
    adapter = weak_adapter_dir(task, cfg)
    weights = adapter / "adapter_model.safetensors"
    if not weights.exists():
        raise UserError(f"weak supervisor adapter {adapter} not found: run "
                        f"create_weak_supervisor_on_{task.name}.py --weak_model_name {cfg.weak_model_name} first")
    return {"dataset": task.name, "weak_model": cfg.weak_model_name,
            "weak_model_path": resolve_model_path(cfg.weak_model_name, cfg.weak_model_path),
            "adapter_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "max_new_tokens": max_new_tokens, "do_sample": cfg.do_sample, "seed": cfg.seed}


def query_weak(task: Task, cfg: RunConfig, prompts: list[str], max_new_tokens: int, cache_name: str) -> list[str]:
    """Weak-supervisor answers to `prompts`, resumable through `cache/{cache_name}.jsonl`."""
    identity = weak_identity(task, cfg, max_new_tokens)

    def load():
        return load_model_and_tokenizer(identity["weak_model_path"], str(weak_adapter_dir(task, cfg)))

    cache = output_root(task, cfg) / "cache" / f"{cache_name}.jsonl"
    return cached_generate(load, prompts, cache, identity, max_new_tokens, cfg.query_batch_size, cfg.do_sample)


def load_strong(cfg: RunConfig):
    return load_model_and_tokenizer(resolve_model_path(cfg.strong_model_name, cfg.strong_model_path))


def evaluate_and_save(task: Task, cfg: RunConfig, model, tokenizer, test: pd.DataFrame, stem: str,
                      extra: dict) -> dict:
    """Test accuracy of `model`; writes results/{stem}.txt, .json and _predictions.csv, prints a summary."""
    rows = list(test.itertuples(index=False))
    prompts = [task.eval_prompt(row) for row in rows]
    labels = [task.eval_label(row) for row in rows]
    outputs = generate(model, tokenizer, prompts, task.eval_tokens, cfg.eval_batch_size, cfg.do_sample, "evaluating")
    predictions = [task.parse_eval(output, row) for output, row in zip(outputs, rows)]
    metrics = score_predictions(labels, predictions, task.with_report)
    results_dir = output_root(task, cfg) / "results"
    write_results(results_dir, stem, metrics, cfg.to_dict(), {"dataset": task.name, **extra})
    write_csv_atomic(pd.DataFrame({"label": labels, "prediction": predictions, "output": outputs}),
                     results_dir / f"{stem}_predictions.csv")
    print(f"{stem}: accuracy {metrics['accuracy']:.4f} on {metrics['n']} test questions "
          f"-> {results_dir / (stem + '.txt')}")
    return metrics


def train_save_evaluate(task: Task, cfg: RunConfig, model, tokenizer, prompts, completions, pools: Pools,
                        stem: str, extra: dict, weights=None, adapter_name: str | None = None) -> dict:
    """LoRA-train `model`, save the adapter as models/{adapter_name or stem}, test it into results/{stem}."""
    adapter = output_root(task, cfg) / "models" / (adapter_name or stem)
    model = train_lora(model, tokenizer, prompts, completions, train_config(task, cfg),
                       adapter.parent / "checkpoints" / adapter.name, weights)
    save_adapter(model, adapter)
    print(f"saved LoRA adapter to {adapter}")
    extra = {"data_source": pools.source, "train_examples": len(prompts), **extra}
    return evaluate_and_save(task, cfg, model, tokenizer, pools.test, stem, extra)


# ---- the five stages ----

def create_weak_supervisor(task: Task, cfg: RunConfig) -> dict:
    """LoRA-SFT the weak model on ground truth (train pool), save the adapter, report its test accuracy."""
    names, pools = begin_stage(task, cfg)
    model, tokenizer = load_model_and_tokenizer(resolve_model_path(cfg.weak_model_name, cfg.weak_model_path))
    rows = head_fraction(pools.train, task.weak_sft_fraction)
    pairs = [task.weak_sft_example(r) for r in rows.itertuples(index=False)]
    return train_save_evaluate(task, cfg, model, tokenizer, *zip(*pairs), pools, names["weak_results"],
                               {"stage": "weak_supervisor"}, adapter_name=names["weak_adapter"])


def naive_weak_to_strong(task: Task, cfg: RunConfig) -> dict:
    """Weak labels on the transfer pool (cached CSV), then LoRA-SFT the strong model on them (naive W2S)."""
    names, pools = begin_stage(task, cfg)
    transfer = pools.transfer
    tokens = cfg.query_max_new_tokens or task.naive_query_tokens
    prompts = [task.naive_query_prompt(r) for r in transfer.itertuples(index=False)]
    outputs = query_weak(task, cfg, prompts, tokens, Path(names["naive_csv"]).stem)
    labelled = transfer.assign(weak_label=[task.clean_weak_label(o) for o in outputs])
    write_csv_atomic(labelled, output_root(task, cfg) / names["naive_csv"])
    weak_correct = [task.parse_eval(w, r) == task.eval_label(r)
                    for w, r in zip(labelled["weak_label"], labelled.itertuples(index=False))]

    rows = head_fraction(labelled, task.sft_fraction)
    pairs = [task.naive_example(r, r.weak_label) for r in rows.itertuples(index=False)]
    model, tokenizer = load_strong(cfg)
    extra = {"stage": "naive_w2s", "weak_label_accuracy": sum(weak_correct) / len(weak_correct)}
    return train_save_evaluate(task, cfg, model, tokenizer, *zip(*pairs), pools, names["naive_run"], extra)


def sft_on_groundtruth(task: Task, cfg: RunConfig) -> dict:
    """The ceiling: LoRA-SFT the strong model on the transfer pool's ground truth."""
    names, pools = begin_stage(task, cfg)
    rows = head_fraction(pools.transfer, task.sft_fraction)
    pairs = [task.ceiling_example(r) for r in rows.itertuples(index=False)]
    model, tokenizer = load_strong(cfg)
    return train_save_evaluate(task, cfg, model, tokenizer, *zip(*pairs), pools, names["ceiling_run"],
                               {"stage": "ceiling"})


def weak_answers_with_entropy(task: Task, cfg: RunConfig, transfer: pd.DataFrame) -> pd.DataFrame:
    """k prompt variants per transfer question, the weak supervisor's answers, and their per-question entropy.

    Writes the original's entropy CSV (one row per variant, k consecutive rows per question) and returns it.
    """
    names = run_names(task, cfg)
    variant_rows = task.variants(transfer, cfg.seed)
    tokens = cfg.query_max_new_tokens or task.multi_query_tokens
    outputs = query_weak(task, cfg, list(variant_rows["prompt"]), tokens, Path(names["entropy_csv"]).stem)
    variant_rows = variant_rows.assign(model_output=outputs)
    variant_rows["model_pred"] = [task.answer_key(r, o) for r, o in zip(variant_rows.itertuples(index=False),
                                                                         outputs)]
    if task.uf_drops_invalid:
        variant_rows = drop_questions_with_invalid(variant_rows, task.invalid_answer)
        if variant_rows.empty:
            raise UserError("every question has an unparseable weak answer; check the weak supervisor's outputs "
                            f"in {output_root(task, cfg) / 'cache'}")
    rows = add_question_statistics(variant_rows, task.temperature)
    columns = task.entropy_columns + ["question_id"]
    csv_rows = rows.rename(columns={"model_output": task.raw_output_column})[columns]
    write_csv_atomic(csv_rows, output_root(task, cfg) / names["entropy_csv"])
    return rows


def drop_questions_with_invalid(rows: pd.DataFrame, invalid) -> pd.DataFrame:
    """The rows of the questions none of whose answers is the `invalid` marker."""
    has_invalid = rows.groupby("question_id")["model_pred"].transform(lambda a: (a == invalid).any())
    return rows[~has_invalid.astype(bool)]


def multi_query_example(row) -> tuple[str, str]:
    """UF and RW train on the variant prompt followed by a space and the weak model's raw output."""
    return row.prompt, " " + str(row.model_output)


def uncertainty_filtering(task: Task, cfg: RunConfig) -> dict:
    """UF: keep the rows whose answer entropy is <= the median, LoRA-SFT the strong model on them."""
    names, pools = begin_stage(task, cfg)
    rows = weak_answers_with_entropy(task, cfg, pools.transfer)
    if (rows["model_pred"] == task.invalid_answer).all():
        raise UserError("no weak answer could be parsed: check the weak supervisor (its outputs are in "
                        f"{output_root(task, cfg) / names['entropy_csv']})")
    threshold = median_threshold(rows["entropy"])
    kept = filter_by_entropy(rows, threshold)
    if kept.empty:
        raise UserError("the entropy filter kept no rows")
    if cfg.do_sampling:
        n = task.uf_sample_size(len(rows), rows["question_id"].nunique())
        kept = sample_rows(kept, n, task.uf_sampling_replace, cfg.seed)
    kept = head_fraction(kept.sample(frac=1, random_state=cfg.seed), task.uf_fraction)
    print(f"UF: threshold {threshold:.6f}, {len(kept)} of {len(rows)} rows to train on")
    pairs = [multi_query_example(r) for r in kept.itertuples(index=False)]
    model, tokenizer = load_strong(cfg)
    extra = {"stage": "uncertainty_filtering", "entropy_threshold": threshold, "rows_total": len(rows),
             "rows_kept": int((rows["entropy"] <= threshold + 1e-9).sum())}
    return train_save_evaluate(task, cfg, model, tokenizer, *zip(*pairs), pools, names["uf_run"], extra)


def read_entropy_csv(task: Task, cfg: RunConfig) -> pd.DataFrame:
    path = output_root(task, cfg) / run_names(task, cfg)["entropy_csv"]
    if not path.exists():
        raise UserError(f"{path} not found: run our_method_uncertainty_filtering.py with the same "
                        "--weak_model_name (and --output_dir) first; re-weighting reuses its weak answers")
    return read_entropy_csv_at(task, path)


def read_entropy_csv_at(task: Task, path: Path) -> pd.DataFrame:
    """An entropy CSV as the pipelines use it: checked, the raw output under `model_output`, `model_pred` as text
    (keep_default_na=False: the invalid marker "None" must stay a string, not become NaN)."""
    rows = read_csv_checked(path, task.entropy_columns + ["question_id"], keep_default_na=False,
                            dtype={"model_pred": str})
    return rows.rename(columns={task.raw_output_column: "model_output"})


def reweighting_rows(task: Task, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows RW trains on, with their `answer_score`: every row of the entropy CSV, less the questions with an
    unparseable answer where the dataset drops them (SPEC B §1.5). The reliability notebook uses this too."""
    if task.rw_drops_invalid:
        rows = drop_questions_with_invalid(rows, str(task.invalid_answer))
    if rows.empty:
        raise UserError("every question has an unparseable weak answer; nothing to re-weight")
    return add_question_statistics(rows, task.temperature)


def reliability_reweighting(task: Task, cfg: RunConfig) -> dict:
    """RW: every (variant, weak answer) row, its loss weighted by the softmax reliability score of its answer."""
    names, pools = begin_stage(task, cfg)
    rows = reweighting_rows(task, read_entropy_csv(task, cfg))
    if cfg.do_sampling:
        n = task.rw_sample_size(len(rows), len(pools.transfer))
        rows = sample_rows(rows, n, task.rw_sampling_replace, cfg.seed)
    rows = rows.sample(frac=1, random_state=cfg.seed)
    print(f"RW: {len(rows)} rows, mean reliability score {rows['answer_score'].mean():.4f}")
    pairs = [multi_query_example(r) for r in rows.itertuples(index=False)]
    model, tokenizer = load_strong(cfg)
    extra = {"stage": "reweighting", "rows": len(rows), "mean_answer_score": float(rows["answer_score"].mean())}
    return train_save_evaluate(task, cfg, model, tokenizer, *zip(*pairs), pools, names["rw_run"], extra,
                               weights=list(rows["answer_score"]))
