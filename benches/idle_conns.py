"""Server RSS per idle keep-alive connection (DESIGN.md: at most 2 KiB at 10,000 connections).

Usage: benches/idle_conns.py PORT N PID
  Start a server first, e.g. `ulimit -n 20000; target/release/spindle-demo --port 18200 --no-access-log &`,
  then pass its port, the number of connections (10000) and its pid. Each connection sends one
  `GET /`, reads the answer, and then stays open and idle. The script reads the server's VmRSS
  from /proc before and after and prints the difference per connection. Loopback only.
"""
import socket, sys, time, os, resource
port=int(sys.argv[1]); n=int(sys.argv[2]); pid=int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE,(n+100,n+100))
def rss(): 
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
before=rss()
socks=[]
for i in range(n):
    s=socket.create_connection(("127.0.0.1",port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    socks.append(s)
for s in socks:
    data=b""
    while b"Hello, World!" not in data: data+=s.recv(4096)
time.sleep(1)
after=rss()
print(f"{n} idle keep-alive connections: RSS {before} KiB -> {after} KiB, {(after-before)*1024/n:.0f} bytes per connection")
