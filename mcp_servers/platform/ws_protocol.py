"""uvicorn's WebSocket protocol, answering a handshake it cannot read.

uvicorn hands an upgrade request to ``websockets``' sans-I/O protocol, which cannot word a refusal
that quotes a header holding non-ASCII bytes (its ``reject`` raises ``UnicodeEncodeError``) and
answers nothing at all to a request line over its 8 kB limit. Either way the client got no status
line, the connection stayed in uvicorn's set, and a shutdown waited its full timeout for it (a
probe's find). This protocol answers both with a 400 and closes the connection.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["WebSocketProtocol"]

_BODY = b"the WebSocket handshake could not be read: a line over 8 kB or a header that is not ASCII\n"
_REFUSAL = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except UnicodeError:
            if self.handshake_complete:
                raise
            self._refuse()
            return
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self._refuse()

    def _refuse(self) -> None:
        self.handshake_complete = self.close_sent = True
        self.transport.write(_REFUSAL)
        self.transport.close()
