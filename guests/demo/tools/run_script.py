#!/usr/bin/env python3
"""Boots the demo guest in QEMU and drives its serial console with an input script.

Usage:
  tools/run_script.py [--mode plain|record|replay] [--dir DIR] [--timeout S] SCRIPT

SCRIPT lines: `expect TEXT` (wait until the console printed TEXT), `send TEXT`
(type TEXT, `\\n` = Enter). Blank lines and `#` comments are ignored.

Input is typed byte by byte; each byte is sent only after the previous one's
echo appeared (QEMU's record mode can stall if bytes arrive faster than the
guest drains the UART). In replay mode the script is not sent (the log holds
the input); the console output is collected until QEMU exits.

Writes DIR/console.txt; record/replay use DIR/r.log and DIR/snap.qcow2.
Exit status: 0 if QEMU exited by itself (guest power-off) before the timeout.
"""
import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL = os.path.join(HERE, "..", "build", "kernel.elf")


def parse_script(path):
    steps = []
    for raw in open(path):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd, _, arg = line.partition(" ")
        arg = arg.replace("\\n", "\n").replace("\\t", "\t")
        if cmd not in ("expect", "send"):
            raise SystemExit(f"{path}: bad line: {line!r}")
        steps.append((cmd, arg))
    return steps


class Console:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.sock.settimeout(0.05)

    def pump(self):
        try:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
            sys.stdout.write(data.decode("latin-1"))
            sys.stdout.flush()
        except socket.timeout:
            pass

    def wait_for(self, text, start, deadline):
        pat = text.encode()
        while time.time() < deadline:
            i = self.buf.find(pat, start)
            if i >= 0:
                return i + len(pat)
            self.pump()
        raise TimeoutError(f"timed out waiting for {text!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--mode", default="record", choices=["plain", "record", "replay"])
    ap.add_argument("--dir", default="/tmp/rewind-demo")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--kernel", default=KERNEL)
    ap.add_argument("--mem", default="64")
    ap.add_argument("--extra", default="", help="extra QEMU args, space separated")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    sock_path = os.path.join(args.dir, "serial.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    argv = ["qemu-system-x86_64", "-kernel", args.kernel, "-m", args.mem, "-display", "none",
            "-monitor", "none", "-no-reboot", "-net", "none",
            "-serial", f"unix:{sock_path},server=on,wait=off"]
    if args.mode != "plain":
        log = os.path.join(args.dir, "r.log")
        snap = os.path.join(args.dir, "snap.qcow2")
        if args.mode == "record":
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", snap, "1G"], check=True)
        rr = "record" if args.mode == "record" else "replay"
        argv += ["-icount", f"shift=auto,rr={rr},rrfile={log},rrsnapshot=init",
                 "-drive", f"file={snap},if=none,id=rr"]
    argv += args.extra.split()
    print("+ " + " ".join(argv), file=sys.stderr)
    qemu = subprocess.Popen(argv)
    t0 = time.time()
    deadline = t0 + args.timeout
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                sock.connect(sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if qemu.poll() is not None or time.time() > deadline:
                    raise SystemExit("QEMU did not open the serial socket")
                time.sleep(0.02)
        con = Console(sock)
        pos = 0
        if args.mode != "replay":
            for cmd, arg in parse_script(args.script):
                if cmd == "expect":
                    pos = con.wait_for(arg, pos, deadline)
                    continue
                for ch in arg:
                    b = b"\r" if ch == "\n" else ch.encode("latin-1")
                    echo = "\r\n" if ch == "\n" else ch
                    mark = len(con.buf)
                    sock.sendall(b)
                    pos = con.wait_for(echo, mark, deadline)
        while qemu.poll() is None and time.time() < deadline:
            try:
                con.pump()
            except EOFError:
                break
        rc = qemu.wait(timeout=max(0.1, deadline - time.time()))
    except (TimeoutError, subprocess.TimeoutExpired) as e:
        print(f"\n[run_script] {e}", file=sys.stderr)
        rc = None
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    try:
        while True:
            con.pump()
    except Exception:
        pass
    with open(os.path.join(args.dir, "console.txt"), "wb") as f:
        f.write(con.buf)
    elapsed = time.time() - t0
    print(f"\n[run_script] mode={args.mode} qemu_exit={rc} elapsed={elapsed:.2f}s", file=sys.stderr)
    sys.exit(0 if rc == 0 else 1)


if __name__ == "__main__":
    main()
