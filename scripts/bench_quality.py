#!/usr/bin/env python3
"""How close each thumbnailer's 128-px thumbnails are to a careful reference:
PSNR and SSIM against a full-size decode resized with Lanczos.

Run by scripts/bench_quality.sh (which builds resize_serial first):

    scripts/bench_quality.sh [PHOTOS_DIR]
    python3 scripts/bench_quality.py --photos DIR --ours resize_serial=target/release/resize_serial \
        [--ours old=/path/to/another/resize_serial ...]

For every JPEG in PHOTOS_DIR (default: the benchmark corpus), three makers
produce a 128x128-fit thumbnail, each saved as JPEG quality 85 as it ships:

- ours: every `--ours NAME=BINARY` given (a `resize_serial` build), which
  decodes the JPEG shrunk on load by libjpeg-turbo's scaled IDCT, then
  resizes with Catmull-Rom;
- Pillow's `Image.thumbnail((128, 128))` (its own `draft` shrink-on-load with
  `reducing_gap=2`, then bicubic);
- img2dataset's own `Resizer` (`keep_ratio_largest`, quality 85): a full
  decode by OpenCV, then `cv2.INTER_AREA`.

The reference for each thumbnail is the photo decoded at full size by Pillow
(no shrink on load) and resized to that thumbnail's exact size with Lanczos,
kept as pixels (not re-encoded). PSNR is over the RGB channels; SSIM is the
usual Gaussian-window SSIM (11 px, sigma 1.5) on luma (BT.601). Printed:
the mean and the worst image per maker, and whether each of ours is no
worse than img2dataset on both means (the target of issue #20).

`--sweep` measures instead where 1/8 shrink-on-load becomes good enough,
which is how the 3x headroom of common/src/thumbnail/spec.rs was chosen:
for boxes from 128 px down to 27 px, libjpeg-turbo's 1/8 and 1/4 decodes
(through Pillow's `draft`, the same library and scaled IDCT as ours), each
resized with bicubic, against img2dataset's full decode + `INTER_AREA`,
with the ratio of the 1/8 image to the thumbnail on each line.

Needs Pillow, numpy, OpenCV and img2dataset (which brings OpenCV):
`python3 -m venv /tmp/venv && /tmp/venv/bin/pip install img2dataset pillow`.
"""

import argparse
import io
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BOX = 128
QUALITY = 85


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--ours", action="append", default=[], metavar="NAME=BINARY",
                        help="a resize_serial binary to measure (repeatable)")
    parser.add_argument("--sweep", action="store_true", help="1/8 and 1/4 against INTER_AREA for smaller boxes")
    args = parser.parse_args()
    try:
        import cv2  # noqa: F401
        import numpy  # noqa: F401
        from PIL import Image  # noqa: F401
        from img2dataset.resizer import Resizer  # noqa: F401
    except ImportError as missing:
        sys.exit(f"bench_quality needs Pillow, numpy, OpenCV and img2dataset: {missing}")

    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        sys.exit(f"no JPEG photos in {args.photos}")
    if args.sweep:
        sweep(photos)
        return
    makers = {}
    with tempfile.TemporaryDirectory(prefix="bench_quality-") as temp:
        for entry in args.ours:
            name, _, binary = entry.partition("=")
            makers[name] = ours(Path(binary), photos, Path(temp) / name)
        makers["Pillow thumbnail()"] = pillow_thumbnails(photos)
        makers["img2dataset (cv2 INTER_AREA)"] = img2dataset_thumbnails(photos)

        scores = {name: [] for name in makers}
        for photo in photos:
            for name, made in makers.items():
                scores[name].append(compare(photo, made[photo.name]))

    print(f"{len(photos)} JPEGs in {args.photos}; {BOX}x{BOX} fit, JPEG quality {QUALITY}; "
          "reference: full decode + Lanczos")
    print(f"{'maker':<34}{'PSNR dB':>9}{'worst':>8}{'SSIM':>8}{'worst':>8}")
    means = {}
    for name, results in scores.items():
        psnrs = [p for p, _ in results]
        ssims = [s for _, s in results]
        means[name] = (statistics.mean(psnrs), statistics.mean(ssims))
        print(f"{name:<34}{means[name][0]:>9.2f}{min(psnrs):>8.2f}{means[name][1]:>8.4f}{min(ssims):>8.4f}")
    baseline = means["img2dataset (cv2 INTER_AREA)"]
    ok = True
    for entry in args.ours:
        name = entry.partition("=")[0]
        psnr, ssim = means[name]
        met = psnr >= baseline[0] and ssim >= baseline[1]
        ok = ok and met
        print(f"{name} vs img2dataset: PSNR {psnr - baseline[0]:+.2f} dB, SSIM {ssim - baseline[1]:+.4f} "
              f"(target no worse on both: {'met' if met else 'NOT MET'})")
    sys.exit(0 if ok else 1)


def sweep(photos: list) -> None:
    """Mean PSNR and SSIM of 1/8 and 1/4 decodes + bicubic and of a full
    decode + INTER_AREA, box by box."""
    import cv2
    from PIL import Image

    def saved(image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=QUALITY)
        return buffer.getvalue()

    print(f"{len(photos)} JPEGs; each cell: mean PSNR dB / SSIM against a full decode + Lanczos")
    print(f"{'box':>5}{'1/8 image':>11}{'1/8 + bicubic':>17}{'1/4 + bicubic':>17}{'INTER_AREA':>17}")
    for box in (128, 112, 96, 80, 68, 60, 52, 45, 40, 34):
        scores = {8: [], 4: [], "area": []}
        ratios = []
        for photo in photos:
            with Image.open(photo) as image:
                width, height = image.size
            size = (box, round(box * height / width)) if width >= height else (round(box * width / height), box)
            for scale in (8, 4):
                with Image.open(photo) as image:
                    image.draft("RGB", (width // scale, height // scale))
                    if scale == 8:
                        ratios.append(min(image.size[0] / size[0], image.size[1] / size[1]))
                    small = image.convert("RGB").resize(size, Image.BICUBIC, reducing_gap=None)
                scores[scale].append(compare(photo, saved(small)))
            area = cv2.resize(cv2.imread(str(photo)), size, interpolation=cv2.INTER_AREA)
            _, encoded = cv2.imencode(".jpg", area, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
            scores["area"].append(compare(photo, encoded.tobytes()))
        cells = [f"{statistics.mean(p for p, _ in v):7.2f} /{statistics.mean(s for _, s in v):7.4f}"
                 for v in scores.values()]
        print(f"{box:>5}{statistics.median(ratios):>10.2f}x" + "".join(f"{cell:>17}" for cell in cells))


def ours(binary: Path, photos: list, out: Path) -> dict:
    """Runs one resize_serial build on the photos; {file name: thumbnail bytes}."""
    inputs = out / "in"
    inputs.mkdir(parents=True)
    for photo in photos:
        (inputs / photo.name).symlink_to(photo.resolve())
    thumbnails = out / "out"
    subprocess.run([str(binary), "--input", str(inputs), "--output", str(thumbnails), "--size", f"{BOX}x{BOX}",
                    "--quality", str(QUALITY), "--json"], check=True, capture_output=True)
    return {photo.name: (thumbnails / f"{photo.stem}_thumbnail.jpg").read_bytes() for photo in photos}


def pillow_thumbnails(photos: list) -> dict:
    from PIL import Image

    made = {}
    for photo in photos:
        with Image.open(photo) as image:
            image.thumbnail((BOX, BOX))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=QUALITY)
            made[photo.name] = buffer.getvalue()
    return made


def img2dataset_thumbnails(photos: list) -> dict:
    from img2dataset.resizer import ResizeMode, Resizer

    resizer = Resizer(image_size=BOX, resize_mode=ResizeMode.keep_ratio_largest, resize_only_if_bigger=False,
                      encode_quality=QUALITY)
    made = {}
    for photo in photos:
        with open(photo, "rb") as stream:
            image, *_, error = resizer(stream)
        if error:
            sys.exit(f"img2dataset failed on {photo}: {error}")
        made[photo.name] = image
    return made


def compare(photo: Path, thumbnail: bytes) -> tuple:
    """(PSNR, SSIM) of a thumbnail against the full decode resized by Lanczos to its size."""
    import numpy
    from PIL import Image

    with Image.open(io.BytesIO(thumbnail)) as made:
        made = numpy.asarray(made.convert("RGB"), dtype=numpy.float64)
    height, width = made.shape[:2]
    with Image.open(photo) as full:
        reference = full.convert("RGB").resize((width, height), Image.LANCZOS, reducing_gap=None)
        reference = numpy.asarray(reference, dtype=numpy.float64)
    mse = float(numpy.mean((made - reference) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)
    return psnr, ssim(luma(made), luma(reference))


def luma(rgb):
    return rgb @ [0.299, 0.587, 0.114]


def ssim(a, b) -> float:
    """Mean SSIM with an 11-px Gaussian window (sigma 1.5), Wang et al. 2004."""
    import cv2

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    covariance = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + c1) * (2 * covariance + c2)
    denominator = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float((numerator / denominator).mean())


if __name__ == "__main__":
    main()
