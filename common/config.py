"""The run configuration: small dataclasses that are also the command line.

Each default is written once, here, and so is each flag's allowed range (`check=` on the field, a `Bound`): the
command line, a `--config` file and `RunConfig.create` are all checked against it. `None` means "the dataset's
value" (its TaskFacts) or a value that depends on the machine; the stages resolve those (common.pipelines:
resolve_settings), and every results .json records both the flags as given ("config") and the
resolved values ("settings"). A YAML or JSON file of flag names and values (`--config FILE`, or a results .json,
whose "config" it reads) sets the values first; flags on the command line override it.

The parser is argparse, built from the dataclass fields here (`dataclass_parser`): no heavy import happens before
the flags are parsed, so `--help` and a bad flag answer at once.
"""
import argparse
import json
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from .errors import UserError
from .models import DEFAULT_STRONG, DEFAULT_WEAK, MODEL_REGISTRY

DEFAULT_EFFECTIVE_BATCH = 24   # examples per optimiser step, as the original
DEFAULT_MICRO_BATCH = 4        # examples per forward pass; accumulation makes up the rest
GENERATION_BATCH = {"cpu": 8, "cuda": 32}  # prompts per generate() call: 2-core timings; 7-13B on a GPU
Precision = Literal["auto", "fp32", "bf16-mixed", "bf16-pure"]   # resolved by common.models.resolve_precision
MODEL_HELP = "a name from the registry ({}), a local model folder or a hub id".format(", ".join(MODEL_REGISTRY))


@dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric flag: low <= value <= high, with either end open (strict) or absent."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""              # said after the range in the message, e.g. "agreement needs two answers"

    def describe(self) -> str:
        if self.high is None:
            if self.low_open:
                return "positive" if self.low == 0 else f"greater than {self.low}"
            return f"at least {self.low}"
        if self.low is None:
            return f"{'below' if self.high_open else 'at most'} {self.high}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"

    def problem(self, value) -> str | None:
        """None if `value` is allowed (None always is: it means the default), else what is wrong with it."""
        if value is None:
            return None
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        if low_ok and high_ok:
            return None
        return f"must be {self.describe()}{f' ({self.why})' if self.why else ''}, got {value}"


AT_LEAST_1 = Bound(1)
POSITIVE = Bound(0, low_open=True)
NON_NEGATIVE = Bound(0)
SEED = Bound(0, 2**32 - 1)    # numpy's seed range


def arg(default, help: str, check: Bound | None = None, **kwargs):
    """A dataclass field that is also a command-line flag with this help text and, optionally, a range."""
    metadata = {"help": help, "check": check, **kwargs}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class WeakModelArgs:
    weak_model_name: str = arg(DEFAULT_WEAK, f"weak model: {MODEL_HELP}")
    weak_model_path: str | None = arg(None, "load the weak model from this folder instead of the registry's")
    weak_sft_variants: bool = arg(False, "the weak supervisor trained on every prompt variant of its training rows "
                                         "too (gold answers in each variant's format), not on the base prompt only: "
                                         "its adapter and every output downstream carry '-variant-sft' after the "
                                         "weak model's name")


@dataclass
class StrongModelArgs:
    strong_model_name: str = arg(DEFAULT_STRONG, f"strong model: {MODEL_HELP}")
    strong_model_path: str | None = arg(None, "load the strong model from this folder instead of the registry's")


@dataclass
class RunArgs:
    seed: int = arg(42, "seed of every shuffle, permutation draw, row sample and training run", check=SEED)
    limit: int | None = arg(None, "use at most this many questions of each pool (for small runs)", check=AT_LEAST_1)
    train_limit: int | None = arg(None, "at most this many questions of the weak supervisor's pool (overrides "
                                        "--limit for it)", check=AT_LEAST_1)
    transfer_limit: int | None = arg(None, "at most this many questions of the transfer pool (overrides --limit)", check=AT_LEAST_1)
    test_limit: int | None = arg(None, "at most this many test questions (overrides --limit)", check=AT_LEAST_1)
    data_dir: str | None = arg(None, "read the dataset's files from here (default: dataset/ in its folder)")
    output_dir: str | None = arg(None, "write models/, results/, cache/ and CSVs under OUTPUT_DIR/<dataset>/ "
                                       "(default: the dataset folder itself, as the original)")
    precision: Precision = arg(
        "auto", "fp32; bf16-mixed: LoRA weights in fp32, matmuls in bf16 (autocast), inference in bf16; bf16-pure: "
                "everything in bf16, no autocast (the original's training); auto: bf16-mixed on a CUDA GPU and on "
                "a CPU with native bf16 (AVX512-BF16 or AMX), fp32 elsewhere (emulated bf16 is 50-100x slower)")
    device_map: Literal["auto"] | None = arg(
        None, "'auto': split each model over all visible GPUs (one process; for a model too large for one GPU). "
              "Default: the whole model on this process's device, which is what data-parallel runs need")


@dataclass
class MethodArgs:
    do_sampling: bool = arg(False, "RESAMPLE THE TRAINING ROWS to about one per question (the original's "
                                   "--do_sampling; output names carry sampling=True). Not the decoding flag "
                                   "--do_sample")
    temperature: float | None = arg(None, "reliability softmax temperature (default: the dataset's; "
                                          "`python -m common tasks`)", check=POSITIVE)


@dataclass
class VariantArgs:
    k: int | None = arg(None, "prompt variants per question (default: the dataset's; `python -m common tasks`)", check=Bound(2, why="agreement needs two answers"))


@dataclass
class UnlikelihoodArgs:
    weight_unlike: float = arg(0.0, "unlikelihood: rows whose reliability score is below --unlike_threshold are "
                                    "trained with weight_unlike * -log(1 - p) on their answer tokens instead of "
                                    "likelihood; 0 (default) is plain re-weighting; 1.0 is the value we use", check=NON_NEGATIVE)
    unlike_threshold: float = arg(0.5, "reliability score below which a row's answer is pushed down", check=Bound(0, 1))


@dataclass
class TrainConfig:
    lr: float = arg(5e-5, "learning rate (linear decay to 0, no warm-up, AdamW)", check=POSITIVE)
    epochs: float = arg(3.0, "training epochs", check=POSITIVE)
    effective_batch_size: int | None = arg(None, f"examples per optimiser step, over all processes (default "
                                                 f"{DEFAULT_EFFECTIVE_BATCH}, as the original)", check=AT_LEAST_1)
    micro_batch_size: int | None = arg(None, f"examples per forward pass (default {DEFAULT_MICRO_BATCH}; gradient "
                                             "accumulation makes up the effective batch; the default loss does not "
                                             "depend on it)", check=AT_LEAST_1)
    train_fraction: float | None = arg(None, "share of this stage's rows trained on (default: the dataset's for the "
                                             "stage; the rest is held out and never used, as the original)", check=Bound(0, 1, low_open=True))
    max_length: int | None = arg(None, "max training tokens per example (default: the dataset's)", check=AT_LEAST_1)
    loss_normalisation: Literal["answer_tokens", "original"] = arg(
        "answer_tokens", "answer_tokens: (weighted) sum of answer-token losses / answer tokens of the whole "
                         "optimiser step; original: the original's loss and per-device batch for this stage "
                         "(docs/method.md §6)")
    lora_r: int = arg(16, "LoRA rank", check=AT_LEAST_1)
    lora_alpha: int = arg(32, "LoRA alpha", check=AT_LEAST_1)
    lora_dropout: float = arg(0.05, "LoRA dropout", check=Bound(0, 1, high_open=True))
    lora_target_modules: list[str] | None = arg(None, "modules LoRA adapts (default: peft's for the architecture, "
                                                      "q_proj v_proj for Llama and Mistral)")
    save_steps: int = arg(500, "optimiser steps between training checkpoints", check=AT_LEAST_1)
    resume: bool = arg(False, "continue training from the last checkpoint of an interrupted run of this stage")
    group_by_length: bool = arg(False, "train on batches of similar length (less padding; less random order)")
    logging_steps: int = arg(1, "optimiser steps between loss log entries (the loss curve's resolution)", check=AT_LEAST_1)


@dataclass
class EvalArgs:
    eval_batch_size: int | None = arg(None, f"prompts per generate() call at evaluation (default: "
                                            f"{GENERATION_BATCH['cpu']} on CPU, {GENERATION_BATCH['cuda']} on a GPU)", check=AT_LEAST_1)
    do_sample: bool = arg(False, "DECODE BY SAMPLING with the model's own generation config (default: greedy). "
                                 "Not the row-resampling flag --do_sampling")


@dataclass
class QueryArgs:
    query_batch_size: int | None = arg(None, "prompts per generate() call for weak labels (default as "
                                             "--eval_batch_size)", check=AT_LEAST_1)
    query_max_new_tokens: int | None = arg(None, "max new tokens of weak-label queries (default: the dataset's)", check=AT_LEAST_1)


COMMON_GROUPS = (RunArgs, TrainConfig, EvalArgs)   # every method's flags; a method adds its own (common/methods)
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
    options: tuple = ()                     # other flag groups: the method's own, the dataset's own

    @classmethod
    def from_groups(cls, stage: str, groups: list) -> "RunConfig":
        """A config of the method `stage` from filled flag groups (dataclass instances)."""
        return cls(stage=stage, options=tuple(g for g in groups if type(g) not in GROUP_ATTRS),
                   **{GROUP_ATTRS[type(g)]: g for g in groups if type(g) in GROUP_ATTRS})

    @classmethod
    def create(cls, stage: str, groups: list[type], **values) -> "RunConfig":
        """A config of the method `stage` whose flags are the fields of `groups`, at their defaults, with `values`
        (flag name -> value) applied; for tests and scripts (common.methods.make_config names the groups)."""
        return cls.from_groups(stage, [g() for g in groups]).with_values(**values)

    def groups(self) -> list:
        return [g for g in (*(getattr(self, n) for n in GROUP_NAMES), *self.options) if g is not None]

    def with_values(self, **values) -> "RunConfig":
        """A copy with flag values replaced; a name this stage does not take is an error."""
        out = replace(self)
        for name, value in values.items():
            attr = next((a for a in GROUP_NAMES if getattr(out, a) is not None and name in flag_names(getattr(out, a))),
                        None)
            if attr is not None:
                setattr(out, attr, replace(getattr(out, attr), **{name: value}))
            elif any(name in flag_names(g) for g in out.options):
                out.options = tuple(replace(g, **{name: value}) if name in flag_names(g) else g
                                    for g in out.options)
            else:
                raise UserError(f"{name!r} is not a setting of the {self.stage} stage")
        return out

    def renamed(self, stage: str) -> "RunConfig":
        """The same flags as a config of the method `stage` (RW's script running RW + unlikelihood)."""
        return replace(self, stage=stage)

    def option(self, name: str, default=None):
        """The value of the method's or dataset's own flag `name`, or `default` if this run does not take it."""
        for group in self.options:
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
    def weak_sft_variants(self) -> bool:
        return bool(self.weak and self.weak.weak_sft_variants)

    @property
    def strong_name(self) -> str:
        return self.strong.strong_model_name if self.strong else ""

    @property
    def do_sampling(self) -> bool:
        return bool(self.method and self.method.do_sampling)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The script's docstring as written, and each flag's default after its help."""


class FlagParser(argparse.ArgumentParser):
    """argparse, except that with `error_prefix` set an error raises a UserError (a config file's values are
    parsed by the same flag definitions as the command line, and reported as the file's error)."""

    def __init__(self, *args, error_prefix: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.error_prefix = error_prefix

    def error(self, message):
        message = re.sub(r"(--\w+)/--[\w-]+", r"\1", message)  # "--do_sampling", not "--do_sampling/--do-sampling"
        if self.error_prefix is not None:
            raise UserError(f"{self.error_prefix}: {message}")
        super().error(message)


def to_bool(text: str) -> bool:
    """A flag's boolean value: true/false, yes/no, 1/0 (any case)."""
    value = str(text).lower()
    if value in ("true", "yes", "1", "t", "y"):
        return True
    if value in ("false", "no", "0", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def flag_kind(hint) -> tuple[type, tuple | None, bool]:
    """(value type, choices or None, is a list) of a field's type hint; `X | None` is X."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        return type(args[0]), tuple(args), False
    if typing.get_origin(hint) is list:
        return args[0], None, True
    return hint, None, False


def add_flags(parser: argparse.ArgumentParser, group: type) -> None:
    """One flag per field of the dataclass `group` (`--name`, also spelt `--name-with-dashes`)."""
    hints = typing.get_type_hints(group)
    for f in fields(group):
        kind, choices, is_list = flag_kind(hints[f.name])
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        kwargs = {"dest": f.name, "default": default, "help": f.metadata.get("help", "")}
        if kind is bool:
            kwargs.update(type=to_bool, nargs="?", const=True, metavar="{true,false}")
        else:
            kwargs.update(type=kind, choices=choices)
            if is_list:
                kwargs["nargs"] = "+"
        names = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        parser.add_argument(*names, **kwargs)


def dataclass_parser(groups, description: str = "", error_prefix: str | None = None) -> FlagParser:
    """An argparse parser whose flags are the fields of the dataclasses `groups`."""
    parser = FlagParser(description=description, formatter_class=HelpFormatter, error_prefix=error_prefix,
                        allow_abbrev=False)
    for group in groups:
        add_flags(parser, group)
    return parser


def split_into_groups(namespace: argparse.Namespace, groups) -> list:
    """The dataclass instances of `groups` filled from a parsed namespace."""
    values = vars(namespace)
    return [g(**{f.name: values[f.name] for f in fields(g)}) for g in groups]


def parse_dataclasses(groups, argv: list[str] | None, description: str = "") -> list:
    """Parse `argv` into instances of the dataclasses `groups`; every field's `check` is applied (exit 2)."""
    parser = dataclass_parser(groups, description)
    parsed = split_into_groups(parser.parse_args(argv), groups)
    try:
        for group in parsed:
            check_fields(group)
    except UserError as err:
        parser.exit(2, f"error: {err}\n")
    return parsed


def check_fields(group, prefix: str = "") -> None:
    """Each field of the dataclass instance `group` within its declared `check` range, else a UserError."""
    for f in fields(group):
        check = f.metadata.get("check")
        problem = check.problem(getattr(group, f.name)) if check is not None else None
        if problem:
            raise UserError(f"{prefix}--{f.name} {problem}")


def parse_config(stage: str, groups: list[type], argv: list[str] | None, description: str = "",
                 known_elsewhere: frozenset = frozenset(), dataset: str | None = None) -> RunConfig:
    """Parse the flags of method `stage` (the fields of `groups`) and --config FILE into a RunConfig.

    A config file may hold settings of other methods (`known_elsewhere`: they are skipped) and, if it is a results
    .json, must come from a run of `dataset`."""
    parser = dataclass_parser(groups, description)
    parser.add_argument("--config", type=Path, help="a YAML or JSON file of flag names and values (or a results "
                                                    ".json, to re-run its config); flags given here override it")
    known, _ = parser.parse_known_args(argv)
    if known.config is not None:
        parser.set_defaults(**read_config_file(known.config, groups, known_elsewhere, dataset))
    namespace, remaining = parser.parse_known_args(argv)
    if remaining:
        parser.error(f"unrecognized arguments for the {stage} stage: {' '.join(remaining)}")
    cfg = RunConfig.from_groups(stage, split_into_groups(namespace, groups))
    validate(cfg)
    return cfg


def load_settings_file(path: Path) -> dict:
    """The mapping in a YAML or JSON file (a results .json: its "config"); a UserError for anything else."""
    if not path.exists():
        raise UserError(f"--config {path} not found")
    if not path.is_file():
        raise UserError(f"--config {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"--config {path} is not UTF-8 text: {err.reason} at byte {err.start}")
    except OSError as err:
        raise UserError(f"--config {path} cannot be read: {err.strerror}")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except Exception as err:  # yaml.YAMLError or json's ValueError: the parser's own message says where
        raise UserError(f"--config {path} is not valid {path.suffix[1:].upper() or 'JSON'}: "
                        f"{' '.join(str(err).split())}")
    if not isinstance(values, dict):
        raise UserError(f"--config {path} must hold a mapping of flag names to values")
    return values


def read_config_file(path: Path, groups, known_elsewhere: frozenset = frozenset(), dataset: str | None = None
                     ) -> dict:
    """Flag values from a YAML / JSON file, parsed and range-checked by the same flag definitions as the command
    line (one `--config FILE: ...` error otherwise). Keys of other stages are skipped, unknown keys are an error;
    a results .json of another dataset is refused (its dataset's settings would not mean the same here)."""
    values = load_settings_file(path)
    if isinstance(values.get("config"), dict):  # a results .json
        ran_on = values.get("dataset")
        if dataset is not None and ran_on and ran_on != dataset:
            raise UserError(f"--config {path} is the results of a {ran_on} run, not {dataset}: its "
                            "dataset's settings (limits, lengths, k) need not fit; copy the settings you want into "
                            "a YAML file")
        values = values["config"]
    known_here = {f.name for g in groups for f in fields(g)}
    unknown = sorted(set(values) - known_here - set(known_elsewhere) - {"stage", "config"})
    if unknown:
        raise UserError(f"--config {path}: unknown settings {unknown}")
    mine = {k: v for k, v in values.items() if k in known_here and v is not None}
    parser = dataclass_parser(groups, error_prefix=f"--config {path}")
    parsed = split_into_groups(parser.parse_args(settings_as_flags(mine, groups, path)), groups)
    for group in parsed:
        check_fields(group, prefix=f"--config {path}: ")
    as_parsed = {f.name: getattr(g, f.name) for g in parsed for f in fields(g)}
    return {k: as_parsed[k] for k in mine}


def settings_as_flags(values: dict, groups, path: Path) -> list[str]:
    """A config file's mapping as command-line tokens, so that the flags' own types and choices check it; a list
    where one value belongs (or the reverse) is refused here, as the command line's shape cannot say it."""
    hints = {f.name: typing.get_type_hints(g)[f.name] for g in groups for f in fields(g)}
    argv = []
    for name, value in values.items():
        is_list = flag_kind(hints[name])[2]
        if isinstance(value, dict):
            raise UserError(f"--config {path}: {name} must be a value, not a mapping")
        if isinstance(value, list) != is_list:
            shape = "a list of values" if is_list else "a single value"
            raise UserError(f"--config {path}: {name} must be {shape}, got {value!r}")
        argv += [f"--{name}", *(str(v) for v in (value if is_list else [value]))]
    return argv


def validate(cfg: RunConfig) -> None:
    """Reject values that cannot make a run, before any work starts: each field's declared range, and what no
    single field can say."""
    for group in cfg.groups():
        check_fields(group)
    if cfg.run.device_map == "auto":
        from .distributed import world_size

        if world_size() > 1:
            raise UserError("--device_map auto splits one model over the GPUs of one process; it cannot be "
                            "combined with a data-parallel launch (accelerate launch / torchrun)")
