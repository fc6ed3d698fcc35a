#!/usr/bin/env python3
"""Launch a GUI program and time, from the outside, when its window shows
content: the same measurement for any toolkit (used to compare Sotto with
Dino, which has no timing hook of its own). Standard library only; talks to
the X server through libX11 with ctypes.

    x11_probe.py [--region X,Y,W,H] [--min-pixels N] [--timeout S]
                 [--settle S] [--screenshot FILE.png] -- COMMAND [ARG...]

It grabs REGION of the root window every ~2 ms from just before it starts
COMMAND and reports, in milliseconds from the start (CLOCK_MONOTONIC, the
clock of glib::monotonic_time):

- ``first_change_ms``: the region first differs from what it was before
  the launch (the window was mapped and painted, whatever it shows);
- ``content_ms``: the region first has a background of its own (not the
  one before the launch) *and* at least N pixels that differ from that
  background (text: rows of a list, a heading). Put the region where the
  content in question is drawn and nothing else is (e.g. the names of
  the first rows of a conversation list).

Then, after ``--settle`` seconds, the program's resident memory (VmRSS of
the process and its children that share its name) and an optional PNG of
the whole screen; then it stops the program (SIGTERM). One JSON object on
stdout.
"""

import argparse
import array
import collections
import ctypes
import ctypes.util
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

ZPIXMAP = 2
ALL_PLANES = ctypes.c_ulong(0xFFFFFFFF)


class XImage(ctypes.Structure):
    # Only the leading fields are read; the struct is freed by Xlib.
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
    ]


def xlib():
    lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XDefaultRootWindow.restype = ctypes.c_ulong
    lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    lib.XGetImage.restype = ctypes.POINTER(XImage)
    lib.XGetImage.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_ulong,
        ctypes.c_int,
    ]
    lib.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    lib.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


class Screen:
    def __init__(self):
        self.x = xlib()
        self.dpy = self.x.XOpenDisplay(None)
        if not self.dpy:
            sys.exit("x11_probe: cannot open the display (run it under xvfb-run)")
        self.root = self.x.XDefaultRootWindow(self.dpy)

    def grab(self, x, y, w, h):
        """(width, height, 32-bit pixels as bytes, row stride)"""
        img = self.x.XGetImage(self.dpy, self.root, x, y, w, h, ALL_PLANES, ZPIXMAP)
        if not img:
            return None
        im = img.contents
        if im.bits_per_pixel != 32:
            self.x.XDestroyImage(img)
            sys.exit("x11_probe: needs a 24/32-bit screen")
        raw = ctypes.string_at(im.data, im.bytes_per_line * im.height)
        out = (im.width, im.height, raw, im.bytes_per_line)
        self.x.XDestroyImage(img)
        return out

    def size(self):
        return self.x.XDisplayWidth(self.dpy, 0), self.x.XDisplayHeight(self.dpy, 0)


def pixels(grab):
    """The region's pixels as 24-bit values (the pad byte masked off)."""
    w, h, raw, stride = grab
    values = array.array("I")
    for r in range(h):
        values.frombytes(raw[r * stride : r * stride + 4 * w])
    return [v & 0xFFFFFF for v in values]


def background_and_ink(pix):
    """The most common colour, and how many pixels are not it."""
    bg, count = collections.Counter(pix).most_common(1)[0]
    return bg, len(pix) - count


def write_png(path, grab):
    w, h, raw, stride = grab
    rows = bytearray()
    for r in range(h):
        line = raw[r * stride : r * stride + 4 * w]
        rgb = bytearray(3 * w)
        rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]
        rows += b"\x00" + rgb

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--region", default="20,120,260,60")
    ap.add_argument("--min-pixels", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=0.0)
    ap.add_argument("--screenshot")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command")
    x, y, w, h = (int(v) for v in args.region.split(","))

    screen = Screen()
    before = screen.grab(x, y, w, h)
    before_pix = pixels(before)
    before_bg, _ = background_and_ink(before_pix)

    start_ns = time.monotonic_ns()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    first_change = content = None
    deadline = time.monotonic() + args.timeout
    while content is None and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        grab = screen.grab(x, y, w, h)
        now_ns = time.monotonic_ns()
        if grab is not None:
            pix = pixels(grab)
            if first_change is None and pix != before_pix:
                first_change = (now_ns - start_ns) / 1e6
            if first_change is not None:
                bg, ink = background_and_ink(pix)
                if bg != before_bg and ink >= args.min_pixels:
                    content = (now_ns - start_ns) / 1e6
        time.sleep(0.002)

    result = {
        "command": cmd,
        "start_monotonic_us": start_ns // 1000,
        "first_change_ms": first_change,
        "content_ms": content,
        "exited": proc.poll(),
    }
    if content is not None and args.settle > 0:
        time.sleep(args.settle)
    result["rss_kib"] = rss_kib(proc.pid)
    if args.screenshot and proc.poll() is None:
        sw, sh = screen.size()
        write_png(args.screenshot, screen.grab(0, 0, sw, sh))
        result["screenshot"] = args.screenshot
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(json.dumps(result), flush=True)
    return 0 if content is not None else 1


if __name__ == "__main__":
    os.environ.setdefault("GTK_A11Y", "none")
    sys.exit(main())
