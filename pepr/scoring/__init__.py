"""Scoring and analysis: the PePR score, each run's verdict against chance, the energy estimate and the book's statistics."""
