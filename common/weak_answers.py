"""The weak supervisor's answers on the transfer pool, owned in one place.

- **Weak labels**: one answer per transfer question to the naive prompt (naive W2S trains on them). Written as the
  weak-label CSV (the pool plus `weak_label`).
- **Variant answers**: k prompt variants per question (the dataset's `Task.variants`), the weak model's answer to
  each, its answer key, the question's entropy and each answer's reliability score (§2-§4). Written as the entropy
  CSV, k consecutive rows per question, columns `entropy_csv_columns`.

Both are produced on demand by whichever method needs them first and resumable: every answer is cached in
`cache/<csv stem>.jsonl` under the weak model's identity (common/generation.py), so a later method, or the same
one re-run, asks the weak model nothing twice (re-weighting no longer needs uncertainty filtering to have run).
- **Weak confidence**: the weak model's own probability of its naive answer, from that one query (the
  confidence methods' signal), cached in `cache/<weak-label csv stem>_confidence.json`.

The keep rule of uncertainty filtering and the rows re-weighting trains on are here too: the methods, the
replication report, the figures and the notebooks all apply these functions.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from . import distributed
from .config import RunConfig
from .data import Example, read_csv_checked
from .errors import UserError
from .models import weak_slug
from .pipelines import query_weak, reliability_temperature, variant_count
from .reliability import add_question_statistics, filter_by_entropy, median_threshold
from .results import write_atomic_text, write_csv_atomic
from .tasks import InvalidAnswers, Task, output_root

# the entropy CSV's fixed columns; every dataset adds its `entropy_extra_columns` after question_id
ENTROPY_CORE = ("question_id", "prompt", "model_output", "model_pred", "gold", "entropy", "answer_score")
ENTROPY_TEXT_COLUMNS = ("prompt", "model_output", "model_pred", "gold")


def entropy_csv_columns(task: Task) -> list[str]:
    """The entropy CSV's columns: question_id, the dataset's original columns, then the fixed core."""
    return [ENTROPY_CORE[0], *task.facts.entropy_extra_columns, *ENTROPY_CORE[1:]]


def answer_file(task: Task, cfg: RunConfig, kind: str) -> Path:
    """The path of the weak-label CSV (`kind` "naive_csv") or the entropy CSV ("entropy_csv") of this run."""
    return output_root(task, cfg) / task.output_names(weak_slug(cfg.weak_name, cfg.weak_sft_variants))[kind]


# ------------------------------------------------------------------------------------------------ weak labels

def weak_labels(task: Task, cfg: RunConfig, transfer: pd.DataFrame) -> pd.DataFrame:
    """The transfer pool with the weak supervisor's answer to each naive prompt (`weak_label`) and whether it is
    the gold answer (`weak_right`, read as the test set is read). Writes the weak-label CSV (without
    `weak_right`, as the original)."""
    tokens = cfg.query.query_max_new_tokens or task.facts.naive_query_tokens
    path = answer_file(task, cfg, "naive_csv")
    prompts = [task.naive_query_prompt(r) for r in transfer.itertuples(index=False)]
    outputs = query_weak(task, cfg, prompts, tokens, path.stem)
    labelled = transfer.assign(weak_label=[task.clean_weak_label(o) for o in outputs])
    if distributed.is_main():
        write_csv_atomic(labelled, path)
    right = [task.parse_eval(w, r) == task.eval_label(r)
             for w, r in zip(labelled["weak_label"], labelled.itertuples(index=False))]
    return labelled.assign(weak_right=right, weak_output=outputs)


# --------------------------------------------------------------------------------------------- variant answers

def variant_answers(task: Task, cfg: RunConfig, transfer: pd.DataFrame) -> pd.DataFrame:
    """k prompt variants per transfer question, the weak supervisor's answers, their per-question entropy and
    reliability scores at the run's temperature (§2-§4); questions with an unparseable answer dropped where the
    dataset drops them before the entropy (GSM8K, SST-2). Writes the entropy CSV and returns its rows."""
    variant_rows = task.variants(transfer, variant_count(task, cfg), cfg.run.seed)
    tokens = cfg.query.query_max_new_tokens or task.facts.multi_query_tokens
    path = answer_file(task, cfg, "entropy_csv")
    outputs = query_weak(task, cfg, list(variant_rows["prompt"]), tokens, path.stem)
    variant_rows = variant_rows.assign(model_output=outputs)
    variant_rows["model_pred"] = [task.answer_key(r, o) for r, o in zip(variant_rows.itertuples(index=False),
                                                                         outputs)]
    if task.facts.invalid_answers is InvalidAnswers.DROP_THE_QUESTION:
        variant_rows = drop_questions_with_invalid(variant_rows, task.facts.invalid_answer)
        if variant_rows.empty:
            raise UserError("every question has an unparseable weak answer; check the weak supervisor's outputs "
                            f"in {output_root(task, cfg) / 'cache'}")
    rows = add_question_statistics(variant_rows, reliability_temperature(task, cfg))[entropy_csv_columns(task)]
    if (rows["model_pred"] == task.facts.invalid_answer).all():
        raise UserError(f"no weak answer could be parsed: check the weak supervisor (its outputs are in {path})")
    if distributed.is_main():
        write_csv_atomic(rows, path)
    return rows


def read_entropy_csv_at(task: Task, path: Path) -> pd.DataFrame:
    """An entropy CSV as written: the text columns stay text (keep_default_na=False, so the invalid marker "None"
    is not read as NaN)."""
    return read_csv_checked(path, entropy_csv_columns(task), keep_default_na=False,
                            dtype={c: str for c in ENTROPY_TEXT_COLUMNS})


def load_entropy_rows(task: Task, weak_model: str, run_dir: Path, variant_sft: bool = False) -> pd.DataFrame:
    """The entropy CSV a run wrote in `run_dir` (the dataset folder, or OUTPUT_DIR/<dataset>) for `weak_model`
    (trained on every prompt variant with `variant_sft`)."""
    return read_entropy_csv_at(task, Path(run_dir) / entropy_csv_name(task, weak_model, variant_sft))


def entropy_csv_name(task: Task, weak_model: str, variant_sft: bool = False) -> str:
    return task.output_names(weak_slug(weak_model, variant_sft))["entropy_csv"]


def drop_questions_with_invalid(rows: pd.DataFrame, invalid: str) -> pd.DataFrame:
    """The rows of the questions none of whose answers is the `invalid` marker."""
    has_invalid = rows.groupby("question_id")["model_pred"].transform(lambda a: (a == invalid).any())
    return rows[~has_invalid.astype(bool)]


def weak_answer_accuracy(rows: pd.DataFrame) -> float:
    """The share of variant rows whose weak answer key equals the gold one (NaN for no rows)."""
    return float((rows["model_pred"] == rows["gold"]).mean()) if len(rows) else float("nan")


def variant_accuracies(rows: pd.DataFrame) -> list[float]:
    """The weak answers' accuracy per variant (0 .. k-1: each row's position within its question)."""
    position = rows.groupby("question_id", sort=False).cumcount()
    return [weak_answer_accuracy(rows[position == v]) for v in sorted(position.unique())]


# ------------------------------------------------------------------------- the methods' rules, in one place

def uf_keep(rows: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Uncertainty filtering's rule (§4): the rows whose question entropy is <= the median over rows, and that
    median."""
    threshold = median_threshold(rows["entropy"])
    return filter_by_entropy(rows, threshold), threshold


def reweighting_rows(task: Task, rows: pd.DataFrame, temperature: float | None) -> pd.DataFrame:
    """The rows re-weighting trains on, with their `answer_score`: every row of the entropy CSV, less the
    questions with an unparseable answer where the dataset drops them (§4), scored at `temperature` (None: keep
    the CSV's scores)."""
    if task.facts.invalid_answers is InvalidAnswers.CLASS_IN_UF_QUESTION_DROPPED_IN_RW:
        rows = drop_questions_with_invalid(rows, task.facts.invalid_answer)
    if rows.empty:
        raise UserError("every question has an unparseable weak answer; nothing to re-weight")
    return rows if temperature is None else add_question_statistics(rows, temperature)


def multi_query_example(task: Task, row, weight: float = 1.0, fields: dict | None = None) -> Example:
    """A variant row as a training example: the variant prompt and the weak model's output (the original: a
    space and the raw output, §4; a dataset may format it otherwise, Task.multi_query_completion)."""
    return Example(row.prompt, task.multi_query_completion(str(row.model_output)), weight, fields or {})


def variant_training_set(inputs, kept: pd.DataFrame, n_queried: int, n_usable: int, extra: dict):
    """The last steps every method of variant rows shares: `--do_sampling` (the method's rule), shuffle and cut,
    the rows as examples (weight 1), and their labels' accounting (right: the answer key is the gold one)."""
    from .methods.base import TrainingSet

    trained = inputs.shuffle_and_cut(inputs.sample(kept, n_queried, n_usable))
    examples = [multi_query_example(inputs.task, r) for r in trained.itertuples(index=False)]
    return TrainingSet(examples, extra, right=list(trained["model_pred"] == trained["gold"]),
                       questions=list(trained["question_id"]))


# ------------------------------------------------------------------------------------------ weak confidence

def weak_confidence(task: Task, cfg: RunConfig, labelled: pd.DataFrame) -> list[float]:
    """The weak model's confidence in each of its naive answers (`labelled`: `weak_labels`' frame), from the one
    query: with answer options (Task.answer_options), softmax over the options of their log-likelihoods after the
    naive prompt (each option written as the weak model wrote its answer: its output's leading whitespace, then
    the option), taken at the option the weak label names; NaN where it names none. Free-form answers: exp of the
    mean token log-probability of the weak model's own output (a geometric-mean token probability). In [0, 1].
    Cached under the weak model's identity (the adapter's hash) and the weak labels."""
    import json

    from .pipelines import weak_identity

    identity = weak_identity(task, cfg, 0)
    path = answer_file(task, cfg, "naive_csv")
    cache = output_root(task, cfg) / "cache" / f"{path.stem}_confidence.json"
    key = {"identity": identity, "weak_labels": list(labelled["weak_label"])}
    stored = json.loads(cache.read_text()) if cache.exists() else {}
    distributed.barrier()  # every process has read the cache before the main one may rewrite it: all decide alike
    if {k: stored.get(k) for k in key} == json.loads(json.dumps(key)):
        return stored["confidence"]
    if distributed.is_main():  # one process scores (not sharded: a transfer pool of a few thousand rows)
        write_atomic_text(cache, json.dumps({**key, "confidence": score_weak_answers(task, cfg, labelled)}))
    distributed.barrier()
    return json.loads(cache.read_text())["confidence"]


def score_weak_answers(task: Task, cfg: RunConfig, labelled: pd.DataFrame) -> list[float]:
    """`weak_confidence` computed: the weak model scores the options (or its own output) after each naive prompt;
    the prompts' common beginning (the instruction) runs once and rows of equal length run as a batch
    (common.scoring.PrefixScorer, whose scores equal unbatched ones)."""
    import os

    from .models import inference_dtype, load_model_and_tokenizer, resolve_model_path
    from .pipelines import batch_size, weak_adapter_dir
    from .scoring import PrefixScorer, option_ids

    model, tokenizer = load_model_and_tokenizer(resolve_model_path(cfg.weak_name, cfg.weak.weak_model_path),
                                                str(weak_adapter_dir(task, cfg)), inference_dtype(cfg.run.precision),
                                                cfg.run.device_map)
    rows = list(labelled.itertuples(index=False))
    prompts = [task.naive_query_prompt(r) for r in rows]
    prefix = os.path.commonprefix(prompts)
    if len(tokenizer(prefix)["input_ids"]) < 3:
        prefix = ""  # nothing worth caching: the scorer then runs every row whole
    scorer = PrefixScorer(model, tokenizer, prefix, batch_size(cfg, query=True)) if prefix else None
    asked, chosen_of = [], []   # per row: the texts to score; which one is the weak answer (None: NaN)
    for row, prompt in zip(rows, prompts):
        output, options = str(row.weak_output), task.answer_options(row)
        if options is None:
            asked.append([output])
            chosen_of.append(0)
            continue
        named, chosen = [task.parse_eval(o, row) for o in options], task.parse_eval(row.weak_label, row)
        lead = output[:len(output) - len(output.lstrip())]  # the options written as the weak model wrote its answer
        asked.append([lead + o for o in options])
        chosen_of.append(named.index(chosen) if chosen in named else None)
    out = []
    step = 64
    for start in range(0, len(rows), step):  # in slices, for a progress line
        part = range(start, min(start + step, len(rows)))
        if scorer is not None:
            scores = scorer.score_rows([prompts[i][len(prefix):] for i in part], [asked[i] for i in part])
        else:
            from .scoring import full_scores

            scores = [full_scores(model, tokenizer, prompts[i], asked[i]) for i in part]
        for i, score in zip(part, scores):
            if chosen_of[i] is None:
                out.append(float("nan"))
            elif task.answer_options(rows[i]) is None:
                out.append(mean_token_confidence(score[0], len(option_ids(tokenizer, prompts[i], asked[i])[0][1])))
            else:
                out.append(option_confidence(score, chosen_of[i]))
        print(f"weak confidence: {len(out)}/{len(rows)} answers scored", flush=True)
    return out


def option_confidence(log_likelihoods: list[float], chosen: int) -> float:
    """softmax over the options of their log-likelihoods (nats), at option `chosen`."""
    scores = np.asarray(log_likelihoods, dtype=float)
    probs = np.exp(scores - scores.max())
    return float(probs[chosen] / probs.sum())


def mean_token_confidence(log_likelihood: float, tokens: int) -> float:
    """exp(log_likelihood / tokens): the geometric mean of a free-form answer's token probabilities; NaN for an
    empty answer."""
    return float(np.exp(log_likelihood / tokens)) if tokens else float("nan")
