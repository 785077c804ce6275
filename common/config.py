"""The run configuration: small dataclasses that are also the command line (transformers' HfArgumentParser).

Each default is written once, here. `None` means "the dataset's value" (its TaskFacts) or a value that depends on
the device; the stages resolve those (common.pipelines: train_plan, variant_count, ...), and every results .json
records both the flags as given ("config") and the resolved values ("settings"). A YAML or JSON file of flag names
and values (`--config FILE`, or a results .json, whose "config" it reads) sets the values first; flags on the
command line override it.
"""
import argparse
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from .errors import UserError
from .models import DEFAULT_STRONG, DEFAULT_WEAK, MODEL_REGISTRY

DEFAULT_EFFECTIVE_BATCH = 24   # examples per optimiser step, as the original
DEFAULT_MICRO_BATCH = 4        # examples per forward pass; accumulation makes up the rest
GENERATION_BATCH = {"cpu": 8, "cuda": 32}  # prompts per generate() call: 2-core timings; 7-13B on a GPU
MODEL_HELP = "a name from the registry ({}), a local model folder or a hub id".format(", ".join(MODEL_REGISTRY))


def arg(default, help: str, **kwargs):
    """A dataclass field that is also a command-line flag with this help text."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class WeakModelArgs:
    weak_model_name: str = arg(DEFAULT_WEAK, f"weak model: {MODEL_HELP}")
    weak_model_path: str | None = arg(None, "load the weak model from this folder instead of the registry's")


@dataclass
class StrongModelArgs:
    strong_model_name: str = arg(DEFAULT_STRONG, f"strong model: {MODEL_HELP}")
    strong_model_path: str | None = arg(None, "load the strong model from this folder instead of the registry's")


@dataclass
class RunArgs:
    seed: int = arg(42, "seed of every shuffle, permutation draw, row sample and training run")
    limit: int | None = arg(None, "use at most this many questions of each pool (for small runs)")
    train_limit: int | None = arg(None, "at most this many questions of the weak supervisor's pool (overrides "
                                        "--limit for it)")
    transfer_limit: int | None = arg(None, "at most this many questions of the transfer pool (overrides --limit)")
    test_limit: int | None = arg(None, "at most this many test questions (overrides --limit)")
    data_dir: str | None = arg(None, "read the dataset's files from here (default: dataset/ in its folder)")
    output_dir: str | None = arg(None, "write models/, results/, cache/ and CSVs under OUTPUT_DIR/<dataset>/ "
                                       "(default: the dataset folder itself, as the original)")
    precision: Literal["auto", "fp32", "bf16-mixed", "bf16-pure"] = arg(
        "auto", "fp32; bf16-mixed: LoRA weights in fp32, matmuls in bf16 (autocast), inference in bf16; bf16-pure: "
                "everything in bf16, no autocast (the original's training); auto: bf16-mixed on a CUDA GPU, "
                "fp32 on CPU")
    device_map: Literal["auto"] | None = arg(
        None, "'auto': split each model over all visible GPUs (one process; for a model too large for one GPU). "
              "Default: the whole model on this process's device, which is what data-parallel runs need")


@dataclass
class MethodArgs:
    do_sampling: bool = arg(False, "RESAMPLE THE TRAINING ROWS to about one per question (the original's "
                                   "--do_sampling; output names carry sampling=True). Not the decoding flag "
                                   "--do_sample")
    temperature: float | None = arg(None, "reliability softmax temperature (default: the dataset's; "
                                          "`python -m common tasks`)")


@dataclass
class VariantArgs:
    k: int | None = arg(None, "prompt variants per question (default: the dataset's; `python -m common tasks`)")


@dataclass
class UnlikelihoodArgs:
    weight_unlike: float = arg(0.0, "unlikelihood: rows whose reliability score is below --unlike_threshold are "
                                    "trained with weight_unlike * -log(1 - p) on their answer tokens instead of "
                                    "likelihood; 0 (default) is plain re-weighting; 1.0 is the value we use")
    unlike_threshold: float = arg(0.5, "reliability score below which a row's answer is pushed down")


@dataclass
class TrainConfig:
    lr: float = arg(5e-5, "learning rate (linear decay to 0, no warm-up, AdamW)")
    epochs: float = arg(3.0, "training epochs")
    effective_batch_size: int | None = arg(None, f"examples per optimiser step, over all processes (default "
                                                 f"{DEFAULT_EFFECTIVE_BATCH}, as the original)")
    micro_batch_size: int | None = arg(None, f"examples per forward pass (default {DEFAULT_MICRO_BATCH}; gradient "
                                             "accumulation makes up the effective batch; the default loss does not "
                                             "depend on it)")
    train_fraction: float | None = arg(None, "share of this stage's rows trained on (default: the dataset's for the "
                                             "stage; the rest is held out and never used, as the original)")
    max_length: int | None = arg(None, "max training tokens per example (default: the dataset's)")
    loss_normalisation: Literal["answer_tokens", "original"] = arg(
        "answer_tokens", "answer_tokens: (weighted) sum of answer-token losses / answer tokens of the whole "
                         "optimiser step; original: the original's loss and per-device batch for this stage "
                         "(docs/method.md §6)")
    lora_r: int = arg(16, "LoRA rank")
    lora_alpha: int = arg(32, "LoRA alpha")
    lora_dropout: float = arg(0.05, "LoRA dropout")
    lora_target_modules: list[str] | None = arg(None, "modules LoRA adapts (default: peft's for the architecture, "
                                                      "q_proj v_proj for Llama and Mistral)")
    save_steps: int = arg(500, "optimiser steps between training checkpoints")
    resume: bool = arg(False, "continue training from the last checkpoint of an interrupted run of this stage")
    group_by_length: bool = arg(False, "train on batches of similar length (less padding; less random order)")
    logging_steps: int = arg(1, "optimiser steps between loss log entries (the loss curve's resolution)")


@dataclass
class EvalArgs:
    eval_batch_size: int | None = arg(None, f"prompts per generate() call at evaluation (default: "
                                            f"{GENERATION_BATCH['cpu']} on CPU, {GENERATION_BATCH['cuda']} on a GPU)")
    do_sample: bool = arg(False, "DECODE BY SAMPLING with the model's own generation config (default: greedy). "
                                 "Not the row-resampling flag --do_sampling")


@dataclass
class QueryArgs:
    query_batch_size: int | None = arg(None, "prompts per generate() call for weak labels (default as "
                                             "--eval_batch_size)")
    query_max_new_tokens: int | None = arg(None, "max new tokens of weak-label queries (default: the dataset's)")


COMMON_GROUPS = (RunArgs, TrainConfig, EvalArgs)
STAGE_GROUPS = {
    "weak": (WeakModelArgs,),
    "naive": (WeakModelArgs, StrongModelArgs, QueryArgs),
    "ceiling": (StrongModelArgs,),
    "uf": (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs),
    "rw": (WeakModelArgs, StrongModelArgs, MethodArgs, UnlikelihoodArgs),
}
GROUP_ATTRS = {WeakModelArgs: "weak", StrongModelArgs: "strong", RunArgs: "run", TrainConfig: "train",
               EvalArgs: "eval", QueryArgs: "query", MethodArgs: "method", VariantArgs: "variants",
               UnlikelihoodArgs: "unlikelihood"}


def flag_names(group) -> set[str]:
    return {f.name for f in fields(group)}


GROUP_NAMES = ("weak", "strong", "run", "method", "variants", "unlikelihood", "train", "query", "eval")


@dataclass
class RunConfig:
    """One stage's configuration: the groups of flags that stage takes (others are None)."""
    stage: str
    run: RunArgs = field(default_factory=RunArgs)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalArgs = field(default_factory=EvalArgs)
    weak: WeakModelArgs | None = None
    strong: StrongModelArgs | None = None
    query: QueryArgs | None = None
    method: MethodArgs | None = None
    variants: VariantArgs | None = None
    unlikelihood: UnlikelihoodArgs | None = None
    task_options: tuple = ()                # the dataset's own flag groups (dataclasses), if it has any

    @classmethod
    def create(cls, stage: str, task_cls=None, **values) -> "RunConfig":
        """A config for `stage` with default groups, `values` (flag name -> value) applied; for tests and scripts."""
        groups = stage_groups(stage, task_cls)
        cfg = cls(stage=stage, task_options=tuple(g() for g in groups if g not in GROUP_ATTRS),
                  **{GROUP_ATTRS[g]: g() for g in groups if g in GROUP_ATTRS})
        return cfg.with_values(**values)

    def groups(self) -> list:
        return [g for g in (*(getattr(self, n) for n in GROUP_NAMES), *self.task_options) if g is not None]

    def with_values(self, **values) -> "RunConfig":
        """A copy with flag values replaced; a name this stage does not take is an error."""
        out = replace(self)
        for name, value in values.items():
            attr = next((a for a in GROUP_NAMES if getattr(out, a) is not None and name in flag_names(getattr(out, a))),
                        None)
            if attr is not None:
                setattr(out, attr, replace(getattr(out, attr), **{name: value}))
            elif any(name in flag_names(g) for g in out.task_options):
                out.task_options = tuple(replace(g, **{name: value}) if name in flag_names(g) else g
                                         for g in out.task_options)
            else:
                raise UserError(f"{name!r} is not a setting of the {self.stage} stage")
        return out

    def option(self, name: str, default=None):
        """The value of the dataset flag `name`, or `default` if this stage does not take it."""
        for group in self.task_options:
            if name in flag_names(group):
                return getattr(group, name)
        return default

    def to_dict(self) -> dict:
        """Every setting by its flag name (the form --config reads back), plus the stage."""
        flat = {"stage": self.stage}
        for group in self.groups():
            flat.update(asdict(group))
        return flat

    @property
    def weak_name(self) -> str:
        return self.weak.weak_model_name if self.weak else ""

    @property
    def strong_name(self) -> str:
        return self.strong.strong_model_name if self.strong else ""

    @property
    def do_sampling(self) -> bool:
        return bool(self.method and self.method.do_sampling)


def stage_groups(stage: str, task_cls=None) -> list[type]:
    """The dataclasses whose fields are the flags of `stage` (and of the dataset, if it has flags of its own)."""
    groups = list(STAGE_GROUPS[stage]) + list(COMMON_GROUPS)
    if task_cls is not None and task_cls.options_class is not None:
        groups.append(task_cls.options_class)
    if task_cls is not None and stage == "uf" and task_cls.uf_options_class is not None:
        groups.append(task_cls.uf_options_class)
    return groups


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The script's docstring as written, and each flag's default after its help."""


def parse_config(stage: str, task_cls, argv: list[str] | None, description: str = "") -> RunConfig:
    """Parse the flags of one stage (and --config FILE) into a RunConfig."""
    from transformers import HfArgumentParser

    groups = stage_groups(stage, task_cls)
    parser = HfArgumentParser(groups, description=description, formatter_class=HelpFormatter)
    parser.add_argument("--config", type=Path, help="a YAML or JSON file of flag names and values (or a results "
                                                    ".json, to re-run its config); flags given here override it")
    known, _ = parser.parse_known_args(argv)
    if known.config is not None:
        parser.set_defaults(**read_config_file(known.config, parser, task_cls))
    *parsed, remaining = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True,
                                                             look_for_args_file=False)
    if remaining:
        parser.error(f"unrecognized arguments for the {stage} stage: {' '.join(remaining)}")
    by_class = {type(g): g for g in parsed if not isinstance(g, argparse.Namespace)}
    cfg = RunConfig(stage=stage, task_options=tuple(g for c, g in by_class.items() if c not in GROUP_ATTRS),
                    **{GROUP_ATTRS[c]: g for c, g in by_class.items() if c in GROUP_ATTRS})
    validate(cfg)
    return cfg


def read_config_file(path: Path, parser, task_cls=None) -> dict:
    """Flag values from a YAML / JSON file; keys of other stages are skipped, unknown keys are an error."""
    if not path.exists():
        raise UserError(f"--config {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except ValueError as err:
        raise UserError(f"--config {path} is not valid {path.suffix[1:].upper()}: {err}")
    if isinstance(values, dict) and isinstance(values.get("config"), dict):
        values = values["config"]  # a results .json
    if not isinstance(values, dict):
        raise UserError(f"--config {path} must hold a mapping of flag names to values")
    known_here = {action.dest for action in parser._actions}
    known_anywhere = {f.name for stage in STAGE_GROUPS for g in stage_groups(stage, task_cls) for f in fields(g)}
    known_anywhere.add("stage")
    unknown = sorted(set(values) - known_here - known_anywhere)
    if unknown:
        raise UserError(f"--config {path}: unknown settings {unknown}")
    return {k: v for k, v in values.items() if k in known_here and k != "config"}


def validate(cfg: RunConfig) -> None:
    """Reject values that cannot make a run, before any work starts."""
    sizes = {"limit": cfg.run.limit, "train_limit": cfg.run.train_limit, "transfer_limit": cfg.run.transfer_limit,
             "test_limit": cfg.run.test_limit, "save_steps": cfg.train.save_steps, "logging_steps": cfg.train.logging_steps,
             "effective_batch_size": cfg.train.effective_batch_size, "micro_batch_size": cfg.train.micro_batch_size,
             "max_length": cfg.train.max_length, "eval_batch_size": cfg.eval.eval_batch_size, "lora_r": cfg.train.lora_r}
    if cfg.query:
        sizes.update(query_batch_size=cfg.query.query_batch_size, query_max_new_tokens=cfg.query.query_max_new_tokens)
    for name, value in sizes.items():
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1, got {value}")
    if cfg.train.lr <= 0 or cfg.train.epochs <= 0:
        raise UserError("--lr and --epochs must be positive")
    if cfg.train.train_fraction is not None and not 0 < cfg.train.train_fraction <= 1:
        raise UserError(f"--train_fraction must be in (0, 1], got {cfg.train.train_fraction}")
    if not 0 <= cfg.train.lora_dropout < 1:
        raise UserError(f"--lora_dropout must be in [0, 1), got {cfg.train.lora_dropout}")
    if cfg.variants is not None and cfg.variants.k is not None and cfg.variants.k < 2:
        raise UserError(f"--k must be at least 2 (agreement needs two answers), got {cfg.variants.k}")
    if cfg.method is not None:
        if cfg.method.temperature is not None and cfg.method.temperature <= 0:
            raise UserError(f"--temperature must be positive, got {cfg.method.temperature}")
    if cfg.unlikelihood is not None and cfg.unlikelihood.weight_unlike < 0:
        raise UserError(f"--weight_unlike must be >= 0, got {cfg.unlikelihood.weight_unlike}")
    if cfg.run.device_map == "auto":
        from .distributed import world_size

        if world_size() > 1:
            raise UserError("--device_map auto splits one model over the GPUs of one process; it cannot be "
                            "combined with a data-parallel launch (accelerate launch / torchrun)")
