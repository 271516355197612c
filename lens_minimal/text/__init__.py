"""The text side: the LLM (models, embeddings, generation), text loaders, the task programs with
their gold rewards, and the shipped data (builder, loader, shards). Uses the core, never the companion."""
