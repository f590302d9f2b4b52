"""Differential fuzzing of durable-xstate against xstate: see driver.py and ``scripts/fuzz``."""
