#!/usr/bin/env python3
"""A TCP proxy that adds a fixed latency to every request: a cloud object
store as seen from its own region, in front of a local test server.

    python3 scripts/delay_proxy.py --target 127.0.0.1:8333 --delay-ms 30 [--port 0]

Prints `http://127.0.0.1:PORT` on its first line once listening, then
forwards every connection to --target. Each request waits --delay-ms before
it is passed on: the first bytes a client sends on a connection, and the
first bytes it sends after each response has started, are held that long
(one request at a time per connection, as HTTP/1.1 clients without
pipelining send them). Responses pass straight through. Connections are
independent, so N requests in flight on N connections wait N x delay in
all but only about one delay of wall time: what overlapping uploads buy.

Deliberately simple: no HTTP parsing (a request body sent in several
writes after its headers is not delayed again), standard library only.
"""

import argparse
import asyncio

CHUNK = 64 * 1024


async def pipe_client(reader, writer, state, delay):
    """Client to server: hold the first bytes of each request for `delay`."""
    try:
        while data := await reader.read(CHUNK):
            if state["new_request"]:
                state["new_request"] = False
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def pipe_server(reader, writer, state):
    """Server to client: passed straight on; a response means the next
    bytes from the client are a new request."""
    try:
        while data := await reader.read(CHUNK):
            state["new_request"] = True
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the server behind the proxy")
    parser.add_argument("--delay-ms", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    delay = args.delay_ms / 1000

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        state = {"new_request": True}
        await asyncio.gather(pipe_client(client_reader, server_writer, state, delay),
                             pipe_server(server_reader, client_writer, state), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
