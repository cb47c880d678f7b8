"""The prompt templates (`*.txt`), shipped as package data; read through rag.resources.prompt_text.
Takes nothing; gives the template files to importlib.resources.
"""
