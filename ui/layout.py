"""The chat app's layout: header, status line, the Ask tab (chat, filters, sources panel) and the upload tab.
Takes the event handlers; gives the Gradio Blocks with every event wired to them.
"""
from __future__ import annotations

from typing import Optional

import gradio as gr

from rag.records import KINDS, STATE, WHITE_HOUSE
from ui import render
from ui.handlers import ANY, AUTO, MODES, ChatHandlers

EXAMPLES = [
    "What did officials say about North Korea?",
    "What is the status of the policy review on North Korea?",
    "What did Secretary Blinken say about Russia and Ukraine at Reuters NEXT?",
    "What arms control process did Biden and Putin agree to launch at their summit?",
    "Which Central Asian countries took part in the C5+1 meeting during UN General Assembly week?",
    "What did the National Security Advisor discuss with his PRC counterpart in Rome?",
]
SPEAKER_CHOICES = ["official", "questioner", "moderator"]


def layout(handlers: ChatHandlers, speakers: Optional[list[str]] = None) -> gr.Blocks:
    """The Blocks app; both ways of asking share one concurrency pool ("chat", sized by demo.queue)."""
    with gr.Blocks(title="Briefing Q&A", fill_width=True) as demo:
        history = gr.State([])
        last_survey = gr.State(None)    # the last survey's topic and filters, for follow-ups that narrow it
        with gr.Row(elem_id="header"):
            gr.Markdown("## Press briefing Q&A\nAsk about State Department and White House briefings. "
                        "Every answer cites the briefing and the person who said it.")
        status_md = gr.Markdown(handlers.status_line(), elem_id="status")
        with gr.Tab("Ask", id="ask"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(elem_id="chat", height=520, label="Answers",
                                         feedback_options=None, buttons=["copy"],
                                         placeholder="Ask a question about the indexed briefings.")
                    with gr.Row():
                        question = gr.Textbox(elem_id="question", show_label=False, scale=6,
                                              placeholder="e.g. What did Secretary Blinken say about Ukraine?",
                                              max_length=1000)
                        ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
                        clear_btn = gr.Button("New chat", scale=1, elem_id="new-chat")
                    with gr.Accordion("Filters", open=False, elem_id="filters"):
                        with gr.Row():
                            speaker = gr.Dropdown([ANY] + SPEAKER_CHOICES + (speakers or []), value=ANY,
                                                  allow_custom_value=True, label="Speaker",
                                                  info="a role, or a name such as Blinken")
                            publisher = gr.Dropdown([ANY, STATE, WHITE_HOUSE], value=ANY, label="Publisher")
                            kind = gr.Dropdown([ANY] + list(KINDS), value=ANY, label="Kind")
                        with gr.Row():
                            date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD", max_length=10)
                            date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", max_length=10)
                            retrieval_only = gr.Checkbox(label="Retrieval only (show top passages, no answer)",
                                                         elem_id="retrieval-only")
                        mode = gr.Radio(list(MODES), value=AUTO, label="Answer as", elem_id="answer-mode",
                                        info="auto: “What did officials say about X?” is a survey of every "
                                             "briefing; a pointed question gets an answer")
                    gr.Examples(EXAMPLES, inputs=question, label="Example questions")
                with gr.Column(scale=2, min_width=320):
                    chart = gr.BarPlot(None, x="period", y="briefings", color="speaker", visible=False,
                                       label="Briefings that address the topic, by who spoke",
                                       elem_id="survey-chart", height=300, sort="x")
                    sources = gr.HTML(render.EMPTY_PANEL, elem_id="sources", js_on_load=None)
        with gr.Tab("Add transcripts", id="add"):
            gr.Markdown(f"Upload transcripts ({', '.join(render.UPLOAD_TYPES)}; at most "
                        f"{render.UPLOAD_MAX_BYTES // (1024 * 1024)} MB each). They are added to the index "
                        "this app serves; files that cannot be read are listed with the reason.")
            files = gr.File(file_count="multiple", file_types=list(render.UPLOAD_TYPES), label="Transcripts",
                            elem_id="upload")
            add_btn = gr.Button("Add to index", variant="primary", elem_id="add-button")
            report = gr.Markdown(elem_id="upload-report")

        inputs = [question, chatbot, history, speaker, publisher, kind, date_from, date_to, retrieval_only, mode,
                  last_survey]
        outputs = [chatbot, history, sources, question, chart, last_survey]
        # both ways of asking share one concurrency slot pool (CONCURRENCY chats at once, set by demo.queue)
        question.submit(handlers.respond, inputs, outputs, api_name="ask", concurrency_id="chat", show_progress="minimal")
        ask_btn.click(handlers.respond, inputs, outputs, api_name="ask_button", api_visibility="undocumented",
                      concurrency_id="chat", show_progress="minimal")
        clear_btn.click(lambda: ([], [], render.EMPTY_PANEL, "", gr.update(visible=False), None), None, outputs,
                        queue=False, api_visibility="private")
        chatbot.clear(lambda: ([], render.EMPTY_PANEL, None), None, [history, sources, last_survey], queue=False,
                      api_visibility="private")
        add_btn.click(handlers.add_files, [files], [report, status_md], api_name="add_transcripts", concurrency_limit=1)
        demo.load(handlers.status_line, None, status_md, queue=False, api_visibility="private")
        if handlers.background is not None:   # vectors being embedded: the status line shows how far
            gr.Timer(5).tick(handlers.status_line, None, status_md, queue=False, api_visibility="private")
    return demo
