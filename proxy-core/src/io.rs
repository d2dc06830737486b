//! Splitting a glommio `TcpStream` into a read half and a write half, so one task can read
//! while another writes. Single-threaded: the `RefCell` is borrowed only inside one `poll_*`
//! call, never across an await, so the halves cannot conflict.

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Reading side.
pub struct ReadHalf(Rc<RefCell<TcpStream>>);
/// Writing side.
pub struct WriteHalf(Rc<RefCell<TcpStream>>);

/// Splits `s`.
pub fn split(s: TcpStream) -> (ReadHalf, WriteHalf) {
    let rc = Rc::new(RefCell::new(s));
    (ReadHalf(rc.clone()), WriteHalf(rc))
}

fn busy() -> io::Error {
    io::Error::other("stream half busy")
}

impl ReadHalf {
    /// Sets the read timeout of the underlying stream.
    pub fn set_read_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        self.0
            .try_borrow()
            .map_err(|_| busy())?
            .set_read_timeout(d)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => Pin::new(&mut *s).poll_read(cx, buf),
            Err(_) => Poll::Ready(Err(busy())),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => Pin::new(&mut *s).poll_write(cx, buf),
            Err(_) => Poll::Ready(Err(busy())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => Pin::new(&mut *s).poll_flush(cx),
            Err(_) => Poll::Ready(Err(busy())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => Pin::new(&mut *s).poll_close(cx),
            Err(_) => Poll::Ready(Err(busy())),
        }
    }
}

/// Size of a core's shared read arena ([`ReadBuf::read_lazy_from`]). why: one allocation
/// serves many reads of many connections; a frame that outlives its read pins at most this.
const ARENA_SIZE: usize = 64 * 1024;

thread_local! {
    /// The read arena of this core (one executor per thread).
    static ARENA: RefCell<bytes::BytesMut> = RefCell::new(bytes::BytesMut::new());
}

/// A connection's read buffer: `filled` bytes of data followed by scratch space that reads
/// land in. why: the scratch tail is zeroed only when the buffer grows, not before every read,
/// and complete frames are split off the front as `Bytes` without copying.
pub struct ReadBuf {
    buf: bytes::BytesMut,
    filled: usize,
    chunk: usize,
}

impl ReadBuf {
    /// A buffer that reads `chunk` bytes at a time.
    pub fn new(chunk: usize) -> Self {
        Self {
            buf: bytes::BytesMut::new(),
            filled: 0,
            chunk,
        }
    }

    /// The unconsumed data.
    pub fn data(&self) -> &[u8] {
        self.buf.get(..self.filled).unwrap_or_default()
    }

    /// Splits the first `n` bytes off as a frame.
    pub fn take(&mut self, n: usize) -> bytes::Bytes {
        let n = n.min(self.filled);
        self.filled -= n;
        self.buf.split_to(n).freeze()
    }

    /// Reads once from `r` like [`ReadBuf::read_from`], but holds no memory while waiting
    /// when nothing is buffered: the read lands in this core's shared arena and the bytes
    /// read are split off it (no copy). why: an idle client connection then costs no read
    /// buffer at all (it used to pin `chunk` bytes each); only a partial request, which must
    /// wait for its rest, gets a buffer of its own.
    pub async fn read_lazy_from(&mut self, r: &mut ReadHalf) -> io::Result<usize> {
        if self.filled > 0 {
            return self.read_from(r).await;
        }
        // why: frames split off earlier keep their own memory; a fresh handle holds nothing.
        self.buf = bytes::BytesMut::new();
        let chunk = self.chunk;
        let piece = futures_lite::future::poll_fn(|cx| {
            ARENA.with(|a| {
                let mut a = a.borrow_mut();
                if a.len() < chunk {
                    *a = bytes::BytesMut::zeroed(ARENA_SIZE.max(chunk));
                }
                match std::pin::Pin::new(&mut *r).poll_read(cx, &mut a[..]) {
                    Poll::Ready(Ok(n)) => Poll::Ready(Ok(a.split_to(n))),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
        })
        .await?;
        self.filled = piece.len();
        self.buf = piece;
        Ok(self.filled)
    }

    /// Reads once from `r`; `Ok(0)` is end of stream.
    pub async fn read_from(&mut self, r: &mut ReadHalf) -> io::Result<usize> {
        use futures_lite::AsyncReadExt;
        if self.filled == 0 && self.buf.capacity() > 8 * self.chunk {
            // why: one huge request must not pin its buffer for the rest of the connection.
            self.buf = bytes::BytesMut::new();
        }
        if self.buf.len() - self.filled < self.chunk / 2 {
            self.buf.resize(self.filled + self.chunk, 0);
        }
        let n = r
            .read(self.buf.get_mut(self.filled..).unwrap_or_default())
            .await?;
        self.filled += n;
        Ok(n)
    }
}

/// Pieces smaller than this are copied into a shared buffer; larger ones are written from
/// their own `Bytes`. why: copying a few small frames into one buffer turns many tiny writes
/// into one syscall, while a big value (a 1 MiB GET reply) is not worth copying.
pub const COPY_LIMIT: usize = 16 * 1024;

enum Chunk {
    Copied(Vec<u8>),
    Shared(bytes::Bytes),
}

/// Output queued for one write turn: small pieces coalesced, large ones by reference.
#[derive(Default)]
pub struct OutBuf {
    chunks: Vec<Chunk>,
    len: usize,
}

impl OutBuf {
    /// Appends a small piece by copy.
    pub fn extend(&mut self, data: &[u8]) {
        self.len += data.len();
        if let Some(Chunk::Copied(v)) = self.chunks.last_mut() {
            v.extend_from_slice(data);
        } else {
            self.chunks.push(Chunk::Copied(data.to_vec()));
        }
    }

    /// Appends a frame, by reference when it is large.
    pub fn push(&mut self, data: bytes::Bytes) {
        if data.len() < COPY_LIMIT {
            self.extend(&data);
        } else {
            self.len += data.len();
            self.chunks.push(Chunk::Shared(data));
        }
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Writes everything, in order, then empties the buffer.
    pub async fn write_to<W: futures_lite::AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
    ) -> io::Result<()> {
        use futures_lite::AsyncWriteExt;
        for c in &self.chunks {
            match c {
                Chunk::Copied(v) => w.write_all(v).await?,
                Chunk::Shared(b) => w.write_all(b).await?,
            }
        }
        self.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_reads_keep_a_partial_frame_across_reads() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let l = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                // why: the rest is sent only once the first part was read, so the partial
                // frame path runs whatever the machine's load.
                let (tx, rx) = glommio::channels::local_channel::new_bounded::<()>(1);
                let client = glommio::spawn_local(async move {
                    use futures_lite::AsyncWriteExt;
                    let mut c = glommio::net::TcpStream::connect(addr).await.unwrap();
                    c.write_all(b"abc").await.unwrap();
                    rx.recv().await.unwrap();
                    c.write_all(b"def").await.unwrap();
                    c.close().await.unwrap();
                });
                let (mut r, _w) = split(l.accept().await.unwrap());
                let mut buf = ReadBuf::new(16);
                assert_eq!(buf.read_lazy_from(&mut r).await.unwrap(), 3);
                assert_eq!(buf.data(), b"abc");
                tx.send(()).await.unwrap();
                // A partial frame: the next read appends behind it in an own buffer.
                buf.read_lazy_from(&mut r).await.unwrap();
                assert_eq!(buf.data(), b"abcdef");
                let frame = buf.take(6);
                assert_eq!(&frame[..], b"abcdef");
                assert!(buf.data().is_empty());
                assert_eq!(buf.read_lazy_from(&mut r).await.unwrap(), 0);
                client.await;
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn outbuf_keeps_order_and_coalesces() {
        let mut o = OutBuf::default();
        o.extend(b"ab");
        o.push(bytes::Bytes::from_static(b"cd"));
        o.push(bytes::Bytes::from(vec![b'x'; COPY_LIMIT]));
        o.extend(b"ef");
        assert_eq!(o.len(), 6 + COPY_LIMIT);
        assert_eq!(o.chunks.len(), 3);
        let mut sink = Vec::new();
        futures_lite::future::block_on(o.write_to(&mut sink)).unwrap();
        assert!(o.is_empty());
        assert_eq!(&sink[..4], b"abcd");
        assert_eq!(&sink[sink.len() - 2..], b"ef");
        assert_eq!(sink.len(), 6 + COPY_LIMIT);
    }
}
