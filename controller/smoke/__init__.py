"""Smoke tests: run an assistant's cases on a target and judge the outputs."""
