//! `dx-delay-proxy`: a TCP proxy that holds every chunk it forwards for a fixed delay, so the
//! suite can be run through a link with a round trip like a real network's (CI runs the whole
//! suite through it, 25 ms each way, and requires the same verdicts as on loopback).
//!
//! Each accepted connection gets an upstream connection and one pump per direction. A pump's
//! reader stamps each chunk with the time it may leave and queues it; its writer sends the
//! chunks in order once their time has come. Reading never waits for a chunk to leave, so the
//! delay adds latency without cutting throughput to one chunk per delay. End of stream and
//! errors travel the same queue: an EOF becomes a half-close (`shutdown(Write)`) on the other
//! side after the delay, and a reset becomes a close there. A new connection costs the
//! handshake's round trip, as on a real link.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// A TCP proxy that delays every chunk by the same time in each direction.
#[derive(Debug, Parser)]
#[command(name = "dx-delay-proxy", version, about, long_about = None)]
struct Args {
    /// Address to listen on (port 0: any free port; the bound address is printed on the
    /// first line of standard output as `listening on ADDR`).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Upstream address every accepted connection is forwarded to.
    #[arg(long, value_name = "ADDR")]
    to: String,
    /// Delay added to every chunk, in each direction, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 25)]
    delay_ms: u64,
}

/// Why the proxy stopped or a connection could not be proxied.
#[derive(Debug, Error)]
enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: io::Error },
    #[error("cannot accept a connection: {0}")]
    Accept(io::Error),
    #[error("cannot connect upstream to {addr}: {source}")]
    Upstream { addr: String, source: io::Error },
    #[error("cannot set up a socket: {0}")]
    Socket(io::Error),
}

/// What a reader hands its writer: bytes, or how the stream ended.
#[derive(Debug)]
enum Chunk {
    Bytes(Vec<u8>),
    /// The sender half-closed: shut down the other side's write half.
    Eof,
    /// The read failed (a reset): close the other side's write half too.
    Failed(io::Error),
}

/// Bytes read per chunk; loopback hands over up to 64 KiB at once.
const READ_SIZE: usize = 64 * 1024;
/// Chunks queued per direction, at most (the bytes are bounded apart).
const QUEUE_CHUNKS: usize = 4096;
/// Bytes in flight per direction, at most: what a real link holds (its bandwidth times its
/// delay; 1 MiB is 25 ms at 335 Mbit/s). A sender that outruns it is held back as a link
/// would hold it, so a reader that stops reading fills the sender's buffers about as soon as
/// over a network (the suite's slow-subscriber case depends on it), while throughput stays
/// at 1 MiB per delay (40 MiB/s at 25 ms).
const IN_FLIGHT_BYTES: usize = 1 << 20;

/// Accepts connections on `listener` forever and proxies each to `upstream`.
async fn serve(listener: TcpListener, upstream: String, delay: Duration) -> Result<(), ProxyError> {
    loop {
        let (client, peer) = listener.accept().await.map_err(ProxyError::Accept)?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            debug!(%peer, "accepted");
            if let Err(error) = proxy_connection(client, &upstream, delay).await {
                warn!(%peer, %error, "connection not proxied");
            }
        });
    }
}

/// Proxies one connection until both directions have ended.
async fn proxy_connection(
    client: TcpStream,
    upstream: &str,
    delay: Duration,
) -> Result<(), ProxyError> {
    // On a real link a connection costs a round trip before the client can send (its SYN
    // and the SYN-ACK each cross the link once), but here the kernel completes the client's
    // handshake at once. Waiting two delays before connecting upstream, and only then
    // reading, gives the first bytes the same arrival time as on the link (three delays).
    tokio::time::sleep(2 * delay).await;
    let server = TcpStream::connect(upstream)
        .await
        .map_err(|source| ProxyError::Upstream {
            addr: upstream.to_owned(),
            source,
        })?;
    // Small writes (WebSocket frames, HTTP heads) must not wait for Nagle's algorithm on
    // top of the delay.
    client.set_nodelay(true).map_err(ProxyError::Socket)?;
    server.set_nodelay(true).map_err(ProxyError::Socket)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = tokio::spawn(pump(client_read, server_write, delay, "client->server"));
    let down = tokio::spawn(pump(server_read, client_write, delay, "server->client"));
    let (up, down) = tokio::join!(up, down);
    for joined in [up, down] {
        if let Err(error) = joined {
            warn!(%error, "a pump task ended abnormally");
        }
    }
    Ok(())
}

/// Copies `from` to `to`, holding each chunk `delay` after it was read; the reader keeps
/// reading while earlier chunks wait.
async fn pump(from: OwnedReadHalf, to: OwnedWriteHalf, delay: Duration, direction: &'static str) {
    let (queue, chunks) = mpsc::channel(QUEUE_CHUNKS);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT_BYTES));
    let reader = read_into(from, queue, in_flight, delay);
    let writer = write_from(chunks, to, direction);
    tokio::join!(reader, writer);
}

/// A chunk with the instant it may be written and its share of the bytes in flight, given
/// back once it is written.
type Queued = (Instant, Chunk, Option<OwnedSemaphorePermit>);

/// Reads chunks and queues each with the instant it may be written, while fewer than
/// [`IN_FLIGHT_BYTES`] wait.
async fn read_into(
    mut from: OwnedReadHalf,
    queue: mpsc::Sender<Queued>,
    in_flight: Arc<Semaphore>,
    delay: Duration,
) {
    // One buffer for every read, each chunk copied out at its size: a fresh 64 KiB buffer
    // per read (most chunks are a few hundred bytes) cost the proxy more CPU than it
    // forwarded, and on a shared machine that CPU is latency.
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        // Room for a whole read first: a link that is full takes no more.
        let Ok(room) = in_flight.clone().acquire_many_owned(READ_SIZE as u32).await else {
            return;
        };
        let chunk = match from.read(&mut buf).await {
            Ok(0) => Chunk::Eof,
            Ok(n) => Chunk::Bytes(buf[..n].to_vec()),
            Err(error) => Chunk::Failed(error),
        };
        let last = !matches!(chunk, Chunk::Bytes(_));
        let room = match &chunk {
            Chunk::Bytes(bytes) => {
                // Keep only the bytes read in flight.
                let mut room = room;
                let unused = room.split(READ_SIZE - bytes.len());
                drop(unused);
                Some(room)
            }
            _ => None,
        };
        // The writer is gone when the other side refused a write: nothing more can be
        // delivered, so reading stops too.
        if queue
            .send((Instant::now() + delay, chunk, room))
            .await
            .is_err()
            || last
        {
            return;
        }
    }
}

/// Writes each queued chunk once its instant has come, and ends the stream as it ended.
async fn write_from(
    mut chunks: mpsc::Receiver<Queued>,
    mut to: OwnedWriteHalf,
    direction: &'static str,
) {
    // The permit of each chunk is dropped once it is written, freeing its bytes.
    while let Some((at, chunk, _room)) = chunks.recv().await {
        tokio::time::sleep_until(at).await;
        match chunk {
            Chunk::Bytes(bytes) => {
                if let Err(error) = to.write_all(&bytes).await {
                    debug!(direction, %error, "write failed; this direction ends");
                    return;
                }
            }
            Chunk::Eof => {
                debug!(direction, "end of stream; half-closing");
                // A failed shutdown means the peer is already gone: nothing to tell it.
                let _ = to.shutdown().await;
                return;
            }
            Chunk::Failed(error) => {
                debug!(direction, %error, "read failed; closing");
                let _ = to.shutdown().await;
                return;
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dx-delay-proxy: cannot start the runtime: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dx-delay-proxy: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), ProxyError> {
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|source| ProxyError::Listen {
            addr: args.listen.clone(),
            source,
        })?;
    let bound = listener.local_addr().map_err(ProxyError::Socket)?;
    // The first line of stdout is the contract with scripts that start us on port 0.
    println!("listening on {bound}");
    {
        use std::io::Write;
        let _ = io::stdout().flush();
    }
    info!(%bound, upstream = %args.to, delay_ms = args.delay_ms, "proxying");
    serve(listener, args.to, Duration::from_millis(args.delay_ms)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// Starts the proxy in front of `upstream` and returns its address.
    async fn proxy_to(upstream: SocketAddr, delay: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, upstream.to_string(), delay));
        addr
    }

    /// An upstream that echoes every byte back and half-closes after the client's EOF.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_round_trip_takes_at_least_twice_the_delay() {
        let delay = Duration::from_millis(40);
        let proxy = proxy_to(echo_server().await, delay).await;
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        // The first exchange also waits for the upstream connection; time the second.
        for round in 0..2 {
            let sent = std::time::Instant::now();
            stream.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            let took = sent.elapsed();
            assert_eq!(&buf, b"ping");
            assert!(took >= 2 * delay, "round {round} took {took:?}");
        }
    }

    #[tokio::test]
    async fn bytes_arrive_in_order() {
        let proxy = proxy_to(echo_server().await, Duration::from_millis(5)).await;
        let stream = TcpStream::connect(proxy).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let writer = tokio::spawn(async move {
            for i in 0u32..2000 {
                w.write_all(&i.to_be_bytes()).await.unwrap();
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let expected: Vec<u8> = (0u32..2000).flat_map(u32::to_be_bytes).collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_large_transfer_arrives_whole_and_is_not_throttled() {
        // At one 64 KiB chunk per delay, 8 MiB would take 128 delays each way (25.6 s at
        // 100 ms); through a queue it takes about two delays plus the copying.
        let delay = Duration::from_millis(100);
        let proxy = proxy_to(echo_server().await, delay).await;
        let data: Vec<u8> = (0..8 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let stream = TcpStream::connect(proxy).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let started = std::time::Instant::now();
        let to_send = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&to_send).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::with_capacity(data.len());
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let took = started.elapsed();
        assert!(got == data, "{} bytes came back, not the same", got.len());
        assert!(took < 30 * delay, "8 MiB took {took:?}");
    }

    #[tokio::test]
    async fn end_of_stream_propagates_both_ways_after_the_delay() {
        let delay = Duration::from_millis(40);
        // An upstream that reads to EOF, then answers with what it read and closes.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let (got_eof, saw_eof) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).await.unwrap();
            got_eof.send(got.clone()).unwrap();
            stream.write_all(b"bye:").await.unwrap();
            stream.write_all(&got).await.unwrap();
            stream.shutdown().await.unwrap();
        });
        let proxy = proxy_to(upstream, delay).await;
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let closed = std::time::Instant::now();
        stream.shutdown().await.unwrap();
        assert_eq!(saw_eof.await.unwrap(), b"hello");
        assert!(closed.elapsed() >= delay);
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"bye:hello");
        assert!(closed.elapsed() >= 2 * delay);
    }

    #[tokio::test]
    async fn a_refused_upstream_closes_the_client() {
        // Bind and drop to get a port nothing listens on.
        let unused = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let proxy = proxy_to(unused, Duration::from_millis(1)).await;
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        let mut buf = Vec::new();
        // Closed (EOF) or reset: either way no bytes and no hang.
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
            .await
            .unwrap();
        assert!(buf.is_empty(), "{read:?}");
    }
}
