"""The page: gradio components over :mod:`pixelrnn.ui.actions` — the only module of the library that imports gradio.

A model picker with its card; a Samples tab; an Image tab (upload a PNG or pick a test image) with Complete, Bits,
Compress and Classify. Every handler puts a wrong input's one-line message, or a bug's first line (its traceback
goes to the server's log), into its tab's status line (:func:`pixelrnn.ui.handlers.guarded`): the page never shows a
stack trace and the server goes on. Samples, completions and compression stream their progress and stop on Cancel
(:mod:`pixelrnn.ui.jobs`).
"""

import shutil
import tempfile
import weakref
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import torch

from pixelrnn.complete import levels_from_pixels
from pixelrnn.errors import ConfigError
from pixelrnn.ui import actions
from pixelrnn.ui.actions import Drawing
from pixelrnn.ui.handlers import IN_TURN, class_label, guarded, stream_pictures, stream_steps, whole_number
from pixelrnn.ui.images import picture, read_upload
from pixelrnn.ui.jobs import Jobs
from pixelrnn.ui.session import LoadedModel, model_card, picked_test_image

# system fonts only: the page loads nothing from outside the server, so it works offline
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
CSS = "#samples img, #completions img, #image img {image-rendering: pixelated}"


class Page:
    """What the page serves: the models, the device they sample on, the sessions' jobs, a folder for files."""

    def __init__(self, models: dict[str, LoadedModel], device: str = "auto"):
        self.models, self.device, self.jobs = models, device, Jobs()
        self.folder = Path(tempfile.mkdtemp(prefix="pixelrnn-ui-"))  # heat maps and archives, removed at exit
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def model(self, name: str) -> LoadedModel:
        if name not in self.models:
            raise ConfigError(f"no model named {name!r} on this page")
        return self.models[name]


def build_page(models: dict[str, LoadedModel], device: str = "auto") -> gr.Blocks:
    """The page's gradio Blocks (not launched) for the models, the first one chosen."""
    page = Page(models, device)
    first = next(iter(models.values()))
    with gr.Blocks(title="pixelrnn", analytics_enabled=False) as blocks:
        gr.Markdown("## pixelrnn — what a model draws, how it completes an image, where it spends its bits")
        with gr.Row():
            choice = gr.Dropdown(list(models), value=first.name, label="model", elem_id="model", scale=1)
            card = gr.Markdown(model_card(first), elem_id="card", container=True, scale=3)
        with gr.Tabs():
            with gr.Tab("Samples"):
                samples = _samples_tab(page, choice, first)
            with gr.Tab("An image"):
                image = _image_tab(page, choice, first)
        choice.change(_switcher(page), choice, [card, samples.label, image.label, image.hidden])
    return blocks


def _class_menu(loaded: LoadedModel, in_turn: bool) -> dict:
    """The class dropdown's choices, value and visibility for ``loaded`` (hidden for an unconditional model)."""
    choices = [(f"class {k}", k) for k in range(loaded.num_classes)]
    if in_turn:
        choices = [("every class in turn", IN_TURN), *choices]
    value = (IN_TURN if in_turn else 0) if loaded.num_classes else None
    return {"choices": choices, "value": value, "visible": bool(loaded.num_classes)}


def _switcher(page: Page):
    """The model picker's handler: the card, the class menus and the rows that can be hidden, for the new model."""
    def on_switch(name: str) -> tuple:
        loaded = page.model(name)
        height = loaded.config.image_shape[1]
        return (model_card(loaded), gr.update(**_class_menu(loaded, True)), gr.update(**_class_menu(loaded, False)),
                gr.update(maximum=height, value=max(1, height // 2)))
    return on_switch


def _samples_tab(page: Page, choice: gr.Dropdown, first: LoadedModel) -> SimpleNamespace:
    with gr.Row():
        with gr.Column(scale=1):
            count = gr.Number(16, label="images", precision=0, elem_id="sample-count")
            temperature = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="temperature")
            seed = gr.Number(0, label="seed", precision=0, elem_id="sample-seed")
            label = gr.Dropdown(label="class", elem_id="sample-class", **_class_menu(first, True))
            with gr.Row():
                draw, cancel = gr.Button("Draw samples", variant="primary", elem_id="draw"), gr.Button("Cancel")
            status = gr.Markdown(elem_id="sample-status")
        with gr.Column(scale=2):
            image = gr.Image(label="samples", format="png", interactive=False, elem_id="samples", height=460)

    @guarded(status)
    def on_draw(name, count_value, temperature_value, seed_value, label_value, request: gr.Request):
        loaded = page.model(name)
        drawing = Drawing(whole_number(count_value, "the number of images"), whole_number(seed_value, "the seed"),
                          float(temperature_value), class_label(label_value)).checked(loaded)
        stop = page.jobs.start(request.session_hash)
        what = f"{drawing.count} samples (seed {drawing.seed}, temperature {drawing.temperature:g})"
        yield from stream_pictures(lambda on_row: actions.draw_samples(loaded, drawing, page.device, on_row), stop,
                                   loaded.config.num_levels, image, status, what)

    draw.click(on_draw, [choice, count, temperature, seed, label], [image, status], show_progress="hidden")
    cancel.click(_canceller(page), None, None, queue=False)
    return SimpleNamespace(label=label)


def _canceller(page: Page):
    """The Cancel buttons' handler: stops the job of the session that clicked (gradio passes the request)."""
    def cancel(request: gr.Request) -> None:
        page.jobs.cancel(request.session_hash)
    return cancel


def _image_tab(page: Page, choice: gr.Dropdown, first: LoadedModel) -> SimpleNamespace:
    chosen = gr.State(None)  # the image: {"pixels": uint8 (C, H, W), "name": str}
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="upload a PNG", file_types=["image"], elem_id="upload", height=120)
            with gr.Row():
                index = gr.Number(0, label="test image", precision=0, elem_id="test-index")
                pick = gr.Button("Pick test image", elem_id="pick")
            shown = gr.Image(label="the image", format="png", interactive=False, elem_id="image", height=200)
            label = gr.Dropdown(label="class (class-conditional models)", elem_id="image-class",
                                **_class_menu(first, False))
            status = gr.Markdown("Upload a PNG or pick a test image.", elem_id="image-status")
        with gr.Column(scale=2), gr.Tabs():
            with gr.Tab("Complete"):
                hidden = _complete_tab(page, choice, chosen, label)
            with gr.Tab("Bits"):
                _bits_tab(page, choice, chosen, label)
            with gr.Tab("Compress"):
                _compress_tab(page, choice, chosen, label)
            with gr.Tab("Classify"):
                _classify_tab(page, choice, chosen)

    @guarded(status)
    def on_upload(name, path):
        if path is None:
            return {chosen: None, shown: None, status: "Upload a PNG or pick a test image."}
        pixels, file_name = read_upload(path)
        return _chosen(page.model(name), pixels, file_name, None, (chosen, shown, label, status))

    @guarded(status)
    def on_pick(name, index_value):
        loaded = page.model(name)
        number = whole_number(index_value, "the test image index")
        pixels, image_label = picked_test_image(loaded, number)
        return _chosen(loaded, pixels, f"test image {number}", image_label, (chosen, shown, label, status))

    upload.change(on_upload, [choice, upload], [chosen, shown, label, status])
    pick.click(on_pick, [choice, index], [chosen, shown, label, status])
    return SimpleNamespace(label=label, hidden=hidden)


def _chosen(loaded: LoadedModel, pixels: np.ndarray, name: str, label: int | None, outputs: tuple) -> dict:
    """The updates of a newly chosen image; DataError when it does not fit the model."""
    levels_from_pixels(pixels, loaded.config.image_shape, loaded.config.num_levels, name)  # the shape check
    chosen, shown, menu, status = outputs
    updates = {chosen: {"pixels": pixels, "name": name}, shown: picture(torch.from_numpy(pixels)[None], 256),
               status: f"**{name}**: {'×'.join(map(str, pixels.shape))}"}
    if label is not None:
        updates[menu] = gr.update(value=label)
    return updates


def _image_of(chosen: dict | None) -> tuple[np.ndarray, str]:
    if chosen is None:
        raise ConfigError("upload a PNG or pick a test image first")
    return chosen["pixels"], chosen["name"]


def _complete_tab(page: Page, choice, chosen: gr.State, label: gr.Dropdown) -> gr.Slider:
    height = next(iter(page.models.values())).config.image_shape[1]
    with gr.Row():
        hidden = gr.Slider(1, height, value=max(1, height // 2), step=1, label="rows to hide (from the bottom)",
                           elem_id="hide-rows")
        count = gr.Number(4, label="completions", precision=0, elem_id="complete-count")
        seed = gr.Number(0, label="seed", precision=0)
        temperature = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="temperature")
    with gr.Row():
        run, cancel = gr.Button("Complete", variant="primary", elem_id="complete"), gr.Button("Cancel")
    image = gr.Image(label="the image, what the model sees, completions", format="png", interactive=False,
                     elem_id="completions")
    status = gr.Markdown(elem_id="complete-status")

    @guarded(status)
    def on_complete(name, image_state, hidden_rows, count_value, seed_value, temperature_value, label_value,
                    request: gr.Request):
        loaded = page.model(name)
        pixels, image_name = _image_of(image_state)
        drawing = Drawing(whole_number(count_value, "the number of completions"), whole_number(seed_value, "the seed"),
                          float(temperature_value), class_label(label_value)).checked(loaded)
        rows = whole_number(hidden_rows, "the rows to hide")
        stop = page.jobs.start(request.session_hash)
        def work(on_row):
            return actions.complete_image(loaded, pixels, image_name, rows, drawing, page.device, on_row)

        yield from stream_pictures(work, stop, loaded.config.num_levels, image, status,
                                   f"{drawing.count} completions of {image_name} with its bottom {rows} rows hidden",
                                   columns=drawing.count + 2)

    run.click(on_complete, [choice, chosen, hidden, count, seed, temperature, label], [image, status],
              show_progress="hidden")
    cancel.click(_canceller(page), None, None, queue=False)
    return hidden


def _bits_tab(page: Page, choice, chosen: gr.State, label: gr.Dropdown) -> None:
    run = gr.Button("Bits per pixel", variant="primary", elem_id="bits")
    image = gr.Image(label="bits per pixel", type="filepath", format="png", interactive=False, elem_id="heatmap",
                     show_label=False)
    status = gr.Markdown(elem_id="bits-status")

    @guarded(status)
    def on_bits(name, image_state, label_value):
        pixels, image_name = _image_of(image_state)
        path, line = actions.bits_map(page.model(name), pixels, image_name, class_label(label_value), page.folder)
        return {image: str(path), status: line}

    run.click(on_bits, [choice, chosen, label], [image, status])


def _compress_tab(page: Page, choice, chosen: gr.State, label: gr.Dropdown) -> None:
    with gr.Row():
        run, cancel = gr.Button("Compress", variant="primary", elem_id="compress"), gr.Button("Cancel")
    archive = gr.File(label="the compressed file", interactive=False, elem_id="archive")
    status = gr.Markdown(elem_id="compress-status")

    @guarded(status)
    def on_compress(name, image_state, label_value, request: gr.Request):
        loaded = page.model(name)
        pixels, image_name = _image_of(image_state)
        stop = page.jobs.start(request.session_hash)

        def work(on_row):
            return actions.compress_image(loaded, pixels, image_name, class_label(label_value), page.folder,
                                          on_progress=lambda done, total: on_row(None, done, total))

        yield from stream_steps(work, stop, status, lambda result: {archive: str(result[0]), status: result[1]})

    run.click(on_compress, [choice, chosen, label], [archive, status], show_progress="hidden")
    cancel.click(_canceller(page), None, None, queue=False)


def _classify_tab(page: Page, choice, chosen: gr.State) -> None:
    run = gr.Button("Class scores", variant="primary", elem_id="classify")
    scores = gr.Label(label="p(class | image)", elem_id="scores")
    status = gr.Markdown(elem_id="classify-status")

    @guarded(status)
    def on_classify(name, image_state):
        pixels, image_name = _image_of(image_state)
        posterior, table = actions.class_scores(page.model(name), pixels, image_name)
        return {scores: posterior, status: table}

    run.click(on_classify, [choice, chosen], [scores, status])


def launch(blocks: gr.Blocks, host: str, port: int) -> str:
    """Serve the page on ``host``:``port`` in the background (``blocks.close()`` stops it); returns its address."""
    blocks.queue(default_concurrency_limit=2)
    _, url, _ = blocks.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                              theme=THEME, css=CSS, show_error=False, footer_links=[], ssr_mode=False)
    return url
