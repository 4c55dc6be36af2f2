"""``pixelrnn ui``: a local web page over checkpoints — samples, completions, bits, compression, class scores.

Needs the optional extra ``pixelrnn[ui]`` (gradio); without it the command stops with one line saying so. The
page listens on 127.0.0.1 (this machine only) unless ``--host`` says otherwise, with a warning when it does.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging

from pixelrnn.errors import PixelRNNError

HELP = "a local web page over checkpoints: samples, completions, bits, compression (pip install 'pixelrnn[ui]')"
INSTALL_HINT = "pip install 'pixelrnn[ui]'"
logger = logging.getLogger("pixelrnn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT",
                        help="checkpoint files, run folders (their last.pt), exported models or pretrained names "
                             "(pixelrnn pretrained): the page's models, the first shown")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=_port, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--device", default="auto", help="where samples and completions are drawn (default: auto)")


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401  (the extra: checked before any model is read)
    except ImportError:
        raise PixelRNNError(f"pixelrnn ui needs gradio, which is not installed: {INSTALL_HINT}") from None
    from pixelrnn.ui.page import build_page, launch
    from pixelrnn.ui.session import load_models

    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up requests are no news
    if not is_loopback(args.host):
        logger.warning(f"pixelrnn ui: warning: listening on {args.host} makes the page reachable from other "
                       "machines; anyone who reaches it can run the models and upload files (it has no login)")
    blocks = build_page(load_models(args.checkpoints), args.device)
    try:
        url = launch(blocks, args.host, args.port)
    except OSError as error:
        raise PixelRNNError(f"cannot listen on {args.host}:{args.port} ({str(error).splitlines()[0][:120]}): "
                            "choose another --port or --host") from None
    print(f"pixelrnn ui: {len(args.checkpoints)} model(s) on {url} (Ctrl-C stops)", flush=True)
    try:
        blocks.block_thread()  # until Ctrl-C
    finally:
        blocks.close()
    return 0


def is_loopback(host: str) -> bool:
    """True for an address of this machine only (127.0.0.0/8, ::1, localhost); a host name may be any address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in [1, 65535], got {value}")
    return value
