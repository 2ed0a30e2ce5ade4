"""The original Python asyncio methodology, as a baseline for asyncio_run.

Downloads every URL in a file with aiohttp, at most N at once (a semaphore),
and writes each body to OUT/<index>.jpg, as the original assignment's
asyncio version did. Used only by scripts/bench_download.py to compare CPU
time and throughput with asyncio_run on the same URLs in the same run.

    python3 aiohttp_download.py URLS_FILE OUT_DIR CONCURRENCY
"""

import asyncio
import os
import sys

import aiohttp


async def download_all(urls, out_dir, concurrency):
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def download(index, url):
            async with limit:
                async with session.get(url) as response:
                    response.raise_for_status()
                    body = await response.read()
                with open(os.path.join(out_dir, f"{index}.jpg"), "wb") as file:
                    file.write(body)

        await asyncio.gather(*(download(i, url) for i, url in enumerate(urls)))


def main():
    urls_file, out_dir, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(urls_file) as file:
        urls = [line.strip() for line in file if line.strip()]
    os.makedirs(out_dir, exist_ok=True)
    asyncio.run(download_all(urls, out_dir, concurrency))


if __name__ == "__main__":
    main()
