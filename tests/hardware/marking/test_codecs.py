"""The sans-I/O codecs on their own: bytes in, frames out."""

from __future__ import annotations

import pytest

from hardware.marking.errors import FrameError
from hardware.marking.keyence import codec as keyence
from hardware.marking.panasonic import codec as panasonic
from hardware.marking.panasonic.codec import Ack, Command, Nak, ReadReply


@pytest.mark.parametrize(
    ("frame_start", "expected"),
    [
        (b"\x02FNOS2047", b"05"),  # LP-GS manual: STX FNOS2047 -> 05
        (b"\x0600", b"66"),  # ACK 00 -> 66
        (b"\x02FNOA2047", b"F3"),  # STX FNOA2047 -> F3
    ],
)
def test_panasonic_checksum_matches_the_manual_vectors(frame_start: bytes, expected: bytes) -> None:
    assert panasonic.checksum(frame_start) == expected


def test_panasonic_frames_encode_as_the_manual_shows() -> None:
    assert Command("FNO", "S", "2047").encode() == b"\x02FNOS204705\r"
    assert Ack().encode() == b"\x060066\r"
    assert ReadReply("FNO", "2047").encode() == b"\x02FNOA2047F3\r"
    assert Command("FNO", "S", "2047").encode(with_checksum=False) == b"\x02FNOS2047\r"


def test_panasonic_round_trip_and_split_frames() -> None:
    stream = Ack().encode() + Nak("03").encode() + ReadReply("STR", "01\x1dX").encode()
    splitter = panasonic.Splitter()
    frames = [f for i in range(len(stream)) for f in splitter.feed(stream[i : i + 1])]
    assert [panasonic.decode_reply(f) for f in frames] == [Ack(), Nak("03"), ReadReply("STR", "01\x1dX")]
    assert splitter.pending == b""


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b"\x02FNOA2047F4\r", "checksum"),
        (b"FNOA2047F3\r", "no STX/ACK/NAK"),
        (b"\x0601" + panasonic.checksum(b"\x0601") + b"\r", "ACK with unexpected data"),
        (b"\x15X" + panasonic.checksum(b"\x15X") + b"\r", "malformed code"),
        (b"\x02FNOX" + panasonic.checksum(b"\x02FNOX") + b"\r", "without 'A'"),
    ],
)
def test_panasonic_bad_frames_are_errors_not_guesses(frame: bytes, words: str) -> None:
    with pytest.raises(FrameError, match=words):
        panasonic.decode_reply(frame)


def test_panasonic_command_side_reports_checksum_errors_with_nak_05() -> None:
    with pytest.raises(FrameError) as err:
        panasonic.decode_command(b"\x02FNOS204706\r")
    assert err.value.code == panasonic.NAK_CHECKSUM
    assert panasonic.decode_command(b"\x02FNOS204705\r") == Command("FNO", "S", "2047")


def test_panasonic_refuses_to_frame_a_carriage_return() -> None:
    with pytest.raises(FrameError):
        Command("STR", "S", "01A\rB").encode()


def test_keyence_lines() -> None:
    assert keyence.Request("WX", "BLK=1,CharacterString=A,B").encode() == b"WX,BLK=1,CharacterString=A,B\r"
    assert keyence.decode_response(b"RX,OK,A,B") == keyence.Response("RX", True, "A,B")  # commas in text kept
    assert keyence.decode_response(b"WX,NG,003") == keyence.Response("WX", False, "003")
    assert keyence.Response("WX", True).encode() == b"WX,OK\r"
    assert keyence.Response("RX", True, "").encode() == b"RX,OK,\r"
    splitter = keyence.Splitter()
    assert splitter.feed(b"WX,O") == []
    assert splitter.feed(b"K\rRX,OK,1\r") == [b"WX,OK", b"RX,OK,1"]


@pytest.mark.parametrize("line", [b"WX,MAYBE", b"ZX,OK", b"WX,NG,", b"WX,NG,abc", b"WX,OK,extra"])
def test_keyence_bad_lines_are_errors(line: bytes) -> None:
    with pytest.raises(FrameError):
        keyence.decode_response(line)
