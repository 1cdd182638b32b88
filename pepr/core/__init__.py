"""The core both sides stand on: errors, paths, stated settings, words for numbers, file resolution and locks."""
