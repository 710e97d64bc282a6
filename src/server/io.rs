//! The thin I/O interface the connection code is written against, with its two backends:
//! io_uring (tokio-uring, owned buffers) and epoll (tokio's reactor). Only this file and
//! `mod.rs` know which runtime is underneath.

use std::io;

use bytes::BytesMut;

/// How much room a read asks for when the buffer is full.
pub const READ_CHUNK: usize = 16 * 1024;

/// A connected byte stream with owned-buffer reads and writes.
pub(crate) trait Stream {
    /// Reads more bytes, appending them after `buf.len()`; Ok(0) is end of stream.
    async fn read(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut);
    /// Writes all of `buf`.
    async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut);
}

fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_CHUNK);
    }
}

/// A socket driven by io_uring.
pub struct UringStream(pub tokio_uring::net::TcpStream);

impl Stream for UringStream {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        use tokio_uring::buf::BoundedBuf;
        make_room(&mut buf);
        let len = buf.len();
        let (result, slice) = self.0.read(buf.slice(len..)).await;
        (result, slice.into_inner())
    }

    async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        let (result, buf) = self.0.write_all(buf).await;
        (result, buf)
    }
}

/// A socket driven by epoll through tokio's reactor.
pub struct EpollStream(pub tokio::net::TcpStream);

impl Stream for EpollStream {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        use tokio::io::AsyncReadExt;
        make_room(&mut buf);
        let result = self.0.read_buf(&mut buf).await;
        (result, buf)
    }

    async fn write_all(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        use tokio::io::AsyncWriteExt;
        let result = self.0.write_all(&buf).await;
        (result, buf)
    }
}
