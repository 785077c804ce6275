"""Dataset-independent building blocks of reliability-aware weak-to-strong alignment (Guo & Yang, 2024)."""
