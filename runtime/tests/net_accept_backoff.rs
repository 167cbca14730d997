//! The accept loop survives running out of file descriptors (`EMFILE`).
//!
//! This file holds a single test because it lowers the process-wide `RLIMIT_NOFILE`: Cargo runs
//! each file in `tests/` as its own process, so nothing else is affected.
//!
//! The plan: open the client sockets first (they need descriptors too), lower the limit so that
//! the server can accept only [`SLOTS`] connections, connect every client, watch the server accept
//! exactly `SLOTS` and then stall on `EMFILE` without burning CPU, raise the limit again, and check
//! that every queued client is then served by the same, still running, accept loop. Meanwhile a
//! hook installed with `spindle::report::set_hook` must see the back-off reported exactly once.

mod common;

use common::with_timeout;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use spindle::net::TcpListener;
use spindle::report::{self, Kind, Report};
use spindle::Runtime;

/// Connections that wait in the kernel's accept queue.
const CLIENTS: usize = 12;
/// Connections the server can accept before it runs out of descriptors.
const SLOTS: usize = 2;

/// The current `RLIMIT_NOFILE`.
fn fd_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    limit
}

/// Sets the soft `RLIMIT_NOFILE` (the hard limit is unchanged).
fn set_soft_fd_limit(soft: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: fd_limit().rlim_max,
    };
    // SAFETY: `limit` is a valid rlimit whose soft value does not exceed the hard one.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Whether descriptor `fd` is open in this process (without opening anything to find out).
fn fd_is_open(fd: libc::c_int) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; on a closed descriptor it fails with EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The smallest soft limit under which exactly `free` more descriptors can be opened: the kernel
/// always hands out the lowest free number, and it must be below the soft limit.
fn limit_leaving_free(free: usize) -> libc::rlim_t {
    let mut found = 0;
    let mut fd = 0;
    while found < free {
        if !fd_is_open(fd) {
            found += 1;
        }
        fd += 1;
    }
    fd as libc::rlim_t
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Waits (polling, up to `secs`) until `accepted` reaches `want`.
fn wait_for_count(accepted: &AtomicUsize, want: usize, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while accepted.load(Ordering::SeqCst) < want {
        assert!(
            Instant::now() < deadline,
            "server accepted {} of {want} connections within {secs} s",
            accepted.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Out of file descriptors, `accept` neither returns the error nor spins: the accept loop backs
/// off, and once descriptors are available again it serves every connection that queued meanwhile.
/// The back-off reaches the report hook once, naming the listener's address.
#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    with_timeout(60, || {
        // 0. Every report the runtime makes, as (kind, source, message).
        let reports = Arc::new(Mutex::new(Vec::<(Kind, &'static str, String)>::new()));
        let sink = reports.clone();
        report::set_hook(move |r: &Report<'_>| {
            sink.lock()
                .unwrap()
                .push((r.kind(), r.source(), r.message().to_string()))
        });
        let backoff_reports = || {
            reports
                .lock()
                .unwrap()
                .iter()
                .filter(|(kind, _, _)| *kind == Kind::AcceptBackOff)
                .cloned()
                .collect::<Vec<_>>()
        };
        let rt = Runtime::new().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let fatal = Arc::new(Mutex::new(None::<std::io::Error>));

        // 1. A server that greets each connection with one byte and keeps it open (holding its fd).
        let addr: SocketAddr = rt.block_on({
            let accepted = accepted.clone();
            let fatal = fatal.clone();
            async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                spindle::spawn(async move {
                    let mut held = Vec::new();
                    loop {
                        match listener.accept().await {
                            Ok((stream, _)) => {
                                stream.write_all(b"x").await.unwrap();
                                held.push(stream);
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                *fatal.lock().unwrap() = Some(e);
                                return;
                            }
                        }
                    }
                });
                addr
            }
        });

        // 2. Client sockets are created now, while descriptors are still plentiful.
        let clients: Vec<Socket> = (0..CLIENTS)
            .map(|_| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap())
            .collect();

        // 3. Leave room for exactly SLOTS more descriptors, then connect everyone. The kernel
        //    completes every handshake into the listen queue whether or not we can accept.
        let original = fd_limit();
        set_soft_fd_limit(limit_leaving_free(SLOTS));
        for client in &clients {
            client.connect(&addr.into()).unwrap();
        }

        // 4. The server accepts SLOTS connections, then every accept fails with EMFILE.
        wait_for_count(&accepted, SLOTS, 10);
        let cpu_before = cpu_time();
        std::thread::sleep(Duration::from_secs(1));
        let cpu_spent = cpu_time() - cpu_before;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            SLOTS,
            "accepted beyond the descriptor limit"
        );
        assert!(
            fatal.lock().unwrap().is_none(),
            "accept returned {:?}",
            fatal.lock().unwrap()
        );
        // A retry loop without back-off keeps a worker busy for most of this second; backing off
        // (10 ms doubling to 1 s) costs a handful of syscalls. The bound is loose on purpose.
        assert!(
            cpu_spent < Duration::from_millis(300),
            "the stalled accept loop used {cpu_spent:?} of CPU in 1 s: it spins instead of backing off"
        );
        let seen = backoff_reports();
        assert_eq!(seen.len(), 1, "back-off reports: {seen:?}");
        assert_eq!(seen[0].1, "spindle::net");
        assert!(
            seen[0].2.contains(&addr.to_string()),
            "the report names the listener: {seen:?}"
        );

        // 5. Descriptors are available again: the same accept loop serves everyone who queued.
        set_soft_fd_limit(original.rlim_cur);
        wait_for_count(&accepted, CLIENTS, 10);
        for (i, mut client) in clients.into_iter().enumerate() {
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut greeting = [0u8; 1];
            client
                .read_exact(&mut greeting)
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert_eq!(&greeting, b"x", "client {i}");
        }
        assert!(
            fatal.lock().unwrap().is_none(),
            "accept returned {:?}",
            fatal.lock().unwrap()
        );
        // Once per listener: the retries did not report again.
        assert_eq!(backoff_reports().len(), 1, "{:?}", backoff_reports());
        report::clear_hook();
    });
}
