"""Prints what a PNG screenshot shows, as JSON, with Python's standard library alone (Pillow
is not installed here): its size, how many distinct colours it has, how many pixels are not
the page background (the top-left pixel's colour) and how many are strongly red. The browser
tests use it to tell a drawn report from a blank page."""
import json
import struct
import sys
import zlib


def pixels(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise SystemExit(f"{path}: only 8-bit RGB(A), non-interlaced PNGs are read (depth {depth}, colour type {colour})")
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(line)
        previous = line
    return width, height, channels, rows


def main(path):
    width, height, channels, rows = pixels(path)
    background = tuple(rows[0][0:3])
    colours, foreground, red = set(), 0, 0
    for line in rows:
        for x in range(0, len(line), channels):
            pixel = (line[x], line[x + 1], line[x + 2])
            colours.add(pixel)
            if pixel != background:
                foreground += 1
            if pixel[0] > 180 and pixel[1] < 90 and pixel[2] < 90:
                red += 1
    print(json.dumps({"width": width, "height": height, "colours": len(colours), "foreground": foreground, "red": red}))


if __name__ == "__main__":
    main(sys.argv[1])
