"""Real final answers to the odd-number prompt, with hand labels: see dataset.py."""
