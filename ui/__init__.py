"""The chat UI (Gradio): app wiring in ui.app, HTML rendering in ui.render.
Takes an Index; gives the web app `rag serve` runs.
"""
