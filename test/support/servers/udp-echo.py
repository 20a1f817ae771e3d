"""A UDP echo server for the portpilot tests: every datagram goes back, unchanged, to its sender.

argv: ADDRESS PORT. Runs until killed.
"""

import socket
import sys

MAX_DATAGRAM = 65535


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.bind((address, port))
    while True:
        data, peer = sock.recvfrom(MAX_DATAGRAM)
        sock.sendto(data, peer)


if __name__ == "__main__":
    main()
