"""``pixelrnn ui``: a local web page over the library's own functions (the optional extra ``pixelrnn[ui]``).

:mod:`pixelrnn.ui.session` holds the checkpoints the page serves and their model cards, :mod:`pixelrnn.ui.actions`
is what each control of the page does — plain functions over ``sample``, ``complete``, ``heatmap``, ``compress``
and ``classify``, testable without a browser — :mod:`pixelrnn.ui.jobs` runs a long one in a thread with row
progress and cancel, :mod:`pixelrnn.ui.handlers` holds what every handler shares (one-line errors, streamed
updates), and :mod:`pixelrnn.ui.page` lays them out with gradio (the only module that imports it).
"""
