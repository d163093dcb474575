"""Loading, building and freezing LLMs: the plugin's own backbone, any local Hugging Face causal LM, SmolLM2."""
