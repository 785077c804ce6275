"""The five stages of the method, written once for every dataset; each entry script runs one of them.

weak supervisor -> naive W2S / ceiling -> uncertainty filtering (UF) -> reliability re-weighting (RW).
Outputs land under the run's output folder (the dataset folder by default, OUTPUT_DIR/<dataset> with
--output_dir) with the original names: `models/` (LoRA adapters), `results/` (.txt, .json, per-question
predictions, loss curves), the weak-label CSVs, and `cache/` (the resumable weak-answer caches).
docs/method.md states the method; the § numbers below point there.
"""
import hashlib
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from . import distributed
from .config import DEFAULT_EFFECTIVE_BATCH, DEFAULT_MICRO_BATCH, GENERATION_BATCH, RunConfig
from .data import read_csv_checked
from .errors import UserError
from .evaluation import score_predictions
from .figures import plot_loss_curve
from .generation import cached_generate, generate_sharded
from .models import (inference_dtype, load_model_and_tokenizer, machine_facts, model_slug, resolve_model_path,
                     resolve_precision, training_dtype)
from .reliability import add_question_statistics, filter_by_entropy, median_threshold, sample_rows
from .results import write_csv_atomic, write_results
from .seeding import seed_everything
from .tasks import ENTROPY_CORE, ENTROPY_TEXT_COLUMNS, METHOD_NAMES, InvalidAnswers, Pools, Task, output_root
from .training import Example, TrainPlan, accumulation_plan, save_adapter, train_lora



# ------------------------------------------------------------------------------------------ resolved settings

def run_names(task: Task, cfg: RunConfig) -> dict[str, str]:
    return task.output_names(model_slug(cfg.weak_name), model_slug(cfg.strong_name), cfg.do_sampling)


def variant_count(task: Task, cfg: RunConfig) -> int:
    k = (cfg.variants.k if cfg.variants else None) or task.facts.k
    if task.facts.max_k is not None and k > task.facts.max_k:
        raise UserError(f"{task.name} can make at most {task.facts.max_k} prompt variants, --k {k} asked for")
    return k


def reliability_temperature(task: Task, cfg: RunConfig) -> float:
    return (cfg.method.temperature if cfg.method else None) or task.facts.temperature


def train_fraction(task: Task, cfg: RunConfig) -> float:
    """The share of this stage's rows trained on: --train_fraction, else the dataset's for the stage (§5)."""
    by_stage = {"weak": task.facts.weak_sft_fraction, "naive": task.facts.sft_fraction,
                "ceiling": task.facts.sft_fraction, "uf": task.facts.method_fraction, "rw": task.facts.method_fraction}
    return cfg.train.train_fraction or by_stage[cfg.stage]


def train_plan(task: Task, cfg: RunConfig) -> TrainPlan:
    """The concrete training settings of this stage (§6). --loss_normalisation original takes the original's
    per-device batch and loss for the stage: SFT runs 1 x 24 with the per-micro-batch answer-token mean, RW 2 x 12
    (ETHICS 1 x 24) with the mean over all B·(L−1) positions, ETHICS ceiling 1 x 20; EOS is never trained."""
    t = cfg.train
    original = t.loss_normalisation == "original"
    batching = task.facts.original_batching(cfg.stage)
    micro = t.micro_batch_size or (batching.micro if original else DEFAULT_MICRO_BATCH)
    effective = t.effective_batch_size or (batching.micro * batching.accumulation if original
                                           else DEFAULT_EFFECTIVE_BATCH)
    micro, accumulation = accumulation_plan(micro, effective, distributed.world_size())
    return TrainPlan(lr=t.lr, epochs=t.epochs, micro_batch_size=micro, accumulation_steps=accumulation,
                     max_length=t.max_length or task.facts.max_length,
                     normalisation="all_positions" if original and cfg.stage == "rw" else "answer_tokens",
                     step_token_mean=not original, train_eos=not original,
                     precision=resolve_precision(cfg.run.precision), lora_r=t.lora_r, lora_alpha=t.lora_alpha,
                     lora_dropout=t.lora_dropout,
                     lora_target_modules=tuple(t.lora_target_modules) if t.lora_target_modules else None,
                     seed=cfg.run.seed, save_steps=t.save_steps, resume=t.resume, group_by_length=t.group_by_length,
                     logging_steps=t.logging_steps)


def batch_size(cfg: RunConfig, query: bool = False) -> int:
    """Prompts per generate() call: the flag, else the device's default (config.GENERATION_BATCH)."""
    import torch

    flag = cfg.query.query_batch_size if query and cfg.query else None
    return flag or cfg.eval.eval_batch_size or GENERATION_BATCH["cuda" if torch.cuda.is_available() else "cpu"]


# ---- small helpers shared by the stages ----

def begin_stage(task: Task, cfg: RunConfig) -> tuple[dict[str, str], Pools]:
    """Join the process group if launched so, seed everything, check the output folder is writable (before any
    hour of work), load the pools."""
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
    return run_names(task, cfg), load_pools(task, cfg)


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
    return output_root(task, cfg) / "models" / run_names(task, cfg)["weak_adapter"]


def weak_identity(task: Task, cfg: RunConfig, max_new_tokens: int) -> dict:
    """What makes a cached weak answer valid: the model, the adapter's exact weights and the decoding settings."""
    adapter = weak_adapter_dir(task, cfg)
    weights = adapter / "adapter_model.safetensors"
    if not weights.exists():
        raise UserError(f"weak supervisor adapter {adapter} not found: run {task.name}/{task.script('weak')} "
                        f"--weak_model_name {cfg.weak_name} (with the same --output_dir) first")
    return {"dataset": task.name, "weak_model": cfg.weak_name,
            "weak_model_path": resolve_model_path(cfg.weak_name, cfg.weak.weak_model_path),
            "adapter_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "max_new_tokens": max_new_tokens,
            "do_sample": cfg.eval.do_sample, "seed": cfg.run.seed, "dtype": str(inference_dtype(cfg.run.precision)),
            "answer": "in-context, cut at markers"}


def query_weak(task: Task, cfg: RunConfig, prompts: list[str], max_new_tokens: int, cache_name: str) -> list[str]:
    """Weak-supervisor answers to `prompts`, resumable through `cache/{cache_name}.jsonl`."""
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


def train_save_evaluate(task: Task, cfg: RunConfig, model_path: str, examples: list[Example], pools: Pools,
                        stem: str, extra: dict, adapter_name: str | None = None) -> dict:
    """LoRA-train the model at `model_path` on `examples`, save the adapter as models/{adapter_name or stem}, its
    loss curve as results/{stem}_loss.{csv,png}, and test it into results/{stem}."""
    plan = train_plan(task, cfg)
    model, tokenizer = load_model_and_tokenizer(model_path, dtype=training_dtype(plan.precision),
                                                device_map=cfg.run.device_map)
    adapter = output_root(task, cfg) / "models" / (adapter_name or stem)
    model, log, trained = train_lora(model, tokenizer, examples, plan, adapter.parent / "checkpoints" / adapter.name)
    save_adapter(model, adapter)
    results_dir = output_root(task, cfg) / "results"
    if distributed.is_main():
        print(f"saved LoRA adapter to {adapter}")
        write_csv_atomic(log, results_dir / f"{stem}_loss.csv")
        plot_loss_curve(log, f"{METHOD_NAMES[method_key(cfg)]}: {stem}", results_dir / f"{stem}_loss")
    if cfg.run.device_map is None:
        model = model.to(inference_dtype(plan.precision))
    settings = {**asdict(plan), "train_fraction": train_fraction(task, cfg)}
    if cfg.method is not None:
        settings["temperature"] = reliability_temperature(task, cfg)
    if cfg.variants is not None:
        settings["k"] = variant_count(task, cfg)
    extra = {"method": METHOD_NAMES[method_key(cfg)], "adapter": adapter.name, "data_source": pools.source,
             "train_examples": len(examples), "trained_examples": trained, "settings": settings,
             "machine": machine_facts(), **extra}
    return evaluate_and_save(task, cfg, model, tokenizer, pools.test, stem, extra)


def method_key(cfg: RunConfig) -> str:
    """The key of this run's method in METHOD_NAMES: the stage, or "ul" for re-weighting with unlikelihood."""
    return "ul" if cfg.stage == "rw" and cfg.unlikelihood.weight_unlike > 0 else cfg.stage


def model_path(cfg: RunConfig, role: str) -> str:
    if role == "weak":
        return resolve_model_path(cfg.weak.weak_model_name, cfg.weak.weak_model_path)
    return resolve_model_path(cfg.strong.strong_model_name, cfg.strong.strong_model_path)


# ----------------------------------------------------------------------------------------------- the stages

def create_weak_supervisor(task: Task, cfg: RunConfig) -> dict:
    """LoRA-SFT the weak model on ground truth (the train pool), save the adapter, report its test accuracy."""
    names, pools = begin_stage(task, cfg)
    rows = head_fraction(pools.train, train_fraction(task, cfg))
    examples = [Example(*task.weak_sft_example(r)) for r in rows.itertuples(index=False)]
    return train_save_evaluate(task, cfg, model_path(cfg, "weak"), examples, pools, names["weak_results"],
                               {"stage": "weak_supervisor"}, adapter_name=names["weak_adapter"])


def naive_weak_to_strong(task: Task, cfg: RunConfig) -> dict:
    """Weak labels on the transfer pool (cached CSV), then LoRA-SFT the strong model on them (naive W2S)."""
    names, pools = begin_stage(task, cfg)
    transfer = pools.transfer
    tokens = cfg.query.query_max_new_tokens or task.facts.naive_query_tokens
    prompts = [task.naive_query_prompt(r) for r in transfer.itertuples(index=False)]
    outputs = query_weak(task, cfg, prompts, tokens, Path(names["naive_csv"]).stem)
    labelled = transfer.assign(weak_label=[task.clean_weak_label(o) for o in outputs])
    if distributed.is_main():
        write_csv_atomic(labelled, output_root(task, cfg) / names["naive_csv"])
    weak_correct = [task.parse_eval(w, r) == task.eval_label(r)
                    for w, r in zip(labelled["weak_label"], labelled.itertuples(index=False))]
    rows = head_fraction(labelled, train_fraction(task, cfg))
    examples = [Example(*task.naive_example(r, r.weak_label)) for r in rows.itertuples(index=False)]
    extra = {"stage": "naive_w2s", "weak_label_accuracy": sum(weak_correct) / len(weak_correct)}
    return train_save_evaluate(task, cfg, model_path(cfg, "strong"), examples, pools, names["naive_run"], extra)


def sft_on_groundtruth(task: Task, cfg: RunConfig) -> dict:
    """The ceiling: LoRA-SFT the strong model on the transfer pool's ground truth."""
    names, pools = begin_stage(task, cfg)
    rows = head_fraction(pools.transfer, train_fraction(task, cfg))
    examples = [Example(*task.ceiling_example(r)) for r in rows.itertuples(index=False)]
    return train_save_evaluate(task, cfg, model_path(cfg, "strong"), examples, pools, names["ceiling_run"],
                               {"stage": "ceiling"})


def entropy_csv_columns(task: Task) -> list[str]:
    """The entropy CSV's columns: question_id, the dataset's original columns, then the fixed core."""
    return [ENTROPY_CORE[0], *task.facts.entropy_extra_columns, *ENTROPY_CORE[1:]]


def weak_answers_with_entropy(task: Task, cfg: RunConfig, transfer: pd.DataFrame) -> pd.DataFrame:
    """k prompt variants per transfer question, the weak supervisor's answers, their per-question entropy and
    reliability scores (§2-§4). Writes the entropy CSV (k consecutive rows per question) and returns its rows."""
    names = run_names(task, cfg)
    variant_rows = task.variants(transfer, variant_count(task, cfg), cfg.run.seed)
    tokens = cfg.query.query_max_new_tokens or task.facts.multi_query_tokens
    outputs = query_weak(task, cfg, list(variant_rows["prompt"]), tokens, Path(names["entropy_csv"]).stem)
    variant_rows = variant_rows.assign(model_output=outputs)
    variant_rows["model_pred"] = [task.answer_key(r, o) for r, o in zip(variant_rows.itertuples(index=False),
                                                                         outputs)]
    if task.facts.invalid_answers is InvalidAnswers.DROP_THE_QUESTION:
        variant_rows = drop_questions_with_invalid(variant_rows, task.facts.invalid_answer)
        if variant_rows.empty:
            raise UserError("every question has an unparseable weak answer; check the weak supervisor's outputs "
                            f"in {output_root(task, cfg) / 'cache'}")
    rows = add_question_statistics(variant_rows, reliability_temperature(task, cfg))[entropy_csv_columns(task)]
    if distributed.is_main():
        write_csv_atomic(rows, output_root(task, cfg) / names["entropy_csv"])
    return rows


def drop_questions_with_invalid(rows: pd.DataFrame, invalid: str) -> pd.DataFrame:
    """The rows of the questions none of whose answers is the `invalid` marker."""
    has_invalid = rows.groupby("question_id")["model_pred"].transform(lambda a: (a == invalid).any())
    return rows[~has_invalid.astype(bool)]


def weak_answer_accuracy(rows: pd.DataFrame) -> float:
    """The share of rows whose weak answer key equals the gold one."""
    return float((rows["model_pred"] == rows["gold"]).mean()) if len(rows) else float("nan")


def multi_query_example(task: Task, row, weight: float = 1.0, unlikely: bool = False) -> Example:
    """UF and RW train on the variant prompt and the weak model's output (the original: a space and the raw
    output, §4; a dataset may format it otherwise, Task.multi_query_completion)."""
    return Example(row.prompt, task.multi_query_completion(str(row.model_output)), weight, unlikely)


def shuffle_and_cut(rows: pd.DataFrame, task: Task, cfg: RunConfig) -> pd.DataFrame:
    """The original's last step before training UF and RW: shuffle the rows, keep the first 80 % (MMLU 90 %)."""
    return head_fraction(rows.sample(frac=1, random_state=cfg.run.seed), train_fraction(task, cfg))


def uncertainty_filtering(task: Task, cfg: RunConfig) -> dict:
    """UF: keep the rows whose answer entropy is <= the median, LoRA-SFT the strong model on them (§4)."""
    names, pools = begin_stage(task, cfg)
    rows = weak_answers_with_entropy(task, cfg, pools.transfer)
    if (rows["model_pred"] == task.facts.invalid_answer).all():
        raise UserError("no weak answer could be parsed: check the weak supervisor (its outputs are in "
                        f"{output_root(task, cfg) / names['entropy_csv']})")
    threshold = median_threshold(rows["entropy"])
    kept = filter_by_entropy(rows, threshold)
    kept_before_sampling = kept
    if cfg.do_sampling:
        questions = rows["question_id"].nunique()
        rule = task.facts.uf_sampling
        kept = sample_rows(kept, rule.size(questions, questions), rule.with_replacement, cfg.run.seed)
    kept = shuffle_and_cut(kept, task, cfg)
    if distributed.is_main():
        print(f"UF: threshold {threshold:.6f}, {len(kept_before_sampling)} of {len(rows)} rows kept, {len(kept)} "
              f"trained on; weak answers right: {weak_answer_accuracy(rows):.4f} of all rows, "
              f"{weak_answer_accuracy(kept_before_sampling):.4f} of the kept")
    extra = {"stage": "uncertainty_filtering", "entropy_threshold": threshold,
             "rows_total": len(rows), "rows_kept": len(kept_before_sampling),
             "weak_answer_accuracy_all": weak_answer_accuracy(rows),
             "weak_answer_accuracy_kept": weak_answer_accuracy(kept_before_sampling)}
    examples = [multi_query_example(task, r) for r in kept.itertuples(index=False)]
    return train_save_evaluate(task, cfg, model_path(cfg, "strong"), examples, pools, names["uf_run"], extra)


def read_entropy_csv(task: Task, cfg: RunConfig) -> pd.DataFrame:
    path = output_root(task, cfg) / run_names(task, cfg)["entropy_csv"]
    if not path.exists():
        raise UserError(f"{path} not found: run {task.name}/{task.script('uf')} with the same "
                        "--weak_model_name (and --output_dir) first; re-weighting reuses its weak answers")
    return read_entropy_csv_at(task, path)


def read_entropy_csv_at(task: Task, path: Path) -> pd.DataFrame:
    """An entropy CSV as written: the text columns stay text (keep_default_na=False, so the invalid marker "None"
    is not read as NaN)."""
    return read_csv_checked(path, entropy_csv_columns(task), keep_default_na=False,
                            dtype={c: str for c in ENTROPY_TEXT_COLUMNS})


def reweighting_rows(task: Task, rows: pd.DataFrame, temperature: float | None) -> pd.DataFrame:
    """The rows RW trains on, with their `answer_score`: every row of the entropy CSV, less the questions with an
    unparseable answer where the dataset drops them (§4), scored at `temperature` (None: keep the CSV's scores).
    The reliability notebook uses this too."""
    if task.facts.invalid_answers is InvalidAnswers.CLASS_IN_UF_QUESTION_DROPPED_IN_RW:
        rows = drop_questions_with_invalid(rows, task.facts.invalid_answer)
    if rows.empty:
        raise UserError("every question has an unparseable weak answer; nothing to re-weight")
    return rows if temperature is None else add_question_statistics(rows, temperature)


def reliability_reweighting(task: Task, cfg: RunConfig) -> dict:
    """RW: every (variant, weak answer) row, its loss weighted by the softmax reliability score of its answer
    (§4); with --weight_unlike > 0, rows scored below --unlike_threshold are trained by unlikelihood (§7)."""
    names, pools = begin_stage(task, cfg)
    read = read_entropy_csv(task, cfg)
    rows = reweighting_rows(task, read, reliability_temperature(task, cfg))
    if cfg.do_sampling:
        rule = task.facts.rw_sampling
        n = rule.size(read["question_id"].nunique(), rows["question_id"].nunique())
        rows = sample_rows(rows, n, rule.with_replacement, cfg.run.seed)
    rows = shuffle_and_cut(rows, task, cfg)
    ul = cfg.unlikelihood
    unlikely = rows["answer_score"] < ul.unlike_threshold if ul.weight_unlike > 0 else pd.Series(False, rows.index)
    weights = rows["answer_score"].where(~unlikely, ul.weight_unlike)
    examples = [multi_query_example(task, r, w, u)
                for r, w, u in zip(rows.itertuples(index=False), weights, unlikely)]
    if distributed.is_main():
        print(f"RW: {len(rows)} rows, mean reliability score {rows['answer_score'].mean():.4f}"
              + (f", {int(unlikely.sum())} trained by unlikelihood" if ul.weight_unlike > 0 else ""))
    extra = {"stage": "reweighting", "rows": len(rows),
             "mean_answer_score": float(rows["answer_score"].mean()), "unlikelihood_rows": int(unlikely.sum()),
             "weak_answer_accuracy_all": weak_answer_accuracy(rows),
             "weak_answer_accuracy_unlikely": weak_answer_accuracy(rows[unlikely])}
    stem = names["ul_run"] if ul.weight_unlike > 0 else names["rw_run"]
    return train_save_evaluate(task, cfg, model_path(cfg, "strong"), examples, pools, stem, extra)


STAGE_FUNCTIONS = {"weak": create_weak_supervisor, "naive": naive_weak_to_strong, "ceiling": sft_on_groundtruth,
                   "uf": uncertainty_filtering, "rw": reliability_reweighting}
