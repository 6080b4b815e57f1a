"""Scheduled analytics: the questions in ``sql/``, the engines that answer them, and their quality checks."""
