//! TCP networking on the reactor: [`TcpListener`] accepts connections, [`TcpStream`] reads and
//! writes bytes, both without ever blocking a worker thread.
//!
//! Talks to: `crate::reactor` (each socket owns a `Registration`, which waits for readiness and
//! clears it on `WouldBlock`), `crate::time` (the accept back-off sleeps), and the OS through mio
//! and socket2.
//!
//! Every socket is non-blocking. An operation tries the syscall; if the kernel says `WouldBlock`,
//! the task parks until the reactor reports the socket ready again, then tries once more. This is
//! what asyncio's `StreamReader.read()` does under the hood, written out.
//!
//! Invariants: every method takes `&self`, so one stream can be shared (for example in an `Arc`)
//! by a reading task and a writing task; the reactor keeps a separate waiter for each direction.
//! Two tasks reading the *same* stream at once is allowed but pointless: only the last one to poll
//! is woken. Every failure, including "the runtime shut down", is an [`std::io::Error`].
//!
//! ```no_run
//! use spindle::net::{TcpListener, TcpStream};
//!
//! let rt = spindle::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let client = spindle::spawn(async move {
//!         let stream = TcpStream::connect(addr).await?;
//!         stream.write_all(b"ping").await
//!     });
//!     let (stream, _peer) = listener.accept().await?;
//!     let mut buf = [0u8; 4];
//!     let mut filled = 0;
//!     while filled < 4 {
//!         filled += stream.read(&mut buf[filled..]).await?;
//!     }
//!     assert_eq!(&buf, b"ping");
//!     client.await.unwrap()
//! })
//! .unwrap();
//! ```

mod addr;
mod listener;
mod split;
mod stream;

pub use addr::ToSocketAddrs;
pub use listener::{ListenOptions, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream::TcpStream;
