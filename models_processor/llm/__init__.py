"""Model servers: the Ollama client, prompts, output sanitizing and validation, the result cache."""
