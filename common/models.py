"""Model registry and loading: the original CLI names, the embedded default pair, any local folder or hub id.

A name resolves to a folder under the repository's `models/` (models/README.md) or is used as a path / hub id as is.
The dtype follows --precision (fp32 or bf16); each process loads its model onto its own device (a GPU of its own, or
the CPU), or, with --device_map auto, across all GPUs. Nothing here hard-codes a device.
"""
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"


@dataclass(frozen=True)
class ModelSpec:
    local_dir: str          # folder name under models/
    hub_id: str | None      # where to download it from (None: built by models/prepare_embedded.py)


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "LLAMA2-7B": ModelSpec("Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-chat-hf"),
    "Mistral-7B": ModelSpec("mistralai_Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2"),
    "LLAMA2-13B": ModelSpec("Llama-2-13b-chat-hf", "meta-llama/Llama-2-13b-chat-hf"),
    "LLAMA3-8B": ModelSpec("Llama-3-8B", "meta-llama/Meta-Llama-3-8B"),
    "SmolLM2-135M": ModelSpec("SmolLM2-135M", None),
    "Gemma3-270M": ModelSpec("Gemma3-270M", None),
}
DEFAULT_WEAK = "SmolLM2-135M"
DEFAULT_STRONG = "Gemma3-270M"


def resolve_model_path(name: str, override: str | None = None, models_dir: Path = MODELS_DIR) -> str:
    """Where to load model `name` from: `override` if given, else the registry folder, else `name` as path/hub id.

    Raises UserError, saying what to create, when a registered model's folder is missing or holds no weights.
    """
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise UserError(f"model folder {path} does not exist")
        _check_weights(path)
        return str(path)
    if name in MODEL_REGISTRY:
        spec = MODEL_REGISTRY[name]
        path = models_dir / spec.local_dir
        if not path.is_dir():
            how = (f"download it, e.g. `huggingface-cli download {spec.hub_id} --local-dir {path}`"
                   if spec.hub_id else "build it with `python models/prepare_embedded.py` (or `make setup`)")
            raise UserError(f"model {name!r} expects the folder {path}, which does not exist: {how}")
        _check_weights(path)
        return str(path)
    path = Path(name).expanduser()
    if path.is_dir():
        _check_weights(path)
        return str(path)
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return name  # a hub id; from_pretrained downloads it (needs network access)
    known = ", ".join(MODEL_REGISTRY)
    raise UserError(f"unknown model {name!r}: use one of {known}, a local model folder, or a hub id 'org/name'")


def _check_weights(path: Path) -> None:
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("*.bin"))
    if not (path / "config.json").exists() or not has_weights:
        raise UserError(f"model folder {path} has no config.json and weights (*.safetensors or *.bin); "
                        "put a Hugging Face checkpoint there")


def model_slug(name: str) -> str:
    """The model's name in output file names: a registry name as is, a local folder by its own name
    ('/data/my-7b' -> 'my-7b'), a hub id with '/' replaced ('org/model' -> 'org_model')."""
    path = Path(name).expanduser()
    if name not in MODEL_REGISTRY and path.is_dir():
        return path.resolve().name
    return name.strip("/").replace("/", "_").replace("\\", "_")


def weak_slug(name: str, variant_sft: bool = False) -> str:
    """The weak supervisor in output file names: its model's slug, plus '-variant-sft' for one trained on every
    prompt variant (--weak_sft_variants), so that the two kinds never share a file."""
    return model_slug(name) + ("-variant-sft" if variant_sft else "")


def inference_dtype(precision: str):
    """The dtype weights are held in for querying and evaluation: bf16 unless `precision` resolves to fp32."""
    import torch

    return torch.float32 if resolve_precision(precision) == "fp32" else torch.bfloat16


def auto_precision(cuda_bf16: bool, cpu_native_bf16: bool, on_cuda: bool) -> str:
    """What --precision auto means on a machine: bf16-mixed on a CUDA GPU with bf16, and on a CPU that computes
    bf16 natively; fp32 everywhere else. On a CPU without native bf16 (AVX2 only, or AVX-512 without its BF16
    extension) torch emulates bf16 matmuls, 50-100x slower than fp32 (README, Speed); where it is native they
    are about 1.3x (training) to 2x (generation) faster than fp32 (bench/bench_precision.py)."""
    if on_cuda:
        return "bf16-mixed" if cuda_bf16 else "fp32"
    return "bf16-mixed" if cpu_native_bf16 else "fp32"


def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively: torch dispatches AVX-512 kernels here and the CPU has the
    AVX512-BF16 or AMX extension. A fact of the hardware (and of ATEN_CPU_CAPABILITY, which lowers the kernels
    torch uses), not a timing: every process of a run, and a resumed run, decides the same. ARM CPUs with bf16
    (Graviton 3, Apple M2) are not detected and get fp32: pass --precision bf16-mixed there after measuring."""
    return cpu_bf16_extension() is not None


def cpu_bf16_extension() -> str | None:
    """The CPU extension that makes bf16 native here ("avx512_bf16" or "amx"), or None (torch's own probes)."""
    import torch

    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return None
    for name, probe in (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported")):
        if bool(getattr(torch.cpu, probe, lambda: False)()):
            return name
    return None


def resolve_precision(precision: str) -> str:
    """'auto' -> `auto_precision` on this machine (bf16-mixed on a GPU or a CPU with native bf16, else fp32);
    other values as given."""
    import torch

    if precision != "auto":
        return precision
    on_cuda = torch.cuda.is_available()
    return auto_precision(on_cuda and torch.cuda.is_bf16_supported(), not on_cuda and cpu_native_bf16(), on_cuda)


def machine_facts() -> dict:
    """Where a run ran, for its results .json: the device, the CPU's kernel capability as torch sees it (AVX2,
    AVX512, ...), whether bf16 is native there, and the torch version."""
    import torch

    on_cuda = torch.cuda.is_available()
    return {"device": torch.cuda.get_device_name() if on_cuda else "cpu",
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_native_bf16": cpu_native_bf16(),
            "cpu_bf16_extension": cpu_bf16_extension(),
            "torch": torch.__version__}


def training_dtype(precision: str):
    """The dtype the base weights are held in while LoRA trains: bf16 for bf16-pure, and for bf16-mixed on a GPU
    (memory); fp32 otherwise (bf16-mixed on a CPU keeps fp32 weights under bf16 autocast: the CPU's bf16 backward
    kernels are slow, bench/bench_precision.py)."""
    import torch

    precision = resolve_precision(precision)
    if precision == "bf16-pure" or (precision == "bf16-mixed" and torch.cuda.is_available()):
        return torch.bfloat16
    return torch.float32


def contiguous_head_input(model) -> None:
    """Feed the output head a contiguous input.

    On a CPU, torch's linear() with a non-contiguous 3-D input and a weight that does not require grad (a frozen
    base model, as under LoRA) copies the weight once per batch row. Generation gives the head exactly such an
    input (the last position of each row), so Gemma3-270M's 262k-row head took 4.5 s instead of 0.03 s per batch
    of 8 prompts (bench/bench_generation.py shows the effect).
    """
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda module, args: (args[0].contiguous(), *args[1:]))


def load_model_and_tokenizer(path: str, adapter_path: str | None = None, dtype=None, device_map: str | None = None):
    """Load a causal LM and its tokenizer, in `dtype` (default fp32) on this process's device.

    `device_map="auto"` instead splits the model over every visible GPU (one process, a model too large for one
    GPU). The tokenizer gets a pad token (eos, as the original) if it has none. If `adapter_path` is given, the
    LoRA adapter there is attached (kept as a PEFT wrapper, not merged) and cast to the same dtype.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import distributed

    dtype = dtype or torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        if device_map:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map=device_map)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(distributed.device())
    except (OSError, ValueError) as err:  # missing files, no network for a hub id, an unknown architecture
        raise UserError(f"could not load the model {path}: {err}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    contiguous_head_input(model)
    if adapter_path is not None:
        from peft import PeftModel

        if not Path(adapter_path).is_dir():
            raise UserError(f"LoRA adapter {adapter_path} does not exist: run the script that trains it first")
        model = PeftModel.from_pretrained(model, adapter_path).to(dtype)
    model.eval()
    return model, tokenizer
