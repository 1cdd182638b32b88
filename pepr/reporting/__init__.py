"""Reporting and the book: figures, a study's report, its rendering and the book's build."""
