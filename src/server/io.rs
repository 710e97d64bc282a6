//! The thin I/O interface the connection code is written against, with its two backends:
//! io_uring (tokio-uring, owned buffers) and epoll (tokio's reactor). A connection is split in a
//! read half (owned by its reader task) and a write half (owned by its executor).
//! Only this file and `mod.rs` know which runtime is underneath.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

/// The most room a read asks for (a busy connection's), and a reply buffer's first size.
pub const READ_CHUNK: usize = 16 * 1024;

/// The room a quiet connection's read asks for: a read posted to io_uring holds its buffer
/// while the connection idles, so an idle connection keeps this much, not `READ_CHUNK`.
pub const QUIET_READ: usize = 1024;

/// The reading side of a connection.
pub(crate) trait ReadHalf: 'static {
    /// Reads more bytes, appending them after `buf.len()`, into at least about `want` bytes
    /// of room (more when the buffer has it); Ok(0) is end of stream.
    async fn read(&mut self, buf: BytesMut, want: usize) -> (io::Result<usize>, BytesMut);
}

/// The writing side of a connection.
pub(crate) trait WriteHalf: 'static {
    /// Writes all of `buf`.
    async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut);
    /// Writes all of a buffer shared with others (a part of the replication buffer).
    async fn write_shared(&mut self, buf: Bytes) -> io::Result<()>;
    /// The socket, to shut it down when the connection ends (its pending read then returns 0).
    fn fd(&self) -> RawFd;
}

/// Gives `buf` room for a read of about `want` bytes: a new allocation only when less than
/// half of that is left, and then at least as much room as the unparsed bytes take, so a
/// large request in progress doubles its buffer (a linear number of copies).
fn make_room(buf: &mut BytesMut, want: usize) {
    if buf.capacity() - buf.len() < want / 2 {
        buf.reserve(want.max(buf.len()));
    }
}

/// One side of a socket driven by io_uring (both sides share the stream).
pub struct UringHalf(pub Rc<tokio_uring::net::TcpStream>);

impl UringHalf {
    /// Both halves of `stream`.
    pub fn split(stream: tokio_uring::net::TcpStream) -> (UringHalf, UringHalf) {
        let shared = Rc::new(stream);
        (UringHalf(shared.clone()), UringHalf(shared))
    }
}

/// One side of a unix-socket connection driven by io_uring.
pub struct UringUnixHalf(pub Rc<tokio_uring::net::UnixStream>);

impl UringUnixHalf {
    /// Both halves of `stream`.
    pub fn split(stream: tokio_uring::net::UnixStream) -> (UringUnixHalf, UringUnixHalf) {
        let shared = Rc::new(stream);
        (UringUnixHalf(shared.clone()), UringUnixHalf(shared))
    }
}

/// The same read and write for both io_uring stream kinds (their methods share a shape but
/// no trait).
macro_rules! uring_halves {
    ($half:ty) => {
        impl ReadHalf for $half {
            async fn read(
                &mut self,
                mut buf: BytesMut,
                want: usize,
            ) -> (io::Result<usize>, BytesMut) {
                use tokio_uring::buf::BoundedBuf;
                make_room(&mut buf, want);
                let len = buf.len();
                let (result, slice) = self.0.read(buf.slice(len..)).await;
                (result, slice.into_inner())
            }
        }

        impl WriteHalf for $half {
            async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
                self.0.write_all(buf).await
            }

            async fn write_shared(&mut self, buf: Bytes) -> io::Result<()> {
                self.0.write_all(buf).await.0
            }

            fn fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }
    };
}

uring_halves!(UringHalf);
uring_halves!(UringUnixHalf);

/// The read side of a socket (TCP or unix) driven by epoll through tokio's reactor.
pub struct EpollRead<R>(pub R);

/// The write side of a socket driven by epoll.
pub struct EpollWrite<W>(pub W, pub RawFd);

impl<R: tokio::io::AsyncRead + Unpin + 'static> ReadHalf for EpollRead<R> {
    async fn read(&mut self, mut buf: BytesMut, want: usize) -> (io::Result<usize>, BytesMut) {
        use tokio::io::AsyncReadExt;
        make_room(&mut buf, want);
        let result = self.0.read_buf(&mut buf).await;
        (result, buf)
    }
}

impl<W: tokio::io::AsyncWrite + Unpin + 'static> WriteHalf for EpollWrite<W> {
    async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        use tokio::io::AsyncWriteExt;
        let result = self.0.write_all(&buf).await;
        (result, buf)
    }

    async fn write_shared(&mut self, buf: Bytes) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(&buf).await
    }

    fn fd(&self) -> RawFd {
        self.1
    }
}
