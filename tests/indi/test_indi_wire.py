"""The INDI wire layer: partial and concatenated input, malformed messages skipped alone, escaped output."""

from __future__ import annotations

import io
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indi_qhy_py.indi.wire import MessageSplitter, WireError, Writer

GET = b"<getProperties version='1.7'/>"
NEW = (b"<newNumberVector device='QHY600M-1' name='CCD_EXPOSURE'>"
       b"<oneNumber name='CCD_EXPOSURE_VALUE'>1.5</oneNumber></newNumberVector>")


def elements(items) -> list[str]:
    return [i.tag if isinstance(i, ET.Element) else "ERROR" for i in items]


def test_concatenated_messages_in_one_read() -> None:
    got = MessageSplitter().feed(GET + b"\n" + NEW + GET)
    assert elements(got) == ["getProperties", "newNumberVector", "getProperties"]
    assert got[1].find("oneNumber").text == "1.5"


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_messages_split_across_reads(size: int) -> None:
    splitter = MessageSplitter()
    stream = NEW + GET + NEW
    got = []
    for i in range(0, len(stream), size):
        got += splitter.feed(stream[i : i + size])
    assert elements(got) == ["newNumberVector", "getProperties", "newNumberVector"]


def test_a_malformed_message_is_reported_and_the_next_kept() -> None:
    broken = b"<newNumberVector device='x' name='y'><oneNumber name='z'>1</oneNumbr></newNumberVector>"
    got = MessageSplitter().feed(broken + NEW)
    assert elements(got) == ["ERROR", "newNumberVector"]
    assert "malformed XML" in got[0].text


def test_a_truncated_message_does_not_swallow_the_next() -> None:
    truncated = b"<newNumberVector device='x' name='y'><oneNumber name='z'>1"
    got = MessageSplitter().feed(truncated + NEW)
    assert elements(got) == ["ERROR", "newNumberVector"]


def test_junk_and_unknown_tags_are_reported() -> None:
    got = MessageSplitter().feed(b"hello " + GET + b"<bogus a='1'/>" + GET)
    assert elements(got) == ["ERROR", "getProperties", "ERROR", "getProperties"]
    assert "outside any message" in got[0].text and "unknown message <bogus>" in got[2].text


def test_endless_message_is_bounded() -> None:
    splitter = MessageSplitter(max_message_bytes=1000)
    got = splitter.feed(b"<newTextVector device='a' name='b'>" + b"x" * 2000)
    assert isinstance(got[-1], WireError) and "longer than 1000" in got[-1].text
    assert elements(splitter.feed(GET)) == ["getProperties"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 40))
def test_garbage_never_breaks_the_stream(garbage: bytes, chunk: int) -> None:
    splitter = MessageSplitter()
    stream = garbage + b"\n" + GET + NEW
    got = []
    for i in range(0, len(stream), chunk):
        got += splitter.feed(stream[i : i + chunk])
    tags = elements(got)
    assert tags[-1] == "newNumberVector"  # whatever came before, the last good message arrives


def test_writer_escapes_and_never_interleaves() -> None:
    out = io.BytesIO()
    writer = Writer(out)
    hostile = "<&'\"> ]]>"

    def spam(n: int) -> None:
        for i in range(200):
            el = ET.Element("message", device=f"dev{n}", message=f"{hostile} {i}")
            writer.send(el)

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.flush(5)
    messages = MessageSplitter().feed(out.getvalue())
    assert len(messages) == 800 and all(isinstance(m, ET.Element) for m in messages)
    assert {m.get("message").split(" ]]> ")[0] for m in messages} == {"<&'\">"}


def test_writer_queues_so_senders_never_wait_for_a_slow_reader() -> None:
    """A BLOB draining into a stalled reader must not hold up a small message's sender."""
    release = threading.Event()

    class SlowStream(io.BytesIO):
        def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
            release.wait(5)
            return super().write(data)

    out = SlowStream()
    writer = Writer(out)
    blob_done = writer.send_stream(iter([b"<setBLOBVector/>"]))
    started = time.monotonic()
    small_done = writer.send(ET.Element("message", message="hello"))
    assert time.monotonic() - started < 0.05 and not blob_done.is_set()
    release.set()
    assert small_done.wait(5) and blob_done.is_set()
    assert out.getvalue().index(b"setBLOBVector") < out.getvalue().index(b"hello")


def test_writer_survives_a_closed_reader() -> None:
    class Broken(io.BytesIO):
        def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
            raise BrokenPipeError(32, "Broken pipe")

    writer = Writer(Broken())
    assert writer.send(ET.Element("message")).wait(5)
    assert isinstance(writer.error, BrokenPipeError)
    assert writer.send(ET.Element("message")).wait(1)


def test_attached_blob_passes_a_shared_memory_file_with_the_message() -> None:
    """indiserver's local fast path: the XML says attached='true' and the data arrives as a file descriptor."""
    import array
    import os
    import socket

    from indi_qhy_py.indi.blob import attached_blob_message

    ours, theirs = socket.socketpair()
    writer = Writer(ours.makefile("wb", buffering=0), fd_socket=ours)
    payload = bytes(range(256)) * 1000
    assert writer.passes_fds
    writer.send_stream(attached_blob_message("QHY600M-1", "CCD1", "CCD1", payload, ".fits")).wait(5)
    data, ancillary, _, _ = theirs.recvmsg(1 << 16, socket.CMSG_SPACE(4))
    fds = array.array("i")
    for level, kind, blob in ancillary:
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        fds.frombytes(blob)
    message = MessageSplitter().feed(data)[0]
    one = message.find("oneBLOB")
    assert one.get("attached") == "true" and one.get("size") == one.get("len") == str(len(payload))
    assert len(fds) == 1 and os.pread(fds[0], len(payload) + 1, 0) == payload
    os.close(fds[0])
    writer.close()
    ours.close()
    theirs.close()


@pytest.mark.parametrize("size", [1, 3, 11, 1000])
def test_a_message_cut_inside_its_start_tag_does_not_swallow_the_next(size: int) -> None:
    splitter = MessageSplitter()
    stream = b"<newNumberV" + NEW + GET
    got = []
    for i in range(0, len(stream), size):
        got += splitter.feed(stream[i : i + size])
    assert elements(got) == ["ERROR", "newNumberVector", "getProperties"]
    assert "cut off inside its start tag" in got[0].text
