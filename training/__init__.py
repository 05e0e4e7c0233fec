"""Training side of the project: bundled corpus, offline bootstrap model, fine-tuning."""
