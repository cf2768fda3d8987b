#!/usr/bin/python3
"""Write the seed corpus of fuzz_h2 into tests/fuzz/corpus/h2/.

Each seed is an HTTP/2 connection in fuzz_h2.c's record format (a flags
byte, then records: a control byte, bit 7 = server, bits 0-6 = length, and
that many bytes), its header blocks encoded with python's hpack (Debian's
python3-hpack, which comes with python3-h2: run with /usr/bin/python3)."""
import os
import struct

import hpack

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "h2")
C, S = False, True
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 1, 1, 4, 8, 0x20

GET = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
       (":path", "/index.html"), ("user-agent", "curl/7.88.1"), ("accept", "*/*")]
POST = [(":method", "POST"), (":scheme", "https"), (":authority", "g.test"),
        (":path", "/pkg.Svc/Call"), ("content-type", "application/grpc"), ("te", "trailers")]
OK = [(":status", "200"), ("content-type", "text/html"), ("content-length", "5")]


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class Conn:
    def __init__(self):
        self.enc = {C: hpack.Encoder(), S: hpack.Encoder()}
        self.parts = []  # (server, bytes)

    def send(self, side, data):
        self.parts.append((side, data))

    def block(self, side, fields):
        return self.enc[side].encode(fields)

    def headers(self, side, stream, fields, flags=0):
        self.send(side, frame(HEADERS, flags | END_HEADERS, stream, self.block(side, fields)))

    def settings(self):
        self.send(C, frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)))
        self.send(S, frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)))
        self.send(S, frame(SETTINGS, ACK, 0))
        self.send(C, frame(SETTINGS, ACK, 0))

    def records(self, flags=0):
        out = bytearray([flags])
        for side, data in self.parts:
            for i in range(0, len(data), 127):
                piece = data[i:i + 127]
                out.append((0x80 if side else 0) | len(piece))
                out += piece
        return bytes(out)


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    c = Conn()
    c.settings()
    c.headers(C, 1, GET, END_STREAM)
    c.headers(S, 1, OK)
    c.send(S, frame(DATA, END_STREAM, 1, b"hello"))
    write("get", c.records())

    c = Conn()
    c.settings()
    c.headers(C, 1, POST)
    c.send(C, frame(DATA, 0, 1, b"\0\0\0\0\x02hi"))
    c.headers(C, 1, [("x-checksum", "abc")], END_STREAM)
    c.headers(S, 1, [(":status", "200"), ("content-type", "application/grpc")])
    c.send(S, frame(DATA, 0, 1, b"\0\0\0\0\x03one"))
    c.headers(S, 1, [("grpc-status", "0"), ("grpc-message", "ok")], END_STREAM)
    write("grpc_trailers", c.records())

    c = Conn()
    c.settings()
    block = c.block(C, GET)
    c.send(C, frame(HEADERS, PADDED | PRIO, 1, bytes([4]) + b"\x80\0\0\0\x10" + block[:3]
                    + b"\0" * 4))
    c.send(C, frame(CONT, 0, 1, block[3:6]))
    c.send(C, frame(CONT, END_HEADERS | END_STREAM, 1, block[6:]))
    c.send(C, frame(PRIORITY, 0, 3, b"\0\0\0\x01\x20"))
    c.send(C, frame(PING, 0, 0, b"01234567"))
    c.send(S, frame(PING, ACK, 0, b"01234567"))
    c.send(S, frame(WINDOW, 0, 0, b"\0\x01\0\0"))
    c.send(S, frame(PUSH, END_HEADERS | PADDED, 1, bytes([2]) + b"\0\0\0\x02"
                    + c.block(S, GET[:3] + [(":path", "/s.css")]) + b"\0\0"))
    c.headers(S, 1, OK)
    c.send(S, frame(DATA, END_STREAM | PADDED, 1, bytes([3]) + b"hello\0\0\0"))
    c.headers(S, 2, OK)
    c.send(S, frame(0xfa, 0, 2, b"unknown"))
    c.send(S, frame(DATA, END_STREAM, 2, b"p{}"))
    write("every_frame", c.records())

    c = Conn()
    c.settings()
    for sid in (1, 3, 5):
        c.headers(C, sid, GET, END_STREAM)
    c.headers(S, 3, [(":status", "103"), ("link", "</a.css>")])
    c.headers(S, 1, OK)
    c.send(S, frame(DATA, 0, 1, b"par"))
    c.send(C, frame(RST, 0, 1, struct.pack(">I", 8)))
    c.send(S, frame(RST, 0, 5, struct.pack(">I", 7)))
    c.send(S, frame(GOAWAY, 0, 0, struct.pack(">II", 3, 0) + b"bye"))
    write("reset_goaway", c.records())

    c = Conn()
    c.send(C, frame(SETTINGS, 0, 0, struct.pack(">HI", 1, 16384)))
    c.send(S, frame(SETTINGS, ACK, 0))
    c.enc[S].header_table_size = 16384
    for sid in range(1, 12, 2):
        c.headers(C, sid, GET + [("cookie", "session=%d" % (sid // 4))], END_STREAM)
        c.headers(S, sid, OK + [("etag", "x" * 300)], END_STREAM)
    write("table_size", c.records(4))

    write("not_h2", bytes([1, 27]) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


if __name__ == "__main__":
    main()
