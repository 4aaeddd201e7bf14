// A small incremental MD5 (RFC 1321) for the instant-upload check: the page
// hashes a file in chunks so big files do not block the page in one piece.
//   var h = new YunMD5(); h.update(uint8array); ...; h.hex() -> "d41d8cd9..."
(function (global) {
  'use strict';

  var S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  var K = new Int32Array([
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
  ]);

  function YunMD5() {
    this.h = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this.buf = new Uint8Array(64);
    this.bufLen = 0;
    this.total = 0; // bytes so far
    this.x = new Int32Array(16);
  }

  YunMD5.prototype.block = function (p, o) {
    var x = this.x, h = this.h, i, f, g, t;
    for (i = 0; i < 16; i++, o += 4) {
      x[i] = p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24);
    }
    var a = h[0], b = h[1], c = h[2], d = h[3];
    for (i = 0; i < 64; i++) {
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      t = d;
      d = c;
      c = b;
      var s = S[(i >> 4) * 4 + (i & 3)];
      var sum = (a + f + K[i] + x[g]) | 0;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
      a = t;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
  };

  // update adds bytes (a Uint8Array or an ArrayBuffer).
  YunMD5.prototype.update = function (bytes) {
    if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
    var n = bytes.length, i = 0;
    this.total += n;
    if (this.bufLen > 0) {
      var take = Math.min(64 - this.bufLen, n);
      this.buf.set(bytes.subarray(0, take), this.bufLen);
      this.bufLen += take;
      i = take;
      if (this.bufLen === 64) {
        this.block(this.buf, 0);
        this.bufLen = 0;
      }
    }
    for (; i + 64 <= n; i += 64) this.block(bytes, i);
    if (i < n) {
      this.buf.set(bytes.subarray(i), 0);
      this.bufLen = n - i;
    }
    return this;
  };

  // hex finishes the hash and returns 32 lower-case hex digits.
  YunMD5.prototype.hex = function () {
    var bits = this.total * 8;
    var padLen = (this.bufLen < 56 ? 56 : 120) - this.bufLen;
    var pad = new Uint8Array(padLen + 8);
    pad[0] = 0x80;
    var lo = bits % 4294967296, hi = Math.floor(bits / 4294967296);
    for (var i = 0; i < 4; i++) {
      pad[padLen + i] = (lo >>> (8 * i)) & 0xff;
      pad[padLen + 4 + i] = (hi >>> (8 * i)) & 0xff;
    }
    var total = this.total;
    this.update(pad);
    this.total = total;
    var out = '';
    for (var w = 0; w < 4; w++) {
      for (var k = 0; k < 4; k++) {
        var v = (this.h[w] >>> (8 * k)) & 0xff;
        out += (v < 16 ? '0' : '') + v.toString(16);
      }
    }
    return out;
  };

  // utf8 encodes a string for hashing.
  YunMD5.utf8 = function (s) {
    return new TextEncoder().encode(s);
  };

  // ofString returns the hex MD5 of a string's UTF-8 bytes.
  YunMD5.ofString = function (s) {
    return new YunMD5().update(YunMD5.utf8(s)).hex();
  };

  // ofBlob hashes a Blob/File in chunks, calling progress(done, total);
  // it returns a Promise of the hex digest.
  YunMD5.ofBlob = function (blob, progress, chunk) {
    chunk = chunk || (2 << 20);
    var h = new YunMD5(), off = 0;
    function step() {
      if (off >= blob.size) return Promise.resolve(h.hex());
      var end = Math.min(off + chunk, blob.size);
      return blob.slice(off, end).arrayBuffer().then(function (buf) {
        h.update(buf);
        off = end;
        if (progress) progress(off, blob.size);
        return step();
      });
    }
    return step();
  };

  // rangeProof answers an instant-upload challenge (/md5): the hex MD5 of
  // the nonce (its hex text) followed by the bytes of every range
  // [offset, length] of the blob, in order. Only who holds the bytes can
  // compute it; it returns a Promise of the hex digest.
  YunMD5.rangeProof = function (blob, nonce, ranges) {
    var h = new YunMD5().update(YunMD5.utf8(nonce)), i = 0;
    function step() {
      if (i >= ranges.length) return Promise.resolve(h.hex());
      var off = ranges[i][0], end = Math.min(off + ranges[i][1], blob.size);
      i++;
      if (off >= end) return step();
      return blob.slice(off, end).arrayBuffer().then(function (buf) {
        h.update(buf);
        return step();
      });
    }
    return step();
  };

  global.YunMD5 = YunMD5;
})(typeof window !== 'undefined' ? window : globalThis);
