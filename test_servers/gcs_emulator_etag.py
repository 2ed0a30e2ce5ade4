"""gcp-storage-emulator, with what its XML API leaves out, and an XML
upload's body kept as the bytes sent.

Started by test_servers/src/gcs_emulator.rs with the emulator's own Python
(the virtual environment scripts/install_test_servers.sh makes), and the
emulator's own command line: `python gcs_emulator_etag.py start --port P ...`.

Real Cloud Storage answers an XML API `PUT` with an `ETag` header (the
object's MD5, quoted), and object_store reports an upload stored only once
it has seen it. gcp-storage-emulator stores the object and computes that MD5
but does not send the header, so every upload would look failed. This adds
the header to successful XML uploads.

object_store also reads, lists and deletes through the XML API, which the
emulator serves only in part: a `GET` of an object without `ETag` and
`Last-Modified` (which object_store requires), and no `HEAD`, `DELETE` or
bucket listing (`GET /bucket?list-type=2`) at all. This adds those, from the
emulator's own storage, as Cloud Storage answers them (its XML listing is
S3's `ListBucketResult`). Nothing else changes: the server, its storage and
its other handlers are the emulator's own.

The emulator also parses any body sent as `Content-Type: application/json`
as JSON, before a handler sees it; for an XML upload (a stats object) that
leaves it a dict, and the upload fails. Real Cloud Storage stores the bytes
whatever their type, so the XML upload here reads its body raw.
"""
import hashlib
import sys
from datetime import datetime, timezone
from email.utils import format_datetime
from http import HTTPStatus
from xml.sax.saxutils import escape

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


def _updated(obj):
    """The object's `updated` time (RFC 3339, maybe with a `Z`) as a datetime."""
    text = (obj.get("updated") or "1970-01-01T00:00:00Z").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(0, timezone.utc)


def xml_get(request, response, storage, *args, **kwargs):
    """An object (or, for `HEAD`, its headers) with `ETag` and `Last-Modified`."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    objects.download(request, response, storage, *args, **kwargs)
    if response.status == HTTPStatus.OK:
        obj = storage.get_file_obj(bucket, name)
        response["ETag"] = '"%s"' % obj.get("md5Hash", "")
        response["Last-Modified"] = format_datetime(_updated(obj), usegmt=True)


def xml_delete(request, response, storage, *args, **kwargs):
    """`DELETE /bucket/object`: 204, or 404 when there is no such object."""
    try:
        storage.delete_file(request.params["bucket_name"], request.params["object_id"])
        response.status = HTTPStatus.NO_CONTENT
    except Exception:  # the emulator's NotFound, or a missing bucket
        response.status = HTTPStatus.NOT_FOUND


def xml_list(request, response, storage, *args, **kwargs):
    """`GET /bucket?list-type=2&prefix=P`: every object under P, in one page."""
    bucket = request.params["bucket_name"]
    prefix = (request.query.get("prefix") or [None])[0]
    try:
        files, _ = storage.get_file_list(bucket, prefix)
    except Exception:
        response.status = HTTPStatus.NOT_FOUND
        response.write_file(
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchBucket</Code>"
            b"<Message>The specified bucket does not exist.</Message></Error>",
            content_type="application/xml",
        )
        return
    contents = "".join(
        "<Contents><Key>%s</Key><LastModified>%s</LastModified><Size>%s</Size><ETag>\"%s\"</ETag></Contents>"
        % (
            escape(obj["name"]),
            _updated(obj).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            obj.get("size", "0"),
            escape(obj.get("md5Hash", "")),
        )
        for obj in files
    )
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>%s</Name><Prefix>%s</Prefix>"
        "<KeyCount>%d</KeyCount><IsTruncated>false</IsTruncated>%s</ListBucketResult>"
        % (escape(bucket), escape(prefix or ""), len(files), contents)
    )
    response.write_file(body.encode("utf-8"), content_type="application/xml")


def _xml_routes(methods):
    """The XML API's object route, with `GET`, `HEAD` and `DELETE` added."""
    methods = {method: xml_upload_with_etag if handler is emulator_upload else handler
               for method, handler in methods.items()}
    if methods.get("PUT") is xml_upload_with_etag:
        methods.update({"GET": xml_get, "HEAD": xml_get, "DELETE": xml_delete})
    return methods


# The routing table holds the handler itself, so patch it there; the
# bucket's XML listing goes just before the object route.
routes = []
for pattern, methods in server.HANDLERS:
    if methods.get("PUT") is emulator_upload:
        routes.append((r"^/(?P<bucket_name>[-.\w]+)/?$", {"GET": xml_list}))
    routes.append((pattern, _xml_routes(methods)))
server.HANDLERS = tuple(routes)


def _close(response):
    """A response, without its body for a `HEAD` (the headers say its length)."""
    if response._handler.command != "HEAD":
        return emulator_close(response)
    response._handler.send_response(response.status.value, response.status.phrase)
    for key, value in response._headers.items():
        response._handler.send_header(key, value)
    content = response._content
    if isinstance(content, str):
        content = content.encode("utf-8")
    response._handler.send_header("Content-Length", str(len(content)))
    response._handler.end_headers()


emulator_close = server.Response.close
server.Response.close = _close
server.RequestHandler.do_HEAD = lambda handler: server.Router(handler).handle("HEAD")

if __name__ == "__main__":
    sys.exit(main())
