"""gcp-storage-emulator, with the one header its XML API leaves out, and
an XML upload's body kept as the bytes sent.

Started by test_servers/src/gcs_emulator.rs with the emulator's own Python
(the virtual environment scripts/install_test_servers.sh makes), and the
emulator's own command line: `python gcs_emulator_etag.py start --port P ...`.

Real Cloud Storage answers an XML API `PUT` with an `ETag` header (the
object's MD5, quoted), and object_store reports an upload stored only once
it has seen it. gcp-storage-emulator stores the object and computes that MD5
but does not send the header, so every upload would look failed. This adds
the header to successful XML uploads.

The emulator also parses any body sent as `Content-Type: application/json`
as JSON, before a handler sees it; for an XML upload (a stats object) that
leaves it a dict, and the upload fails. Real Cloud Storage stores the bytes
whatever their type, so the XML upload here reads its body raw. Nothing else
changes: the server, its storage and its other handlers are the emulator's own.
"""
import hashlib
import sys
from http import HTTPStatus

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.handlers import objects

emulator_upload = objects.xml_upload


def xml_upload_with_etag(request, response, storage, *args, **kwargs):
    if request._data is server._UNSET:
        handler = request._request_handler
        request._data = server._decode_raw_data(server._read_raw_data(handler), handler) or b""
    emulator_upload(request, response, storage, *args, **kwargs)
    if response.status == HTTPStatus.OK:
        response["ETag"] = '"%s"' % hashlib.md5(request.data).hexdigest()


# The routing table holds the handler itself, so patch it there.
server.HANDLERS = tuple(
    (pattern, {method: xml_upload_with_etag if handler is emulator_upload else handler
               for method, handler in methods.items()})
    for pattern, methods in server.HANDLERS
)

if __name__ == "__main__":
    sys.exit(main())
