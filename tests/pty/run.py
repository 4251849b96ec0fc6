#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its prompts like a person would.

usage: run.py [--expect TEXT --send DATA]... [--timeout S] -- ARGV...

Each --expect waits (up to the timeout) until TEXT has appeared in the output since
the previous match, then types DATA (escapes: \\n, \\x03 for Ctrl-C). Prints the whole
transcript, then a last line `exit N` (128+signal when killed by one).
"""
import os
import pty
import select
import sys
import time


def main():
    args = sys.argv[1:]
    steps, timeout = [], 60.0
    while args and args[0] != "--":
        if args[0] == "--expect":
            steps.append((args[1], args[3].encode().decode("unicode_escape")))
            assert args[2] == "--send", args
            args = args[4:]
        elif args[0] == "--timeout":
            timeout = float(args[1])
            args = args[2:]
        else:
            sys.exit(f"bad argument {args[0]}")
    argv = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    out, seen = b"", 0
    deadline = time.time() + timeout
    while True:
        if steps and steps[0][0].encode() in out[seen:]:
            want, data = steps.pop(0)
            seen = out.index(want.encode(), seen) + len(want)
            time.sleep(0.2)
            os.write(fd, data.encode())
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        if time.time() > deadline:
            os.kill(pid, 9)
            out += b"\n[timeout]\n"
            break
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stdout.write(f"\nexit {code}\n")


if __name__ == "__main__":
    main()
