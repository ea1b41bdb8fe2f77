"""Code readers: decoding a camera frame or image file (zxing-cpp); scanners come next."""
