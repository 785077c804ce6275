"""Answer-parsing rules shared by several datasets (the original's first-character and first-word rules)."""

LETTERS = "ABCD"


def first_choice_letter(output: str, letters: str = LETTERS, case_sensitive: bool = True) -> str | None:
    """The option letter an output starts with, or None.

    As the original: the first character after stripping whitespace must be one of `letters` ("B. Paris" -> "B").
    With case_sensitive=False a lower-case "b" counts too. An answer that does not *start* with its letter
    ("The answer is C") is not read, by design of the original metric.
    """
    text = output.strip()
    if not text:
        return None
    first = text[0] if case_sensitive else text[0].upper()
    return first if first in letters else None


def heatmap_letter(output: str) -> str | None:
    """The reliability notebook's weak label: the first space-separated word of the output, compared exactly with
    A-D ("B" counts, "B." and "b" do not)."""
    word = str(output).strip(" ").split(" ")[0].strip().strip("\n")
    return word if word in LETTERS else None


def first_word(output: str, strip: str = ".,") -> str:
    """The first whitespace token of the output's first line, lower-cased, `strip` characters removed at both
    ends: "Unacceptable, because" -> "unacceptable"."""
    lines = output.strip().split("\n")
    token = lines[0].split(" ")[0] if lines else ""
    return token.strip().lower().strip(strip).strip()
