"""Answer parsing shared by the multiple-choice datasets (the original's first-character rules)."""


def first_choice_letter(output: str, letters: str = "ABCD", case_sensitive: bool = True) -> str | None:
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
