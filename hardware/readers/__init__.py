"""Code readers: scanners on serial / USB-CDC / TCP (a generic line scanner, Keyence SR, Cognex DataMan
DMCC), keyboard-wedge input, and decoding a camera frame or image file (zxing-cpp)."""
