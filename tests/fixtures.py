"""Small frames in each dataset's original schema, for tests (no real data needed)."""
import pandas as pd


def mmlu_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """n MMLU-shaped questions over three subjects, with a rotating gold letter."""
    rows = []
    for i in range(n):
        rows.append({"subject": ["astronomy", "virology", "world religions"][i % 3],
                     "input": f"Question number {i}: which option is right", "A": f"alpha {i}", "B": f"beta {i}",
                     "C": f"gamma {i}", "D": f"delta {i}", "target": "ABCD"[i % 4]})
    return pd.DataFrame(rows)


def hellaswag_frame(n: int) -> pd.DataFrame:
    """n HellaSwag rows with the HF columns; `endings` holds lists (CSV writing turns them into list strings)."""
    return pd.DataFrame([{"ind": 100 + i, "activity_label": "Cooking", "ctx_a": f"A man cuts onion {i}",
                          "ctx_b": "then he", "ctx": f"A man cuts onion {i} then he",
                          "endings": [f"cooks them {i}", f"sings {i}", f"flies away {i}", f"sleeps {i}"],
                          "source_id": f"src{i}", "split": "val", "split_type": "indomain", "label": i % 4}
                         for i in range(n)])


def ethics_frame(n: int) -> pd.DataFrame:
    """n ETHICS commonsense rows, alternating short and long stories and labels."""
    return pd.DataFrame([{"label": i % 2, "input": f"I {'helped' if i % 2 == 0 else 'hit'} my neighbour number {i}.",
                          "is_short": i % 4 < 2, "edited": False} for i in range(n)])


def gsm8k_frame(n: int) -> pd.DataFrame:
    """n GSM8K rows; label is the number after '####' of the answer."""
    rows = []
    for i in range(n):
        label = 1000 + i if i % 3 == 0 else i + 2
        rows.append({"question": f"Tom has {i} apples and buys 2 more. How many apples does Tom have?",
                     "answer": f"He has {i} + 2 = {i + 2} apples.\n#### {label:,}", "label": label,
                     "explanation": f"He has {i} + 2 = {i + 2} apples.\n"})
    return pd.DataFrame(rows)
