"""The small-scale replication with the safety table: every method for several seeds, the results table, the
figures, the ETHICS safety evaluations of the first seed's models, and REPORT.md.

    python replicate.py --stage_config sst2/replication.yaml                     # `make replicate`: SST-2, 3 seeds
    python replicate.py --seeds 1 --output_dir runs/demo --stage_config sst2/demo.yaml --weight_unlike 0 \
        --safety_n_test 0                                                         # `make demo`

Writes under --output_dir: seed_<s>/<dataset>/ (every run's adapter, results, weak-answer CSVs and caches),
results_table.csv and .md, figures/, safety/ (safety_table.md and .csv, safety_predictions.csv) and REPORT.md.
An interrupted replication resumes: finished runs and scored models are not run again. `python -m
common.replicate` is the same without the safety step (common/replicate.py says every flag).
"""
from dataclasses import dataclass

from common.config import NON_NEGATIVE, arg, parse_dataclasses
from common.errors import run_cli
from common.replicate import ReplicateArgs, replicate


@dataclass
class SafetyStepArgs:
    safety_n_test: int = arg(50, "test rows per ETHICS evaluation for the first seed's models (0: no safety table)",
                             check=NON_NEGATIVE)


def main() -> None:
    args, safety = parse_dataclasses([ReplicateArgs, SafetyStepArgs], None, __doc__)
    from safety.evaluate import replication_step  # the models' libraries: only once the flags are good

    replicate(args, hooks=(replication_step(safety.safety_n_test),))


if __name__ == "__main__":
    run_cli(main)
