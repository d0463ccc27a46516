"""Episodes per second: the on-device sampler against a per-episode PNG loader, in one run.

    python benchmarks/episode_sampling.py                 # 3-way 1-shot, batches of 128, 7 repeats
    python benchmarks/episode_sampling.py --n-way 5 --k-shot 1 --repeats 5

The baseline is the common homework design: the characters are stored as pre-resized 28x28 PNG files
(``<alphabet>/<character>/<drawer>.png``, written once into a temporary folder from the same images), and
every episode picks its classes and files in Python, opens and decodes each PNG with PIL and stacks the
arrays into tensors. The course's :class:`mtml_utils.episodes.EpisodeSampler` holds the images once as a
uint8 tensor on the device and draws a whole batch of episodes by indexing. Both produce the same thing:
``meta_batch_size`` episodes of ``n_way`` classes with ``k_shot`` support and ``k_query`` query drawings.

The images are the Omniglot small split from ``MTML_DATA_DIR`` when its zips are there, the generated glyph
alphabets otherwise (the JSON says which). Writes JSON (default ``benchmarks/results/episode_sampling.json``)
with the median episodes per second of each and their ratio; exits 1 when the ratio is below ``--target``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_info  # benchmarks/machine.py (this folder is on sys.path)
from PIL import Image

from mtml_utils.core import choose_cpu_threads, get_device
from mtml_utils.data import CharacterImages, load_characters
from mtml_utils.episodes import EpisodeSampler

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "episode_sampling.json"


def write_pngs(chars: CharacterImages, folder: Path) -> list[list[Path]]:
    """Save every image as ``folder/<alphabet>/<character>/<drawer>.png``; return the files per character."""
    files: list[list[Path]] = [[] for _ in range(chars.n_characters)]
    for i in range(chars.n_images):
        c = int(chars.character[i])
        path = folder / chars.character_names[c] / f"{int(chars.drawer[i]):02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(chars.images[i]).save(path)
        files[c].append(path)
    return files


def png_episodes(
    files: list[list[Path]], n_way: int, k_shot: int, k_query: int, batch: int, rng: random.Random
):
    """The per-episode loader: choose in Python, decode each PNG with PIL, stack into tensors."""
    support_x, support_y, query_x, query_y = [], [], [], []
    for _ in range(batch):
        images, labels = [], []
        for label, c in enumerate(rng.sample(range(len(files)), n_way)):
            for path in rng.sample(files[c], k_shot + k_query):
                with Image.open(path) as img:
                    images.append(np.asarray(img, dtype=np.uint8))
                labels.append(label)
        x = torch.from_numpy(np.stack(images)).view(n_way, k_shot + k_query, 1, *images[0].shape)
        y = torch.tensor(labels).view(n_way, k_shot + k_query)
        support_x.append(x[:, :k_shot].reshape(-1, *x.shape[2:]))
        query_x.append(x[:, k_shot:].reshape(-1, *x.shape[2:]))
        support_y.append(y[:, :k_shot].reshape(-1))
        query_y.append(y[:, k_shot:].reshape(-1))
    to_float = lambda xs: torch.stack(xs).float().div_(255.0)  # noqa: E731
    return to_float(support_x), torch.stack(support_y), to_float(query_x), torch.stack(query_y)


def episodes_per_second(draw, batch: int, repeats: int, device: torch.device) -> list[float]:
    """Time ``draw()`` (one batch) ``repeats`` times after one warm-up; episodes per second of each."""
    draw()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        draw()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(batch / (time.perf_counter() - start))
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-way", type=int, default=3)
    parser.add_argument("--k-shot", type=int, default=1)
    parser.add_argument("--k-query", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128, help="episodes per batch (meta_batch_size)")
    parser.add_argument("--repeats", type=int, default=7, help="timed batches of each (the median is kept)")
    parser.add_argument("--target", type=float, default=50.0, help="the ratio the sampler must reach")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    torch.set_num_threads(choose_cpu_threads())  # as the notebooks' setup() does
    chars = load_characters(prefer="omniglot", image_size=28)
    device = get_device()
    sampler = EpisodeSampler(chars, device=device, seed=0)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="mtml-pngs-") as tmp:
        files = write_pngs(chars, Path(tmp))
        png = episodes_per_second(
            lambda: png_episodes(files, args.n_way, args.k_shot, args.k_query, args.batch, rng),
            args.batch, args.repeats, torch.device("cpu"),
        )
    tensor = episodes_per_second(
        lambda: sampler.sample(args.n_way, args.k_shot, args.k_query, meta_batch_size=args.batch),
        args.batch, args.repeats, device,
    )
    png_median, tensor_median = statistics.median(png), statistics.median(tensor)
    ratio = tensor_median / png_median
    result = {
        "settings": vars(args) | {"out": str(args.out)},
        "data": chars.summary(),
        "device": str(device),
        "png_loader_episodes_per_s": [round(r, 1) for r in png],
        "on_device_sampler_episodes_per_s": [round(r, 1) for r in tensor],
        "png_loader_median": round(png_median, 1),
        "on_device_sampler_median": round(tensor_median, 1),
        "ratio": round(ratio, 1),
        "meets_target": ratio >= args.target,
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.n_way}-way {args.k_shot}-shot, {args.k_query} query, batches of {args.batch} on {device}:")
    print(f"  PNG loader (PIL, per episode)   {png_median:10.1f} episodes/s")
    print(f"  on-device sampler (indexing)    {tensor_median:10.1f} episodes/s")
    print(f"  ratio {ratio:.1f}x (target {args.target:.0f}x): {'ok' if ratio >= args.target else 'MISSED'}")
    print(f"wrote {args.out}")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
