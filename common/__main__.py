"""`python -m common run --task mmlu --stage uf [flags]`: one stage of one dataset, for people who script runs."""
from .cli import cli

cli()
